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
# `tf.GradientTape` and a numerical gradient check), an SGD training loop with `GradientTape`,
# and the same network in Keras, trained on real handwritten digits to about 97 % accuracy.
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


# %%
def dense_forward(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Apply a dense layer.

    Args:
        x: (batch, in_features) inputs.
        weights: (in_features, out_features) weight matrix.
        bias: (out_features,) bias vector.

    Returns:
        (batch, out_features) pre-activations ``x @ weights + bias``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("dense_forward: fill in the region marked YOUR CODE HERE")


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit, elementwise: ``max(z, 0)``. Any shape in, same shape out."""
    # YOUR CODE HERE
    raise NotImplementedError("relu: fill in the region marked YOUR CODE HERE")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, elementwise, without overflow for large ``|z|``.

    Args:
        z: array of any shape.

    Returns:
        Array of the same shape with values in [0, 1]; no warnings for z = ±1000.
    """
    # YOUR CODE HERE
    raise NotImplementedError("sigmoid: fill in the region marked YOUR CODE HERE")


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
        logits: (batch, num_classes) scores (any leading shape works).

    Returns:
        (batch, num_classes) probabilities; each row sums to 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError("softmax: fill in the region marked YOUR CODE HERE")


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)``, stable for ±1000.

    Args:
        logits: (batch, num_classes) scores.
        labels: (batch,) integer class ids in ``[0, num_classes)``.

    Returns:
        The mean over the batch of ``-log softmax(logits)[i, labels[i]]``, a Python float.
    """
    # YOUR CODE HERE
    raise NotImplementedError("cross_entropy: fill in the region marked YOUR CODE HERE")


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
        cache: whatever the backward pass needs, at least ``x``, ``z1`` (batch, hidden)
            pre-activations and ``h1`` (batch, hidden) activations.
    """
    # YOUR CODE HERE
    raise NotImplementedError("mlp_forward: fill in the region marked YOUR CODE HERE")


def mlp_backward(cache: dict, labels: np.ndarray, params: dict) -> dict:
    """Gradients of the mean cross-entropy with respect to every parameter.

    Args:
        cache: the second output of ``mlp_forward``.
        labels: (batch,) integer class ids.
        params: the parameters used in the forward pass.

    Returns:
        ``{"W1", "b1", "W2", "b2"}``: arrays shaped like the matching parameters.
    """
    # YOUR CODE HERE
    raise NotImplementedError("mlp_backward: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## The same gradients with `tf.GradientTape`
#
# TensorFlow records the operations run inside a `GradientTape` and differentiates them for
# us. Write the forward pass with TensorFlow operations and let the tape do the backward pass.


# %%
def tape_gradients(x: np.ndarray, labels: np.ndarray, params: dict) -> dict:
    """Gradients of the two-layer network's mean cross-entropy, computed by ``tf.GradientTape``.

    Args:
        x: (batch, in_features) inputs; labels: (batch,) class ids; params: as ``mlp_forward``.

    Returns:
        ``{"W1", "b1", "W2", "b2"}`` as numpy arrays shaped like the parameters.
    """
    # YOUR CODE HERE
    raise NotImplementedError("tape_gradients: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Training with SGD
#
# One SGD step moves every parameter against its gradient: $\theta \leftarrow \theta - \eta g$.


# %%
def sgd_step(params: dict, grads: dict, learning_rate: float) -> dict:
    """Return new parameters ``params[k] - learning_rate * grads[k]``; inputs are not modified."""
    # YOUR CODE HERE
    raise NotImplementedError("sgd_step: fill in the region marked YOUR CODE HERE")


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

    Args:
        x: (n, in_features) inputs; labels: (n,) class ids 0..classes-1.
        hidden_units, learning_rate, epochs, batch_size: training settings.
        seed: seeds ``init_mlp`` and the shuffling of each epoch.

    Returns:
        params: the trained parameters; losses: the mean training loss of each epoch.
    """
    # YOUR CODE HERE
    raise NotImplementedError("train_sgd: fill in the region marked YOUR CODE HERE")


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
    Dense(num_classes) producing logits (no softmax).

    Returns:
        A ``keras.Model`` mapping (batch, in_features) to (batch, num_classes) logits.
    """
    # YOUR CODE HERE
    raise NotImplementedError("build_keras_mlp: fill in the region marked YOUR CODE HERE")


def train_keras_mlp(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    verbose: int = 1,
    seed: int = SEED,
) -> keras.callbacks.History:
    """Compile ``model`` (Adam, sparse cross-entropy from logits, accuracy) and fit it.

    Args:
        model: the output of ``build_keras_mlp``; x_train: (n, 64); y_train: (n,) labels.
        verbose: 1 shows Keras' progress bar.
        seed: passed to ``keras.utils.set_random_seed`` before fitting.

    Returns:
        The ``History`` returned by ``model.fit``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("train_keras_mlp: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or as a script (`python solutions/01_nn_recap.py`), never on import.

# %%
if should_run_demo(__name__):
    x_train, y_train, x_test, y_test = load_digits_split()
    params, losses = train_sgd(x_train, y_train, epochs=5)
    accuracy = (mlp_forward(x_test, params)[0].argmax(axis=1) == y_test).mean()
    print(f"SGD with GradientTape: losses {np.round(losses, 3)}, test accuracy {accuracy:.3f}")

    model = build_keras_mlp()
    train_keras_mlp(model, x_train, y_train)
    _, keras_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Keras MLP test accuracy: {keras_accuracy:.3f}")
