"""Probes for Lecture 08's grader (introduced with Lecture 08's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value. Only one is left:
the gradient that a ``tf.GradientTape`` records between a ``LearnableTemperature``'s weight and
the loss. A tape cannot watch code in another process, and the loss tensor would cross to the
judge as a plain array, which a tape in the runner no longer connects to the weight. The other
observations are made by the judge itself: the loss's gradients in its inputs through
``tf.test.compute_gradient`` run where the student's code runs (a library function given the
student's loss, with no helper of ours beside it), and the batches of the student's ``tf.data``
pipelines by iterating the dataset from the judge.
"""

from __future__ import annotations

import numpy as np


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
