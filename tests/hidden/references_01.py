"""Lecture 01's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs of the public tests
(``tests/autograder/test_01_nn_recap.py``, whose seeded builders it reuses) and ``camp generate``
writes the result to ``tests/autograder/expected/01_nn_recap.json``; the hidden tests
(``test_01_nn_recap_hidden.py``) compare the student's code with them on other inputs.
Written independently of ``solutions/01_nn_recap.py``: TensorFlow differentiates the loss here,
and the numerical gradient is the judge's own.
"""

import numpy as np
import tensorflow as tf

from course_lib.grading.expected import public_tests


def forward(x, params):
    """The two-layer network's logits, its pre-activations and activations."""
    z1 = x @ params["W1"] + params["b1"]
    h1 = np.maximum(z1, 0)
    return h1 @ params["W2"] + params["b2"], z1, h1


def mean_loss(x, labels, params):
    """Mean cross-entropy of the network's logits, computed by TensorFlow."""
    logits = forward(x, params)[0]
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    return float(tf.reduce_mean(losses).numpy())


def tape_gradients(x, labels, params):
    """Gradients of ``mean_loss`` with respect to every parameter, by ``tf.GradientTape``."""
    variables = {k: tf.Variable(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    with tf.GradientTape() as tape:
        hidden = tf.nn.relu(tf.constant(x, tf.float64) @ variables["W1"] + variables["b1"])
        logits = hidden @ variables["W2"] + variables["b2"]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return {k: g.numpy() for k, g in tape.gradient(loss, variables).items()}


def numerical_gradient(function, x, step=1e-5):
    """The judge's central differences on every coordinate of a float64 array ``x``."""
    gradient = np.zeros(x.size)
    for i in range(x.size):
        plus, minus = x.copy().reshape(-1), x.copy().reshape(-1)
        plus[i] += step
        minus[i] -= step
        gradient[i] = (function(plus.reshape(x.shape)) - function(minus.reshape(x.shape))) / (
            2 * step
        )
    return gradient.reshape(x.shape)


def relative_error(a, b, floor=1e-8):
    """Largest ``|a - b| / max(|a| + |b|, floor)`` over the coordinates."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor), initial=0.0))


def gradient_check(loss, x, analytic, num_checks, step, seed):
    """The relative error that ``gradient_check`` must return."""
    chosen = np.random.default_rng(seed).choice(x.size, size=min(num_checks, x.size), replace=False)
    numeric = numerical_gradient(loss, x, step).reshape(-1)[chosen]
    return relative_error(np.asarray(analytic).reshape(-1)[chosen], numeric)


def checked_coordinates(size, num_checks, seed):
    """The flat indices that ``gradient_check`` moves, as its docstring specifies."""
    return np.random.default_rng(seed).choice(size, size=min(num_checks, size), replace=False)


def sigmoid(z):
    """The logistic function in float64, computed by TensorFlow."""
    return tf.math.sigmoid(tf.constant(np.asarray(z, dtype=np.float64))).numpy()


def cross_entropy(logits, labels):
    """Mean cross-entropy of integer labels, computed by TensorFlow in float64."""
    logits = tf.constant(np.asarray(logits, dtype=np.float64))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(np.asarray(labels), logits)
    return float(tf.reduce_mean(losses).numpy())


def softmax(logits):
    """Softmax over the last axis, in float64, shifted by each row's maximum."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)


def expected():
    """The reference's values on the public tests' fixed inputs."""
    t = public_tests("01")
    values = {}

    rng = t._rng()
    x, w, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 2)), rng.normal(size=2)
    values["dense_forward"] = {"out": x @ w + b, "no_bias": x @ w}

    params = t._params()
    x = t._rng(4).normal(size=(6, 5))
    logits, z1, h1 = forward(x, params)
    linear = (x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    values["mlp_forward"] = {"logits": logits, "z1": z1, "h1": h1, "no_hidden_relu": linear}

    params = t._params(offset=5)
    x, labels = t._rng(6).normal(size=(7, 5)), t._rng(7).integers(0, 3, size=7)
    values["mlp_backward"] = {
        name: numerical_gradient(lambda v, n=name: mean_loss(x, labels, {**params, n: v}), value)
        for name, value in params.items()
    }

    params = t._params(in_features=8, hidden=6, classes=4, offset=8)
    x, labels = t._rng(9).normal(size=(16, 8)), t._rng(10).integers(0, 4, size=16)
    values["mlp_backward_tape"] = tape_gradients(x, labels, params)

    loss, x, gradient = t._cubic(20, (4, 5))
    wrong = gradient * (1 + 0.01 * np.arange(1, 21).reshape(4, 5))
    values["gradient_check"] = [
        {"num_checks": n, "seed": s, "error": gradient_check(loss, x, wrong, n, 1e-5, s)}
        for n, s in ((6, 1), (6, 2), (3, 5), (100, 0))
    ]
    values["gradient_check_coordinates"] = checked_coordinates(12, 5, 4)

    params = t._params(offset=11)
    x, labels = t._rng(12).normal(size=(5, 5)), t._rng(13).integers(0, 3, size=5)
    values["tape_gradients"] = tape_gradients(x, labels, params)

    params, grads = t._params(offset=14), t._params(offset=15)
    values["sgd_step"] = {k: params[k] - 0.5 * grads[k] for k in params}

    params, x, labels = t._relu_boundary()
    values["mlp_backward_boundary"] = tape_gradients(x, labels, params)
    return values
