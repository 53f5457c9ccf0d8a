"""Models and their loaders (the folder grew with Lectures 02, 03, 04, 06, 07 and 08).

``imagenet`` (EfficientNet-Lite0 with real ImageNet weights, Lecture 03), ``checkpoints`` (reading
PyTorch's legacy checkpoint format without torch, Lecture 03), ``minilm`` (all-MiniLM-L6-v2,
Lecture 04), ``pretrained`` (GloVe and cached Keras backbones, Lecture 04), and the course's own
shipped reference models: ``classifier`` (Lecture 02), ``captioner`` (Lecture 06), ``detector``
(Lecture 07) and ``dual_encoder`` (Lecture 08). Each loads *weights*, never an answer's code:
model code comes from the lectures through ``course_lib.student.lectures.lecture_module``.
"""
