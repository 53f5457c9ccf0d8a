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
BN_MOMENTUM = 0.9  # ConvBlock's batch norm (given code): moving = 0.9 moving + 0.1 batch.


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


def moving_statistics(x, kernel, mean, variance):
    """The batch norm's moving mean and variance after one training call on ``x``."""
    h = tf.nn.conv2d(tf.constant(x, tf.float32), kernel, 1, "SAME").numpy().astype(np.float64)
    batch_mean, batch_variance = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
    return (
        BN_MOMENTUM * mean + (1 - BN_MOMENTUM) * batch_mean,
        BN_MOMENTUM * variance + (1 - BN_MOMENTUM) * batch_variance,
    )


def cnn(x, weights, batch=False, pooling="mean"):
    """build_cnn's forward pass with ``weights`` (Keras' order), dropout off: (probabilities,
    pooled features). ``pooling="max"``: global max pooling, a common mistake."""
    h = np.asarray(x, np.float32)
    blocks, (dense_kernel, dense_bias) = weights[:-2], weights[-2:]
    for start in range(0, len(blocks), 5):
        h = conv_block(h, *blocks[start : start + 5], pool_size=2, batch=batch)
    pooled = h.max(axis=(1, 2)) if pooling == "max" else h.mean(axis=(1, 2))
    logits = pooled.astype(np.float64) @ dense_kernel + dense_bias
    return 1 / (1 + np.exp(-logits)), pooled


def inference_maps(image, kernel, bias, gamma, beta, mean, variance):
    """Conv2D (valid, bias) → batch norm with its moving averages → max pooling 2 (valid)."""
    h = tf.nn.conv2d(tf.constant(image[None], tf.float32), kernel, 1, "VALID").numpy() + bias
    h = (h - mean) / np.sqrt(variance + BN_EPSILON) * gamma + beta
    return tf.nn.max_pool2d(h, 2, 2, "VALID").numpy()[0]


def filter_pictures(kernel):
    """Each filter of a (kh, kw, 3, filters) kernel scaled to [0, 1] by its own extremes; a
    constant filter is 0.5 everywhere."""
    pictures = np.moveaxis(np.asarray(kernel, dtype=np.float64), 3, 0)
    low = pictures.min(axis=(1, 2, 3), keepdims=True)
    span = pictures.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = (pictures - low) / np.where(span > 0, span, 1.0)
    return np.where(span > 0, scaled, 0.5)


def keras_conv_block(filters, kernel_size, pool_size, weights, input_shape):
    """ConvBlock's documented layers, built from Keras' own (Conv2D same without bias, batch norm
    with momentum 0.9, ReLU, max pooling same) and carrying ``weights``."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(input_shape[1:]),
            keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=BN_MOMENTUM),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(pool_size, padding="same"),
        ]
    )
    model.set_weights([np.asarray(w) for w in weights])
    return model


def expected():
    """The reference's values on the public tests' fixed inputs."""
    t = public_tests("02")
    values = {}
    weights = t._conv_block_weights(6, 3)
    x = t._rng(13).normal(size=(2, 10, 9, 3)).astype(np.float32)
    moving_mean, moving_variance = moving_statistics(x, weights[0], *weights[3:])
    values["conv_block"] = {
        "out": conv_block(x, *weights, pool_size=2),
        "batch_statistics": conv_block(x, *weights, pool_size=2, batch=True),
        "moving_mean": moving_mean,
        "moving_variance": moving_variance,
    }
    images = t._cnn_images()
    values["build_cnn"] = {
        "probabilities": cnn(images, t._cnn_weights("random"))[0],
        "max_pooled": cnn(images, t._cnn_weights("random"), pooling="max")[0],
        "pooled_training": cnn(images, t._cnn_weights("identity"), batch=True)[1],
    }
    values["feature_maps"] = inference_maps(t._feature_image(), *t._feature_weights())
    kernel = t._judge_weights(10)["conv1"][0]
    raw = np.moveaxis(kernel, 3, 0).astype(np.float64)
    values["plot_filters"] = {
        "pictures": filter_pictures(kernel),
        "global_scaling": (raw - raw.min()) / (raw.max() - raw.min()),
        "flat_pictures": filter_pictures(t._flat_kernel()),
    }
    return values
