# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 01: Neural-network recap
#
# **Builds on:** numpy and a little calculus.
# **You will build:** a dense layer, ReLU and sigmoid, a numerically stable softmax and
# cross-entropy, the backward pass of a two-layer network by hand (checked against
# `tf.GradientTape` and by a numerical gradient check you write), an SGD training loop with
# `GradientTape`, and the same network in Keras, trained on real handwritten digits to at least
# 93 % test accuracy in 15 epochs (the graded bar; the reference reaches 96 to 98 %).
#
# Every later lecture rests on these pieces: the image classifier of Lecture 02, the text
# encoders of Lecture 04 and the captioner of Lecture 06 are all trained with the softmax,
# cross-entropy and gradient descent written here.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 01`.

# %% [markdown]
# ## Setup

# %%
import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from course_lib.demo import should_run_demo

SEED = 0  # Fixes data splits and weight initialisation, so results are reproducible.
HIDDEN_UNITS = 64  # Width of the hidden layer of the two-layer network.
LEARNING_RATE = 0.1  # Step size of plain SGD.
EPOCHS = 30  # Passes over the digits training set for the Keras model.
BATCH_SIZE = 32  # Examples per gradient step.

# %% [markdown]
# ## Data
#
# scikit-learn ships 1,797 real 8×8 handwritten digits; no download is needed. Pixel values go
# from 0 to 16; we scale them to [0, 1] and keep a fifth of the images for testing.


# %%
def load_digits_split(seed: int = SEED):
    """Return ``(x_train, y_train, x_test, y_test)`` of scikit-learn's digits.

    Returns:
        x_train: float32 (1437, 64) pixels in [0, 1]; y_train: int64 (1437,) labels 0-9;
        x_test: float32 (360, 64); y_test: int64 (360,).
    """
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    return x_train, y_train, x_test, y_test


# %% [markdown]
# ## A dense layer and its activations
#
# A dense layer maps each input row $x$ to $xW + b$. Inputs are stored one example per row,
# so a batch is `(batch, in_features)` and `W` is `(in_features, out_features)`.
#
# The numpy functions of this lecture take and return float arrays (float64 unless said
# otherwise), never modify their inputs, and accept an empty batch (0 rows), which gives an
# empty result of the right shape.


# %%
def dense_forward(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Apply a dense layer.

    Args:
        x: (batch, in_features) float inputs; batch may be 0.
        weights: (in_features, out_features) float weight matrix.
        bias: (out_features,) float bias vector.

    Returns:
        (batch, out_features) float pre-activations ``x @ weights + bias``.
    """
    ### BEGIN SOLUTION
    return x @ weights + bias
    ### END SOLUTION


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit, elementwise: ``max(z, 0)``.

    Args:
        z: float array of any shape; it is not modified.

    Returns:
        A new float array of the same shape.
    """
    ### BEGIN SOLUTION
    return np.maximum(z, 0.0)
    ### END SOLUTION


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, elementwise, without overflow for large ``|z|``.

    Args:
        z: float array of any shape.

    Returns:
        Float array of the same shape with values in [0, 1]; no warnings for z = ±1000.
    """
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(z))  # Never overflows: the exponent is at most 0.
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION


# %% [markdown]
# ## Softmax and cross-entropy
#
# Softmax turns a row of logits into probabilities. Computed naively, `exp(1000)` overflows;
# since softmax is unchanged when a constant is subtracted from every logit, subtract each row's
# maximum first. Cross-entropy should never take the log of a softmax that rounded to 0: use
# the log-sum-exp form $-\log p_y = \log \sum_j e^{z_j} - z_y$.


# %%
def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis.

    Args:
        logits: (batch, num_classes) float scores; any number of leading axes works, e.g.
            (batch, time, num_classes), and batch may be 0. It is not modified.

    Returns:
        Float probabilities of the same shape; they sum to 1 over the last axis.
    """
    ### BEGIN SOLUTION
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (batch, num_classes)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
    ### END SOLUTION


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)``, stable for ±1000.

    Args:
        logits: (batch, num_classes) float scores, batch >= 1.
        labels: (batch,) integer class ids in ``[0, num_classes)``.

    Returns:
        The mean over the batch of ``-log softmax(logits)[i, labels[i]]``, a Python ``float``
        (not an array).
    """
    ### BEGIN SOLUTION
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (batch, num_classes)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())
    ### END SOLUTION


# %% [markdown]
# ## A two-layer network, forwards and backwards
#
# The network is `logits = relu(x W1 + b1) W2 + b2`. The backward pass applies the chain rule
# layer by layer; the gradient of the mean cross-entropy with respect to the logits is
# `(softmax(logits) - one_hot(labels)) / batch`.


# %%
def init_mlp(in_features: int, hidden_units: int, num_classes: int, seed: int = SEED) -> dict:
    """Return He-initialised parameters ``{"W1", "b1", "W2", "b2"}`` as float64 arrays."""
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0, np.sqrt(2 / in_features), (in_features, hidden_units)),
        "b1": np.zeros(hidden_units),
        "W2": rng.normal(0, np.sqrt(2 / hidden_units), (hidden_units, num_classes)),
        "b2": np.zeros(num_classes),
    }


def mlp_forward(x: np.ndarray, params: dict) -> tuple[np.ndarray, dict]:
    """Forward pass of the two-layer network.

    Args:
        x: (batch, in_features) inputs.
        params: ``W1`` (in_features, hidden), ``b1`` (hidden,), ``W2`` (hidden, classes),
            ``b2`` (classes,).

    Returns:
        logits: (batch, classes).
        cache: a dict of what the backward pass needs: at least ``x`` (the inputs), ``z1``
            (batch, hidden) pre-activations ``x W1 + b1``, ``h1`` (batch, hidden) activations
            ``relu(z1)`` and ``logits``.
    """
    ### BEGIN SOLUTION
    z1 = dense_forward(x, params["W1"], params["b1"])  # (batch, hidden)
    h1 = relu(z1)  # (batch, hidden)
    logits = dense_forward(h1, params["W2"], params["b2"])  # (batch, classes)
    return logits, {"x": x, "z1": z1, "h1": h1, "logits": logits}
    ### END SOLUTION


def mlp_backward(cache: dict, labels: np.ndarray, params: dict) -> dict:
    """Gradients of the mean cross-entropy with respect to every parameter.

    Args:
        cache: the second output of ``mlp_forward``.
        labels: (batch,) integer class ids.
        params: the float64 parameters used in the forward pass.

    Returns:
        ``{"W1", "b1", "W2", "b2"}``: float64 arrays shaped like the matching parameters
        (``W1`` (in_features, hidden), ``b1`` (hidden,), ``W2`` (hidden, classes), ``b2``
        (classes,)).
    """
    ### BEGIN SOLUTION
    batch = len(labels)
    dlogits = softmax(cache["logits"])  # (batch, classes)
    dlogits[np.arange(batch), labels] -= 1.0
    dlogits /= batch
    dh1 = dlogits @ params["W2"].T  # (batch, hidden)
    dz1 = dh1 * (cache["z1"] > 0)  # (batch, hidden)
    return {
        "W2": cache["h1"].T @ dlogits,
        "b2": dlogits.sum(axis=0),
        "W1": cache["x"].T @ dz1,
        "b1": dz1.sum(axis=0),
    }
    ### END SOLUTION


# %% [markdown]
# ## Checking a gradient numerically
#
# A hand-written backward pass is only trusted once it agrees with finite differences. For a
# coordinate $i$ of $x$, the central difference
# $n_i = \frac{L(x + h e_i) - L(x - h e_i)}{2h}$ approximates $\partial L / \partial x_i$ with an
# error of order $h^2$ (the one-sided $\frac{L(x + h e_i) - L(x)}{h}$ is only of order $h$).
# Checking every coordinate costs two loss evaluations each, so we check a few coordinates
# drawn at random and report the largest *relative* error
# $\frac{|a_i - n_i|}{\max(|a_i| + |n_i|, 10^{-8})}$, which does not depend on the scale of
# the loss: around $10^{-7}$ or less, the analytic gradient $a$ is right; above $10^{-3}$, it is
# wrong. Use float64: float32 keeps about 7 digits, too few for differences of size $10^{-5}$.


# %%
def gradient_check(
    loss,
    x: np.ndarray,
    analytic: np.ndarray,
    num_checks: int = 10,
    step: float = 1e-5,
    seed: int = SEED,
) -> float:
    """Largest relative error between ``analytic`` and central differences of ``loss`` at ``x``.

    Args:
        loss: a function mapping a float64 array shaped like ``x`` to a float. Call it with
            ``x`` where exactly one coordinate is moved by ``+step`` or ``-step``.
        x: array of any shape (possibly empty): where the gradient is checked. float64, or
            float32 or integer values, which the check converts to float64 (``loss`` always
            receives float64). It is not modified (perturb a float64 copy, or restore each
            coordinate after use).
        analytic: float64 array shaped like ``x``: the gradient to check.
        num_checks: how many coordinates to check; all of them when ``x`` has fewer.
        step: the finite-difference step ``h``.
        seed: the checked coordinates are the flat indices (into ``x.ravel()``)
            ``np.random.default_rng(seed).choice(x.size, size=min(num_checks, x.size),
            replace=False)``.

    Returns:
        ``max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-8)`` over the checked coordinates ``i``,
        with ``n_i`` the central difference; a Python ``float``, 0.0 when ``x`` is empty.
    """
    ### BEGIN SOLUTION
    x = np.array(x, dtype=np.float64)  # A copy: the caller's array is never perturbed.
    flat_x = x.reshape(-1)  # A view of the copy: writing flat_x[i] moves x.
    flat_analytic = np.asarray(analytic, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i in rng.choice(x.size, size=min(num_checks, x.size), replace=False):
        original = flat_x[i]
        flat_x[i] = original + step
        plus = float(loss(x))
        flat_x[i] = original - step
        minus = float(loss(x))
        flat_x[i] = original
        numeric = (plus - minus) / (2 * step)
        error = abs(flat_analytic[i] - numeric) / max(abs(flat_analytic[i]) + abs(numeric), 1e-8)
        worst = max(worst, float(error))
    return worst
    ### END SOLUTION


# %% [markdown]
# ## The same gradients with `tf.GradientTape`
#
# TensorFlow records the operations run inside a `GradientTape` and differentiates them for
# us. Write the forward pass with TensorFlow operations and let the tape do the backward pass.


# %%
def tape_gradients(x: np.ndarray, labels: np.ndarray, params: dict) -> dict:
    """Gradients of the two-layer network's mean cross-entropy, computed by ``tf.GradientTape``.

    Args:
        x: (batch, in_features) float64 inputs (TensorFlow does not mix float32 and float64).
        labels: (batch,) integer class ids.
        params: float64 parameters, as for ``mlp_forward``.

    Returns:
        ``{"W1", "b1", "W2", "b2"}``: float64 numpy arrays (``.numpy()``, not tensors) shaped
        like the parameters.
    """
    ### BEGIN SOLUTION
    variables = {name: tf.Variable(value) for name, value in params.items()}
    with tf.GradientTape() as tape:
        hidden = tf.nn.relu(tf.matmul(x, variables["W1"]) + variables["b1"])  # (batch, hidden)
        logits = tf.matmul(hidden, variables["W2"]) + variables["b2"]  # (batch, classes)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
    gradients = tape.gradient(loss, variables)
    return {name: gradient.numpy() for name, gradient in gradients.items()}
    ### END SOLUTION


# %% [markdown]
# ## Training with SGD
#
# One SGD step moves every parameter against its gradient: $\theta \leftarrow \theta - \eta g$.


# %%
def sgd_step(params: dict, grads: dict, learning_rate: float) -> dict:
    """One SGD step.

    Args:
        params: dict of float64 arrays; it and its arrays are not modified.
        grads: dict of arrays shaped like the matching parameters.
        learning_rate: the step size.

    Returns:
        A new dict of new arrays ``params[k] - learning_rate * grads[k]``.
    """
    ### BEGIN SOLUTION
    return {name: value - learning_rate * grads[name] for name, value in params.items()}
    ### END SOLUTION


def train_sgd(
    x: np.ndarray,
    labels: np.ndarray,
    hidden_units: int = HIDDEN_UNITS,
    learning_rate: float = LEARNING_RATE,
    epochs: int = 10,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
) -> tuple[dict, list[float]]:
    """Train the two-layer network with minibatch SGD, gradients from ``tape_gradients``.

    The parameters start from ``init_mlp(in_features, hidden_units, num_classes, seed)``, with
    ``num_classes = labels.max() + 1``. Each epoch visits the examples in a new random order
    (drawn from ``np.random.default_rng(seed)``, so the same seed gives the same order and
    another seed another order), in consecutive minibatches of ``batch_size`` examples (the last
    one smaller when ``batch_size`` does not divide n). For each minibatch, in this order: its
    loss ``cross_entropy`` under the current parameters, its gradients
    ``tape_gradients(x_batch, labels_batch, params)``, then ``sgd_step``.

    Args:
        x: (n, in_features) float32 or float64 inputs, n >= 1 (compute in float64).
        labels: (n,) integer class ids 0..num_classes-1.
        hidden_units, learning_rate, epochs, batch_size: training settings.
        seed: seeds ``init_mlp`` and the shuffling.

    Returns:
        params: the trained float64 parameters; losses: a list of ``epochs`` floats, each the
        mean of the epoch's minibatch losses.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    params = init_mlp(x.shape[1], hidden_units, int(labels.max()) + 1, seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        epoch_losses = []
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            logits, _ = mlp_forward(x[batch], params)
            epoch_losses.append(cross_entropy(logits, labels[batch]))
            grads = tape_gradients(x[batch], labels[batch], params)
            params = sgd_step(params, grads, learning_rate)
        losses.append(float(np.mean(epoch_losses)))
    return params, losses
    ### END SOLUTION


# %% [markdown]
# ## The same network in Keras
#
# The functional API wires layers like function calls: `outputs = layer(inputs)`. Keras
# creates the weights, runs the tape and the optimiser, and prints a progress bar.


# %%
def build_keras_mlp(
    in_features: int = 64,
    hidden_units: int = HIDDEN_UNITS,
    num_classes: int = 10,
    dropout_rate: float = 0.1,
) -> keras.Model:
    """Build (not compile) the two-layer network with Keras' functional API.

    Layers: Input (in_features,) → Dense(hidden_units, relu) → Dropout(dropout_rate) →
    Dense(num_classes) producing logits (no softmax anywhere after the last Dense).

    Returns:
        A ``keras.Model`` mapping float32 (batch, in_features) inputs to float32
        (batch, num_classes) logits.
    """
    ### BEGIN SOLUTION
    inputs = keras.Input(shape=(in_features,))
    hidden = keras.layers.Dense(hidden_units, activation="relu")(inputs)  # (batch, hidden)
    hidden = keras.layers.Dropout(dropout_rate)(hidden)
    logits = keras.layers.Dense(num_classes)(hidden)  # (batch, classes)
    return keras.Model(inputs, logits, name="mlp")
    ### END SOLUTION


def train_keras_mlp(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    verbose: int = 1,
    seed: int = SEED,
) -> keras.callbacks.History:
    """Compile ``model`` and fit it on ``(x_train, y_train)``.

    Compile with ``keras.optimizers.Adam(learning_rate=0.01)``, the loss
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)`` (the model outputs logits)
    and ``metrics=["accuracy"]``; then fit with the given ``epochs``, ``batch_size`` and
    ``verbose``.

    Args:
        model: the output of ``build_keras_mlp``.
        x_train: (n, in_features) float32 inputs; y_train: (n,) integer labels.
        epochs, batch_size: passed to ``model.fit``.
        verbose: 1 shows Keras' progress bar, 0 nothing.
        seed: passed to ``keras.utils.set_random_seed`` before fitting; it fixes the order in
            which ``fit`` visits the examples, so another seed gives another order.

    Returns:
        The ``History`` returned by ``model.fit``.
    """
    ### BEGIN SOLUTION
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    ### END SOLUTION


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or when this file is run as a script (`python 01_nn_recap.py`), never on
# import. First the numerical gradient check of your backward pass, then both trainings.

# %%
if should_run_demo(__name__):
    x_train, y_train, x_test, y_test = load_digits_split()
    x_few, y_few = x_train[:32].astype(np.float64), y_train[:32]
    start = init_mlp(x_few.shape[1], HIDDEN_UNITS, 10)
    grads = mlp_backward(mlp_forward(x_few, start)[1], y_few, start)
    for name in ("W1", "b1", "W2", "b2"):

        def loss_of(value, name=name):
            return cross_entropy(mlp_forward(x_few, {**start, name: value})[0], y_few)

        error = gradient_check(loss_of, start[name], grads[name])
        print(f"Gradient check of mlp_backward, {name}: relative error {error:.1e}")

    params, losses = train_sgd(x_train, y_train, epochs=5)
    accuracy = (mlp_forward(x_test, params)[0].argmax(axis=1) == y_test).mean()
    print(f"SGD with GradientTape: losses {np.round(losses, 3)}, test accuracy {accuracy:.3f}")

    model = build_keras_mlp()
    train_keras_mlp(model, x_train, y_train)
    _, keras_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Keras MLP test accuracy: {keras_accuracy:.3f}")
