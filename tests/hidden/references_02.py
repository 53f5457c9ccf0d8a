"""Lecture 02's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs of the public tests
(``tests/autograder/test_02_cnn.py``, whose seeded builders it reuses) and ``camp generate``
writes the result to ``tests/autograder/expected/02_cnn.json``; the hidden tests
(``test_02_cnn_hidden.py``) compare the student's code with them on other inputs. Written from
the docstrings and TensorFlow's documentation, independently of ``solutions/02_cnn.py``.
"""

import math

import numpy as np
import tensorflow as tf

from course_lib.grading.expected import public_tests

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default.


def same_split(in_size, kernel_size, stride):
    """TensorFlow's SAME padding of one axis, as documented for ``tf.nn.conv2d``."""
    out_size = math.ceil(in_size / stride)
    total = max((out_size - 1) * stride + kernel_size - in_size, 0)
    return total // 2, total - total // 2


def receptive_field(layers):
    """Receptive field of a stack of (kernel, stride) layers, input side first."""
    field, jump = 1, 1
    for kernel_size, stride in layers:
        field += (kernel_size - 1) * jump
        jump *= stride
    return field


def conv_block(x, kernel, gamma, beta, mean, variance, pool_size, batch=False):
    """Conv2D (same, no bias) → batch norm → ReLU → max pooling (same), with tf.nn.

    ``batch=True``: batch norm with the statistics of the batch, as in training mode.
    """
    h = tf.nn.conv2d(tf.constant(x, tf.float32), kernel, 1, "SAME").numpy()
    if batch:
        mean, variance = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
    h = (h - mean) / np.sqrt(variance + BN_EPSILON) * gamma + beta
    h = np.maximum(h, 0)
    return tf.nn.max_pool2d(h, pool_size, pool_size, "SAME").numpy()


def filter_pictures(kernel):
    """Each filter of a (kh, kw, 3, filters) kernel scaled to [0, 1] by its own extremes."""
    pictures = np.moveaxis(np.asarray(kernel, dtype=np.float64), 3, 0)
    low = pictures.min(axis=(1, 2, 3), keepdims=True)
    high = pictures.max(axis=(1, 2, 3), keepdims=True)
    return (pictures - low) / (high - low)


def expected():
    """The reference's values on the public tests' fixed inputs."""
    t = public_tests("02")
    values = {}
    weights = t._conv_block_weights(6, 3)
    x = t._rng(13).normal(size=(2, 10, 9, 3)).astype(np.float32)
    values["conv_block"] = {
        "out": conv_block(x, *weights, pool_size=2),
        "batch_statistics": conv_block(x, *weights, pool_size=2, batch=True),
    }
    kernel = t._judge_weights(10)["conv1"][0]
    raw = np.moveaxis(kernel, 3, 0).astype(np.float64)
    values["plot_filters"] = {
        "pictures": filter_pictures(kernel),
        "global_scaling": (raw - raw.min()) / (raw.max() - raw.min()),
    }
    return values
