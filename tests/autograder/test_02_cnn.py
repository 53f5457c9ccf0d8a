"""Autograder for Lecture 02, convolutional networks.

References: ``tf.nn.conv2d``, ``tf.nn.max_pool2d`` and ``tf.nn.avg_pool2d`` (in float64), Keras
layers (``compute_output_shape``, ``count_params``), Keras' ``CosineDecay`` and binary
cross-entropy for the training settings, the gradient of one output unit of a stack of all-ones
convolutions (``tf.GradientTape``) for the receptive field, scikit-learn's metrics, PIL reading
back the saved figures, and expected values stored as data
(``tests/autograder/expected/02_cnn.json``, computed by the instructor's references on the fixed
inputs built here; ``camp generate`` writes it). Each test calls the student's module ``sub``;
random configurations come from seeded generators. Keras objects that the student's code
receives (small models, datasets) are built where that code runs (``library``), with weights the
judge chooses; layers and networks are judged by what they compute with those weights, in
inference and in training mode, not by their shapes. Inputs modified in place and the functions
a function calls are observed by the judge (``course_lib.grading.access``), and values are
checked as plain data before they are compared (``course_lib.grading.compare``).
"""

import functools
import io
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from course_lib.grading.access import (
    arguments_after,
    float_errors_raised,
    library,
    record_calls,
    type_name,
)
from course_lib.grading.compare import plain_array, plain_float, plain_int
from course_lib.grading.expected import load


def _quiet(test):
    """Run ``test`` with warnings silenced (nbgrader gives 0 to a cell that writes to stderr)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return test(*args, **kwargs)

    return wrapper


def _rng(offset=0):
    return np.random.default_rng(2024 + offset)


def _seed(sub, seed):
    """Seed Keras where the student's code runs, before it builds a model."""
    library(sub, "keras").utils.set_random_seed(seed)


def _isinstance(sub, obj, kind):
    """``isinstance(obj, kind)`` asked where ``obj`` lives; ``kind``: a dotted Keras name or a
    class of ``sub``. (``access.is_instance`` sends its class in a field named ``kind``, which
    overwrites the request's own ``kind`` and ends the runner; builtins.isinstance is asked
    there instead.)"""
    if isinstance(kind, str):
        kind = functools.reduce(getattr, kind.split(".")[1:], library(sub, kind.split(".")[0]))
    return library(sub, "builtins").isinstance(obj, kind) is True


def _runner_path(sub, name):
    """A ``pathlib.Path`` in a fresh folder where the student's code runs, for a file it writes."""
    return library(sub, "pathlib").Path(library(sub, "tempfile").mkdtemp(), name)


def _read_png(path):
    """Open the file the student's code wrote (its bytes come back by value)."""
    return Image.open(io.BytesIO(path.read_bytes()))


def _tf_conv(x, kernel, strides, padding):
    """The reference: ``tf.nn.conv2d`` in float64."""
    sh, sw = strides
    return tf.nn.conv2d(
        tf.constant(x, tf.float64), tf.constant(kernel, tf.float64), [1, sh, sw, 1], padding.upper()
    ).numpy()


def _expected(name):
    """The reference's values for test ``name``, stored as data (see the module docstring)."""
    return load("02")[name]


def _tf_same_split(in_size, kernel_size, stride):
    """The zeros TensorFlow's SAME padding puts before and after one axis, found by asking it.

    The ``(before, after)`` whose VALID convolution of a random signal gives TensorFlow's SAME
    output: TensorFlow is the reference, searched, rather than a formula written here.
    """
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(1, in_size, 1, 1)), rng.normal(size=(kernel_size, 1, 1, 1))
    same = _tf_conv(x, kernel, (stride, 1), "same")
    for total in range(kernel_size + stride):
        for before in range(total + 1):
            padded = np.pad(x, ((0, 0), (before, total - before), (0, 0), (0, 0)))
            if padded.shape[1] >= kernel_size:
                valid = _tf_conv(padded, kernel, (stride, 1), "valid")
                if valid.shape == same.shape and np.allclose(valid, same, atol=1e-12):
                    return before, total - before
    raise AssertionError(f"No padding of {in_size} reproduces TensorFlow's SAME output.")


def _conv_config(rng, padding):
    """A random convolution: input, kernel, strides; stride and kernel sizes up to 4."""
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    height, width = int(rng.integers(kh, kh + 8)), int(rng.integers(kw, kw + 8))
    batch, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
    x = rng.normal(size=(batch, height, width, c_in))
    kernel = rng.normal(size=(kh, kw, c_in, c_out))
    return x, kernel, (sh, sw), padding


def _check_conv(function, x, kernel, strides, padding):
    """Compare one convolution with tf.nn.conv2d, failing with advice for known mistakes.

    ``strides``: a pair, or one int for both axes (the docstring allows both).
    """
    received = np.asarray(function(x, kernel, strides, padding))
    strides = (strides, strides) if isinstance(strides, int) else strides
    expected = _tf_conv(x, kernel, strides, padding)
    if received.shape != expected.shape:
        pytest.fail(
            f"For x {x.shape}, kernel {kernel.shape}, strides {strides}, padding {padding!r} "
            f"expected output shape {expected.shape}; received {received.shape}. Output sizes: "
            "floor((H - K) / S) + 1 for valid, ceil(H / S) for same; channels come last."
        )
    if np.allclose(received, expected, rtol=1e-5, atol=1e-5):
        return
    if received.dtype.kind in "iu":
        pytest.fail(
            f"For {x.dtype} images and {kernel.dtype} kernels you return {received.dtype} values: "
            "the products of pixels and weights are floats; allocate the output with a dtype "
            "that holds both (numpy's result type), not the image's."
        )
    flipped = _tf_conv(x, kernel[::-1, ::-1], strides, padding)
    if np.allclose(received, flipped, rtol=1e-5, atol=1e-5):
        pytest.fail(
            "Your result equals a convolution with the kernel flipped. Deep-learning libraries "
            "compute the cross-correlation: multiply each window with the kernel as it is, "
            "without flipping it."
        )
    if padding == "same":
        sh, sw = strides
        rows = _tf_same_split(x.shape[1], kernel.shape[0], sh)[::-1]
        cols = _tf_same_split(x.shape[2], kernel.shape[1], sw)[::-1]
        swapped = np.pad(x, ((0, 0), rows, cols, (0, 0)))
        if rows[0] != rows[1] or cols[0] != cols[1]:
            if np.allclose(received, _tf_conv(swapped, kernel, strides, "valid"), atol=1e-5):
                pytest.fail(
                    "Your SAME padding puts the extra zero before (top/left); TensorFlow puts "
                    "total // 2 zeros before and the rest, one more when the total is odd, after "
                    "(bottom/right)."
                )
    np.testing.assert_allclose(
        received,
        expected,
        rtol=1e-5,
        atol=1e-5,
        err_msg=f"x {x.shape}, kernel {kernel.shape}, strides {strides}, padding {padding!r}",
    )


@pytest.mark.points(
    1,
    hint="valid: floor((in - k) / s) + 1; same: ceil(in / s) (round up, never down).",
    section="padding_stride",
)
@_quiet
def test_conv_output_size_matches_keras(sub):
    rng = _rng(1)
    for trial in range(60):
        kernel_size, stride = int(rng.integers(1, 7)), int(rng.integers(1, 5))
        in_size = int(rng.integers(kernel_size, kernel_size + 20))
        padding = ("valid", "same")[trial % 2]
        layer = keras.layers.Conv2D(1, (kernel_size, 1), strides=(stride, 1), padding=padding)
        expected = layer.compute_output_shape((None, in_size, 1, 1))[1]
        received = sub.conv_output_size(in_size, kernel_size, stride, padding)
        if not isinstance(received, int | np.integer):
            pytest.fail(f"Return the size as an int; received {type(received).__name__}.")
        if padding == "same" and received == in_size // stride != expected:
            pytest.fail(
                f"same padding, in {in_size}, stride {stride}: expected {expected}, received "
                f"{received}. Round up: ceil(in / s), since the last window may hang over the edge."
            )
        assert received == expected, (in_size, kernel_size, stride, padding)


@pytest.mark.points(
    2,
    hint="total = max((ceil(in / s) - 1) * s + k - in, 0); before = total // 2, after = the rest.",
    section="padding_stride",
)
@_quiet
def test_same_padding_reproduces_tf_same(sub):
    # Padding by hand with the student's split and convolving with VALID must equal TF's SAME.
    rng = _rng(2)
    for _ in range(30):
        kernel_size, stride = int(rng.integers(1, 7)), int(rng.integers(1, 5))
        in_size = int(rng.integers(1, 16))
        x = rng.normal(size=(1, in_size, 1, 1))
        kernel = rng.normal(size=(kernel_size, 1, 1, 1))
        expected = _tf_conv(x, kernel, (stride, 1), "same")
        before, after = sub.same_padding(in_size, kernel_size, stride)
        padded = np.pad(x, ((0, 0), (before, after), (0, 0), (0, 0)))
        if padded.shape[1] >= kernel_size:
            received = _tf_conv(padded, kernel, (stride, 1), "valid")
            if received.shape == expected.shape and np.allclose(received, expected):
                continue
        swapped = np.pad(x, ((0, 0), (after, before), (0, 0), (0, 0)))
        if before != after and swapped.shape[1] >= kernel_size:
            flipped = _tf_conv(swapped, kernel, (stride, 1), "valid")
            if flipped.shape == expected.shape and np.allclose(flipped, expected):
                pytest.fail(
                    f"in {in_size}, kernel {kernel_size}, stride {stride}: you return ({before}, "
                    f"{after}); TensorFlow puts the extra zero after (bottom/right): "
                    f"({after}, {before})."
                )
        pytest.fail(
            f"in {in_size}, kernel {kernel_size}, stride {stride}: padding ({before}, {after}) "
            "does not reproduce tf.nn.conv2d's SAME output."
        )


@pytest.mark.points(
    1,
    hint="valid returns x unchanged; same pads height and width only, with same_padding's split.",
    section="padding_stride",
)
@_quiet
def test_pad_input(sub):
    rng = _rng(3)
    x = rng.normal(size=(2, 7, 6, 3))
    np.testing.assert_array_equal(sub.pad_input(x, (3, 2), (2, 2), "valid"), x)
    for kernel_size, strides, constant in (((4, 3), (2, 3), 0.0), ((2, 5), (1, 4), -7.0)):
        rows = _tf_same_split(7, kernel_size[0], strides[0])
        cols = _tf_same_split(6, kernel_size[1], strides[1])
        expected = np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=constant)
        received = np.asarray(sub.pad_input(x, kernel_size, strides, "same", constant))
        if received.shape != expected.shape:
            pytest.fail(
                f"Expected the padded shape {expected.shape}; received {received.shape}. Pad "
                "axes 1 and 2 (height and width) only, never the batch or channel axis."
            )
        zeros = np.pad(x, ((0, 0), rows, cols, (0, 0)))
        if constant != 0 and np.array_equal(received, zeros):
            pytest.fail(f"Pad with constant={constant} (np.pad's constant_values), not zeros.")
        np.testing.assert_array_equal(received, expected)


def _edge_configs(rng):
    """Convolutions at the edges of what the docstring allows, as (x, kernel, strides, padding):
    a kernel as large as the image, a stride longer than the image, a 1 x 1 kernel with one int
    for both strides, one channel, and 8-bit integer pixels (a uint8 photo) with float weights."""
    configs = [
        (rng.normal(size=(1, 4, 3, 2)), rng.normal(size=(4, 3, 2, 3)), (1, 1), "valid"),
        (rng.normal(size=(2, 3, 5, 1)), rng.normal(size=(2, 2, 1, 2)), (4, 6), "same"),
        (rng.normal(size=(1, 5, 6, 3)), rng.normal(size=(1, 1, 3, 4)), 2, "valid"),
        (rng.normal(size=(1, 1, 1, 1)), rng.normal(size=(3, 3, 1, 1)), (1, 1), "same"),
    ]
    pixels = rng.integers(0, 256, size=(1, 6, 5, 3)).astype(np.uint8)
    configs.append((pixels, rng.normal(size=(3, 2, 3, 2)) / 255, (2, 1), "same"))
    return configs


@pytest.mark.points(
    3,
    hint="Each output value is one window of the input times the whole kernel, summed; windows "
    "start every stride pixels; the kernel is not flipped.",
    section="convolution",
)
@_quiet
def test_conv2d_loops_valid_matches_tf(sub):
    rng = _rng(4)
    for _ in range(12):
        _check_conv(sub.conv2d_loops, *_conv_config(rng, "valid"))
    for config in _edge_configs(_rng(21)):
        _check_conv(sub.conv2d_loops, *config)


@pytest.mark.points(
    2,
    hint="Pad with pad_input first, then slide the kernel exactly as for valid padding.",
    section="padding_stride",
)
@_quiet
def test_conv2d_loops_same_matches_tf(sub):
    rng = _rng(5)
    # Even kernels and strides > 1 need asymmetric padding.
    _check_conv(
        sub.conv2d_loops,
        rng.normal(size=(1, 6, 7, 2)),
        rng.normal(size=(2, 4, 2, 3)),
        (1, 2),
        "same",
    )
    for _ in range(10):
        _check_conv(sub.conv2d_loops, *_conv_config(rng, "same"))


@pytest.mark.points(
    3,
    hint="The same windows as conv2d_loops, all at once: mind which axes of the windows and of "
    "the kernel are summed over together, and the stride of the windows.",
    section="convolution",
)
@_quiet
def test_conv2d_vectorized_matches_tf(sub):
    rng = _rng(6)
    for trial in range(20):
        _check_conv(sub.conv2d_vectorized, *_conv_config(rng, ("valid", "same")[trial % 2]))
    # A larger case: a 32 x 32 colour image through 8 filters.
    x, kernel = rng.normal(size=(2, 32, 32, 3)), rng.normal(size=(5, 5, 3, 8))
    _check_conv(sub.conv2d_vectorized, x, kernel, (2, 2), "same")
    for config in _edge_configs(_rng(22)):
        _check_conv(sub.conv2d_vectorized, *config)
    # The judge watches which functions of the module it calls.
    _, calls = record_calls(sub, sub.conv2d_vectorized, "conv2d_loops", x, kernel, 2, "same")
    if calls:
        pytest.fail(
            "conv2d_vectorized called conv2d_loops: compute every position at once, without a "
            "Python loop over the output positions."
        )


def _check_pool(function, reference, x, pool_size, strides, padding):
    kwargs = {} if strides is None else {"strides": strides}
    received = np.asarray(function(x, pool_size, padding=padding, **kwargs))
    expected = reference(
        tf.constant(x), pool_size, strides if strides is not None else pool_size, padding.upper()
    ).numpy()
    if received.ndim == 4 and received.shape[3] != x.shape[3]:
        pytest.fail(
            f"Input with {x.shape[3]} channels gave {received.shape[3]} output channels: pooling "
            "works on each channel separately, over height and width only (axes 1 and 2)."
        )
    if received.shape != expected.shape:
        pytest.fail(
            f"x {x.shape}, pool {pool_size}, strides {strides}, padding {padding!r}: expected "
            f"shape {expected.shape}; received {received.shape} (strides=None means pool_size)."
        )
    return received, expected


@pytest.mark.points(
    2,
    hint="Take the maximum of each window of each channel; with same padding pad with -inf so "
    "that padding never wins.",
    section="pooling",
)
@_quiet
def test_max_pool2d_matches_tf(sub):
    rng = _rng(7)
    configs = [((2, 2), None, "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same")]
    configs += [((3, 2), (2, 1), "valid"), ((2, 2), None, "same")]
    for pool_size, strides, padding in configs:
        # Negative values: a maximum that counts padded zeros is visibly wrong.
        x = -np.abs(rng.normal(size=(2, 7, 5, 3))) - 0.1
        received, expected = _check_pool(
            sub.max_pool2d, tf.nn.max_pool2d, x, pool_size, strides, padding
        )
        if padding == "same" and not np.allclose(received, expected) and np.any(received == 0):
            pytest.fail(
                "Some maxima are 0, a padded value: pad with -inf (constant=-np.inf in "
                "pad_input) so that padding never wins, as TensorFlow does."
            )
        steps = strides or pool_size
        if not np.allclose(received, expected) and np.allclose(
            received, tf.nn.avg_pool2d(x, pool_size, steps, padding.upper()).numpy()
        ):
            pytest.fail("max_pool2d averages each window; max pooling keeps its largest value.")
        np.testing.assert_allclose(received, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.points(
    2,
    hint="Average each window of each channel; with same padding divide by the number of real "
    "(unpadded) pixels in the window.",
    section="pooling",
)
@_quiet
def test_avg_pool2d_matches_tf(sub):
    rng = _rng(8)
    configs = [((2, 2), None, "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same")]
    configs += [((3, 2), (2, 1), "valid"), ((4, 4), (3, 3), "same")]
    for pool_size, strides, padding in configs:
        x = rng.normal(size=(2, 7, 5, 3)) + 1.0
        received, expected = _check_pool(
            sub.avg_pool2d, tf.nn.avg_pool2d, x, pool_size, strides, padding
        )
        if padding == "same" and not np.allclose(received, expected):
            steps = strides or pool_size
            rows = _tf_same_split(x.shape[1], pool_size[0], steps[0])
            cols = _tf_same_split(x.shape[2], pool_size[1], steps[1])
            zero_padded = tf.constant(np.pad(x, ((0, 0), rows, cols, (0, 0))))
            full = tf.nn.avg_pool2d(zero_padded, pool_size, steps, "VALID").numpy()
            if np.allclose(received, full):
                pytest.fail(
                    "With same padding you divide every sum by the full window size; TensorFlow "
                    "averages over the real pixels only: divide by the count of unpadded pixels."
                )
        steps = strides or pool_size
        if not np.allclose(received, expected) and np.allclose(
            received, tf.nn.max_pool2d(x, pool_size, steps, padding.upper()).numpy()
        ):
            pytest.fail("avg_pool2d keeps each window's maximum; average pooling takes its mean.")
        np.testing.assert_allclose(received, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.points(
    1,
    hint="Pooling never mixes channels: reduce over the window's height and width only.",
    section="pooling",
)
@_quiet
def test_pooling_keeps_channels(sub):
    # Channels hold very different values; pooling across them would mix them.
    x = np.zeros((1, 4, 4, 3))
    x[..., 0], x[..., 1], x[..., 2] = 1.0, 10.0, 100.0
    x += _rng(9).uniform(0, 0.5, size=x.shape)
    for function, reference in (
        (sub.max_pool2d, tf.nn.max_pool2d),
        (sub.avg_pool2d, tf.nn.avg_pool2d),
    ):
        received, expected = _check_pool(function, reference, x, (2, 2), None, "valid")
        np.testing.assert_allclose(received, expected, rtol=1e-10)
    # The contract: float64 out, also for float32 feature maps and 8-bit pixels, whose padding
    # (-inf for the maximum) and means do not fit in uint8.
    for function in (sub.max_pool2d, sub.avg_pool2d):
        dtype = np.asarray(function(x.astype(np.float32), 2)).dtype
        if dtype != np.float64:
            pytest.fail(f"Pooling returns float64 (also for float32 input); received {dtype}.")
    pixels = _rng(23).integers(0, 256, size=(1, 5, 4, 3)).astype(np.uint8)
    for function, reference in (
        (sub.max_pool2d, tf.nn.max_pool2d),
        (sub.avg_pool2d, tf.nn.avg_pool2d),
    ):
        received = function(pixels, 3, strides=2, padding="same")
        received = plain_array(received, what="Pooling of uint8 pixels", dtype=np.float64)
        expected = reference(pixels.astype(np.float64), 3, 2, "SAME").numpy()
        np.testing.assert_allclose(received, expected, rtol=1e-12, err_msg="uint8 pixels")


@pytest.mark.points(
    2,
    hint="Count one filter's weights (its window over every input channel), then all filters, "
    "then the biases, which exist only when use_bias is True.",
    section="parameters",
)
@_quiet
def test_conv_param_count_matches_keras(sub):
    rng = _rng(10)
    for trial in range(20):
        kernel_size = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        if trial % 3 == 0:
            kernel_size = kernel_size[0]  # Keras also takes a single int.
        c_in, filters = int(rng.integers(1, 65)), int(rng.integers(1, 129))
        use_bias = bool(trial % 4)
        layer = keras.layers.Conv2D(filters, kernel_size, use_bias=use_bias)
        layer.build((None, 16, 16, c_in))
        received = sub.conv_param_count(kernel_size, c_in, filters, use_bias)
        weights = layer.count_params() - (filters if use_bias else 0)
        if received != layer.count_params() and received in (weights, weights + filters):
            pytest.fail(
                f"kernel {kernel_size}, {c_in} in, {filters} filters, use_bias={use_bias}: "
                f"expected {layer.count_params()}; received {received}. Add one bias per filter "
                "when use_bias is True, none when it is False."
            )
        assert received == layer.count_params(), (kernel_size, c_in, filters, use_bias)
        plain_int(received, what="conv_param_count", advice="Return the count as an int.")


@pytest.mark.points(
    1,
    hint="(batch, conv_output_size(height, ...), conv_output_size(width, ...), filters).",
    section="parameters",
)
@_quiet
def test_conv_output_shape_matches_keras(sub):
    rng = _rng(11)
    for trial in range(30):
        kernel_size = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        if trial % 3 == 0:
            kernel_size, strides = kernel_size[0], strides[0]
        height, width = (int(v) for v in rng.integers(5, 40, size=2))
        filters, padding = int(rng.integers(1, 64)), ("valid", "same")[trial % 2]
        batch = None if trial % 5 == 0 else int(rng.integers(1, 9))
        input_shape = (batch, height, width, int(rng.integers(1, 5)))
        layer = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding)
        expected = tuple(layer.compute_output_shape(input_shape))
        received = sub.conv_output_shape(input_shape, filters, kernel_size, strides, padding)
        if not isinstance(received, tuple):
            pytest.fail(
                f"conv_output_shape returned a {type_name(received)}: shapes are tuples, as Keras' "
                "compute_output_shape returns them (a list never equals a tuple)."
            )
        if received[:3] == expected[:3] and received[3] != filters:
            pytest.fail("The last axis holds one channel per filter: filters, not the input's.")
        assert received == expected, (input_shape, filters, kernel_size, strides, padding)


def _empirical_receptive_field(layers, length=600):
    """Extent of the input pixels that output unit 0 of a 1-D stack of all-ones convolutions
    depends on (its gradient is positive exactly there)."""
    x = tf.Variable(tf.ones((1, length, 1, 1), tf.float64))
    with tf.GradientTape() as tape:
        y = x
        for kernel_size, stride in layers:
            kernel = tf.ones((kernel_size, 1, 1, 1), tf.float64)
            y = tf.nn.conv2d(y, kernel, [1, stride, 1, 1], "VALID")
        unit = y[0, 0, 0, 0]
    gradient = tape.gradient(unit, x).numpy()[0, :, 0, 0]
    nonzero = np.flatnonzero(gradient)
    return int(nonzero.max() - nonzero.min() + 1)


@pytest.mark.points(
    3,
    hint="A layer's kernel spans k - 1 steps of the layer below it, and one such step is as many "
    "input pixels as the strides of the layers below multiply to.",
    section="receptive_field",
)
@_quiet
def test_receptive_field_matches_gradient(sub):
    rng = _rng(12)
    stacks = [[(3, 1)] * 3, [(3, 1), (2, 2), (3, 1)], [(1, 2), (2, 1)]]
    for _ in range(10):
        depth = int(rng.integers(1, 6))
        stacks.append([(int(rng.integers(1, 6)), int(rng.integers(1, 4))) for _ in range(depth)])
    for layers in stacks:
        expected = _empirical_receptive_field(layers)
        received = sub.receptive_field(layers)
        unstrided = _empirical_receptive_field([(k, 1) for k, _ in layers])
        if received != expected and received == unstrided:
            pytest.fail(
                f"For {layers} you return {received}, as if every stride were 1; the gradient "
                f"of one output unit reaches {expected} input pixels. A layer's kernel spans "
                "k - 1 steps of the layer below, and each step is `jump` input pixels (the "
                "product of the strides before it)."
            )
        # Counting each layer's own stride in its step is the field of a stack whose strides
        # all move one layer down (a 1-pixel layer taking the first stride).
        shifted = [(1, layers[0][1])] if layers else []
        shifted += [(k, nxt[1]) for (k, _), nxt in zip(layers, [*layers[1:], (1, 1)], strict=True)]
        if received != expected and layers and received == _empirical_receptive_field(shifted):
            pytest.fail(
                f"For {layers} you return {received}; expected {expected}. A layer's step is "
                "set by the strides of the layers BELOW it, not by its own stride."
            )
        assert received == expected, layers
        plain_int(received, what="receptive_field", advice="Return the field as an int.")
    assert sub.receptive_field([]) == 1


def _conv_block_weights(filters, channels):
    """The judge's values of a ConvBlock's variables: the kernel, then the batch norm's gamma,
    beta, moving mean and moving variance (float32)."""
    rng = _rng(17)
    kernel = rng.normal(scale=0.4, size=(3, 3, channels, filters))
    # Some scales are negative: pooling before the batch norm then picks other pixels.
    gamma = rng.uniform(0.5, 1.5, filters) * np.where(np.arange(filters) % 2, -1.0, 1.0)
    beta = rng.normal(scale=0.2, size=filters)
    mean, variance = rng.normal(scale=0.3, size=filters), rng.uniform(0.5, 2.0, filters)
    return [v.astype(np.float32) for v in (kernel, gamma, beta, mean, variance)]


@pytest.mark.points(
    2,
    hint="The docstring's order of the sub-layers, with the batch norm told whether this call "
    "trains (at inference it uses its moving averages).",
    section="keras_cnn",
)
@_quiet
def test_conv_block(sub):
    _seed(sub, 0)
    block = sub.ConvBlock(6, kernel_size=3, pool_size=2)
    x = tf.constant(_rng(13).normal(size=(2, 10, 9, 3)), tf.float32)
    block.build((2, 10, 9, 3))  # The given build(): conv, norm and pool exist, by those names.
    kernel, *norm = _conv_block_weights(6, 3)
    block.conv.kernel.assign(kernel)
    for name, value in zip(("gamma", "beta", "moving_mean", "moving_variance"), norm, strict=True):
        getattr(block.norm, name).assign(value)
    received = keras.ops.convert_to_numpy(block(x, training=False))
    reference = _expected("conv_block")
    expected = np.asarray(reference["out"], dtype=np.float32)
    if received.shape != expected.shape:
        pytest.fail(f"Expected output shape {expected.shape}; received {received.shape}.")
    if np.any(received < 0):
        pytest.fail("The block's output has negative values: apply ReLU before pooling.")
    if not np.allclose(received, expected, rtol=1e-5, atol=1e-5):
        batch_stats = np.asarray(reference["batch_statistics"], dtype=np.float32)
        if np.allclose(received, batch_stats, rtol=1e-5, atol=1e-5):
            pytest.fail(
                "With training=False the block normalised with the batch's statistics: pass "
                "training=training to self.norm, so inference uses the moving averages."
            )
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-5)
    assert block.compute_output_shape((None, 10, 9, 3)) == (None, 5, 5, 6)
    clone = sub.ConvBlock.from_config(block.get_config())
    assert (clone.filters, clone.kernel_size, clone.pool_size) == (6, 3, 2)
    # Training mode: the batch's own statistics, and the moving averages step towards them.
    trained = plain_array(block(x, training=True), what="The block's output in training mode")
    batch_stats = np.asarray(reference["batch_statistics"], dtype=np.float32)
    if not np.allclose(trained, batch_stats, rtol=1e-4, atol=1e-4):
        if np.allclose(trained, expected, rtol=1e-4, atol=1e-4):
            pytest.fail(
                "With training=True the block normalised with the moving averages: pass "
                "training=training to self.norm, so training uses the batch's statistics."
            )
        pytest.fail(
            "With training=True the block's output is wrong (check the order: convolution, "
            "batch norm, ReLU, then pooling)."
        )
    moving = [plain_array(w, what="A batch-norm weight") for w in block.norm.get_weights()[2:]]
    for name, value in zip(("moving_mean", "moving_variance"), moving, strict=True):
        if not np.allclose(value, reference[name], rtol=1e-4, atol=1e-5):
            pytest.fail(
                f"After one training call the batch norm's {name} is not what it should be: the "
                "moving averages learn only in training mode, from the convolution's output."
            )


@pytest.mark.points(
    2,
    hint="Input → ConvBlock per filter count → GlobalAveragePooling2D → Dropout → "
    "Dense(num_classes, activation='sigmoid').",
    section="keras_cnn",
)
@_quiet
def test_build_cnn(sub):
    _seed(sub, 0)
    model = sub.build_cnn(image_size=32, num_classes=7, block_filters=(4, 8), dropout_rate=0.25)
    assert tuple(model.input_shape) == (None, 32, 32, 3)
    assert tuple(model.output_shape) == (None, 7)
    layers = list(model.layers)
    dense = [layer for layer in layers if _isinstance(sub, layer, "keras.layers.Dense")]
    activation = dense[-1].get_config()["activation"] if dense else None
    if activation == "softmax":
        pytest.fail(
            "A softmax makes the categories compete, but one photo may hold several objects: "
            "use one sigmoid per category (activation='sigmoid')."
        )
    assert activation == "sigmoid", f"Expected a sigmoid output layer; received {activation}."
    blocks = [layer for layer in layers if _isinstance(sub, layer, sub.ConvBlock)]
    assert [block.filters for block in blocks] == [4, 8], (
        "Expected one ConvBlock per entry of block_filters=(4, 8), the argument, not BLOCK_FILTERS."
    )
    dropout = [layer for layer in layers if _isinstance(sub, layer, "keras.layers.Dropout")]
    assert dropout and dropout[0].rate == pytest.approx(0.25), (
        "Expected Dropout(dropout_rate) with dropout_rate=0.25 (the argument, not DROPOUT_RATE)."
    )
    if not any(_isinstance(sub, layer, "keras.layers.GlobalAveragePooling2D") for layer in layers):
        pytest.fail(
            "Expected GlobalAveragePooling2D after the last block: one number per channel, "
            "whatever the image size (Flatten would give a weight per position)."
        )
    # Reference count: conv kernels (no bias) + 4 batch-norm values per channel + the dense head.
    expected = (3 * 3 * 3 * 4 + 4 * 4) + (3 * 3 * 4 * 8 + 4 * 8) + (8 * 7 + 7)
    assert model.count_params() == expected
    probabilities = np.asarray(model(np.zeros((2, 32, 32, 3), np.float32), training=False))
    assert np.all((probabilities > 0) & (probabilities < 1))
    _check_cnn_computes(sub)


def _cnn_weights(dense):
    """The judge's weights for ``build_cnn(20, 6, (4, 6), 0.5)``, in Keras' order: per block the
    kernel, the batch norm's gamma, beta, moving mean and variance; then the Dense kernel and bias
    (``dense``: random, or the identity and 0, so that the logits are the pooled features)."""
    rng, weights, channels = _rng(30), [], 3
    for filters in (4, 6):
        weights.append(rng.normal(scale=0.5, size=(3, 3, channels, filters)))
        weights.append(rng.uniform(0.5, 1.5, filters) * np.where(np.arange(filters) % 2, -1, 1))
        weights.append(rng.normal(scale=0.3, size=filters))
        weights += [rng.normal(scale=0.3, size=filters), rng.uniform(0.5, 2.0, filters)]
        channels = filters
    head = [rng.normal(scale=0.7, size=(6, 6)), rng.normal(scale=0.3, size=6)]
    weights += head if dense == "random" else [np.eye(6), np.zeros(6)]
    return [w.astype(np.float32) for w in weights]


def _cnn_images():
    return _rng(31).uniform(size=(4, 20, 20, 3)).astype(np.float32)


def _check_cnn_computes(sub):
    """What the CNN computes, not its shapes: the judge's weights in, the reference's outputs
    out, at inference and in training (batch statistics; the dropout between the pooling and
    the Dense layer, found from the logits whatever its random mask)."""
    _seed(sub, 0)
    model = sub.build_cnn(image_size=20, num_classes=6, block_filters=(4, 6), dropout_rate=0.5)
    shapes = [tuple(np.shape(w)) for w in _cnn_weights("random")]
    received = [tuple(np.shape(w)) for w in model.get_weights()]
    if received != shapes:
        pytest.fail(
            f"build_cnn(20, 6, (4, 6)) holds weights shaped {received}; expected {shapes}: two "
            "ConvBlocks, a pooling without weights, then Dense(num_classes); nothing else."
        )
    reference, images = _expected("build_cnn"), _cnn_images()
    model.set_weights(_cnn_weights("random"))
    out = plain_array(model(images, training=False), what="build_cnn's output", shape=(4, 6))
    if not np.allclose(out, reference["probabilities"], rtol=1e-4, atol=1e-5):
        if np.allclose(out, reference["max_pooled"], rtol=1e-4, atol=1e-5):
            pytest.fail(
                "The model pools each channel by its maximum: global AVERAGE pooling keeps the "
                "mean of each channel over the positions."
            )
        pytest.fail(
            "With the judge's weights the model's probabilities are wrong: check the pooling "
            "after the last block and the output activation (one sigmoid per category)."
        )
    model.set_weights(_cnn_weights("identity"))
    out = plain_array(model(images, training=True), what="The output in training mode")
    logits = np.log(out) - np.log1p(-out)  # What the sigmoid received: the dropped-out features.
    pooled = np.asarray(reference["pooled_training"])  # Batch statistics in the batch norms.
    kept = np.isclose(logits, pooled / 0.5, rtol=1e-3, atol=1e-3)
    dropped = np.isclose(logits, 0.0, atol=1e-3)
    if np.all(kept):
        pytest.fail(
            "Called in training mode (training=True) the model dropped nothing: "
            "Dropout(dropout_rate) must act in training mode."
        )
    if not np.all(kept | dropped) or not np.any(kept):
        pytest.fail(
            "In training mode the Dense layer must see the pooled features, each either dropped "
            "(0) or kept and scaled by 1 / (1 - dropout_rate): put Dropout(dropout_rate) between "
            "the global pooling and the Dense layer (and the blocks' batch norms use the batch's "
            "statistics)."
        )


def _check_compiled(sub, model, stopping, history, steps):
    """The optimizer, its schedule, the loss and the early stopping, as train_cnn(epochs=3,
    patience=2, learning_rate=3e-3, verbose=0) must set them, read by the judge."""
    if type_name(model.optimizer) != "Adam":
        pytest.fail(f"Compile with the Adam optimizer; found {type_name(model.optimizer)}.")
    config = model.optimizer.get_config()
    defaults = keras.optimizers.Adam().get_config()
    changed = sorted(
        key
        for key in defaults
        if key not in ("name", "learning_rate") and config.get(key) != defaults[key]
    )
    if changed:
        shown = ", ".join(f"{key}={config.get(key)!r}" for key in changed)
        pytest.fail(
            f"Adam was created with {shown}: give it the schedule only and keep Keras' "
            "defaults for the rest (the docstring's optimizer)."
        )
    rate = config["learning_rate"]
    total = 3 * steps  # epochs * batches per epoch: the docstring's schedule decays over these.
    if not isinstance(rate, dict):
        pytest.fail(
            "Adam's step size is a constant: pass it cosine_schedule(learning_rate, epochs, "
            "train_ds), whose step size falls along a cosine."
        )
    schedule = keras.optimizers.schedules.deserialize(rate)
    reference = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=total)
    points = (0, total // 4, total // 2, total - 1)
    at = [float(schedule(step)) for step in points]
    expected = [float(reference(step)) for step in points]
    if not np.allclose(at, expected, rtol=1e-4, atol=1e-9):
        pytest.fail(
            f"train_cnn(..., epochs=3, learning_rate=3e-3) on {steps} batches per epoch gave "
            f"step sizes {np.round(at, 6)} at steps 0, 1/4, 1/2 and the end of training; "
            f"expected {np.round(expected, 6)}: cosine_schedule(learning_rate, epochs, train_ds) "
            "with the arguments, not the notebook's constants."
        )
    y = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], np.float32)
    p = np.array([[0.9, 0.2, 0.6, 0.3], [0.15, 0.4, 0.7, 0.55]], np.float32)
    loss = plain_float(model.compute_loss(y=y, y_pred=p), what="The compiled loss")
    expected_loss = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    if abs(loss - expected_loss) > 1e-5:
        pytest.fail(
            f"On known probabilities the compiled loss gives {loss:.5f}, the binary "
            f"cross-entropy {expected_loss:.5f}: the model outputs probabilities (sigmoid), so "
            "the loss must not apply a sigmoid again (from_logits stays False) nor change it."
        )
    settings = {
        "mode": str(stopping.mode),
        "min_delta": float(stopping.min_delta),
        "baseline": stopping.baseline,
        "start_from_epoch": int(stopping.start_from_epoch),
    }
    if settings["mode"] not in ("auto", "min") or settings["min_delta"] != 0:
        pytest.fail(
            f"EarlyStopping(mode={settings['mode']!r}, min_delta={settings['min_delta']}): a "
            "lower val_loss is better and any decrease counts; keep the docstring's arguments."
        )
    if settings["baseline"] is not None or settings["start_from_epoch"] != 0:
        pytest.fail("Create EarlyStopping with the docstring's arguments only.")
    if history.params.get("verbose") != 0:
        pytest.fail(
            f"train_cnn(..., verbose=0) fitted with verbose={history.params.get('verbose')}: "
            "pass the verbose argument to fit."
        )


def _check_validation_loss(sub, model, val_ds, history):
    """The best epoch's logged val_loss must be the loss of the returned model on val_ds: the
    validation data was val_ds and the best weights came back."""
    labels, probabilities = [], []
    for images, multi_hot in val_ds:
        labels.append(plain_array(multi_hot, what="A batch of labels"))
        probabilities.append(plain_array(model(images, training=False), what="Probabilities"))
    y, p = np.concatenate(labels), np.concatenate(probabilities)
    loss = float(np.mean(keras.losses.binary_crossentropy(y, p)))
    logged = plain_array(history.history["val_loss"], what="history.history['val_loss']")
    # Measured with the reference over seeds 0-3: gaps of at most 1.8e-7 (relative); the same
    # models' loss on train_ds (validating on the training set) is 6e-4 to 1e-3 away.
    if not np.isclose(logged.min(), loss, rtol=1e-5, atol=1e-7):
        pytest.fail(
            f"The returned model's loss on val_ds is {loss:.5f}, but the best val_loss logged "
            f"was {logged.min():.5f}: validate on val_ds (validation_data=val_ds) and let "
            "early stopping restore the best epoch's weights."
        )


def _tiny_datasets(sub):
    """Tiny train and val pipelines, generated and built where the student's code runs."""
    folder = library(sub, "tempfile").mkdtemp() + "/camp"
    make_split = library(sub, "course_lib.data").make_split
    load_coco = library(sub, "course_lib.data.coco").load_coco
    label_dataset = library(sub, "course_lib.data.pipelines").label_dataset
    # Generated at 48 pixels (the smallest size that always places every object), read at 32.
    make_split(folder, "train", 64, seed=0, image_size=48)
    make_split(folder, "val", 32, seed=0, image_size=48)
    train, val = load_coco(folder, "train"), load_coco(folder, "val")
    categories = train.categories
    train_ds = label_dataset(train.records, categories, (32, 32), 16, shuffle_seed=0)
    val_ds = label_dataset(val.records, categories, (32, 32), 16)
    return train_ds, val_ds, len(categories)


def _loss_name(sub, loss):
    """The name of a compiled loss: the string itself, a loss object's ``name``, or a function's
    ``__name__`` (read where the loss lives)."""
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None)
    if name is None:
        name = library(sub, "builtins").getattr(loss, "__name__", "")
    return name


@pytest.mark.points(
    3,
    hint="Compile with Adam(learning_rate) and BinaryCrossentropy; fit with validation_data and "
    "callbacks=[EarlyStopping(monitor='val_loss', patience=patience, restore_best_weights=True)].",
    section="keras_cnn",
)
@_quiet
def test_train_cnn_learns_with_early_stopping(sub):
    train_ds, val_ds, num_classes = _tiny_datasets(sub)
    _seed(sub, 0)
    model = sub.build_cnn(image_size=32, num_classes=num_classes, block_filters=(8, 16))
    # The probe records the arguments of every keras.Model.fit call made by train_cnn.
    probe = library(sub, "course_lib.grading.probes.lecture_02")
    # Non-default values of every argument, so that a global constant used instead shows.
    history, calls, seeds = probe.record_fit_calls(
        sub.train_cnn,
        model,
        train_ds,
        val_ds,
        epochs=3,
        patience=2,
        learning_rate=3e-3,
        verbose=0,
        seed=7,
    )
    if seeds[:1] != [7]:
        pytest.fail(
            f"Expected keras.utils.set_random_seed(seed) with seed=7 first; received calls with "
            f"{seeds}. Seed with the argument, not the global SEED."
        )
    if len(calls) != 1:
        pytest.fail(
            f"train_cnn called model.fit {len(calls)} times: compile once, then fit once with "
            "early stopping (the History returned must describe the whole training)."
        )
    fit_kwargs = calls[-1]["kwargs"]
    if fit_kwargs.get("epochs") != 3:
        pytest.fail(
            f"train_cnn(..., epochs=3) called fit with epochs={fit_kwargs.get('epochs')}: pass "
            "epochs=epochs, not the global EPOCHS."
        )
    rate = probe.initial_learning_rate(model)
    if rate is None or abs(rate - 3e-3) > 1e-9:
        pytest.fail(
            f"train_cnn(..., learning_rate=3e-3) compiled an optimizer starting at step size "
            f"{rate}: use Adam(cosine_schedule(learning_rate, epochs, train_ds))."
        )
    callbacks = fit_kwargs.get("callbacks")
    callbacks = [] if callbacks is None else list(callbacks)
    validation = fit_kwargs.get("validation_data") is not None
    losses = history.history["loss"]
    if "val_loss" not in history.history or not validation:
        pytest.fail(
            "Pass the validation set to fit (validation_data=val_ds): early stopping "
            "watches val_loss."
        )
    stopping = [c for c in callbacks if _isinstance(sub, c, "keras.callbacks.EarlyStopping")]
    if not stopping:
        pytest.fail("Pass callbacks=[keras.callbacks.EarlyStopping(...)] to model.fit.")
    if stopping[0].monitor != "val_loss" or not stopping[0].restore_best_weights:
        pytest.fail(
            "EarlyStopping must watch monitor='val_loss' and restore_best_weights=True, so the "
            "model ends with the weights of its best validation epoch."
        )
    if stopping[0].patience != 2:
        pytest.fail(
            f"train_cnn(..., patience=2) gave EarlyStopping patience={stopping[0].patience}: pass "
            "patience=patience, not the global PATIENCE."
        )
    name = _loss_name(sub, model.loss)
    if "categorical" in str(name):
        pytest.fail(
            "Categorical cross-entropy assumes exactly one category per photo; sigmoid "
            "outputs, one per category, go with the binary cross-entropy."
        )
    assert "binary_crossentropy" in str(name), f"Expected binary cross-entropy; received {name}."
    _check_compiled(sub, model, stopping[0], history, steps=int(train_ds.cardinality()))
    _check_validation_loss(sub, model, val_ds, history)
    # Measured with the reference on this data and these arguments over 20 seeds (build_cnn
    # seeded with s, train_cnn with seed=7 + s, s = 0-19; s = 0 is this test): last / first
    # epoch loss min 0.870, mean 0.887, max 0.897. An untrained model (learning rate 1e-9,
    # 5 seeds) keeps 0.990-1.004; a half-trained one (learning rate 3e-4, a tenth, 5 seeds)
    # 0.977-0.991. Bar: 0.95, a margin of 0.053 over the worst seed and of 0.027 under the
    # half-trained model.
    if not losses[-1] < 0.95 * losses[0]:
        pytest.fail(
            f"The training loss fell from {losses[0]:.4f} to {losses[-1]:.4f} only (expected "
            "below 95 % of the first epoch's): does fit train the model you compiled, with "
            "Adam at learning_rate?"
        )


@pytest.mark.points(
    2,
    hint="average_precision_score(..., average='macro') on the columns with a positive only; "
    "f1_score(y_true, y_prob >= threshold, average='micro').",
    section="keras_cnn",
)
@_quiet
def test_evaluate_multilabel_matches_sklearn(sub):
    from sklearn.metrics import average_precision_score, f1_score

    rng = _rng(14)
    y_true = (rng.uniform(size=(40, 6)) < 0.3).astype(np.float32)
    y_true[:, 4] = 0  # A category with no positive photo has no average precision.
    y_true[0, :4] = 1
    # Overlapping scores, so that the categories rank imperfectly and differently (macro and
    # micro AP differ); some sit exactly on each threshold, which counts as present.
    y_prob = np.clip(0.3 * y_true + rng.uniform(0, 0.7, size=y_true.shape), 0, 1)
    y_prob[1:7, :] = 0.5
    y_prob[7:12, :] = 0.3
    present = [0, 1, 2, 3, 5]
    for threshold in (0.5, 0.3):
        scores = sub.evaluate_multilabel(y_true.copy(), y_prob.copy(), threshold)
        expected_map = average_precision_score(y_true[:, present], y_prob[:, present])
        if not np.isfinite(scores["mAP"]) or abs(
            scores["mAP"] - average_precision_score(y_true, y_prob)
        ) < 1e-9 < abs(scores["mAP"] - expected_map):
            pytest.fail(
                "Category 4 has no positive photo: its average precision is undefined. Average "
                "over the categories with at least one positive only."
            )
        micro_map = average_precision_score(y_true[:, present], y_prob[:, present], average="micro")
        if abs(scores["mAP"] - expected_map) > 1e-9 and abs(scores["mAP"] - micro_map) < 1e-9:
            pytest.fail(
                "You pool every cell into one ranking (micro AP); mAP averages the average "
                "precision of each category (average='macro')."
            )
        assert scores["mAP"] == pytest.approx(expected_map, abs=1e-9)
        expected_f1 = f1_score(y_true, (y_prob >= threshold).astype(int), average="micro")
        macro_f1 = f1_score(
            y_true, (y_prob >= threshold).astype(int), average="macro", zero_division=0
        )
        if (
            abs(scores["micro_f1"] - expected_f1) > 1e-9
            and abs(scores["micro_f1"] - macro_f1) < 1e-9
        ):
            pytest.fail("You compute the macro F1; micro-F1 counts TP, FP, FN over all cells.")
        strict_f1 = f1_score(y_true, (y_prob > threshold).astype(int), average="micro")
        if (
            abs(scores["micro_f1"] - expected_f1) > 1e-9
            and abs(scores["micro_f1"] - strict_f1) < 1e-9
        ):
            pytest.fail(
                f"A probability equal to the threshold ({threshold}) means present: compare with "
                "y_prob >= threshold, not >."
            )
        assert scores["micro_f1"] == pytest.approx(expected_f1, abs=1e-9), (
            f"threshold {threshold}: micro-F1 of y_prob >= threshold (the argument, not THRESHOLD)"
        )
        assert scores["num_classes_scored"] == 5
        for key, kind in (("mAP", float), ("micro_f1", float), ("num_classes_scored", int)):
            if not isinstance(scores[key], kind):
                pytest.fail(f"Return {key} as a {kind.__name__}; received {type(scores[key])}.")
    _check_multilabel_edges(sub)


def _check_multilabel_edges(sub):
    """A category in every photo (its AP is 1 and it counts), probabilities one float64 step on
    either side of the threshold and their float32 roundings, integer labels; inputs unchanged."""
    from sklearn.metrics import average_precision_score, f1_score

    rng = _rng(24)
    y_true = (rng.uniform(size=(12, 5)) < 0.4).astype(np.int64)
    y_true[:, 0], y_true[:, 3] = 1, 0  # Category 0 in every photo, category 3 in none.
    y_true[0, 1:3] = 1
    y_true[:, 4], y_true[7, 4] = 0, 1  # Category 4 in exactly one photo: it is scored.
    y_prob = np.clip(0.25 * y_true + rng.uniform(0, 0.75, size=y_true.shape), 0, 1)
    below, above = np.nextafter(0.5, 0.0), np.nextafter(0.5, 1.0)
    y_prob[1:4, :] = below  # 0.49999999999999994: absent, but 0.5 in float32.
    y_prob[4:6, :] = above
    present = [0, 1, 2, 4]
    assert y_true[:, present].sum(axis=0).min() == 1 and y_true[:, 3].sum() == 0
    for probabilities in (y_prob, y_prob.astype(np.float32)):
        scores, args, _ = arguments_after(
            sub.evaluate_multilabel, y_true.copy(), probabilities.copy(), 0.5
        )
        for name, before, after in zip(
            ("y_true", "y_prob"), (y_true, probabilities), args[:2], strict=True
        ):
            if not np.array_equal(np.asarray(after), before):
                pytest.fail(f"evaluate_multilabel modified {name} in place: threshold a copy.")
        what = f"with {probabilities.dtype} probabilities"
        expected_map = average_precision_score(y_true[:, present], probabilities[:, present])
        received = plain_float(scores["mAP"], what=f"mAP {what}")
        if abs(received - expected_map) > 1e-9:
            pytest.fail(
                f"mAP {what}: {received:.6f}, expected {expected_map:.6f}. Every category with a "
                "positive photo is scored: one in a single photo, and one in every photo (AP 1)."
            )
        counted = plain_int(scores["num_classes_scored"], what="num_classes_scored")
        assert counted == 4, f"4 categories have a positive photo; received {counted}."
        predicted = (probabilities >= 0.5).astype(int)
        expected_f1 = f1_score(y_true, predicted, average="micro")
        received = plain_float(scores["micro_f1"], what=f"micro_f1 {what}")
        if abs(received - expected_f1) > 1e-9:
            pytest.fail(
                f"micro_f1 {what}: {received:.6f}, expected {expected_f1:.6f}. Compare the "
                "probabilities themselves with the threshold: no rounding, no cast, no margin "
                "(0.49999999999999994 is below 0.5; its float32 rounding is 0.5)."
            )


def _judge_weights(filters):
    """``{name: (kernel, bias)}`` of the convolutions of ``_small_conv_model``, float32."""
    rng = _rng(20 + filters)
    weights = {}
    for name, shape in (("conv1", (3, 3, 3, filters)), ("conv2", (3, 3, filters, 4))):
        kernel = (rng.normal(size=shape) * 0.3).astype(np.float32)
        bias = (rng.normal(size=shape[-1]) * 0.1).astype(np.float32)
        weights[name] = (kernel, bias)
    return weights


def _small_conv_model(sub, filters=10):
    """A small model built where the student's code runs, holding the judge's weights.

    Returns ``(model, weights)``: ``weights[name]`` is the ``(kernel, bias)`` of convolution
    ``name``, float32 arrays chosen here (``_judge_weights``).
    """
    rk = library(sub, "keras")
    rk.utils.set_random_seed(0)
    model = rk.Sequential(
        [
            rk.Input((16, 16, 3)),
            rk.layers.Conv2D(filters, 3, activation="relu", name="conv1"),
            rk.layers.MaxPooling2D(name="pool1"),
            rk.layers.Conv2D(4, 3, name="conv2"),
        ]
    )
    weights = _judge_weights(filters)
    for name, values in weights.items():
        model.get_layer(name).set_weights(list(values))
    return model, weights


@pytest.mark.points(
    1,
    hint="Walk model.layers: the first Conv2D's kernel, or the .conv of the first ConvBlock.",
    section="keras_cnn",
)
@_quiet
def test_first_layer_filters(sub):
    model, weights = _small_conv_model(sub)
    received = plain_array(sub.first_layer_filters(model), what="first_layer_filters")
    np.testing.assert_array_equal(received, weights["conv1"][0])
    _seed(sub, 1)
    cnn = sub.build_cnn(image_size=32, num_classes=5, block_filters=(6, 8))
    first = [w for w in cnn.weights if len(w.shape) == 4][0]
    assert tuple(first.shape) == (3, 3, 3, 6)
    # The judge's own values, written into the student's model: the current weights must come back.
    first_kernel = _rng(16).normal(size=(3, 3, 3, 6)).astype(np.float32)
    first.assign(first_kernel)
    received = sub.first_layer_filters(cnn)
    received = plain_array(received, what="first_layer_filters", advice="Return a numpy array.")
    np.testing.assert_array_equal(received, first_kernel)
    # Layers without a kernel, or with other weights, may come before the first convolution.
    model, kernel = _preceded_conv_model(sub)
    received = plain_array(sub.first_layer_filters(model), what="first_layer_filters")
    if received.shape != kernel.shape:
        pytest.fail(
            f"For a model that starts with Rescaling and BatchNormalization you returned an array "
            f"of shape {received.shape}, not the first convolution's kernel {kernel.shape}: look "
            "for the first Conv2D (or ConvBlock) among the layers, not the first layer or weight."
        )
    np.testing.assert_array_equal(received, kernel)


def _preceded_conv_model(sub):
    """Rescaling and BatchNormalization, then Conv2D(5, (3, 2)): ``(model, its kernel)``."""
    rk = library(sub, "keras")
    rk.utils.set_random_seed(0)
    model = rk.Sequential(
        [
            rk.Input((8, 8, 3)),
            rk.layers.Rescaling(0.5, name="scale"),
            rk.layers.BatchNormalization(name="norm0"),
            rk.layers.Conv2D(5, (3, 2), name="conv_a"),
            rk.layers.Conv2D(2, 1, name="conv_b"),
        ]
    )
    kernel = _rng(32).normal(size=(3, 2, 3, 5)).astype(np.float32)
    model.get_layer("conv_a").set_weights([kernel, np.zeros(5, np.float32)])
    return model, kernel


@pytest.mark.points(
    2,
    hint="Scale each filter by its own min and max; one cell per filter, row-major; use "
    "grid_figure(rows, columns, cell_pixels) and imshow(..., interpolation='nearest', "
    "aspect='auto').",
    section="keras_cnn",
)
@_quiet
def test_plot_filters_png(sub):
    model, _ = _small_conv_model(sub, filters=10)
    path = _runner_path(sub, "filters.png")
    pictures = np.asarray(sub.plot_filters(model, path, columns=4, cell_pixels=24))
    reference = _expected("plot_filters")  # (10, 3, 3, 3) pictures of the judge's kernel.
    expected, globally = np.asarray(reference["pictures"]), np.asarray(reference["global_scaling"])
    if pictures.shape == expected.shape and np.allclose(pictures, globally, atol=1e-6):
        pytest.fail(
            "You scale all filters by the global minimum and maximum; scale each filter by its "
            "own (min and max over its height, width and colour)."
        )
    np.testing.assert_allclose(pictures, expected, rtol=1e-5, atol=1e-6)
    _check_filter_png(path, expected, columns=4, cell=24)
    with _read_png(path) as image:
        pixels = np.asarray(image.convert("RGB")).astype(float) / 255
    assert np.all(pixels[2 * 24 + 12, 2 * 24 + 12] == 1.0), "Unused cells should stay white."
    # Eight filters of 2 x 3 weights (rectangular squares of 12 x 8 pixels) in exactly two rows
    # of four, one of them constant (drawn as 0.5 everywhere).
    model, _ = _flat_filters_model(sub)
    path = _runner_path(sub, "flat.png")
    pyplot = library(sub, "matplotlib.pyplot")
    figures = len(pyplot.get_fignums())
    with float_errors_raised(sub):  # A constant filter must not divide 0 by 0, even unused.
        try:
            pictures = sub.plot_filters(model, path, columns=4, cell_pixels=24)
        except FloatingPointError as error:
            pytest.fail(
                f"plot_filters divided by a constant filter's zero span ({error}): numpy warns "
                "even where np.where then picks the other value; divide by a safe span."
            )
    if len(pyplot.get_fignums()) != figures:
        pytest.fail(
            "plot_filters left its figure open: close it after saving (every call would "
            "otherwise keep one more figure in memory)."
        )
    expected = np.asarray(_expected("plot_filters")["flat_pictures"])
    pictures = plain_array(
        pictures, what="The pictures of 8 filters of 2 x 3", shape=expected.shape, dtype=np.float64
    )
    if not np.allclose(pictures[5], 0.5):
        pytest.fail(
            "Filter 5 is constant: its picture must be 0.5 everywhere (its minimum equals its "
            "maximum, so there is nothing to scale)."
        )
    np.testing.assert_allclose(pictures, expected, rtol=1e-5, atol=1e-6)
    _check_filter_png(path, expected, columns=4, cell=24)
    # Small cells (2 x 3 pixels per weight), where smoothing would blend neighbouring weights.
    path = _runner_path(sub, "small.png")
    sub.plot_filters(model, path, columns=3, cell_pixels=6)
    _check_filter_png(path, expected, columns=3, cell=6)


def _check_filter_png(path, pictures, columns, cell):
    """The PNG holds ``pictures`` row-major, each stretched over its cell with nearest
    interpolation: every pixel of a weight's rectangle, its edges included, has its colour
    (within the PNG's 8-bit rounding; measured with the reference: at most 1 / 255)."""
    rows = -(-len(pictures) // columns)
    with _read_png(path) as image:
        assert image.format == "PNG"
        if image.size != (columns * cell, rows * cell):
            pytest.fail(
                f"{len(pictures)} filters in {columns} columns of {cell}-pixel cells make "
                f"{rows} rows, a PNG of {columns * cell} x {rows * cell} pixels; received "
                f"{image.size[0]} x {image.size[1]}."
            )
        pixels = np.asarray(image.convert("RGB")).astype(float) / 255
    height, width = cell // pictures.shape[1], cell // pictures.shape[2]
    for index, picture in enumerate(pictures):
        top, left = np.multiply(divmod(index, columns), cell)
        for a in range(picture.shape[0]):
            for b in range(picture.shape[1]):
                y, x = top + a * height, left + b * width
                square = pixels[y : y + height, x : x + width]
                if not np.allclose(square, picture[a, b], atol=3 / 255):
                    pytest.fail(
                        f"Cell {index} does not show weight ({a}, {b}) of its filter as one "
                        f"flat {height} x {width} rectangle of its colour: one cell per filter, "
                        "row-major, stretched over the whole cell without smoothing."
                    )


def _flat_filters_model(sub):
    """Conv2D(8, (2, 3)) holding the judge's kernel, in which filter 5 is constant."""
    rk = library(sub, "keras")
    rk.utils.set_random_seed(0)
    model = rk.Sequential([rk.Input((6, 6, 3)), rk.layers.Conv2D(8, (2, 3), name="conv")])
    kernel = _flat_kernel()
    model.get_layer("conv").set_weights([kernel, np.zeros(8, np.float32)])
    return model, kernel


def _flat_kernel():
    kernel = _rng(33).normal(size=(2, 3, 3, 8)).astype(np.float32)
    kernel[..., 5] = 0.25
    return kernel


@pytest.mark.points(
    2,
    hint="A model from the network's inputs to the named layer's output gives the maps; it "
    "takes a batch, and the function returns one image's maps.",
    section="keras_cnn",
)
@_quiet
def test_feature_maps(sub):
    _check_inference_maps(sub)
    model, weights = _small_conv_model(sub, filters=6)
    image = _rng(15).uniform(size=(16, 16, 3)).astype(np.float32)
    # conv1 (valid, relu) then pool1 (2 x 2, stride 2), with the judge's weights.
    kernel, bias = weights["conv1"]
    conv = tf.nn.relu(tf.nn.conv2d(image[None], kernel, 1, "VALID") + bias)
    expected = tf.nn.max_pool2d(conv, 2, 2, "VALID").numpy()[0]  # (7, 7, 6)
    received = np.asarray(sub.feature_maps(model, image, "pool1"))
    if received.shape == (1, *expected.shape):
        pytest.fail("Return the maps of the one image, (height, width, channels): drop the batch.")
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)
    path = _runner_path(sub, "maps.png")
    sub.plot_feature_maps(model, image, "pool1", path, columns=4, cell_pixels=20)
    with _read_png(path) as picture:
        assert picture.format == "PNG"
        assert picture.size == (4 * 20, 2 * 20)


def _feature_weights():
    """The judge's conv1 (kernel, bias) and norm1 (gamma, beta, moving mean and variance)."""
    rng = _rng(34)
    weights = [rng.normal(scale=0.4, size=(3, 3, 3, 5)), rng.normal(scale=0.1, size=5)]
    weights += [rng.uniform(0.5, 1.5, 5), rng.normal(scale=0.2, size=5)]
    weights += [rng.normal(scale=0.3, size=5), rng.uniform(0.5, 2.0, 5)]
    return [w.astype(np.float32) for w in weights]


def _feature_image():
    return _rng(35).uniform(size=(10, 14, 3)).astype(np.float32)  # Not square.


def _check_inference_maps(sub):
    """A network with batch norm and dropout on a non-square image: the maps are computed in
    inference mode (moving averages, nothing dropped)."""
    rk = library(sub, "keras")
    rk.utils.set_random_seed(0)
    model = rk.Sequential(
        [
            rk.Input((10, 14, 3)),
            rk.layers.Conv2D(5, 3, name="conv1"),
            rk.layers.BatchNormalization(name="norm1"),
            rk.layers.Dropout(0.5, name="drop1"),
            rk.layers.MaxPooling2D(name="pool1"),
        ]
    )
    weights = _feature_weights()
    model.get_layer("conv1").set_weights(weights[:2])
    model.get_layer("norm1").set_weights(weights[2:])
    expected = np.asarray(_expected("feature_maps"))  # (4, 6, 5)
    received = sub.feature_maps(model, _feature_image(), "pool1")
    if not isinstance(received, np.ndarray):
        pytest.fail(
            f"feature_maps returned a {type_name(received)}: convert the layer's output to a "
            "numpy array."
        )
    received = plain_array(received, what="feature_maps of a 10 x 14 image", shape=expected.shape)
    if not np.allclose(received, expected, rtol=1e-5, atol=1e-5):
        pytest.fail(
            "The maps of a network with batch norm and dropout are wrong: compute them in "
            "inference mode (training=False), where batch norm uses its moving averages and "
            "dropout keeps every value."
        )
