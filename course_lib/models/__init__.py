"""Models and their loaders (the folder grew with Lectures 03, 04 and 06).

``imagenet`` (EfficientNet-Lite0 with real ImageNet weights, Lecture 03), ``checkpoints`` (reading
PyTorch's legacy checkpoint format without torch, Lecture 03), ``minilm`` (all-MiniLM-L6-v2,
Lecture 04), ``pretrained`` (GloVe and cached Keras backbones, Lecture 04) and ``captioner`` (the
shipped Lecture 06 captioner). Each loads an answer's *weights*, never an answer's code: model
code comes from the lectures through ``course_lib.lectures.lecture_module``.
"""
