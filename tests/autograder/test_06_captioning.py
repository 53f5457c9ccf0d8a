"""Autograder for Lecture 06, image captioning with visual attention.

References: ``tf.nn`` and expected values stored as data
(``tests/autograder/expected/06_captioning.json``, which the instructor's references compute on
the fixed inputs and named weights built here: numpy, Keras' own GRUCell, an exhaustive search
over every sequence, a beam search of their own, and pycocoevalcap's ``Bleu(4)`` and ``Cider()``
scorers; ``camp generate`` writes it). Each test calls the student's module ``sub``. Keras
objects the student's code receives (the optimizer, the dataset) and the folders it writes into
are made where that code runs (``library``); the judge's step functions reach the student's
decoders as callbacks.
"""

import re
import struct
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from course_lib.data import generate_item
from course_lib.grading.access import (
    arguments_after,
    float_errors_raised,
    library,
    record_calls,
    type_name,
)
from course_lib.grading.compare import plain_array
from course_lib.grading.expected import load

START, END, A, B, C = 0, 1, 2, 3, 4  # Word ids of the hand-built decoders.


def _rng(offset=0):
    return np.random.default_rng(6000 + offset)


def _expected(name):
    """The reference's values for test ``name``, stored as data (see the module docstring)."""
    return load("06")[name]


def _named_weights(layout, offset, scale=0.5):
    """Seeded values for the variables of nested sublayers, chosen by name, never by order.

    ``layout``: ``{name: shape, or a nested layout}`` following the attributes of a layer.
    """
    weights = {}
    for index, (name, item) in enumerate(layout.items()):
        if isinstance(item, dict):
            weights[name] = _named_weights(item, offset * 100 + index, scale)
        else:
            rng = np.random.default_rng([6000, offset, index])
            weights[name] = rng.normal(scale=scale, size=item).astype(np.float32)
    return weights


def _assign_named(layer, weights, where="model"):
    """Write ``_named_weights`` into the (given) sublayers and variables of a student's layer."""
    for name, value in weights.items():
        target = getattr(layer, name, None)
        if isinstance(value, dict):
            _assign_named(target, value, f"{where}.{name}")
            continue
        shape = None if target is None else tuple(target.shape)
        if shape != value.shape:
            pytest.fail(f"{where}.{name}: expected shape {value.shape}; received {shape}.")
        target.assign(value)


def _decoder_layout(vocab, embedding, units, attention, feature_dim):
    return {
        "embedding": {"embeddings": (vocab, embedding)},
        "attention": {
            "features_kernel": (feature_dim, attention),
            "hidden_kernel": (units, attention),
            "bias": (attention,),
            "score_vector": (attention,),
        },
        "cell": {
            "kernel": (embedding + feature_dim, 3 * units),
            "recurrent_kernel": (units, 3 * units),
            "bias": (2, 3 * units),
        },
        "init_state": {"kernel": (feature_dim, units), "bias": (units,)},
        "output_layer": {"kernel": (units + feature_dim, vocab), "bias": (vocab,)},
    }


def _captioner_weights(vocab, offset):
    """Named values for ``_tiny_captioner``: the projection and the decoder."""
    layout = {
        "projection": {"kernel": (3, 6), "bias": (6,)},
        "decoder": _decoder_layout(vocab, 5, 8, 4, 6),
    }
    return _named_weights(layout, offset)


def _seed(sub, seed=0):
    """Seed Keras where the student's code runs, before it builds a model."""
    library(sub, "keras").utils.set_random_seed(seed)


def _runner_dir(sub):
    """A fresh folder (a ``pathlib.Path``) where the student's code runs, for files it writes."""
    return library(sub, "pathlib").Path(library(sub, "tempfile").mkdtemp())


def _number(value) -> float:
    """The float of a scalar from the student's code (a 0-d array or tensor, or a number)."""
    array = np.asarray(value)
    if array.shape != ():
        pytest.fail(f"Expected a scalar; received a value of shape {array.shape}.")
    return float(array)


def _rows(out) -> list[list[int]]:
    """Decoded captions as lists of ints (a student's ids may be numpy integers)."""
    rows = []
    for row in out:
        ids = [np.asarray(token) for token in row]
        if any(token.shape != () or token.dtype.kind not in "iu" for token in ids):
            pytest.fail("Expected each caption to be a list of word ids (ints, not arrays).")
        rows.append([int(token) for token in ids])
    return rows


# Hand-built decoders: the log-probabilities of the next word depend only on the previous word
# (first order) or on the previous two (second order, the state holds the word before).


def _table(rows: dict, vocab: int = 5) -> np.ndarray:
    """Return a (vocab, vocab) log-probability table from {previous: {next: probability}}."""
    probs = np.full((vocab, vocab), 1e-6)
    for previous, nexts in rows.items():
        for token, p in nexts.items():
            probs[previous, token] = p
    return np.log(probs / probs.sum(axis=1, keepdims=True))


def _first_order_step(table):
    def step_fn(tokens, state):
        return table[np.asarray(tokens)], state

    return step_fn


# Greedy takes A (0.5), then wanders among A, B, C; B then <end> is far more likely.
GREEDY_TRAP = _table(
    {
        START: {A: 0.5, B: 0.4, C: 0.1},
        A: {A: 0.34, B: 0.33, C: 0.23, END: 0.1},
        B: {END: 0.9, A: 0.05, B: 0.05},
        C: {END: 0.9, A: 0.05, B: 0.05},
        END: {END: 1.0},
    }
)

# "A <end>" is the most likely caption (0.3); "B C <end>" (0.24) has the best score per token,
# <end> counted. Counting the words only, "A A A A A" (never ended) would win instead.
LENGTH_TRAP = _table(
    {
        START: {A: 0.6, B: 0.4},
        A: {END: 0.5, A: 0.5},
        B: {C: 0.6, END: 0.4},
        C: {END: 1.0},
        END: {END: 1.0},
    }
)


def _sequence_log_prob(table, words, end_included=True):
    tokens = [START, *words, *([END] if end_included else [])]
    return sum(table[a, b] for a, b in zip(tokens[:-1], tokens[1:], strict=True))


def _second_order_tables(images=2, vocab=4, seed=0, end_bias=0.0):
    """Random (images, vocab, vocab, vocab) log-probabilities of next given (before, previous).

    ``end_bias`` is added to the logit of <end>, so that some best captions end early.
    """
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(images, vocab, vocab, vocab))
    logits[..., END] += end_bias
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


def _second_order_step(tables):
    def step_fn(tokens, state):
        image, before = state  # (batch,), (batch,)
        tokens = np.asarray(tokens)
        return tables[image, before, tokens], (image, tokens)

    return step_fn


BEAM_TABLES = [(0, 0.5), (34, 1.0)]  # (seed, end bias) of the tables of narrow beams.
BEAM_SETTINGS = [(1, 0.7), (2, 0.0), (2, 1.0), (3, 0.7)]  # (beam width, length penalty).


def _tokens(text):
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _caption_corpus(images=24, seed=3):
    """Return (candidates, references): perturbed and foreign captions against five references."""
    rng = _rng(seed)
    references, candidates = {}, {}
    all_captions = [generate_item(seed, "val", i, 64)[2] for i in range(images)]
    for i, captions in enumerate(all_captions):
        references[i] = [_tokens(c) for c in captions]
        words = _tokens(captions[i % 5]).split()
        kind = i % 4
        if kind == 1 and len(words) > 2:
            del words[rng.integers(len(words))]  # A dropped word.
        elif kind == 2:
            words = _tokens(all_captions[(i + 7) % images][0]).split()  # Another image's caption.
        elif kind == 3:
            words = words[: max(2, len(words) // 2)]  # Too short: the brevity penalty bites.
        candidates[i] = " ".join(words) if i % 6 else " ".join(words + ["on", "a", "table"])
    return candidates, references


# Encoder.


@pytest.mark.points(
    2,
    hint="Stack one ConvBlock per filter count; the grid model is keras.Model(inputs, grid) "
    "on the very same tensors as the classifier, whose head is pooling → dropout → Dense logits.",
    section="encoder",
)
def test_encoder_cnn_grid_and_logits(sub):
    _seed(sub)
    classifier, grid_model = sub.build_encoder_cnn(
        image_size=32, num_classes=5, block_filters=(4, 8), dropout_rate=0.1
    )
    if tuple(grid_model.output_shape) != (None, 8, 8, 8):
        pytest.fail(
            f"Expected a grid of shape (None, 8, 8, 8) for 32x32 images and two blocks of 4 and "
            f"8 filters; received {grid_model.output_shape}. Keep the spatial grid: no pooling "
            "or flattening in the grid model."
        )
    assert tuple(classifier.output_shape) == (None, 5)
    configs = [layer.get_config() for layer in classifier.layers]
    rates = [float(config["rate"]) for config in configs if "rate" in config]
    if len(rates) != 1 or abs(rates[0] - 0.1) > 1e-9:
        pytest.fail(
            f"Expected one Dropout layer with the dropout_rate argument (0.1); found rates "
            f"{rates}. Use the arguments, not the module's constants."
        )
    images = _rng(1).random((2, 32, 32, 3)).astype("float32")
    logits = plain_array(classifier(images, training=False), what="The logits", shape=(2, 5))
    if (logits >= 0).all() and (logits <= 1).all():
        pytest.fail("The classifier must return logits: no sigmoid on the last Dense layer.")


def _encoder_weights():
    """Seeded values of an encoder of two blocks (3 and 5 filters) and 12 classes, by name.

    Positive betas keep every pooled feature away from 0, where a dropout mask hides.
    """
    rng, previous, blocks = np.random.default_rng([6000, 17]), 3, []
    for filters in (3, 5):
        blocks.append(
            {
                "conv": {"kernel": rng.normal(scale=0.5, size=(3, 3, previous, filters))},
                "norm": {
                    "gamma": rng.uniform(0.5, 1.5, filters),
                    "beta": rng.uniform(0.2, 0.6, filters),
                    "moving_mean": rng.normal(scale=0.3, size=filters),
                    "moving_variance": rng.uniform(0.5, 2.0, filters),
                },
            }
        )
        previous = filters
    head = {"kernel": rng.normal(size=(previous, 12)), "bias": rng.normal(scale=0.1, size=12)}
    as_float32 = lambda values: {k: v.astype("float32") for k, v in values.items()}  # noqa: E731
    blocks = [{name: as_float32(values) for name, values in b.items()} for b in blocks]
    return {"blocks": blocks, "logits": as_float32(head)}


def _encoder_images():
    return _rng(17).random((4, 16, 16, 3)).astype("float32")


def _dropout_mask(logits, hidden, kernel, bias, rate, what):
    """The dropout mask that turns ``hidden`` into ``logits`` through Dense(kernel, bias).

    The output layer has more outputs than inputs, so its input is recovered from its output by
    least squares; it must be ``hidden`` with every element either zeroed or scaled by
    ``1 / (1 - rate)``, as Keras' Dropout does right before that layer. Returns the mask.
    """
    logits = plain_array(logits, what=what, dtype="float", shape=(len(hidden), len(bias)))
    logits = logits.astype(np.float64)
    kernel, bias, hidden = (np.asarray(x, np.float64) for x in (kernel, bias, hidden))
    solved = np.linalg.lstsq(kernel.T, (logits - bias).T, rcond=None)[0].T  # (batch, inputs)
    if not np.allclose(solved @ kernel + bias, logits, atol=1e-4):
        pytest.fail(
            f"{what} in training mode are not the output layer applied to its usual input with "
            "some elements dropped: dropout must act on the output layer's input, not on the "
            "logits or earlier."
        )
    visible = np.abs(hidden) > 1e-2
    ratio = solved[visible] / hidden[visible]
    kept, zeroed = np.abs(ratio - 1 / (1 - rate)) < 1e-3, np.abs(ratio) < 1e-3
    if not (kept | zeroed).all():
        pytest.fail(
            f"{what} in training mode: the output layer's input is not its inference-mode input "
            f"with each element either dropped (0) or scaled by 1 / (1 - rate) = "
            f"{1 / (1 - rate):g}. Apply Dropout(dropout_rate) right before the output layer, "
            "and nothing else that changes with training."
        )
    if not zeroed.any():
        pytest.fail(f"{what} in training mode: no element was dropped; dropout must act.")
    mask = np.ones_like(solved)
    mask[visible] = np.where(zeroed, 0.0, 1 / (1 - rate))
    return mask


@pytest.mark.points(
    3,
    hint="The classifier is the grid followed by global average pooling, dropout and a Dense "
    "layer without activation; the grid model shares the classifier's layers; in training mode "
    "batch norm uses the batch's statistics and dropout acts on the pooled features only.",
    section="encoder",
)
def test_encoder_cnn_computes_grid_pooling_and_logits(sub):
    _seed(sub)
    classifier, grid_model = sub.build_encoder_cnn(
        image_size=16, num_classes=12, block_filters=(3, 5), dropout_rate=0.5
    )
    layers = list(classifier.layers)
    blocks = [layer for layer in layers if type_name(layer) == "ConvBlock"]
    dense = [layer for layer in layers if type_name(layer) == "Dense"]
    if len(blocks) != 2 or len(dense) != 1:
        pytest.fail(
            f"Expected one ConvBlock per entry of block_filters (2) and one Dense layer in the "
            f"classifier; found {len(blocks)} ConvBlock and {len(dense)} Dense layers."
        )
    weights = _encoder_weights()
    for index, (block, values) in enumerate(zip(blocks, weights["blocks"], strict=True)):
        _assign_named(block, values, f"ConvBlock {index + 1}")
    _assign_named(dense[0], weights["logits"], "the Dense layer")
    images = _encoder_images()
    reference = _expected("encoder")  # tf.nn's convolution, batch norm and pooling, stored.
    grid = plain_array(
        grid_model(images, training=False), what="The grid", dtype="float", shape=(4, 4, 4, 5)
    )
    if not np.allclose(grid, reference["grid"], atol=1e-4):
        pytest.fail(
            "The grid model does not compute the blocks with the classifier's weights: build "
            "it as keras.Model(inputs, grid) on the classifier's own input and block outputs."
        )
    logits = plain_array(classifier(images, training=False), what="The logits", shape=(4, 12))
    if np.allclose(logits, reference["max_logits"], atol=1e-4):
        pytest.fail("The classifier takes the maximum over the grid: average it (pooling).")
    if not np.allclose(logits, reference["logits"], atol=1e-4):
        pytest.fail(
            "The logits differ from GlobalAveragePooling2D → Dropout → Dense(num_classes) of "
            "the grid, with no activation (inference mode: dropout off)."
        )
    trained_grid = grid_model(images, training=True)
    trained_grid = plain_array(trained_grid, what="The grid in training mode", dtype="float")
    if not np.allclose(trained_grid, reference["train_grid"], atol=1e-4):
        pytest.fail(
            "In training mode the grid must use batch norm's batch statistics: call the blocks "
            "without forcing training=False."
        )
    dropped = classifier(images, training=True)
    head = weights["logits"]
    _dropout_mask(dropped, reference["train_pooled"], head["kernel"], head["bias"], 0.5, "Logits")


@pytest.mark.points(
    1,
    hint="One location per grid cell, in the order of the docstring (the rows of the grid one "
    "after the other), the channels kept together.",
    section="encoder",
)
def test_flatten_grid_row_by_row(sub):
    grid = _rng(2).normal(size=(2, 3, 4, 5))
    flat = np.asarray(sub.flatten_grid(grid))
    reference = _expected("flatten_grid")
    assert flat.shape == (2, 12, 5), f"Expected shape (2, 12, 5); received {flat.shape}."
    if np.allclose(flat, reference["columns"]):
        pytest.fail("Your locations go column by column: location r * width + c is row r.")
    np.testing.assert_allclose(flat[:, 1 * 4 + 2], grid[:, 1, 2])
    np.testing.assert_allclose(flat, reference["out"])
    # The grid model's output is a tensor (it reaches the student's code as a tensor).
    flat = sub.flatten_grid(tf.constant(grid.astype("float32")))
    if type(flat) is not np.ndarray or flat.dtype != np.float32:
        pytest.fail(
            f"flatten_grid of a float32 tensor returned a {type_name(flat)} of "
            f"{getattr(flat, 'dtype', '?')}; expected a numpy array of float32 (convert the "
            "grid with np.asarray first)."
        )
    flat = plain_array(flat, what="flatten_grid(a float32 tensor)", shape=(2, 12, 5))
    np.testing.assert_allclose(flat, np.asarray(reference["out"], np.float32))
    single = _rng(3).normal(size=(1, 1, 1, 3))  # One photo whose grid has one cell.
    out, args, _ = arguments_after(sub.flatten_grid, single.copy())
    out = plain_array(out, what="flatten_grid of a 1x1 grid", dtype=np.float64, shape=(1, 1, 3))
    np.testing.assert_allclose(out, single.reshape(1, 1, 3))
    if np.shape(args[0]) != single.shape or not np.array_equal(args[0], single):
        pytest.fail("flatten_grid changed its input: return a new array, leave the grid as it is.")


# Attention.


def _attention_inputs(feature_dim=6, hidden_dim=5, units=7, seed=3):
    """Features, hidden state and the judge's values of the attention's four variables."""
    features = _rng(seed).normal(size=(3, 10, feature_dim)).astype("float32")
    hidden = _rng(seed + 1).normal(size=(3, hidden_dim)).astype("float32")
    rng = _rng(seed + 2)
    values = {
        "features_kernel": rng.normal(scale=0.5, size=(feature_dim, units)),
        "hidden_kernel": rng.normal(scale=0.5, size=(hidden_dim, units)),
        "bias": rng.normal(scale=0.5, size=units),
        "score_vector": rng.normal(size=units),
    }
    return features, hidden, {name: value.astype("float32") for name, value in values.items()}


def _attention_layer(sub, feature_dim=6, hidden_dim=5, units=7, seed=3):
    _seed(sub)
    layer = sub.BahdanauAttention(units)
    features, hidden, values = _attention_inputs(feature_dim, hidden_dim, units, seed)
    layer.build((None, 10, feature_dim), (None, hidden_dim))
    for name, value in values.items():
        getattr(layer, name).assign(value)
    return layer, features, hidden, values


def _attention_mask():
    mask = _rng(9).random((3, 10)) < 0.6
    mask[:, 0] = True
    return mask


@pytest.mark.points(
    2,
    hint="Scores have one value per location; softmax over the locations axis (axis 1), "
    "then sum the weighted features over the locations.",
    section="attention",
)
def test_attention_shapes_and_weights_sum_to_one(sub):
    layer, features, hidden, _ = _attention_layer(sub)
    context, weights = layer(features, hidden)
    context, weights = np.asarray(context), np.asarray(weights)
    if weights.shape != (3, 10):
        pytest.fail(
            f"Expected attention weights of shape (batch, locations) = (3, 10); received "
            f"{weights.shape}. Drop the last axis of the scores (v^T tanh(...) is one number)."
        )
    assert context.shape == (3, 6), f"Expected a context of shape (3, 6); received {context.shape}"
    if not np.allclose(weights.sum(axis=1), 1, atol=1e-5):
        pytest.fail("The weights of each example must sum to 1 over the locations (axis 1).")
    assert (weights >= 0).all()


@pytest.mark.points(
    3,
    hint="Additive attention as the docstring writes it: one score per location from the "
    "features and the state, a softmax over the locations, and the weighted sum of the "
    "features.",
    section="attention",
)
def test_attention_matches_numpy(sub):
    layer, features, hidden, values = _attention_layer(sub, seed=5)
    context, weights = layer(features, hidden)
    reference = _expected("attention")  # numpy's additive attention, stored.
    expected_context, expected_weights = reference["context"], reference["weights"]
    np.testing.assert_allclose(np.asarray(weights), expected_weights, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(context), expected_context, rtol=1e-4, atol=1e-5)


@pytest.mark.points(
    2,
    hint="A masked location must get no weight at all, and the others must still sum to 1: "
    "act on the scores before the softmax.",
    section="attention",
)
def test_attention_mask(sub):
    layer, features, hidden, values = _attention_layer(sub, seed=8)
    mask = _attention_mask()
    context, weights = layer(features, hidden, attention_mask=mask)
    weights = np.asarray(weights)
    if np.abs(weights[~mask]).max() > 1e-7:
        pytest.fail("Masked locations (attention_mask False) must get attention weight 0.")
    reference = _expected("attention_mask")
    expected_context, expected_weights = reference["context"], reference["weights"]
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(context), expected_context, rtol=1e-4, atol=1e-5)
    _, ones = layer(features, hidden, attention_mask=mask.astype("int32"))  # 0/1 numbers
    if not np.allclose(plain_array(ones, what="The weights of a 0/1 mask"), weights, atol=1e-7):
        pytest.fail("A mask of 0/1 numbers must act as the booleans it stands for (1: attend).")
    _, everywhere = layer(features, hidden, attention_mask=np.ones((3, 10), bool))
    _, unmasked = layer(features, hidden)
    everywhere = plain_array(everywhere, what="The weights of a mask of True only")
    if not np.allclose(everywhere, plain_array(unmasked, what="The weights"), atol=1e-7):
        pytest.fail("A mask that is True everywhere must give the weights of no mask at all.")
    nothing = mask.copy()
    nothing[1] = False  # The second example may attend nowhere.
    context, weights = layer(features, hidden, attention_mask=nothing)
    weights = plain_array(
        weights,
        what="The weights with a fully masked row",
        shape=(3, 10),
        advice="A row with no location left must not divide 0 by 0: give masked scores -1e9.",
    )
    context = plain_array(context, what="The context with a fully masked row", shape=(3, 6))
    if not np.allclose(weights[1], 0.1, atol=1e-6):
        pytest.fail(
            f"With every location of a row masked, its scores are all -1e9 and the weights equal "
            f"(1/10 each); received {np.round(weights[1], 4).tolist()}."
        )
    expected_weights = np.asarray(expected_weights)
    np.testing.assert_allclose(weights[[0, 2]], expected_weights[[0, 2]], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(context[1], features[1].mean(axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.points(
    1,
    hint="One panel per word plus the photo: fig.add_subplot(rows, columns, index + 1) for "
    "exactly len(words) + 1 panels; title them; save to path.",
    section="attention",
)
def test_plot_attention_panels(sub):
    words = ["a", "dog", "on", "grass", "<end>"]
    weights = _rng(10).dirichlet(np.ones(16), size=len(words))
    image = _rng(11).random((32, 32, 3))
    path = _runner_dir(sub).joinpath("attention.png")
    figure = sub.plot_attention(image, words, weights, path, columns=4)
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "No PNG written."
    if len(figure.axes) != len(words) + 1:
        pytest.fail(
            f"Expected {len(words) + 1} panels (the photo and one per word); received "
            f"{len(figure.axes)}. Create only the panels you use."
        )
    assert [str(axes.get_title()) for axes in figure.axes] == ["image", *words]
    for index, axes in enumerate(figure.axes[1:]):
        shown = np.asarray(axes.images[-1].get_array(), float)
        if shown.shape != (4, 4) or not np.allclose(shown, weights[index].reshape(4, 4)):
            pytest.fail(
                f"The panel of {words[index]!r} does not show its weights as the 4x4 grid "
                "weights[i].reshape(side, side) (row by row, the word's own row of weights)."
            )
    # A photo of uint8 pixels, wider than high, three words on panels of two columns.
    photo = (_rng(19).random((24, 40, 3)) * 255).astype(np.uint8)
    weights = _rng(20).dirichlet(np.ones(9), size=3)
    pyplot = library(sub, "matplotlib.pyplot")
    figures = len(pyplot.get_fignums())
    path = _runner_dir(sub).joinpath("wide.png")
    figure = sub.plot_attention(photo, ["two", "cats", "<end>"], weights, path, columns=2)
    if len(pyplot.get_fignums()) != figures:
        pytest.fail("plot_attention left its figure open: close it once it is saved.")
    panels = list(figure.axes)
    assert len(panels) == 4, f"Expected 4 panels (the photo and 3 words); received {len(panels)}."
    size = plain_array(figure.get_size_inches(), what="The figure's size", shape=(2,))
    if (size < 4).any():  # 2 columns and 2 rows of panels, at least 2 inches each way.
        pytest.fail(
            f"The figure is {size[0]:.2f} x {size[1]:.2f} inches for 2 x 2 panels: give each "
            "panel at least 2 inches each way (scale figsize with columns and rows)."
        )
    for index, axes in enumerate(panels):
        geometry = tuple(axes.get_subplotspec().get_geometry())
        if geometry[:2] != (2, 2) or geometry[2] != index:
            pytest.fail(
                f"Panel {index} sits at {geometry} (rows, columns, index, index); expected "
                f"(2, 2, {index}, {index}): `columns` panels per row, as many rows as needed."
            )
        if axes.axison:
            pytest.fail(f"Panel {index} shows its axes: turn them off (axes.axis('off')).")
        shown = np.asarray(axes.images[0].get_array(), np.float64)
        shown = shown / 255 if shown.max() > 1 else shown  # Pixels as given, or in [0, 1].
        if shown.shape != photo.shape or not np.allclose(shown, photo / 255, atol=1e-6):
            pytest.fail(f"Panel {index} does not show the photo first.")
        if index and tuple(axes.images[-1].get_extent()) != (0, 40, 24, 0):
            pytest.fail(
                f"The weights of panel {index} cover {tuple(axes.images[-1].get_extent())}; "
                "stretch them over the whole photo, (0, width, height, 0) = (0, 40, 24, 0)."
            )
    for bad_weights, problem in ((weights[:2], "2 rows for 3 words"), (weights[:, :8], "8 cells")):
        with pytest.raises(ValueError):
            sub.plot_attention(photo, ["two", "cats", "<end>"], bad_weights, path)
        if len(pyplot.get_fignums()) != figures:
            pytest.fail(f"plot_attention opened a figure before refusing {problem}.")


# Decoder and teacher forcing.


@pytest.mark.points(
    3,
    hint="The docstring's step: attend with the previous state, feed the GRU cell the previous "
    "word's embedding and the context, and score the words from the cell's output and the "
    "context, with dropout only while training.",
    section="decoder",
)
def test_decoder_step_matches_its_layers(sub):
    _seed(sub)
    decoder = sub.CaptionDecoder(
        vocab_size=11, embedding_dim=4, units=4, attention_units=5, dropout_rate=0.5
    )
    tokens, state, features = _decoder_inputs()
    decoder.build((3,), (3, 4), (3, 9, 5))  # The given build(): every sublayer exists.
    values = _decoder_weights()
    _assign_named(decoder, values, "decoder")
    logits, new_state, weights = decoder(tokens, state, features)
    shapes = tuple(np.shape(x) for x in (logits, new_state, weights))
    if shapes != ((3, 11), (3, 4), (3, 9)):
        pytest.fail(
            f"Expected (logits, new_state, weights) of shapes ((3, 11), (3, 4), (3, 9)); "
            f"received {shapes}."
        )
    reference = _expected("decoder_step")  # numpy attention and Keras' own GRUCell.
    expected_weights, expected_state = reference["weights"], reference["state"]
    expected_logits = np.asarray(reference["logits"], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(weights), expected_weights, atol=1e-5)
    if not np.allclose(np.asarray(new_state), expected_state, atol=1e-5):
        pytest.fail(
            "The new state differs from the GRU cell's: attend with the *previous* state and "
            "give the cell the embedding first, then the context."
        )
    np.testing.assert_allclose(np.asarray(logits), expected_logits, atol=1e-5)
    quiet, _, _ = decoder(tokens, state, features, training=False)
    if not np.allclose(np.asarray(quiet), np.asarray(expected_logits), atol=1e-5):
        pytest.fail("With training=False the decoder must not apply dropout.")
    noisy, noisy_state, noisy_weights = decoder(tokens, state, features, training=True)
    if not np.allclose(plain_array(noisy_state, what="The state"), expected_state, atol=1e-5):
        pytest.fail(
            "With training=True the new state changed: dropout acts only on the output "
            "layer's input, never on what the GRU cell receives."
        )
    noisy_weights = plain_array(noisy_weights, what="The attention weights")
    if not np.allclose(noisy_weights, expected_weights, atol=1e-5):
        pytest.fail("With training=True the attention weights changed: no dropout on them.")
    output = values["output_layer"]
    _dropout_mask(noisy, reference["hidden"], output["kernel"], output["bias"], 0.5, "The logits")


def _decoder_inputs():
    """Previous words, previous states and projected features of three captions."""
    rng = _rng(12)
    tokens = np.array([1, 4, 10], np.int32)
    state = rng.normal(size=(3, 4)).astype("float32")
    return tokens, state, rng.normal(size=(3, 9, 5)).astype("float32")


def _decoder_weights():
    """Named values of a decoder whose output layer has more outputs (11) than inputs (9)."""
    return _named_weights(_decoder_layout(11, 4, 4, 5, 5), 12)


def _loss_inputs():
    targets = np.array([[5, 3, 2, 0, 0], [4, 4, 6, 7, 2], [2, 0, 0, 0, 0]])
    return targets, _rng(13).normal(size=(3, 5, 8)) * 2


def _padding_inputs():
    """Targets, their logits, and the logits of 4 padded steps more."""
    rng = _rng(14)
    logits = rng.normal(size=(2, 3, 6)).astype("float32")
    return np.array([[5, 3, 2], [4, 2, 0]]), logits, rng.normal(size=(2, 4, 6)).astype("float32")


@pytest.mark.points(
    2,
    hint="The mean cross-entropy of the real tokens only: padding (pad_id, the argument) must "
    "neither add to the sum nor to the count.",
    section="teacher_forcing",
)
def test_masked_loss_matches_numpy(sub):
    targets, logits = _loss_inputs()
    reference = _expected("masked_loss")
    expected = reference["out"]
    value = _number(sub.masked_loss(targets, logits.astype("float32")))
    unmasked = reference["unmasked"]
    if abs(value - unmasked) < 1e-4 and abs(expected - unmasked) > 1e-3:
        pytest.fail("Your loss also counts the padding tokens: mask targets equal to pad_id.")
    assert value == pytest.approx(expected, rel=1e-5)
    ones = np.where(targets == 0, 1, targets)  # The same targets, padded with id 1.
    value = _number(sub.masked_loss(ones, logits.astype("float32"), pad_id=1))
    if value != pytest.approx(reference["pad_1"], rel=1e-5):
        pytest.fail(
            f"With pad_id=1 the loss is {value:.5f}, expected {expected:.5f}: mask the targets "
            "equal to the pad_id argument, not 0."
        )


@pytest.mark.points(
    2,
    hint="Padding must not change the loss: divide by the number of non-padding targets.",
    section="teacher_forcing",
)
def test_masked_loss_ignores_extra_padding(sub):
    targets, logits, extra = _padding_inputs()
    padded_targets = np.concatenate([targets, np.zeros((2, 4), int)], axis=1)
    padded_logits = np.concatenate([logits, extra], 1)
    short = _number(sub.masked_loss(targets, logits))
    long = _number(sub.masked_loss(padded_targets, padded_logits))
    if abs(short - long) > 1e-5:
        pytest.fail(
            f"Appending padding changed the loss from {short:.5f} to {long:.5f}: average over "
            "the real tokens only."
        )
    assert short == pytest.approx(_expected("masked_loss_padding"), rel=1e-5)
    empty = _number(sub.masked_loss(np.zeros((2, 3), np.int64), logits))
    if empty != 0.0:
        pytest.fail(
            f"A batch of padding only must give loss 0; received {empty}: divide by "
            "max(number of real tokens, 1)."
        )


def _extreme_loss_inputs():
    """Targets with padding and logits of ±1000, where a softmax then a log underflows."""
    targets = np.array([[4, 1, 2, 0], [3, 3, 0, 0]])
    logits = _rng(18).choice([-1000.0, 0.0, 1000.0], size=(2, 4, 5)).astype("float32")
    return targets, logits


@pytest.mark.points(
    2,
    hint="Any integer ids (an array, a tensor, lists) and float32 or float64 logits give a "
    "float32 scalar; compute the cross-entropy from the logits stably (log-softmax, or the "
    "sparse softmax cross-entropy of the logits), and leave the inputs as they are.",
    section="teacher_forcing",
)
def test_masked_loss_dtypes_extremes_and_inputs(sub):
    targets, logits = _loss_inputs()
    reference = _expected("masked_loss")["out"]
    for given, kind in (
        (logits.astype("float32"), "float32 logits"),
        (logits, "float64 logits"),
        (tf.constant(logits, tf.float64), "a float64 tensor of logits"),
    ):
        out = plain_array(sub.masked_loss(targets, given), what=f"The loss of {kind}", shape=())
        if out.dtype != np.float32:
            pytest.fail(f"The loss of {kind} is {out.dtype}; expected a float32 scalar.")
        assert float(out) == pytest.approx(reference, rel=1e-5), kind
    for given, kind in (
        (targets.tolist(), "nested lists of ids"),
        (targets.astype(np.int16), "int16 ids"),
        (tf.constant(targets, tf.int32), "an int32 tensor of ids"),
    ):
        value = _number(sub.masked_loss(given, logits.astype("float32")))
        if value != pytest.approx(reference, rel=1e-5):
            pytest.fail(
                f"With the targets given as {kind} the loss is {value:.5f}; expected "
                f"{reference:.5f}: convert them to a tensor of ids before comparing with pad_id."
            )
    targets, logits = _extreme_loss_inputs()
    copies = (targets.copy(), logits.copy())
    with float_errors_raised(sub):
        out, args, _ = arguments_after(sub.masked_loss, *copies)
    value = float(plain_array(out, what="The loss of logits of ±1000", shape=()))
    if value != pytest.approx(_expected("masked_loss_extreme"), rel=1e-5):
        pytest.fail(
            f"With logits of ±1000 the loss is {value}; expected "
            f"{_expected('masked_loss_extreme'):.4f}: a softmax then a log gives log(0) there."
        )
    if not (np.array_equal(args[0], targets) and np.array_equal(args[1], logits)):
        pytest.fail("masked_loss changed its inputs: leave the targets and logits as they are.")
    everything = np.full((2, 3), 4)  # Every target is padding when pad_id is 4.
    value = _number(sub.masked_loss(everything, logits[:, :3], pad_id=4))
    if value != 0.0:
        pytest.fail(f"Targets that are all pad_id (4) must give loss 0; received {value}.")


def _tiny_captioner(sub, vocab=13, dropout_rate=0.0, weights=None):
    """A small Captioner; with ``weights`` (an offset), built and given named values."""
    _seed(sub)
    model = sub.Captioner(
        vocab,
        projection_dim=6,
        embedding_dim=5,
        units=8,
        attention_units=4,
        dropout_rate=dropout_rate,
    )
    if weights is not None:  # The given encode() and build() create every variable.
        model.encode(np.zeros((1, 4, 3), np.float32))
        model.decoder.build((None,), (None, 8), (None, 4, 6))
        _assign_named(model, _captioner_weights(vocab, weights))
    return model


def _teacher_inputs():
    features = _rng(15).normal(size=(2, 4, 3)).astype("float32")
    return features, np.array([[1, 5, 6, 7, 2, 0], [1, 9, 2, 0, 0, 0]], np.int32)


@pytest.mark.points(
    2,
    hint="Teacher forcing feeds the decoder the caption's true previous word at every step, "
    "never its own prediction, from the state the model starts with.",
    section="teacher_forcing",
)
def test_teacher_forcing_logits(sub):
    model = _tiny_captioner(sub, weights=1)
    features, tokens = _teacher_inputs()
    logits, weights = sub.teacher_forcing_logits(model, features, tokens)
    if np.shape(logits) != (2, 5, 13):
        pytest.fail(
            f"Expected logits of shape (batch, T - 1, vocab) = (2, 5, 13); received "
            f"{np.shape(logits)}: T - 1 steps, the last token is never an input."
        )
    assert np.shape(weights) == (2, 5, 4)
    reference = _expected("teacher_forcing")
    expected = np.asarray(reference["logits"])
    for step in range(5):
        if not np.allclose(np.asarray(logits)[:, step], expected[:, step], atol=1e-5):
            pytest.fail(
                f"Step {step} differs from a decoder fed the true tokens tokens[:, :{step + 1}] "
                "(teacher forcing: never feed the model's own predictions while training)."
            )
    np.testing.assert_allclose(np.asarray(weights), reference["weights"], atol=1e-5)
    # With dropout: an output layer of 16 words over 14 inputs shows where the dropout acts.
    noisy = _tiny_captioner(sub, vocab=16, dropout_rate=0.5, weights=4)
    reference = _expected("teacher_forcing_dropout")
    quiet, _ = sub.teacher_forcing_logits(noisy, features, tokens, training=False)
    quiet = plain_array(quiet, what="The logits with training=False", shape=(2, 5, 16))
    if not np.allclose(quiet, reference["logits"], atol=1e-5):
        pytest.fail("With training=False no dropout may act: the logits must be the usual ones.")
    dropped, dropped_weights = sub.teacher_forcing_logits(noisy, features, tokens, training=True)
    dropped = plain_array(dropped, what="The logits with training=True", shape=(2, 5, 16))
    if np.allclose(quiet, dropped, atol=1e-5):
        pytest.fail(
            "teacher_forcing_logits(..., training=True) gave the logits of training=False: "
            "pass training on to the decoder so that dropout acts while training."
        )
    dropped_weights = plain_array(dropped_weights, what="The attention weights", shape=(2, 5, 4))
    if not np.allclose(dropped_weights, reference["weights"], atol=1e-5):
        pytest.fail(
            "With training=True the attention weights changed: dropout must never reach the "
            "state the decoder carries from step to step (only each step's output layer)."
        )
    output = _captioner_weights(16, 4)["decoder"]["output_layer"]
    hidden = np.asarray(reference["hidden"])
    for step in range(5):
        _dropout_mask(
            dropped[:, step],
            hidden[:, step],
            output["kernel"],
            output["bias"],
            0.5,
            f"The logits of step {step}",
        )


def _toy_captions(images=8, steps=6):
    """Captions that depend on the image: the model can learn them."""
    rng = _rng(16)
    features = rng.normal(size=(images, 4, 3)).astype("float32")
    tokens = np.zeros((images, steps), np.int32)
    for i in range(images):
        words = [3 + (i % 3), 3 + (i % 5), 8][: 2 + i % 2]
        tokens[i, : len(words) + 2] = [1, *words, 2]
    return features, tokens


def _toy_dataset(sub, batch):
    """The toy captions as a ``tf.data`` pipeline built where the student's code runs."""
    features, tokens = _toy_captions()
    data = library(sub, "tensorflow").data.Dataset.from_tensor_slices((features, tokens))
    return data.batch(batch)


def _read_named(layer, layout, where="model"):
    """The values of a student's variables named as in ``layout`` (a ``_named_weights`` dict)."""
    values = {}
    for name, item in layout.items():
        target = getattr(layer, name, None)
        if isinstance(item, dict):
            values[name] = _read_named(target, item, f"{where}.{name}")
        else:
            shape = np.shape(item)
            values[name] = plain_array(target.numpy(), what=f"{where}.{name}", shape=shape)
    return values


def _first_difference(received, expected, atol, where="model"):
    """The name of the first variable whose values differ from ``expected``, or None."""
    for name, item in expected.items():
        if isinstance(item, dict):
            found = _first_difference(received[name], item, atol, f"{where}.{name}")
            if found:
                return found
        elif not np.allclose(received[name], item, atol=atol):
            return f"{where}.{name}"
    return None


@pytest.mark.points(
    2,
    hint="The step must be a tf.function that computes the masked loss of the teacher-forced "
    "logits (predicting each next word, in training mode), takes its gradients for every "
    "trainable variable of the model and applies them once with the given optimizer.",
    section="teacher_forcing",
)
def test_train_step_is_a_tf_function_that_learns(sub):
    model = _tiny_captioner(sub, vocab=9, weights=2)
    features, tokens = _toy_captions()
    reference = _expected("train_step")  # Keras layers and a GradientTape, two SGD steps.
    optimizer = library(sub, "keras").optimizers.SGD(0.5)
    step = sub.make_train_step(model, optimizer)
    if not hasattr(step, "get_concrete_function"):
        pytest.fail("make_train_step must return a tf.function (decorate train_step).")
    losses = [
        _number(step(tf.constant(features[rows]), tf.constant(tokens[rows])))
        for rows in (slice(0, 4), slice(4, 8))
    ]
    first, second = reference["losses"]
    assert losses[0] == pytest.approx(first, rel=1e-5), "The first loss is not the masked loss."
    trained = _read_named(model, reference["weights"])
    # Measured: the reference's Keras layers and the solution agree to 2e-7 after two steps;
    # one step of 0.5 moves a weight by 0.5 times its gradient.
    changed = _first_difference(trained, reference["weights"], atol=1e-5)
    if changed:
        pytest.fail(
            f"After two steps with SGD(0.5) {changed} differs from a GradientTape over every "
            "trainable variable of the model with the optimizer given: apply the gradients of "
            "all of model.trainable_variables, once per step."
        )
    assert losses[1] == pytest.approx(second, rel=1e-5), "The second step's loss differs."
    noisy = _tiny_captioner(sub, vocab=9, dropout_rate=0.5, weights=3)
    quiet = _expected("train_step_noisy_quiet")
    step = sub.make_train_step(noisy, library(sub, "keras").optimizers.Adam(0.05))
    if abs(_number(step(tf.constant(features), tf.constant(tokens))) - quiet) < 1e-6:
        pytest.fail(
            "With dropout_rate=0.5 the train step's loss equals the loss without dropout: "
            "compute the logits with training=True."
        )


def _with_progress_bars(sub, run):
    """``(run(), bars)``: the progress bars made while ``run()`` ran, recorded by the probe
    where the student's code runs (a ``{"target", "verbose", "updates"}`` dict each)."""
    recorder = library(sub, "course_lib.grading.probes.lecture_06").record_progress_bars()
    try:
        result = run()
    finally:
        seen = recorder.stop()
    return result, list(seen["bars"])


def _check_progress_bars(bars, epochs, batches):
    """With verbose=1: one shown bar per epoch, updated through every batch up to the last."""
    shown = [bar for bar in bars if bar["verbose"]]
    if len(shown) != epochs:
        pytest.fail(
            f"With verbose=1 expected one keras.utils.Progbar shown per epoch ({epochs}); "
            f"{len(shown)} of the {len(bars)} bars made were shown."
        )
    for bar in shown:
        updates = [int(current) for current in bar["updates"]]
        steady = all(a <= b for a, b in zip(updates, updates[1:], strict=False))
        if (
            bar["target"] not in (batches, None)
            or sorted(set(updates)) != list(range(1, batches + 1))
            or not steady
        ):
            pytest.fail(
                f"An epoch of {batches} batches showed a Progbar of target {bar['target']} "
                f"updated to {updates}: update it to the number of batches done (1, 2, ..., "
                f"{batches}) after each batch."
            )


@pytest.mark.points(
    3,
    hint="Use tf.train.Checkpoint(model=..., optimizer=..., epoch=...) with a "
    "CheckpointManager (restore latest at the start, save every epoch), and write "
    "write_scalar('loss', ...) inside a tf.summary file writer's as_default(); show a "
    "keras.utils.Progbar per epoch, updated after each batch, only when verbose is 1.",
    section="teacher_forcing",
)
def test_train_captioner_logs_checkpoints_and_resumes(sub):
    _seed(sub)
    dataset = _toy_dataset(sub, batch=2)
    folder = _runner_dir(sub)
    logs, checkpoints = folder.joinpath("logs"), folder.joinpath("checkpoints")
    reference = _expected("train_captioner")  # Keras layers, Adam(0.05, global_clipnorm=5).
    settings = {"log_dir": logs, "checkpoint_dir": checkpoints, "learning_rate": 0.05}
    # max_seconds=0: the first epoch passes the limit, so training stops after it.
    (losses, calls), bars = _with_progress_bars(
        sub,
        lambda: record_calls(
            sub,
            sub.train_captioner,
            "write_scalar",
            _tiny_captioner(sub, vocab=9, weights=2),
            dataset,
            epochs=3,
            verbose=0,
            max_seconds=0.0,
            **settings,
        ),
    )
    shown = [bar for bar in bars if bar["verbose"]]
    if shown:
        pytest.fail(
            f"With verbose=0 nothing may be shown; a Progbar of verbose={shown[0]['verbose']} "
            "was made: pass verbose on to keras.utils.Progbar."
        )
    if not isinstance(losses, list) or not all(isinstance(loss, float) for loss in losses):
        pytest.fail(
            f"Expected a list of floats (one mean loss per epoch); received {type_name(losses)} "
            f"of {[type_name(loss) for loss in losses] if isinstance(losses, list) else '?'}."
        )
    if len(losses) != 1:
        pytest.fail(
            f"With max_seconds=0 training must stop after the first epoch (the one during which "
            f"0 seconds passed); it ran {len(losses)} epochs."
        )
    expected = reference["losses"]
    if losses[0] == pytest.approx(reference["first_without_clipping"], rel=1e-5):
        pytest.fail(
            "The first epoch's loss is that of Adam without gradient clipping: use "
            "Adam(learning_rate, global_clipnorm=CLIP_NORM)."
        )
    # Measured over 3 weight seeds: the reference and the solution agree to 4e-8 after three
    # epochs; Adam without clipping moves the first epoch's loss by 2e-3 (rel).
    if losses[0] != pytest.approx(expected[0], rel=1e-5):
        pytest.fail(
            f"The first epoch's loss is {losses[0]:.6f}; Adam(learning_rate=0.05, "
            f"global_clipnorm=CLIP_NORM) on the same model gives the mean batch loss "
            f"{expected[0]:.6f}. Use the learning_rate argument, make_train_step's step, and "
            "report the mean over the epoch's batches."
        )
    if library(sub, "tensorflow").train.latest_checkpoint(str(checkpoints)) is None:
        pytest.fail("No checkpoint in checkpoint_dir: save with a tf.train.CheckpointManager.")
    # Resumes from epoch 1 with a model of other weights: the checkpoint restores the weights,
    # Adam's moments and the epoch; a generous max_seconds lets both epochs run.
    (resumed, more_calls), bars = _with_progress_bars(
        sub,
        lambda: record_calls(
            sub,
            sub.train_captioner,
            "write_scalar",
            _tiny_captioner(sub, vocab=9),
            dataset,
            epochs=3,
            verbose=1,
            max_seconds=600.0,
            **settings,
        ),
    )
    resumed = [_number(loss) for loss in resumed]
    _check_progress_bars(bars, epochs=len(resumed), batches=4)
    if len(resumed) != 2:
        pytest.fail(
            f"Training to 3 epochs from a checkpoint of epoch 1 (max_seconds=600) ran "
            f"{len(resumed)} epochs: restore the epoch counter from the latest checkpoint, and "
            "stop for max_seconds only once that many seconds have passed since the start."
        )
    if not np.allclose(resumed, expected[1:], rtol=1e-5):
        pytest.fail(
            f"The resumed epochs' losses are {np.round(resumed, 6).tolist()}; continuing the "
            f"first run gives {np.round(expected[1:], 6).tolist()}. Restore the model and the "
            "optimizer (Adam's moments) from the checkpoint, and build the optimizer first."
        )
    logged = [
        (
            call["arguments"].get("name"),
            call["arguments"].get("value"),
            call["arguments"].get("step"),
        )
        for call in calls + more_calls
    ]
    steps = [step for _, _, step in logged]
    if [name for name, _, _ in logged] != ["loss"] * 3 or [_number(s) for s in steps] != [1, 2, 3]:
        pytest.fail(
            f"Expected write_scalar('loss', mean loss, step=epoch number) once per epoch, at "
            f"steps 1, 2, 3 over both runs; received (name, step) "
            f"{[(name, step) for name, _, step in logged]}."
        )
    np.testing.assert_allclose(
        [_number(value) for _, value, _ in logged], [*losses, *resumed], rtol=1e-6
    )
    events = list(logs.rglob("events.out.tfevents*"))
    if not events:
        pytest.fail("No TensorBoard event file in log_dir: use tf.summary.create_file_writer.")
    written = {}
    for event in events:
        for record in _tfrecords(event.read_bytes()):
            parsed = event_pb2.Event.FromString(record)
            for value in parsed.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else 0
                written.setdefault(value.tag, {})[parsed.step] = number
    assert "loss" in written, (
        f"Expected a scalar named 'loss' in the logs; found {sorted(written)}."
    )
    if sorted(written["loss"]) != [1, 2, 3]:
        pytest.fail(
            f"Expected the loss written to log_dir at steps 1, 2, 3 (the epoch numbers); found "
            f"steps {sorted(written['loss'])}."
        )
    written_losses = [written["loss"][epoch] for epoch in (1, 2, 3)]
    np.testing.assert_allclose(written_losses, [*losses, *resumed], rtol=1e-5)


def _tfrecords(data: bytes) -> list[bytes]:
    """The records of a TFRecord file's bytes (length, its CRC, data, the data's CRC)."""
    records, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        records.append(data[offset + 12 : offset + 12 + length])
        offset += 12 + length + 4
    return records


# Decoding.


@pytest.mark.points(
    2,
    hint="Greedy decoding takes the most likely word at every step; a caption ends at end_id "
    "(which it does not include) or after max_length words.",
    section="decoding",
)
def test_greedy_decode(sub):
    trap = _rows(sub.greedy_decode(_first_order_step(GREEDY_TRAP), np.zeros(1), START, END, 4))
    if trap[0] != [A, A, A, A]:
        pytest.fail(
            f"Expected greedy decoding to pick A at every step for max_length=4; received "
            f"{trap[0]}. Never output more than max_length words."
        )
    tables = _second_order_tables(images=3, vocab=4, seed=1)
    step_fn = _second_order_step(tables)
    state = (np.arange(3), np.full(3, START))
    out = _rows(sub.greedy_decode(step_fn, state, START, END, max_length=6))
    for image, expected in enumerate(_expected("greedy_decode")):
        assert out[image] == expected, f"image {image}"


# One first-order table per image: the first ends at once (<end> first), the second writes
# A B then ends, the third never ends; their ties go to the lowest id (A before B, B before C).
ENDINGS = np.stack(
    [
        _table({START: {END: 0.7, A: 0.3}}),
        _table({START: {A: 0.4, B: 0.4, END: 0.2}, A: {B: 0.45, C: 0.45, END: 0.1}, B: {END: 0.8}}),
        _table({START: {C: 0.9}, C: {C: 0.45, B: 0.45}, B: {B: 0.45, C: 0.45}}),
    ]
)


def _recording_step(tables, calls):
    """A step of one first-order table per image (the state: image ids) recording its calls."""

    def step_fn(tokens, state):
        tokens, state = np.asarray(tokens), np.asarray(state)
        calls.append(tokens.tolist())
        return tables[state, tokens], state

    return step_fn


@pytest.mark.points(
    2,
    hint="A caption may end at the very first step (an empty caption), ties go to the lowest "
    "id, every caption stops at its own <end>, and step_fn is not called again once all have "
    "ended (nor more than max_length times).",
    section="decoding",
)
def test_greedy_decode_boundaries(sub):
    calls = []
    out = _rows(sub.greedy_decode(_recording_step(ENDINGS, calls), np.arange(3), START, END, 4))
    if out[0] != []:
        pytest.fail(f"<end> is the first word of image 0: expected [], received {out[0]}.")
    if out[1] != [A, B]:
        pytest.fail(
            f"Image 1: expected [A, B] = {[A, B]} (A and B tie first: the lowest id wins; then B "
            f"and C tie), received {out[1]}."
        )
    if out[2] != [C, B, B, B]:
        pytest.fail(f"Image 2 never ends: expected {[C, B, B, B]} (max_length 4), got {out[2]}.")
    if len(calls) != 4 or calls[0] != [START] * 3:
        pytest.fail(
            f"Expected 4 calls of step_fn (max_length), the first with <start> for every "
            f"caption; received {len(calls)} calls, the first with {calls[:1]}."
        )
    calls = []
    step_fn = _recording_step(ENDINGS[:2], calls)
    out = _rows(sub.greedy_decode(step_fn, np.arange(2), START, END, 9))
    if out != [[], [A, B]] or len(calls) != 3:
        pytest.fail(
            f"Two captions that end after 1 and 3 steps (max_length 9): expected [[], [A, B]] "
            f"and 3 calls of step_fn (none once every caption has ended); received {out} and "
            f"{len(calls)} calls."
        )
    step_fn = _recording_step(ENDINGS, [])
    single = _rows(sub.greedy_decode(step_fn, np.array([2]), START, END, 1))
    assert single == [[C]], f"max_length=1 writes one word at most: expected [[C]], got {single}."


@pytest.mark.points(
    2,
    hint="The temperature reshapes the next word's distribution (below 1 it sharpens it); draw "
    "from it with the seed's generator; a temperature <= 0 is a ValueError.",
    section="decoding",
)
def test_sample_decode_temperature(sub):
    probs = np.array([1e-6, 0.2, 0.5, 0.3, 1e-6])  # <end> 0.2, A 0.5, B 0.3
    table = np.log(np.tile(probs / probs.sum(), (5, 1)))
    step_fn = _first_order_step(table)
    n = 3000
    for temperature in (1.0, 0.5):
        out = _rows(sub.sample_decode(step_fn, np.zeros(n), START, END, 1, temperature, seed=0))
        first = Counter(row[0] if row else END for row in out)
        sharpened = tf.nn.softmax(table[0] / temperature).numpy()
        for token in (END, A, B):
            frequency = first[token] / n
            if abs(frequency - sharpened[token]) > 0.035:
                pytest.fail(
                    f"At temperature {temperature}, word {token} came first in {frequency:.3f} "
                    f"of the samples; expected about {sharpened[token]:.3f} = "
                    "softmax(log_probs / temperature)."
                )
    again = _rows(sub.sample_decode(step_fn, np.zeros(50), START, END, 6, 1.0, seed=3))
    assert again == _rows(sub.sample_decode(step_fn, np.zeros(50), START, END, 6, 1.0, seed=3)), (
        "The same seed must give the same samples."
    )
    cold = sub.sample_decode(_first_order_step(GREEDY_TRAP), np.zeros(4), START, END, 4, 1e-3)
    assert _rows(cold) == [[A, A, A, A]] * 4
    for temperature in (0.0, -1.0):
        with pytest.raises(ValueError):
            sub.sample_decode(step_fn, np.zeros(2), START, END, 3, temperature)


# After A comes B, after B comes A (0.9 each), or <end>; the first word is A or B.
ALTERNATING = _table(
    {START: {A: 0.5, B: 0.5}, A: {B: 0.9, END: 0.1}, B: {A: 0.9, END: 0.1}, END: {END: 1.0}}
)
# Captions that end within a few words.
END_SOON = _table({START: {END: 0.5, A: 0.5}, A: {END: 0.9, B: 0.1}, B: {END: 0.9, A: 0.1}})


@pytest.mark.points(
    2,
    hint="Feed back the word you drew (not the most likely one); a temperature near 0 is "
    "greedy decoding and must not overflow, a huge one draws every word alike; another seed "
    "gives other captions; stop calling step_fn once every caption has ended.",
    section="decoding",
)
def test_sample_decode_boundaries(sub):
    with float_errors_raised(sub):
        cold = sub.sample_decode(_first_order_step(GREEDY_TRAP), np.zeros(3), START, END, 5, 1e-6)
    if _rows(cold) != [[A] * 5] * 3:
        pytest.fail(
            f"At temperature 1e-6 sampling is greedy: expected [A] * 5 for every caption; "
            f"received {_rows(cold)}. Divide by the temperature after subtracting the maximum."
        )
    probs = np.array([0.1, 0.1, 0.5, 0.2, 0.1])
    table = np.log(np.tile(probs, (5, 1)))
    out = _rows(sub.sample_decode(_first_order_step(table), np.zeros(2000), START, END, 1, 1e4))
    first = Counter(row[0] if row else END for row in out)
    frequencies = [first[token] / 2000 for token in range(5)]
    # Each frequency of 2000 draws of 1/5 has a standard deviation of 0.009: 0.04 is 4.5 of it.
    if max(abs(f - 0.2) for f in frequencies) > 0.04:
        pytest.fail(
            f"At temperature 1e4 every word should be about as likely (0.2 each); the first "
            f"words came with frequencies {np.round(frequencies, 3).tolist()}."
        )
    others = _rows(sub.sample_decode(_first_order_step(table), np.zeros(50), START, END, 6, 1.0, 4))
    again = _rows(sub.sample_decode(_first_order_step(table), np.zeros(50), START, END, 6, 1.0, 3))
    if others == again:
        pytest.fail("Seeds 3 and 4 gave the same 50 captions: draw with default_rng(seed).")
    calls = []
    out = _rows(
        sub.sample_decode(
            _recording_step(ALTERNATING[None], calls), np.zeros(3000, int), START, END, 4, 1.0, 5
        )
    )
    pairs = Counter(tuple(row[:2]) for row in out if len(row) >= 2)
    after_b = pairs[(B, A)] / max(pairs[(B, A)] + pairs[(B, B)], 1)
    if after_b < 0.85:
        pytest.fail(
            f"After the word B, A should follow 9 times out of 10; it followed in {after_b:.2f} "
            "of the captions: feed each caption the word it drew at the previous step."
        )
    lengths = Counter(len(row) for row in out)
    # <end> follows the first word with probability 0.1: 300 of 3000 captions (sd 16).
    if abs(lengths[1] / 3000 - 0.1) > 0.025:
        pytest.fail(
            f"Captions of one word should be about 10 % ({lengths[1] / 3000:.3f} received): a "
            "caption ends at its first <end> and takes no word after it."
        )
    if len(calls) != 4:
        pytest.fail(f"Expected 4 calls of step_fn (max_length=4); received {len(calls)}.")
    calls = []
    short = _rows(
        sub.sample_decode(_recording_step(END_SOON[None], calls), np.zeros(20, int), START, END, 20)
    )
    steps = min(20, max(len(row) for row in short) + 1)  # The longest caption's <end> included.
    if len(calls) != steps:
        pytest.fail(
            f"step_fn was called {len(calls)} times although every caption had ended after "
            f"{steps} steps: stop once all have ended."
        )
    # After any word come A, B or C alike, and never <end>: the second word must not depend on
    # the first, as it does when the generator is made anew at each step (the same draw again).
    uniform = _table({token: {A: 1 / 3, B: 1 / 3, C: 1 / 3} for token in range(5)})
    pairs = _rows(sub.sample_decode(_first_order_step(uniform), np.zeros(1500), START, END, 2))
    repeated = np.mean([len(row) == 2 and row[0] == row[1] for row in pairs])
    # 1500 pairs repeat a word with probability 1/3 (sd 0.012; seeds 0-19 of the solution:
    # 0.307-0.353, seed 0 0.343): 0.06 is 5 sd; the generator made anew gives 1.
    if abs(repeated - 1 / 3) > 0.06:
        pytest.fail(
            f"With A, B and C equally likely at every step, {repeated:.2f} of the captions "
            "repeated their first word (expected about 1/3): make the generator once, before "
            "the loop, and draw every step from it."
        )


@pytest.mark.points(
    3,
    hint="Keep several hypotheses per step, ranked by their total log-probability; at the "
    "first step every hypothesis is the same, so mind that the beam does not fill with copies.",
    section="beam_search",
)
def test_beam_search_beats_greedy(sub):
    step_fn = _first_order_step(GREEDY_TRAP)
    greedy = _rows(sub.greedy_decode(step_fn, np.zeros(1), START, END, max_length=6))[0]
    beam = _rows(sub.beam_search(step_fn, np.zeros(1), START, END, 2, 6, 0.7))[0]
    if beam == greedy:
        pytest.fail(
            "Beam search returned the greedy caption: keep several hypotheses per step, "
            "ranked by their total log-probability."
        )
    assert beam == [B], f"Expected the caption [B] = [{B}]; received {beam}."
    greedy_score = _sequence_log_prob(GREEDY_TRAP, greedy, end_included=len(greedy) < 6)
    assert _sequence_log_prob(GREEDY_TRAP, beam) > greedy_score


@pytest.mark.points(
    2,
    hint="Pick the final hypothesis by score / length ** length_penalty, with length counting "
    "the words and <end>; finished hypotheses keep their score and length.",
    section="beam_search",
)
def test_beam_search_length_normalisation(sub):
    step_fn = _first_order_step(LENGTH_TRAP)
    plain = _rows(sub.beam_search(step_fn, np.zeros(1), START, END, 3, 5, length_penalty=0.0))
    normalised = _rows(sub.beam_search(step_fn, np.zeros(1), START, END, 3, 5, length_penalty=1.0))
    plain, normalised = plain[0], normalised[0]
    assert plain == [A], f"Without normalisation expected [A]; got {plain}."
    if normalised != [B, C]:
        pytest.fail(
            f"With length_penalty=1 expected [B, C] (best log-probability per word); received "
            f"{normalised}. Divide each final score by length ** length_penalty."
        )


@pytest.mark.points(
    3,
    hint="Each image's hypotheses (and their states, words and lengths) must stay in that "
    "image's rows of the batch and follow their parents after every step; a finished "
    "hypothesis keeps its score.",
    section="beam_search",
)
def test_beam_search_exhaustive_batch_and_state(sub):
    # The best sequences of these images: two words and <end>, one word and <end>, and three
    # words that never end.
    tables = _second_order_tables(images=3, vocab=4, seed=4, end_bias=1.0)
    step_fn = _second_order_step(tables)
    state = (np.arange(3), np.full(3, START))
    max_length, alpha = 3, 0.7
    wide = _rows(sub.beam_search(step_fn, state, START, END, 4**max_length, max_length, alpha))
    for image, expected in enumerate(_expected("beam_exhaustive")):  # Every sequence tried.
        if wide[image] != expected:
            pytest.fail(
                f"With a beam as wide as the number of sequences, beam search must find the "
                f"best normalised sequence {expected} of image {image} (found by trying every "
                f"sequence); received {wide[image]}."
            )
    # Narrow beams prune: the instructor's own beam search gave the expected captions. On these
    # tables the width and the penalty change the captions, which end at various steps.
    for seed, end_bias in BEAM_TABLES:
        tables = _second_order_tables(images=4, vocab=4, seed=seed, end_bias=end_bias)
        step_fn = _second_order_step(tables)
        _beam_matches_expected(sub, step_fn, _expected("beam")[str(seed)])


def _beam_matches_expected(sub, step_fn, captions):
    state = (np.arange(4), np.full(4, START))
    for width, alpha in BEAM_SETTINGS:
        out = _rows(sub.beam_search(step_fn, state, START, END, width, 6, alpha))
        for image in range(4):
            expected = captions[f"{width}-{alpha}"][image]
            if out[image] == expected:
                continue
            alone = _rows(
                sub.beam_search(
                    step_fn, (np.array([image]), np.array([START])), START, END, width, 6, alpha
                )
            )
            if alone[0] == expected:
                pytest.fail(
                    f"Image {image} got a different caption in a batch than alone (beam_width "
                    f"{width}): keep each image's hypotheses (and states) in its own rows."
                )
            pytest.fail(
                f"beam_width={width}, length_penalty={alpha}: expected {expected} for image "
                f"{image}; received {out[image]}."
            )


def _as_second_order(*tables):
    """Second-order tables (images, vocab, vocab, vocab) of first-order ones, one per image."""
    return np.stack([np.broadcast_to(t[None], (5, 5, 5)) for t in tables])


# Every first word ties (A, B, C); then <end> ties with the next word. Ties go to the lower beam
# slot, then the lower word id.
TIES = _table(
    {
        START: {A: 0.3, B: 0.3, C: 0.3, END: 0.1},
        A: {END: 0.5, B: 0.5},
        B: {END: 0.5, C: 0.5},
        C: {END: 0.5, A: 0.5},
    }
)
ENDS_FIRST = _table({START: {END: 0.7, A: 0.3}, A: {END: 0.8, B: 0.2}, B: {END: 1.0}})
# (beam width, length penalty, max length) of the boundary cases: every hypothesis has ended
# after 2 or 3 steps, before max_length 6.
BEAM_BOUNDARIES = [(2, 0.0, 6), (2, 1.0, 3), (3, 1.0, 6), (3, 1.0, 1), (4, 2.0, 2)]


def _memory_step(tables, calls):
    """A second-order step whose state is one (batch, 2) array: [image, previous word]."""

    def step_fn(tokens, memory):
        tokens, memory = np.asarray(tokens), np.asarray(memory)
        calls.append(len(tokens))
        image, before = memory[:, 0].astype(int), memory[:, 1].astype(int)
        return tables[image, before, tokens], np.stack([image, tokens], axis=1).astype(float)

    return step_fn


@pytest.mark.points(
    3,
    hint="A beam of width 1 is greedy decoding; ties go to the lower beam slot, then the lower "
    "word id, also when picking the final caption; the empty caption and max_length are "
    "possible; repeat each state array along its first axis, stop once every hypothesis has "
    "ended, leave the initial state unchanged, and refuse a width that is no int >= 1.",
    section="beam_search",
)
def test_beam_search_width_one_ties_and_boundaries(sub):
    tables = _second_order_tables(images=3, vocab=4, seed=1)
    state = (np.arange(3), np.full(3, START))
    for alpha in (0.0, 0.7, 2.0):
        out = _rows(sub.beam_search(_second_order_step(tables), state, START, END, 1, 6, alpha))
        if out != _expected("greedy_decode"):
            pytest.fail(
                f"With beam_width=1 (length_penalty={alpha}) beam search must give the greedy "
                f"captions {_expected('greedy_decode')}; received {out}."
            )
    expected = _expected("beam_boundaries")
    tables = _as_second_order(TIES, ENDS_FIRST, END_SOON)
    for width, alpha, max_length in BEAM_BOUNDARIES:
        calls = []
        memory = np.stack([np.arange(3), np.full(3, START)], axis=1).astype(float)
        given = memory.copy()
        out, args, _ = arguments_after(
            sub.beam_search, _memory_step(tables, calls), given, START, END, width, max_length,
            alpha,
        )  # fmt: skip
        out, case = _rows(out), expected[f"{width}-{alpha}-{max_length}"]
        for image, name in enumerate(("ties", "an empty best caption", "captions ending soon")):
            if out[image] != case["captions"][image]:
                pytest.fail(
                    f"beam_width={width}, length_penalty={alpha}, max_length={max_length}, "
                    f"{name}: expected {case['captions'][image]}; received {out[image]}. Ties "
                    "go to the lower beam slot, then the lower word id."
                )
        if calls != [3 * width] * case["steps"]:
            pytest.fail(
                f"beam_width={width}, max_length={max_length}: expected {case['steps']} calls of "
                f"step_fn with {3 * width} rows each (3 images, {width} hypotheses each), no "
                f"call once every hypothesis has ended; received rows {calls}."
            )
        if not np.array_equal(args[1], memory):
            pytest.fail("beam_search changed the initial state it was given: copy it instead.")
    for width in (0, -1, 1.5):
        with pytest.raises(ValueError):
            sub.beam_search(_second_order_step(tables), state, START, END, width, 3, 0.7)


# Metrics.


@pytest.mark.points(
    1,
    hint="For n in 1..max_n, count every run of n consecutive words as a tuple.",
    section="metrics",
)
def test_ngram_counts(sub):
    counts = sub.ngram_counts(["a", "dog", "a", "dog"], max_n=3)
    expected = Counter(
        {
            ("a",): 2,
            ("dog",): 2,
            ("a", "dog"): 2,
            ("dog", "a"): 1,
            ("a", "dog", "a"): 1,
            ("dog", "a", "dog"): 1,
        }
    )
    assert dict(counts) == dict(expected)
    assert dict(sub.ngram_counts(["x"], max_n=4)) == {("x",): 1}
    empty = dict(sub.ngram_counts([], max_n=2))
    if empty != {}:
        pytest.fail(f"No words: expected an empty Counter; received {empty}.")
    words = ["Café", "café", "猫", "naïve", "café", "猫", "x"]  # Words as given: no case folding.
    counts, args, _ = arguments_after(sub.ngram_counts, list(words))
    if args[0] != words:
        pytest.fail("ngram_counts changed the list of words it was given.")
    expected = _expected("ngram_counts")  # Every n-gram of n = 1..4 (the default max_n).
    received = {" ".join(gram): count for gram, count in dict(counts).items()}
    if received != expected:
        missing = sorted(set(expected) - set(received))[:3]
        extra = sorted(set(received) - set(expected))[:3]
        pytest.fail(
            f"The n-grams of 7 words with the default max_n=4 differ: missing {missing}, "
            f"unexpected {extra} (or other counts)."
        )


@pytest.mark.points(
    3,
    hint="Corpus BLEU as COCO's evaluation computes it: clipped n-gram matches summed over the "
    "corpus, and the brevity penalty of the closest reference lengths (see the lecture).",
    section="metrics",
)
def test_corpus_bleu_matches_coco_evaluation(sub):
    candidates, references = _caption_corpus()
    expected = _expected("corpus_bleu")  # pycocoevalcap's Bleu(4), stored.
    received = [_number(x) for x in sub.corpus_bleu(candidates, references)]
    assert len(received) == 4, f"Expected BLEU-1..4; received {len(received)} values."
    if received[0] > expected[0] + 1e-3:
        pytest.fail(
            f"BLEU-1 {received[0]:.4f} is above COCO's {expected[0]:.4f}: clip each n-gram's "
            "count and apply the brevity penalty."
        )
    np.testing.assert_allclose(received, expected, atol=1e-6)
    two = [_number(x) for x in sub.corpus_bleu(candidates, references, max_n=2)]
    if len(two) != 2:
        pytest.fail(f"With max_n=2 expected [BLEU-1, BLEU-2]; received {len(two)} values.")
    np.testing.assert_allclose(two, expected[:2], atol=1e-6)


@pytest.mark.points(
    3,
    hint="CIDEr-D as COCO's evaluation computes it (the lecture's steps: n-gram TF-IDF with "
    "document frequencies over the references, clipping, the length penalty with the sigma "
    "argument, the averages and the scale).",
    section="metrics",
)
def test_cider_d_matches_coco_evaluation(sub):
    candidates, references = _caption_corpus(images=20, seed=5)
    reference = _expected("cider_d")  # pycocoevalcap's Cider(), stored.
    expected, expected_per_image = reference["score"], reference["per_image"]
    score, per_image = sub.cider_d(candidates, references)
    np.testing.assert_allclose(np.asarray(per_image, float), expected_per_image, atol=1e-6)
    assert _number(score) == pytest.approx(float(expected), abs=1e-6)
    narrow, _ = sub.cider_d(candidates, references, sigma=2.0)
    expected_narrow = reference["sigma_2"]
    if _number(narrow) != pytest.approx(expected_narrow, abs=1e-6):
        pytest.fail(
            f"With sigma=2 expected CIDEr-D {expected_narrow:.6f}; received {_number(narrow):.6f}:"
            " use the sigma argument in the length penalty."
        )


def _edge_corpora():
    """Tokenised corpora at the metrics' edges: one-word candidates, an empty candidate, words
    that are not ASCII, taken as they are (no case folding: "Café" is not "café"), with the
    references listing the images in another order than the candidates, and empty candidates
    only."""
    animals = {
        0: ["a dog on grass", "dog"],
        1: ["a cat", "the cat sleeps"],
        2: ["a bird", "one bird flies"],
        3: ["dogs play in parks", "two dogs"],  # "two dogs play": 4 and 2 words are as close.
    }
    words = {
        3: ["猫 on a mat", "猫 猫"],
        2: ["eine straße im regen", "regen"],
        1: ["café naïve 猫", "the 猫 sleeps"],
        0: ["un café noir chaud", "café"],
    }
    return {
        "one_word": ({0: "dog", 1: "cat", 2: "a", 3: "fish"}, animals),
        "empty": ({0: "", 1: "a cat sleeps", 2: "a bird flies high", 3: "two dogs play"}, animals),
        "non_ascii": (
            {0: "un café noir", 1: "Café naïve 猫 猫", 2: "straße im regen", 3: "猫"},
            words,
        ),
        "all_empty": ({0: "", 1: "", 2: ""}, {0: ["a dog"], 1: ["a cat", "cats"], 2: ["猫"]}),
    }


@pytest.mark.points(
    2,
    hint="BLEU of one-word and empty candidates and of words that are not ASCII, as COCO's "
    "evaluation gives it (words as they are, split on spaces); an order without a single match "
    "or n-gram gives 0; candidates and references must name the same images.",
    section="metrics",
)
def test_corpus_bleu_edge_cases(sub):
    expected = _expected("bleu_edges")  # pycocoevalcap's Bleu(4); 0 where an order is empty.
    for name, (candidates, references) in _edge_corpora().items():
        given = (dict(candidates), {i: list(r) for i, r in references.items()})
        out, args, _ = arguments_after(sub.corpus_bleu, *given)
        received = [_number(x) for x in out]
        if not np.allclose(received, expected[name], atol=1e-6):
            pytest.fail(
                f"BLEU-1..4 of the {name.replace('_', '-')} corpus: expected "
                f"{np.round(expected[name], 6).tolist()}; received "
                f"{np.round(received, 6).tolist()}."
            )
        if args[0] != candidates or args[1] != references:
            pytest.fail("corpus_bleu changed the candidates or references it was given.")
    candidates, references = _edge_corpora()["non_ascii"]
    one = [_number(x) for x in sub.corpus_bleu(candidates, references, max_n=1)]
    assert one == pytest.approx(expected["non_ascii"][:1], abs=1e-6), "BLEU-1 alone (max_n=1)"
    with pytest.raises(ValueError):
        sub.corpus_bleu({0: "a dog", 1: "a cat"}, {0: ["a dog"], 2: ["a cat"]})


@pytest.mark.points(
    2,
    hint="CIDEr-D of one-word and empty candidates and of words that are not ASCII, as COCO's "
    "evaluation gives it, with the per-image scores in the order of the candidates, max_n and "
    "sigma used; candidates and references must name the same images.",
    section="metrics",
)
def test_cider_d_edge_cases(sub):
    expected = _expected("cider_edges")  # pycocoevalcap's Cider(), in the candidates' order.
    for name, (candidates, references) in _edge_corpora().items():
        score, per_image = sub.cider_d(candidates, references)
        per_image = plain_array(
            per_image, what=f"The per-image CIDEr-D ({name})", shape=(len(candidates),)
        )
        if not np.allclose(per_image, expected[name]["per_image"], atol=1e-6):
            pytest.fail(
                f"Per-image CIDEr-D of the {name.replace('_', '-')} corpus (in the candidates' "
                f"order): expected {np.round(expected[name]['per_image'], 5).tolist()}; "
                f"received {np.round(per_image, 5).tolist()}."
            )
        assert _number(score) == pytest.approx(expected[name]["score"], abs=1e-6), name
    candidates, references = _edge_corpora()["non_ascii"]
    score, per_image = sub.cider_d(candidates, references, max_n=2, sigma=3.0)
    if _number(score) != pytest.approx(expected["max_n_2_sigma_3"], abs=1e-6):
        pytest.fail(
            f"With max_n=2 and sigma=3 expected CIDEr-D {expected['max_n_2_sigma_3']:.6f} (COCO's "
            f"Cider(n=2, sigma=3)); received {_number(score):.6f}."
        )
    with pytest.raises(ValueError):
        sub.cider_d({0: "a dog", 1: "a cat"}, {0: ["a dog"], 2: ["a cat"]})
