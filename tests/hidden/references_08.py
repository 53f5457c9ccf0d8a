"""Lecture 08's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs of the public tests
(``tests/autograder/test_08_dual_encoder.py``, whose seeded builders it reuses) and ``camp
generate`` writes the result to ``tests/autograder/expected/08_dual_encoder.json``; the hidden
tests (``test_08_dual_encoder_hidden.py``) compare the student's code with them on other inputs.
The references: numpy (the symmetric InfoNCE loss, its numerical gradient, the projection head,
ranking metrics), ``tf.nn.softmax_cross_entropy_with_logits``, ``scipy.special`` and
scikit-learn (``PCA``, ``average_precision_score``).
"""

import math

import numpy as np
import tensorflow as tf
from scipy.special import erf, softmax

from course_lib.grading.expected import public_tests

LAYER_NORM_EPSILON = 1e-3  # keras.layers.LayerNormalization's default, as the docstring says.


def unit(x, axis=-1, epsilon=1e-12):
    """The lecture's normalisation, ``x / sqrt(max(sum(x ** 2), epsilon))``, in float64."""
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.maximum(np.sum(x**2, axis=axis, keepdims=True), epsilon))


def log_softmax(logits, axis):
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def info_nce(images, texts, temperature, normalise=True, directions=2):
    """The symmetric InfoNCE loss in float64 numpy."""
    if normalise:
        images, texts = unit(images), unit(texts)
    logits = np.asarray(images, np.float64) @ np.asarray(texts, np.float64).T / temperature
    image_to_text = -np.diag(log_softmax(logits, axis=1)).mean()
    text_to_image = -np.diag(log_softmax(logits, axis=0)).mean()
    return (image_to_text + text_to_image) / 2 if directions == 2 else image_to_text


def info_nce_tf(images, texts, temperature):
    """The same loss from ``tf.nn.softmax_cross_entropy_with_logits`` (a second reference)."""
    logits = tf.constant(unit(images) @ unit(texts).T / temperature)
    labels = tf.eye(len(images), dtype=tf.float64)
    rows = tf.nn.softmax_cross_entropy_with_logits(labels, logits)
    columns = tf.nn.softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
    return float((tf.reduce_mean(rows) + tf.reduce_mean(columns)) / 2)


def numerical_gradient(function, x, h=1e-6):
    """Central differences of a scalar function of an array, entry by entry."""
    x = np.array(x, np.float64)
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        plus = function(x)
        x[index] = original - h
        minus = function(x)
        x[index] = original
        gradient[index] = (plus - minus) / (2 * h)
    return gradient


def gelu(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def head_parts(x, values, approximate=False):
    """The projection ``x W1 + b1`` and the dense branch ``GELU(p) W2 + b2`` before dropout."""
    (w1, b1), (w2, b2) = values["projection"], values["fc"]
    projected = x @ w1 + b1
    return projected, gelu(projected, approximate) @ w2 + b2


def head(x, values, epsilon, approximate=False, residual=True, mask=None):
    """The projection head; ``mask``: a dropout mask (kept values scaled) on the branch."""
    gamma, beta = values["layer_norm"]
    projected, out = head_parts(x, values, approximate)
    if mask is not None:
        out = out * mask
    z = projected + out if residual else out
    mean, variance = z.mean(axis=-1, keepdims=True), z.var(axis=-1, keepdims=True)
    return (z - mean) / np.sqrt(variance + epsilon) * gamma + beta


def toy_towers(image_weights, text_weights):
    """The public tests' batch-normalised toy towers, built here, with the student's weights."""
    import keras

    image = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
        ]
    )
    text = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(8), keras.layers.BatchNormalization()]
    )
    image.set_weights(image_weights)
    text.set_weights(text_weights)
    return image, text


def train_steps(image_weights, text_weights, log_logit_scale, batches, learning_rate, max_log):
    """The reference training: per batch, the symmetric InfoNCE of both towers in training mode
    under a ``tf.GradientTape``, one plain SGD step on every trainable weight and the
    temperature's ``log_logit_scale``, then the clamp to [0, max_log].

    Returns:
        ``(image weights, text weights, log_logit_scale, losses)`` after the steps, the weights
        as ``get_weights()`` lists (batch normalisation's moving averages included).
    """
    image, text = toy_towers(image_weights, text_weights)
    scale = tf.Variable(float(log_logit_scale), dtype=tf.float32)
    losses = []
    for images, texts in batches:
        with tf.GradientTape() as tape:
            u = tf.math.l2_normalize(image(images, training=True), axis=-1)
            v = tf.math.l2_normalize(text(texts, training=True), axis=-1)
            logits = tf.matmul(u, v, transpose_b=True) * tf.exp(scale)
            labels = tf.eye(len(images))
            rows = tf.nn.softmax_cross_entropy_with_logits(labels, logits)
            columns = tf.nn.softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
            loss = (tf.reduce_mean(rows) + tf.reduce_mean(columns)) / 2
        variables = [*image.trainable_variables, *text.trainable_variables, scale]
        for variable, gradient in zip(variables, tape.gradient(loss, variables), strict=True):
            variable.assign_sub(learning_rate * gradient)
        scale.assign(tf.clip_by_value(scale, 0.0, max_log))
        losses.append(float(loss))
    return image.get_weights(), text.get_weights(), float(scale.numpy()), losses


def batch_losses(image_embeddings, text_embeddings, temperature, batch=8):
    """The mean over batches of the loss (what fit and evaluate report for an epoch)."""
    images, texts = np.asarray(image_embeddings, np.float64), np.asarray(text_embeddings)
    starts = range(0, len(images), batch)
    losses = [info_nce(images[i : i + batch], texts[i : i + batch], temperature) for i in starts]
    return float(np.mean(losses))


def report(texts, images, relevant, ks, map_k, normalise=True):
    similarity = unit(texts) @ unit(images).T if normalise else texts @ images.T
    rankings = np.argsort(-similarity, axis=1, kind="stable")
    out = {}
    for k in ks:
        out[f"R@{k}"] = np.mean(
            [len(set(r[:k].tolist()) & s) / len(s) for r, s in zip(rankings, relevant, strict=True)]
        )
    aps = []
    for ranking, s in zip(rankings, relevant, strict=True):
        hits, total = 0, 0.0
        for rank, item in enumerate(ranking[:map_k], start=1):
            if item in s:
                hits += 1
                total += hits / rank
        aps.append(total / min(len(s), map_k))
    out[f"mAP@{map_k}"] = float(np.mean(aps))
    return out


def image_to_text(images, texts, owner, ks, share=False):
    """CLIP's image → text Recall@K (``share=True``: the share of a photo's texts, a mistake)."""
    similarity = unit(images) @ unit(texts).T
    ranked = np.argsort(-similarity, axis=1, kind="stable")
    per_photo = np.bincount(owner)
    out = {}
    for k in ks:
        if share:
            hits = [np.sum(owner[row[:k]] == i) / per_photo[i] for i, row in enumerate(ranked)]
        else:
            hits = [bool(np.any(owner[row[:k]] == i)) for i, row in enumerate(ranked)]
        out[f"R@{k}"] = float(np.mean(hits))
    return out


def zero_shot(images, classes, temperature):
    return softmax(unit(images) @ unit(classes).T / temperature, axis=1)


def zero_shot_report(probabilities, labels):
    from sklearn.metrics import average_precision_score

    best = probabilities.argmax(axis=1)
    present = labels.sum(axis=0) > 0
    return {
        "top1_accuracy": float(labels[np.arange(len(labels)), best].mean()),
        "mAP": float(average_precision_score(labels[:, present], probabilities[:, present])),
        "num_classes_scored": int(present.sum()),
    }


def ensemble(prompts):
    return unit(unit(prompts).mean(axis=0))


def expected():
    """The reference's values on the public tests' fixed inputs."""
    from sklearn.decomposition import PCA

    t = public_tests("08")
    values = {}
    values_head, x = t._head_values(t._rng(3), 7, 5), t._rng(4).normal(size=(4, 7))
    values["projection_head"] = {
        "out": head(x, values_head, LAYER_NORM_EPSILON),
        "no_residual": head(x, values_head, LAYER_NORM_EPSILON, residual=False),
        "approximate": head(x, values_head, LAYER_NORM_EPSILON, approximate=True),
    }
    projected, branch = head_parts(x, values_head)
    values["projection_head_training"] = {"projected": projected, "branch": branch}
    values["info_nce"] = [
        {
            "out": info_nce(images, texts, temperature),
            "one_direction": info_nce(images, texts, temperature, directions=1),
            "unnormalised": info_nce(images, texts, temperature, normalise=False),
            "inverted": info_nce(images, texts, 1 / temperature),
        }
        for images, texts, temperature in t._info_nce_cases()
    ]
    images, texts, temperature = t._gradient_inputs()
    values["info_nce_gradients"] = {
        "loss": info_nce(images, texts, temperature),
        "images": numerical_gradient(lambda v: info_nce(v, texts, temperature), images),
        "texts": numerical_gradient(lambda v: info_nce(images, v, temperature), texts),
        "temperature": numerical_gradient(
            lambda v: info_nce(images, texts, float(v)), np.array(temperature)
        ),
    }
    images, texts = t._temperature_inputs()
    values["temperature_gradient"] = {
        "loss": info_nce(images, texts, 0.25),
        "gradients": [
            float(numerical_gradient(lambda v: info_nce(images, texts, math.exp(-float(v))), s))
            for s in (math.log(4.0), math.log(100.0) + 0.5)
        ],
    }
    texts, images, relevant = t._report_inputs()
    values["retrieval_report"] = {
        "out": report(texts, images, relevant, (1, 3), 4),
        "raw": report(texts, images, relevant, (1, 3), 4, normalise=False),
    }
    images, texts, owner = t._image_to_text_inputs()
    values["image_to_text_recall"] = {
        "out": image_to_text(images, texts, owner, (1, 2, 5)),
        "share": image_to_text(images, texts, owner, (1, 2, 5), share=True),
    }
    values["pca_2d"] = PCA(2).fit_transform(t._pca_inputs())
    images, classes = t._zero_shot_inputs()
    values["zero_shot_probabilities"] = {
        "out": zero_shot(images, classes, 0.3),
        "multiplied": zero_shot(images, classes, 1 / 0.3),
        "cold": zero_shot(images.astype(np.float32), classes, 0.001),
    }
    values["zero_shot_report"] = zero_shot_report(*t._zero_shot_report_inputs())
    prompts = t._prompt_inputs()
    values["ensemble_class_embeddings"] = {
        "out": ensemble(prompts),
        "unnormalised": unit(prompts.mean(axis=0)),
    }
    image_vectors, query_vectors = t._engine_vectors()
    values["engine"] = {
        "images": unit(image_vectors),
        "scores": unit(np.stack([query_vectors["q0"], query_vectors["q1"]]))
        @ unit(image_vectors).T,
    }
    return values
