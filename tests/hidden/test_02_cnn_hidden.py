"""Hidden tests of Lecture 02 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_02_cnn.py``, whose helpers they reuse); their messages never reach
students. The references (``references_02.py``, beside this file) follow the docstrings and
TensorFlow's documentation. The numeric kernels and the metric are also tested on generated
inputs (Hypothesis, derandomised: ``course_lib.grading.properties.GRADING``); the block and the
CNN are compared, in both modes, with Keras' own layers carrying the same weights.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.grading.compare import plain_array, plain_float, plain_int
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_02.py"))
public = public_tests("02")


@pytest.mark.points(1, hint="SAME padding of every small axis.", section="padding_stride")
@public._quiet
def test_same_padding_matches_the_documented_split(sub):
    for in_size in range(1, 17):
        for kernel_size in range(1, 7):
            for stride in range(1, 5):
                received = tuple(int(v) for v in sub.same_padding(in_size, kernel_size, stride))
                expected = ref.same_split(in_size, kernel_size, stride)
                assert received == expected, (in_size, kernel_size, stride)


@pytest.mark.points(1, hint="Padding other images.", section="padding_stride")
@public._quiet
def test_pad_input_on_other_shapes(sub):
    x = public._rng(40).normal(size=(1, 5, 9, 2))
    for kernel_size, strides, constant in (((5, 2), (3, 2), 1.5), ((1, 4), (2, 3), 0.0)):
        rows = ref.same_split(5, kernel_size[0], strides[0])
        cols = ref.same_split(9, kernel_size[1], strides[1])
        expected = np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=constant)
        received = np.asarray(sub.pad_input(x, kernel_size, strides, "same", constant))
        np.testing.assert_array_equal(received, expected)


@pytest.mark.points(1, hint="Receptive fields of other stacks.", section="receptive_field")
@public._quiet
def test_receptive_field_matches_the_formula(sub):
    rng = public._rng(41)
    for _ in range(40):
        depth = int(rng.integers(1, 8))
        layers = [(int(rng.integers(1, 8)), int(rng.integers(1, 5))) for _ in range(depth)]
        assert sub.receptive_field(layers) == ref.receptive_field(layers), layers


@pytest.mark.points(1, hint="The block with its own initial weights.", section="keras_cnn")
@public._quiet
def test_conv_block_matches_its_own_layers(sub):
    public._seed(sub, 3)
    block = sub.ConvBlock(5, kernel_size=5, pool_size=3)
    x = tf.constant(public._rng(42).normal(size=(3, 11, 7, 2)), tf.float32)
    received = keras.ops.convert_to_numpy(block(x, training=False))
    expected = block.pool(tf.nn.relu(block.norm(block.conv(x), training=False))).numpy()
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)


def _sizes(draw, low=1, high=7):
    return draw(st.integers(low, high)), draw(st.integers(low, high))


@st.composite
def convolutions(draw):
    """x, kernel, strides, padding: odd and even sizes, kernels as large as the image, strides
    longer than it, and float64, float32 or 8-bit images."""
    padding = draw(st.sampled_from(["valid", "same"]))
    height, width = _sizes(draw)
    kh = draw(st.integers(1, min(4, height) if padding == "valid" else 4))
    kw = draw(st.integers(1, min(4, width) if padding == "valid" else 4))
    strides = _sizes(draw, 1, 3)
    batch, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["float64", "float32", "uint8"]))
    if kind == "uint8":
        x = draw(hnp.arrays(np.uint8, (batch, height, width, c_in)))
    else:
        x = draw(
            hnp.arrays(kind, (batch, height, width, c_in), elements=st.floats(-5, 5, width=32))
        )
    kernel = draw(hnp.arrays(np.float64, (kh, kw, c_in, c_out), elements=st.floats(-2, 2)))
    return x, kernel, strides, padding


@st.composite
def poolings(draw):
    """x, pool_size, strides (None: the pool size), padding; windows up to 4 x 4 on small maps."""
    padding = draw(st.sampled_from(["valid", "same"]))
    height, width = _sizes(draw)
    pool = (
        draw(st.integers(1, min(4, height) if padding == "valid" else 4)),
        draw(st.integers(1, min(4, width) if padding == "valid" else 4)),
    )
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    shape = (draw(st.integers(1, 2)), height, width, draw(st.integers(1, 3)))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10)))
    return x, pool, strides, padding


@st.composite
def multilabel(draw):
    """Labels with at least one positive, probabilities with ties and values on, just below and
    just above the threshold."""
    n, k = draw(st.integers(2, 12)), draw(st.integers(1, 6))
    y_true = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 1)))
    y_true[draw(st.integers(0, n - 1)), draw(st.integers(0, k - 1))] = 1
    threshold = draw(st.sampled_from([0.3, 0.5, 0.7]))
    near = [threshold, np.nextafter(threshold, 0.0), np.nextafter(threshold, 1.0)]
    values = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, *near]), st.floats(0, 1))
    y_prob = draw(hnp.arrays(np.float64, (n, k), elements=values))
    if draw(st.booleans()):
        y_prob = y_prob.astype(np.float32)
    return y_true, y_prob, threshold


@pytest.mark.points(1, hint="Convolutions of other shapes and dtypes.", section="convolution")
@GRADING
@given(config=convolutions())
@public._quiet
def test_convolutions_match_tf_on_generated_configs(sub, config):
    x, kernel, strides, padding = config
    expected = public._tf_conv(x, kernel, strides, padding)
    for function in (sub.conv2d_loops, sub.conv2d_vectorized):
        received = plain_array(function(x, kernel, strides, padding), what="conv2d", dtype="float")
        assert received.shape == expected.shape
        tolerance = 1e-4 if x.dtype == np.float32 else 1e-9
        np.testing.assert_allclose(received, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.points(1, hint="Pooling of other shapes.", section="pooling")
@GRADING
@given(config=poolings())
@public._quiet
def test_pooling_matches_tf_on_generated_configs(sub, config):
    x, pool, strides, padding = config
    steps = strides or pool
    for function, reference in (
        (sub.max_pool2d, tf.nn.max_pool2d),
        (sub.avg_pool2d, tf.nn.avg_pool2d),
    ):
        kwargs = {} if strides is None else {"strides": strides}
        received = function(x, pool, padding=padding, **kwargs)
        received = plain_array(received, what="pooling", dtype=np.float64)
        expected = reference(tf.constant(x), pool, steps, padding.upper()).numpy()
        assert received.shape == expected.shape
        np.testing.assert_allclose(received, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.points(1, hint="Sizes and counts of other layers.", section="parameters")
@GRADING
@given(data=st.data())
@public._quiet
def test_sizes_and_counts_match_keras_on_generated_layers(sub, data):
    padding = data.draw(st.sampled_from(["valid", "same"]))
    kernel_size, strides = _sizes(data.draw, 1, 5), _sizes(data.draw, 1, 4)
    height = data.draw(st.integers(kernel_size[0], 30))
    width = data.draw(st.integers(kernel_size[1], 30))
    channels, filters = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 16))
    use_bias = data.draw(st.booleans())
    batch = data.draw(st.one_of(st.none(), st.integers(1, 8)))
    layer = keras.layers.Conv2D(filters, kernel_size, strides, padding, use_bias=use_bias)
    expected = tuple(layer.compute_output_shape((batch, height, width, channels)))
    received = sub.conv_output_shape(
        (batch, height, width, channels), filters, kernel_size, strides, padding
    )
    assert tuple(received) == expected
    for size, k, s, position in (
        (height, kernel_size[0], strides[0], 1),
        (width, kernel_size[1], strides[1], 2),
    ):
        assert plain_int(sub.conv_output_size(size, k, s, padding)) == expected[position]
    layer.build((None, height, width, channels))
    received = plain_int(sub.conv_param_count(kernel_size, channels, filters, use_bias))
    assert received == layer.count_params()


@pytest.mark.points(1, hint="Scores of other label sets.", section="keras_cnn")
@GRADING
@given(case=multilabel())
@public._quiet
def test_evaluate_multilabel_matches_sklearn_on_generated_labels(sub, case):
    from sklearn.metrics import average_precision_score, f1_score

    y_true, y_prob, threshold = case
    scores = sub.evaluate_multilabel(y_true.copy(), y_prob.copy(), threshold)
    present = y_true.sum(axis=0) > 0
    expected_map = average_precision_score(y_true[:, present], y_prob[:, present])
    predicted = (y_prob >= threshold).astype(int)
    expected_f1 = f1_score(y_true, predicted, average="micro", zero_division=0)
    assert plain_float(scores["mAP"]) == pytest.approx(expected_map, abs=1e-9)
    assert plain_float(scores["micro_f1"]) == pytest.approx(expected_f1, abs=1e-9)
    assert plain_int(scores["num_classes_scored"]) == int(present.sum())


@pytest.mark.points(
    1, hint="The block against Keras' own layers, in both modes.", section="keras_cnn"
)
@public._quiet
def test_conv_block_matches_keras_layers_in_both_modes(sub):
    public._seed(sub, 5)
    block = sub.ConvBlock(4, kernel_size=5, pool_size=3)
    x = public._rng(43).normal(size=(3, 11, 7, 2)).astype(np.float32)
    block.build(x.shape)
    weights = [plain_array(w, what="A weight of the block") for w in block.get_weights()]
    weights[1] = weights[1] * np.where(np.arange(4) % 2, -1.5, 0.7).astype(np.float32)
    weights[3] = public._rng(44).normal(scale=0.3, size=4).astype(np.float32)
    block.set_weights(weights)
    reference = ref.keras_conv_block(4, 5, 3, weights, x.shape)
    for training in (False, True):
        received = plain_array(block(x, training=training), what=f"training={training}")
        expected = reference(x, training=training).numpy()
        np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-5, err_msg=str(training))
    moving = [plain_array(w) for w in block.get_weights()[3:]]
    for got, want in zip(moving, reference.get_weights()[3:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.points(
    1, hint="The CNN against the reference network, in both modes.", section="keras_cnn"
)
@public._quiet
def test_build_cnn_matches_the_reference_in_both_modes(sub):
    public._seed(sub, 6)
    model = sub.build_cnn(image_size=24, num_classes=4, block_filters=(3, 5, 4), dropout_rate=0.25)
    weights = [plain_array(w, what="A weight of the CNN") for w in model.get_weights()]
    rng = public._rng(45)
    for index in range(0, 15, 5):  # Move the batch norms away from their initial values.
        size = weights[index + 1].shape
        weights[index + 1] = rng.uniform(0.5, 1.5, size) * np.where(np.arange(size[0]) % 2, -1, 1)
        weights[index + 2] = rng.normal(scale=0.3, size=size)
        weights[index + 3] = rng.normal(scale=0.3, size=size)
        weights[index + 4] = rng.uniform(0.5, 2.0, size)
    weights = [np.asarray(w, np.float32) for w in weights]
    model.set_weights(weights)
    images = rng.uniform(size=(3, 24, 24, 3)).astype(np.float32)
    received = plain_array(model(images, training=False), what="The probabilities")
    np.testing.assert_allclose(received, ref.cnn(images, weights)[0], rtol=1e-4, atol=1e-5)
    weights[-2:] = [np.eye(4, dtype=np.float32), np.zeros(4, np.float32)]
    model.set_weights(weights)
    out = plain_array(model(images, training=True), what="The training output")
    logits = np.log(out) - np.log1p(-out)
    pooled = ref.cnn(images, weights, batch=True)[1] / 0.75
    assert np.all(
        np.isclose(logits, pooled, rtol=1e-3, atol=1e-3) | np.isclose(logits, 0, atol=1e-3)
    )
