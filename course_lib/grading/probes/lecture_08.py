"""Probes for Lecture 08's grader (introduced with Lecture 08's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value: gradients that a
``tf.GradientTape`` records around the student's loss (a tape cannot watch code in another
process), and the batches of the student's ``tf.data`` pipelines.
"""

from __future__ import annotations

import numpy as np


def loss_gradients(loss_fn, image_embeddings, text_embeddings, temperature):
    """Call ``loss_fn(images, texts, temperature)`` on float64 variables under a tape.

    Returns:
        ``(loss, [d_images, d_texts, d_temperature])``: a float and numpy arrays (None where the
        loss does not depend on an input).
    """
    import tensorflow as tf

    variables = [
        tf.Variable(np.asarray(image_embeddings, np.float64)),
        tf.Variable(np.asarray(text_embeddings, np.float64)),
        tf.Variable(float(temperature), dtype=tf.float64),
    ]
    with tf.GradientTape() as tape:
        loss = loss_fn(*variables)
    gradients = tape.gradient(loss, variables)
    return float(np.asarray(loss)), [None if g is None else np.asarray(g) for g in gradients]


def temperature_gradient(loss_fn, layer, image_embeddings, text_embeddings):
    """The gradient of ``loss_fn(images, texts, layer.temperature())`` in ``layer.log_logit_scale``.

    Returns:
        ``(loss, gradient)``: floats; gradient None when the loss does not depend on the weight.
    """
    import tensorflow as tf

    images = tf.constant(np.asarray(image_embeddings, np.float32))
    texts = tf.constant(np.asarray(text_embeddings, np.float32))
    with tf.GradientTape() as tape:
        loss = loss_fn(images, texts, layer.temperature())
    gradient = tape.gradient(loss, layer.log_logit_scale)
    return float(np.asarray(loss)), None if gradient is None else float(np.asarray(gradient))


def dataset_epochs(dataset, epochs: int) -> list[list[tuple]]:
    """Iterate ``dataset`` ``epochs`` times; return each epoch's batches as numpy tuples."""
    return [[tuple(np.asarray(part) for part in batch) for batch in dataset] for _ in range(epochs)]
