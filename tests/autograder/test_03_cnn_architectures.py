"""Autograder for Lecture 03, CNN architectures.

References: Keras' own layers (Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, pooling),
forward passes written here with ``tf.nn``, parameter formulas written here, and multiply-adds
read from the operations of the TensorFlow graph of a model. Each test calls the student's
module ``sub``. Weights of the student's layers are set by the tests (random, seeded), so every
comparison is exact up to float32 rounding.

The student's objects live where the student's code runs (``sub``'s runner): a model the
student's function must receive is built there (``library(sub, "keras")``), with a twin built
here from the same layers (and weights) as the reference. The graph of a student's model is read
there by ``course_lib.grading.probes.lecture_03`` and its multiply-adds are counted here.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.grading.access import library, type_name
from course_lib.grading.probes.lecture_03 import graph_operations

EPS = 1e-3  # Batch-norm epsilon of the lecture's blocks (TensorFlow's default).
# EfficientNet-Lite0 stages: (expand ratio, kernel, stride, channels, repeats).
LITE0_STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]


def _seed(sub, seed=0):
    """Seed the student's side before the student builds a model: same input, same grade."""
    library(sub, "keras").utils.set_random_seed(seed)


def _is_instance(sub, obj, kind):
    """``isinstance(obj, kind)`` asked where the student's objects live.

    Through ``builtins.isinstance`` there rather than ``access.is_instance``, whose request field
    ``kind`` overwrites the kind of the message and ends the runner.
    """
    return library(sub, "builtins").isinstance(obj, kind) is True


def _rng(offset=0):
    return np.random.default_rng(303 + offset)


def _images(shape, offset=0):
    return _rng(offset).normal(size=shape).astype(np.float32)


def _randomize(layer, offset=0, scale=0.3):
    """Give every variable of ``layer`` (nested ones too) seeded random values."""
    rng = _rng(100 + offset)
    for variable in layer.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            value = rng.uniform(0.5, 2.0, size=shape)
        elif "gamma" in variable.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.normal(scale=scale, size=shape)
        variable.assign(value.astype(np.float32))


def _np(tensor):
    return np.asarray(tensor, dtype=np.float32)


def _sublayer(block, name, what):
    layer = getattr(block, name, "missing")
    if isinstance(layer, str):
        pytest.fail(
            f"{type_name(block)} has no attribute {name!r} after it was called: build() must "
            f"create {what} as self.{name} (the autograder and course_lib find it by that name)."
        )
    return layer


def _bn(x, bn, eps=EPS, batch=False):
    """Batch norm with a Keras BatchNormalization layer's variables.

    Inference mode (moving statistics) by default; ``batch=True`` normalises with the statistics
    of ``x`` over batch and positions, as in training mode.
    """
    if batch:
        mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    else:
        mean, variance = _np(bn.moving_mean), _np(bn.moving_variance)
    return (x - mean) / np.sqrt(variance + eps) * _np(bn.gamma) + _np(bn.beta)


def _conv(x, kernel, strides=1):
    return _np(tf.nn.conv2d(x, _np(kernel), strides, "SAME"))


def _depthwise(x, kernel, strides=1):
    return _np(tf.nn.depthwise_conv2d(x, _np(kernel), [1, strides, strides, 1], "SAME"))


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def _relu(x):
    return np.maximum(x, 0.0)


def _bn_params(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def _mbconv_params(in_channels, filters, expand_ratio, kernel_size):
    hidden = in_channels * expand_ratio
    expand = 0 if expand_ratio == 1 else in_channels * hidden + _bn_params(hidden)
    return (
        expand
        + kernel_size**2 * hidden
        + _bn_params(hidden)
        + hidden * filters
        + _bn_params(filters)
    )


def _multiply_adds(operations):
    """Multiply-adds of Conv2D, DepthwiseConv2dNative and MatMul ops of a graph.

    ``operations``: the records of ``graph_operations`` (type, input and output shapes).
    """
    total = 0
    for op in operations:
        if op["type"] == "Conv2D":
            out, kernel = op["outputs"][0], op["inputs"][1]
            total += out[1] * out[2] * out[3] * kernel[0] * kernel[1] * kernel[2]
        elif op["type"] == "DepthwiseConv2dNative":
            out, kernel = op["outputs"][0], op["inputs"][1]
            total += out[1] * out[2] * out[3] * kernel[0] * kernel[1]
        elif op["type"] == "MatMul":
            a, out = op["inputs"][0], op["outputs"][0]
            inner = a[0] if op["transpose_a"] else a[1]
            total += out[0] * out[1] * inner
    return int(total)


def _graph_multiply_adds(model, input_shape):
    """Multiply-adds in the graph of a model built by the test, traced here."""
    return _multiply_adds(graph_operations(model, input_shape))


def _student_graph_multiply_adds(sub, model, input_shape):
    """Multiply-adds in the graph of a student's model, traced where it lives, counted here."""
    probe = library(sub, "course_lib.grading.probes.lecture_03")
    return _multiply_adds(probe.graph_operations(model, tuple(input_shape)))


def _round_trip(sub, layer, inputs):
    """from_config(get_config()) gives the same config and, with copied weights, the output."""
    config = layer.get_config()
    clone = library(sub, "builtins").type(layer).from_config(config)
    if clone.get_config() != config:
        pytest.fail(
            f"{type_name(layer)}.from_config(layer.get_config()) gives another config: "
            f"{clone.get_config()} instead of {config}. get_config must return every argument "
            "of __init__ (and super().get_config())."
        )
    clone(inputs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        _np(clone(inputs, training=False)), _np(layer(inputs, training=False)), atol=1e-5
    )


# VGG ------------------------------------------------------------------------------------------


def _vgg_params(kernel_size, in_channels, filters, num_convs):
    """Weights of a VGG block: k·k·C·F + F per convolution."""
    widths = [in_channels] + [filters] * num_convs
    return sum(kernel_size**2 * c * filters + filters for c in widths[:-1])


@pytest.mark.points(
    2,
    hint="num_convs × Conv2D(filters, kernel_size, padding='same', activation='relu') "
    "stored in self.convs, then MaxPooling2D(2) as self.pool.",
    section="vgg",
)
def test_vgg_block_matches_keras_layers(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    # The second case has a non-default kernel size and an odd side (pooling rounds down).
    for filters, num_convs, kernel_size, shape in [
        (8, 3, 3, (2, 12, 12, 3)),
        (6, 1, 5, (2, 9, 9, 4)),
    ]:
        x = _images(shape)
        settings = f"VGGBlock({filters}, num_convs={num_convs}, kernel_size={kernel_size})"
        block = sub.VGGBlock(filters, num_convs=num_convs, kernel_size=kernel_size)
        try:
            out = _np(block(x))
        except (ValueError, tf.errors.OpError) as error:
            pytest.fail(
                f"{settings} on {shape} failed ({type(error).__name__}): the convolutions keep "
                "the size ('same' padding) and the block pools once, after the last one."
            )
        expected_shape = (shape[0], shape[1] // 2, shape[2] // 2, filters)
        if out.shape != expected_shape:
            pytest.fail(
                f"{settings} on {shape}: expected (batch, h // 2, w // 2, filters) = "
                f"{expected_shape}; received {out.shape}."
            )
        expected = _vgg_params(kernel_size, shape[-1], filters, num_convs)
        if block.count_params() != expected:
            if block.count_params() == _vgg_params(3, shape[-1], filters, num_convs):
                pytest.fail(f"{settings} has 3×3 convolutions: use kernel_size.")
            pytest.fail(
                f"{settings} on {shape[-1]} channels: expected {expected} weights "
                f"(k·k·C·F + F per convolution); received {block.count_params()}."
            )
        _randomize(block)
        convs = _sublayer(block, "convs", "the list of Conv2D layers")
        reference = [
            keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")
            for _ in range(num_convs)
        ]
        h = x
        for ours, theirs in zip(reference, convs, strict=True):
            ours.build(h.shape)
            ours.set_weights(theirs.get_weights())
            h = _np(ours(h))
        out = _np(block(x))
        expected = _np(tf.nn.max_pool2d(h, 2, 2, "VALID"))
        if not np.allclose(out, expected, atol=1e-5):
            if np.allclose(out, _np(tf.nn.avg_pool2d(h, 2, 2, "VALID")), atol=1e-5):
                pytest.fail("VGG pools with the maximum (MaxPooling2D), not the average.")
            np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.points(
    1,
    hint="get_config returns super().get_config() updated with filters, num_convs and kernel_size.",
    section="vgg",
)
def test_vgg_block_config_round_trip(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((1, 8, 8, 2), 1)
    block = sub.VGGBlock(4, num_convs=2, kernel_size=5, name="vgg_test")
    block(x)
    _randomize(block, 1)
    config = block.get_config()
    for key, value in {"filters": 4, "num_convs": 2, "kernel_size": 5}.items():
        assert config.get(key) == value, f"get_config()[{key!r}] should be {value}."
    _round_trip(sub, block, x)


# ResNet ---------------------------------------------------------------------------------------


def _residual_reference(block, x, batch=False):
    """Return the correct output and a few wrong variants, for targeted hints.

    ``batch=True``: batch norm in training mode (the statistics of the batch).
    """
    h = np.maximum(_bn(_conv(x, block.conv1.kernel, block.strides), block.bn1, batch=batch), 0)
    f = _bn(_conv(h, block.conv2.kernel), block.bn2, batch=batch)
    if block.shortcut_conv is not None:
        projected = _conv(x, block.shortcut_conv.kernel, block.strides)
        shortcut = _bn(projected, block.shortcut_bn, batch=batch)
    else:
        shortcut = x
    bn_after_relu = _bn(np.maximum(_conv(x, block.conv1.kernel, block.strides), 0), block.bn1)
    variants = {
        "no_residual": np.maximum(f, 0),
        "relu_before_add": np.maximum(f, 0) + shortcut,
        "bn_after_relu": np.maximum(
            _bn(_conv(bn_after_relu, block.conv2.kernel), block.bn2) + shortcut, 0
        ),
    }
    return np.maximum(f + shortcut, 0), variants


def _check_residual(block, x):
    out = _np(block(x, training=False))
    expected, variants = _residual_reference(block, x)
    if out.shape != expected.shape:
        pytest.fail(f"Expected output shape {expected.shape}; received {out.shape}.")
    if not np.allclose(out, expected, atol=1e-4):
        if np.allclose(out, variants["no_residual"], atol=1e-4):
            pytest.fail("The output is ReLU(F(x)): you forgot to add the shortcut.")
        if np.allclose(out, variants["relu_before_add"], atol=1e-4):
            pytest.fail("Apply the final ReLU after adding the shortcut, not before.")
        if np.allclose(out, variants["bn_after_relu"], atol=1e-4):
            pytest.fail("Apply BN before the activation: conv → BN → ReLU.")
        np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.points(
    3,
    hint="conv3x3(no bias) → BN → ReLU → conv3x3(no bias) → BN, add the input, then ReLU. "
    "Identity shortcut when stride 1 and in_channels == filters.",
    section="resnet",
)
def test_residual_block_identity_shortcut(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((2, 6, 6, 8), 2)
    block = sub.ResidualBlock(8)
    block(x)
    for name, what in [("conv1", "Conv2D"), ("bn1", "BN"), ("conv2", "Conv2D"), ("bn2", "BN")]:
        _sublayer(block, name, f"the {what}")
    if _sublayer(block, "shortcut_conv", "the projection (or None)") is not None:
        pytest.fail(
            "With stride 1 and as many input as output channels the shortcut is the identity: "
            "set self.shortcut_conv = self.shortcut_bn = None."
        )
    if block.conv1.use_bias or block.conv2.use_bias:
        pytest.fail("The convolutions before a BN have no bias (use_bias=False): BN's β is one.")
    assert block.count_params() == 2 * (9 * 8 * 8) + 2 * _bn_params(8)
    _randomize(block, 2)
    _check_residual(block, x)


@pytest.mark.points(
    3,
    hint="When stride != 1 or in_channels != filters the shortcut is Conv2D 1×1 with "
    "strides (no bias) → BN, stored as shortcut_conv and shortcut_bn.",
    section="resnet",
)
def test_residual_block_projection_shortcut(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    for strides, in_channels in [(2, 8), (1, 4)]:
        x = _images((2, 6, 6, in_channels), 3)
        block = sub.ResidualBlock(16, strides=strides)
        try:
            out = _np(block(x))
        except (ValueError, tf.errors.InvalidArgumentError) as error:
            pytest.fail(
                f"ResidualBlock(16, strides={strides}) on {x.shape} failed ({type(error).__name__})"
                ": the input cannot be added as it is, its shape differs from the output's. Use a "
                "projection shortcut (Conv2D 1×1 with the block's strides → BN)."
            )
        size = 6 // strides
        if out.shape != (2, size, size, 16):
            pytest.fail(
                f"ResidualBlock(16, strides={strides}) on {x.shape}: expected (2, {size}, {size}, "
                f"16); received {out.shape}."
            )
        shortcut = _sublayer(block, "shortcut_conv", "the projection Conv2D")
        if shortcut is None:
            pytest.fail(
                f"Input {x.shape} and output {out.shape} differ, so the shortcut needs a "
                "projection (Conv2D 1×1 with the block's strides → BN); shortcut_conv is None."
            )
        assert tuple(shortcut.kernel.shape) == (1, 1, in_channels, 16), "A 1×1 projection."
        assert block.count_params() == (
            9 * in_channels * 16 + 9 * 16 * 16 + in_channels * 16 + 3 * _bn_params(16)
        )
        _randomize(block, 3 + strides)
        _check_residual(block, x)


# Inception ------------------------------------------------------------------------------------


@pytest.mark.points(
    2,
    hint="Four branches on the same input: 1×1; 1×1 → 3×3; 1×1 → 5×5; maxpool 3×3 "
    "(stride 1, same) → 1×1; all convs with ReLU; concatenate in that order on the last axis.",
    section="inception",
)
def test_inception_module_matches_keras_layers(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((2, 7, 7, 6), 4)
    block = sub.InceptionModule(4, 3, 5, 2, 3, 2)
    try:
        out = _np(block(x))
    except (ValueError, tf.errors.OpError) as error:
        pytest.fail(
            f"InceptionModule(4, 3, 5, 2, 3, 2) on {x.shape} failed ({type(error).__name__}): "
            "every branch must keep the height and width ('same' padding; the pooling has "
            "strides=1) so that the branches can be concatenated."
        )
    if out.shape != (2, 7, 7, 14):
        pytest.fail(f"Expected (2, 7, 7, 4 + 5 + 3 + 2) = (2, 7, 7, 14); received {out.shape}.")
    expected_params = (6 * 4 + 4) + (6 * 3 + 3 + 9 * 3 * 5 + 5) + (6 * 2 + 2 + 25 * 2 * 3 + 3)
    expected_params += 6 * 2 + 2
    if block.count_params() != expected_params:
        pytest.fail(
            f"InceptionModule(4, 3, 5, 2, 3, 2) on 6 channels has {expected_params} weights; "
            f"yours has {block.count_params()}. Each argument sets the width of its own "
            "convolution (filters_3x3_reduce feeds the 3×3, filters_5x5_reduce the 5×5)."
        )
    _randomize(block, 4)

    def conv(layer, inputs):
        return np.maximum(_conv(inputs, layer.kernel) + _np(layer.bias), 0)

    names = ["branch1x1", "branch3x3_reduce", "branch3x3", "branch5x5_reduce", "branch5x5"]
    b1, b3r, b3, b5r, b5 = (_sublayer(block, n, "a Conv2D") for n in names)
    pooled = _np(keras.layers.MaxPooling2D(3, strides=1, padding="same")(x))
    branches = [
        conv(b1, x),
        conv(b3, conv(b3r, x)),
        conv(b5, conv(b5r, x)),
        conv(_sublayer(block, "pool_proj", "a Conv2D"), pooled),
    ]
    out = _np(block(x))
    if not np.allclose(out, np.concatenate(branches, -1), atol=1e-4):
        if any(
            np.allclose(out, np.concatenate(order, -1), atol=1e-4)
            for order in (branches[::-1], [branches[1], branches[0], *branches[2:]])
        ):
            pytest.fail("Concatenate the branches in the order 1×1, 3×3, 5×5, pool.")
        unpooled = conv(block.pool_proj, x)
        if np.allclose(out, np.concatenate([*branches[:3], unpooled], -1), atol=1e-4):
            pytest.fail("The pool branch projects the max-pooled input (pool, then pool_proj).")
        np.testing.assert_allclose(out, np.concatenate(branches, -1), atol=1e-4)
    _round_trip(sub, block, x)


# Depthwise-separable and MBConv ---------------------------------------------------------------


@pytest.mark.points(
    2,
    hint="DepthwiseConv2D(kernel_size, strides, padding='same', use_bias=False) as "
    "self.depthwise, then Conv2D(filters, 1) with bias as self.pointwise.",
    section="mobilenet",
)
def test_depthwise_separable_matches_separable_conv2d(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    # Even sides with stride 2: "same" padding then centres the windows elsewhere than a
    # stride-1 convolution followed by subsampling would.
    for kernel_size, strides, side in [(3, 1, 9), (3, 2, 8), (5, 2, 10)]:
        x = _images((2, side, side, 5), 5)
        settings = f"DepthwiseSeparableConv(7, kernel_size={kernel_size}, strides={strides})"
        block = sub.DepthwiseSeparableConv(7, kernel_size=kernel_size, strides=strides)
        out = _np(block(x))
        keras_layer = keras.layers.SeparableConv2D(7, kernel_size, strides=strides, padding="same")
        expected_shape = tuple(keras_layer(x).shape)
        if out.shape != expected_shape:
            pytest.fail(f"{settings}: expected {expected_shape}; received {out.shape}.")
        if block.count_params() != keras_layer.count_params():
            pytest.fail(
                f"{settings}: {block.count_params()} weights; keras.layers.SeparableConv2D has "
                f"{keras_layer.count_params()} (depthwise k·k·C without bias, pointwise C·F + F)."
            )
        _randomize(keras_layer, 5)
        depthwise_kernel, pointwise_kernel, bias = keras_layer.get_weights()
        _sublayer(block, "depthwise", "the DepthwiseConv2D").kernel.assign(depthwise_kernel)
        pointwise = _sublayer(block, "pointwise", "the 1×1 Conv2D")
        pointwise.kernel.assign(pointwise_kernel)
        pointwise.bias.assign(bias)
        out, expected = _np(block(x)), _np(keras_layer(x))
        if not np.allclose(out, expected, atol=1e-5):
            unstrided = _conv(_depthwise(x, depthwise_kernel), pointwise_kernel) + bias
            if strides > 1 and np.allclose(out, unstrided[:, ::strides, ::strides], atol=1e-5):
                pytest.fail(f"{settings}: the depthwise convolution strides, not the pointwise.")
            np.testing.assert_allclose(out, expected, atol=1e-5)
        _round_trip(sub, block, x)


def _mbconv_reference(
    block,
    x,
    activation=_relu6,
    residual=None,
    project_activation=False,
    bn_first=True,
    eps=EPS,
    batch=False,
    depthwise_activation=None,
):
    """The block's output computed with tf.nn; the keyword arguments give common mistakes.

    ``activation``: after the expansion (and the depthwise convolution, unless
    ``depthwise_activation`` is given); ``eps``: the batch norms' epsilon; ``batch=True``: batch
    norm in training mode.
    """

    def norm(h, bn):
        return _bn(h, bn, eps=eps, batch=batch)

    def conv_bn_act(pre, bn, act):
        return act(norm(pre, bn)) if bn_first else norm(act(pre), bn)

    h = x
    if block.expand_conv is not None:
        h = conv_bn_act(_conv(h, block.expand_conv.kernel), block.expand_bn, activation)
    depthwise = _depthwise(h, block.depthwise_conv.kernel, block.strides)
    h = conv_bn_act(depthwise, block.depthwise_bn, depthwise_activation or activation)
    p = norm(_conv(h, block.project_conv.kernel), block.project_bn)
    if project_activation:
        p = activation(p)
    if residual is None:
        residual = block.strides == 1 and x.shape[-1] == p.shape[-1]
    return p + x if residual else p


@pytest.mark.points(
    2,
    hint="in·(in·t) + 4·(in·t) for the expansion (none when t = 1), k²·(in·t) + 4·(in·t) "
    "for the depthwise, (in·t)·filters + 4·filters for the projection; convs without bias.",
    section="mobilenet",
)
def test_inverted_residual_shapes_and_params(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    for in_channels, filters, expand_ratio, kernel_size, strides in [
        (8, 8, 6, 3, 1),
        (8, 12, 4, 5, 2),
        (6, 4, 1, 3, 1),
    ]:
        x = _images((1, 8, 8, in_channels), 6)
        block = sub.InvertedResidual(filters, expand_ratio, kernel_size, strides)
        try:
            out = _np(block(x))
        except (ValueError, tf.errors.InvalidArgumentError) as error:
            pytest.fail(
                f"InvertedResidual({filters}, {expand_ratio}, {kernel_size}, {strides}) on "
                f"{x.shape} failed ({type(error).__name__}). Add the residual only when strides "
                "== 1 and in_channels == filters."
            )
        size = 8 // strides
        assert out.shape == (1, size, size, filters), out.shape
        if expand_ratio == 1 and _sublayer(block, "expand_conv", "None") is not None:
            pytest.fail("With expand_ratio == 1 there is no expansion: expand_conv must be None.")
        expected = _mbconv_params(in_channels, filters, expand_ratio, kernel_size)
        if block.count_params() != expected:
            pytest.fail(
                f"InvertedResidual({filters}, expand_ratio={expand_ratio}, kernel_size="
                f"{kernel_size}) on {in_channels} channels: expected {expected} weights; "
                f"received {block.count_params()}. Convolutions before a BN have no bias."
            )


@pytest.mark.points(
    3,
    hint="expand 1×1 → BN → ReLU6, depthwise → BN → ReLU6, project 1×1 → BN (no activation), "
    "add the input when strides == 1 and in_channels == filters; BN epsilon 1e-3.",
    section="mobilenet",
)
def test_inverted_residual_matches_tf_nn(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    for in_channels, filters, expand_ratio, kernel_size, strides, eps in [
        (8, 8, 6, 3, 1, EPS),
        (8, 12, 4, 5, 2, EPS),
        (6, 6, 1, 3, 1, EPS),
        (8, 8, 3, 5, 1, 0.1),  # A non-default epsilon, large enough to change the output.
    ]:
        x = _images((2, 7, 7, in_channels), 7) * 3
        options = {} if eps == EPS else {"batch_norm_epsilon": eps}
        block = sub.InvertedResidual(filters, expand_ratio, kernel_size, strides, **options)
        settings = f"InvertedResidual({filters}, {expand_ratio}, {kernel_size}, {strides}"
        settings += f", batch_norm_epsilon={eps})" if options else ")"
        block(x)
        for name in ["depthwise_conv", "depthwise_bn", "project_conv", "project_bn"]:
            _sublayer(block, name, "that sublayer")
        _sublayer(block, "expand_conv", "the expansion Conv2D (or None)")
        _randomize(block, 7, scale=0.6)
        out = _np(block(x, training=False))
        expected = _mbconv_reference(block, x, eps=eps)
        if np.allclose(out, expected, atol=1e-3, rtol=1e-4):
            continue
        relu6_message = (
            "use ReLU6, min(max(x, 0), 6), not ReLU, after the expansion and the depthwise."
        )
        residual_message = (
            "the residual is missing: add the input when strides == 1 and in_channels == filters."
        )
        training_message = (
            "in inference (training=False) batch norm uses its moving statistics: pass training "
            "on, never hard-code training=True."
        )
        mistakes = [
            (residual_message, dict(residual=False)),
            ("the projection is linear: no ReLU6 after its BN.", dict(project_activation=True)),
            ("apply BN before the activation (conv → BN → ReLU6).", dict(bn_first=False)),
            (relu6_message, dict(activation=_relu)),
            (relu6_message, dict(depthwise_activation=_relu)),
            (relu6_message, dict(activation=_relu, depthwise_activation=_relu6)),
            (training_message, dict(batch=True)),
        ]
        if eps != EPS:
            mistakes.append(
                ("build every batch norm with epsilon=batch_norm_epsilon.", {"eps": EPS})
            )
        for message, mistake in mistakes:
            variant = _mbconv_reference(block, x, **{"eps": eps, **mistake})
            if np.allclose(out, variant, atol=1e-3, rtol=1e-4):
                pytest.fail(f"{settings}: {message}")
        np.testing.assert_allclose(out, expected, atol=1e-3, rtol=1e-4)


@pytest.mark.points(
    2,
    hint="call(inputs, training) passes training to every batch norm: in training mode they "
    "normalise with the batch's statistics and update their moving averages.",
    section="resnet",
)
def test_blocks_batch_norm_follows_training(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((4, 6, 6, 8), 9)
    cases = [
        (
            sub.ResidualBlock(16, strides=2),
            ["bn1", "bn2", "shortcut_bn"],
            lambda block: _residual_reference(block, x, batch=True)[0],
        ),
        (
            sub.InvertedResidual(8, expand_ratio=3),
            ["expand_bn", "depthwise_bn", "project_bn"],
            lambda block: _mbconv_reference(block, x, batch=True),
        ),
    ]
    for offset, (block, names, reference) in enumerate(cases):
        block(x)
        _randomize(block, 20 + offset)
        norms = {name: _sublayer(block, name, "that batch norm") for name in names}
        before = {name: _np(bn.moving_mean) for name, bn in norms.items()}
        out = _np(block(x, training=True))
        for name, bn in norms.items():
            if np.allclose(_np(bn.moving_mean), before[name]):
                pytest.fail(
                    f"{type_name(block)}: {name}'s moving mean did not change in a call with "
                    f"training=True: pass training to {name} (never a fixed True or False)."
                )
        # The moving statistics changed since the call, but its output did not use them.
        np.testing.assert_allclose(out, reference(block), atol=1e-3, rtol=1e-3)


@pytest.mark.points(
    2,
    hint="get_config returns every __init__ argument; from_config(get_config()) rebuilds "
    "the block, and with the same weights it computes the same output.",
    section="mobilenet",
)
def test_blocks_config_round_trip(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((2, 8, 8, 8), 8)
    blocks = [
        sub.ResidualBlock(16, strides=2, name="res"),
        sub.InvertedResidual(8, expand_ratio=3, kernel_size=5, batch_norm_epsilon=1e-2),
        sub.DepthwiseSeparableConv(5, kernel_size=5, strides=2),
    ]
    for offset, block in enumerate(blocks):
        block(x)
        _randomize(block, 10 + offset)
        _round_trip(sub, block, x)
    assert blocks[1].get_config()["batch_norm_epsilon"] == pytest.approx(1e-2)


# Counting -------------------------------------------------------------------------------------


def _expect_int(call, value):
    """The counting functions return Python ints (not floats, numpy scalars or tensors)."""
    if not isinstance(value, int) or isinstance(value, bool):
        pytest.fail(f"{call} returned a {type_name(value)}; return a Python int (int(...)).")


@pytest.mark.points(
    2,
    hint="Conv2D: k²·C·F (+F bias); separable: k²·C + C·F + F; batch norm stores 4 numbers "
    "per channel, all counted by count_params().",
    section="flops",
)
def test_parameter_formulas_match_keras(sub):
    for k, c, f, bias in [(3, 3, 16, True), (5, 7, 2, False), (1, 32, 64, True)]:
        layer = keras.layers.Conv2D(f, k, use_bias=bias)
        layer.build((None, 9, 9, c))
        received = sub.conv2d_params(k, c, f, use_bias=bias)
        _expect_int(f"conv2d_params({k}, {c}, {f}, use_bias={bias})", received)
        assert received == layer.count_params(), "k·k·C·F weights, plus F biases when use_bias."
    for k, c, f in [(3, 8, 16), (5, 3, 7)]:
        layer = keras.layers.SeparableConv2D(f, k)
        layer.build((None, 9, 9, c))
        received = sub.separable_conv_params(k, c, f)
        _expect_int(f"separable_conv_params({k}, {c}, {f})", received)
        assert received == layer.count_params(), "k·k·C (depthwise) + C·F + F (pointwise)."
    for c, f, t, k in [(16, 24, 6, 3), (24, 24, 6, 5), (32, 16, 1, 3)]:
        hidden = c * t
        layers = [keras.layers.Conv2D(hidden, 1, use_bias=False), keras.layers.BatchNormalization()]
        layers = layers if t != 1 else []
        layers += [
            keras.layers.DepthwiseConv2D(k, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(f, 1, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
        reference = keras.Sequential(layers)
        reference.build((None, 8, 8, c))
        received = sub.inverted_residual_params(c, f, t, k)
        _expect_int(f"inverted_residual_params({c}, {f}, {t}, {k})", received)
        if received != reference.count_params():
            pytest.fail(
                f"inverted_residual_params({c}, {f}, {t}, {k}) = {received}; Keras counts "
                f"{reference.count_params()} (did you count BN's moving mean and variance?)."
            )


def _counted_layers(k):
    """The layers of test_layer_multiply_adds with their input shapes, built with module ``k``."""
    return [
        (k.layers.Conv2D(16, 3, strides=2, padding="same"), (15, 15, 4)),
        (k.layers.Conv2D(8, (3, 5), padding="valid"), (10, 12, 6)),
        (k.layers.DepthwiseConv2D(5, padding="same", depth_multiplier=2), (8, 8, 3)),
        (k.layers.SeparableConv2D(10, 3, padding="same"), (6, 6, 4)),
        (k.layers.SeparableConv2D(6, 3, strides=2, padding="same", depth_multiplier=2), (8, 8, 3)),
        (k.layers.Dense(7), (12,)),
        (k.layers.Dense(7), (4, 5, 12)),  # Applied at each of the 4·5 positions of a map.
        (k.layers.BatchNormalization(), (6, 6, 4)),  # Not counted: 0.
    ]


def _flops_model(k):
    """The model of test_count_flops_matches_graph (a nested Sequential), built with ``k``."""
    inner = k.Sequential([k.layers.DepthwiseConv2D(3, padding="same"), k.layers.Conv2D(12, 1)])
    inputs = k.Input((16, 16, 3))
    x = k.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = inner(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inputs, k.layers.Dense(5)(x))


@pytest.mark.points(
    2,
    hint="Output positions H'·W' × output channels × k_h·k_w·C_in for Conv2D; "
    "× k_h·k_w for depthwise (mind the depth multiplier); inputs × units per position for "
    "Dense; 0 for any other layer.",
    section="flops",
)
def test_layer_multiply_adds(sub):
    rk = library(sub, "keras")
    # Each layer twice: the student's function reads one built where it runs, and the twin
    # built here (same settings, same shapes) gives the reference.
    for (layer, shape), (student_layer, _) in zip(
        _counted_layers(keras), _counted_layers(rk), strict=True
    ):
        model = keras.Sequential([keras.Input(shape), layer])
        rk.Sequential([rk.Input(shape), student_layer])
        expected = _graph_multiply_adds(model, shape)
        output_shape = tuple(layer.compute_output_shape((None, *shape))[1:])
        received = sub.layer_multiply_adds(student_layer, shape, output_shape)
        _expect_int(f"layer_multiply_adds({type(layer).__name__}, ...)", received)
        if received != expected:
            pytest.fail(
                f"{type(layer).__name__} from {shape} to {output_shape}: expected {expected} "
                f"multiply-adds; received {received}."
            )


@pytest.mark.points(
    2,
    hint="Sum layer_multiply_adds over layer_shapes(model, input_shape); nested layers count.",
    section="flops",
)
def test_count_flops_matches_graph(sub):
    # The student's function counts a model built where it runs; its twin here is the reference.
    model = _flops_model(library(sub, "keras"))
    expected = _graph_multiply_adds(_flops_model(keras), (16, 16, 3))
    received = sub.count_flops(model, (16, 16, 3))
    _expect_int("count_flops(model, (16, 16, 3))", received)
    assert received == expected, "Nested layers (inside a sub-model) count too."


def _family_params(family, in_channels, classes, width, stages):
    """Weights of a family model as the lecture's table describes it, from the formulas."""

    def conv(k, c, f, bias=True):
        return k * k * c * f + (f if bias else 0)

    total, c_in = conv(3, in_channels, width), width  # The stem.
    for stage in range(stages):
        c = width * 2**stage
        if family == "vgg":
            total += conv(3, c_in, c) + conv(3, c, c)
        elif family == "resnet":  # Strided block with a projection, then an identity block.
            total += conv(3, c_in, c, False) + conv(1, c_in, c, False) + 3 * conv(3, c, c, False)
            total += 5 * _bn_params(c)
        elif family == "inception":
            total += conv(1, c_in, c // 4) + conv(1, c_in, c // 4) + conv(3, c // 4, c // 2)
            total += conv(1, c_in, c // 8) + conv(5, c // 8, c // 8) + conv(1, c_in, c // 8)
        else:
            total += _mbconv_params(c_in, c, 6, 3) + _mbconv_params(c, c, 6, 3)
        c_in = c
    return total + conv(1, c_in, classes)  # The Dense layer of logits.


@pytest.mark.points(
    3,
    hint="One row per family in FAMILIES order with params = model.count_params() and "
    "flops = count_flops(model, input_shape); build the stages as the lecture's table says "
    "(stem, stages, global average pooling, Dense logits without activation).",
    section="flops",
)
def test_family_table(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    shape, classes, width, stages = (16, 16, 3), 5, 8, 2
    rows = sub.family_table(shape, classes, width, stages)
    assert [row["family"] for row in rows] == ["vgg", "resnet", "inception", "mobilenet"]
    try:
        sub.build_family_model("alexnet", shape, classes, width, stages)
    except ValueError:
        pass
    else:
        pytest.fail("build_family_model('alexnet', ...) should raise ValueError (unknown family).")
    block_types = {
        "vgg": sub.VGGBlock,
        "resnet": sub.ResidualBlock,
        "inception": sub.InceptionModule,
        "mobilenet": sub.InvertedResidual,
    }
    for row in rows:
        model = sub.build_family_model(row["family"], shape, classes, width, stages)
        assert model.output_shape == (None, classes)
        kind = block_types[row["family"]]
        blocks = [layer for layer in model.layers if _is_instance(sub, layer, kind)]
        if not blocks:
            pytest.fail(f"The {row['family']} model should be built from your blocks.")
        last = tuple(model.get_layer(index=-3).output.shape[1:])  # Before pooling and Dense.
        size = shape[0] // 2**stages
        if last != (size, size, width * 2 ** (stages - 1)):
            pytest.fail(
                f"{row['family']}: the last stage should output ({size}, {size}, {width * 2}) on "
                f"a 16×16 input (every stage halves the resolution); received {last}."
            )
        expected_params = _family_params(row["family"], shape[-1], classes, width, stages)
        if model.count_params() != expected_params:
            pytest.fail(
                f"{row['family']}: the lecture's model (stem, {stages} stages as in the table, "
                f"Dense) has {expected_params} weights here; yours has {model.count_params()}."
            )
        if model.layers[-1].get_config().get("activation") != "linear":
            pytest.fail(f"{row['family']}: the last Dense layer returns logits: no activation.")
        if row["params"] != model.count_params():
            pytest.fail(
                f"{row['family']}: params should be model.count_params() = "
                f"{model.count_params()} (batch-norm statistics included); received {row}."
            )
        expected = _student_graph_multiply_adds(sub, model, shape)
        if row["flops"] != expected:
            pytest.fail(
                f"{row['family']}: {row['flops']} FLOPs in the table; the graph has {expected} "
                "multiply-adds in Conv2D, depthwise and Dense operations."
            )


# EfficientNet-Lite0 and encodings -------------------------------------------------------------


def _lite0_params(num_classes=1000):
    total = 27 * 32 + _bn_params(32)
    in_channels = 32
    for expand_ratio, kernel_size, _, filters, repeats in LITE0_STAGES:
        for _ in range(repeats):
            total += _mbconv_params(in_channels, filters, expand_ratio, kernel_size)
            in_channels = filters
    return total + 320 * 1280 + _bn_params(1280) + 1280 * num_classes + num_classes


@pytest.mark.points(
    3,
    hint="Stem conv 3×3 s2 32 → BN → ReLU6, the 16 InvertedResidual blocks of LITE0_STAGES "
    "(stride on the first block of a stage), head conv 1×1 1280 → BN → ReLU6, "
    "GlobalAveragePooling2D, Dropout, Dense; layers named as the docstring says.",
    section="efficientnet",
)
def test_efficientnet_lite0_structure(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    # Not ImageNet's defaults: every argument must be used.
    classes, rate = 10, 0.35
    model = sub.build_efficientnet_lite0((64, 64, 3), classes, dropout_rate=rate)
    if model.output_shape != (None, classes):
        pytest.fail(
            f"build_efficientnet_lite0((64, 64, 3), {classes}) should output (None, {classes}) "
            f"logits; received {model.output_shape}. Use num_classes."
        )
    names = {layer.name for layer in model.layers}
    required = {"stem_conv", "stem_bn", "stem_relu", "head_conv", "head_bn", "head_relu"}
    required |= {"avg_pool", "dropout", "classifier"} | {f"block_{i}" for i in range(16)}
    if not required <= names:
        pytest.fail(f"Missing layer names: {sorted(required - names)}.")
    if model.get_layer("dropout").rate != pytest.approx(rate):
        pytest.fail(
            f"Dropout(dropout_rate): the layer 'dropout' should drop {rate} with "
            f"dropout_rate={rate}; it drops {model.get_layer('dropout').rate}."
        )
    index = 0
    for expand_ratio, kernel_size, stride, filters, repeats in LITE0_STAGES:
        for repeat in range(repeats):
            block = model.get_layer(f"block_{index}")
            settings = (block.filters, block.expand_ratio, block.kernel_size, block.strides)
            expected = (filters, expand_ratio, kernel_size, stride if repeat == 0 else 1)
            if not _is_instance(sub, block, sub.InvertedResidual) or settings != expected:
                pytest.fail(
                    f"block_{index} should be InvertedResidual(filters, expand_ratio, "
                    f"kernel_size, strides) = {expected}; received {settings}."
                )
            index += 1
    if model.count_params() != _lite0_params(classes):
        pytest.fail(
            f"EfficientNet-Lite0 with {classes} classes has {_lite0_params(classes):,} weights "
            f"(with BN statistics); yours has {model.count_params():,}."
        )


@pytest.mark.points(
    3,
    hint="With ImageNet-shaped weights loaded by course_lib.models.imagenet, the network must "
    "compute stem → blocks → head → average → dense exactly (TF 'same' padding, BN eps 1e-3).",
    section="efficientnet",
)
def test_efficientnet_lite0_computes_the_reference(sub):
    rng = _rng(20)
    state = {}

    def conv(name, out_channels, in_channels, k, depthwise=False):
        fan_in = k * k * (1 if depthwise else in_channels)
        shape = (out_channels, 1 if depthwise else in_channels, k, k)
        state[f"{name}.weight"] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)

    def bn(name, channels, shift=0.1):
        state[f"{name}.weight"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        state[f"{name}.bias"] = rng.normal(scale=shift, size=channels).astype(np.float32)
        state[f"{name}.running_mean"] = rng.normal(scale=0.1, size=channels).astype(np.float32)
        state[f"{name}.running_var"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)

    # The stem's and the head's batch norms shift some channels above 6, where ReLU6 clips.
    conv("_conv_stem", 32, 3, 3)
    bn("_bn0", 32, shift=4.0)
    blocks, in_channels, index = [], 32, 0
    for expand_ratio, kernel_size, stride, filters, repeats in LITE0_STAGES:
        for repeat in range(repeats):
            p, hidden = f"_blocks.{index}.", in_channels * expand_ratio
            if expand_ratio != 1:
                conv(p + "_expand_conv", hidden, in_channels, 1)
                bn(p + "_bn0", hidden)
            conv(p + "_depthwise_conv", hidden, 1, kernel_size, depthwise=True)
            bn(p + "_bn1", hidden)
            conv(p + "_project_conv", filters, hidden, 1)
            bn(p + "_bn2", filters)
            blocks.append((p, expand_ratio, stride if repeat == 0 else 1, in_channels, filters))
            in_channels, index = filters, index + 1
    conv("_conv_head", 1280, 320, 1)
    bn("_bn1", 1280, shift=4.0)
    state["_fc.weight"] = (rng.normal(size=(1000, 1280)) / 36).astype(np.float32)
    state["_fc.bias"] = rng.normal(scale=0.1, size=1000).astype(np.float32)

    def kernel(name):
        return state[f"{name}.weight"].transpose(2, 3, 1, 0)

    def norm(x, name):
        s = {k: state[f"{name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        return (x - s["running_mean"]) / np.sqrt(s["running_var"] + EPS) * s["weight"] + s["bias"]

    x = _images((2, 64, 64, 3), 21)
    h = stem = _relu6(norm(_conv(x, kernel("_conv_stem"), 2), "_bn0"))
    for p, expand_ratio, stride, in_channels, filters in blocks:
        y = h
        if expand_ratio != 1:
            y = _relu6(norm(_conv(y, kernel(p + "_expand_conv")), p + "_bn0"))
        dw = state[p + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)
        y = _relu6(norm(_depthwise(y, dw, stride), p + "_bn1"))
        y = norm(_conv(y, kernel(p + "_project_conv")), p + "_bn2")
        h = y + h if stride == 1 and in_channels == filters else y
    head = _relu6(norm(_conv(h, kernel("_conv_head")), "_bn1"))
    expected = head.mean(axis=(1, 2)) @ state["_fc.weight"].T + state["_fc.bias"]

    _seed(sub)  # Seeded before the student's code builds anything.
    model = sub.build_efficientnet_lite0((64, 64, 3), 1000)
    # course_lib's loader copies the weights where the model lives; the reference is computed here.
    library(sub, "course_lib.models.imagenet").assign_lite0_weights(model, state)
    # The stem's and the head's outputs too: ReLU6's clipping at the stem fades in the logits.
    names = ("stem_relu", "head_relu")
    inside = library(sub, "keras").Model(model.input, [model.get_layer(n).output for n in names])
    stem_out, head_out = (_np(t) for t in inside(x, training=False))
    for name, out, ref in [("stem_relu", stem_out, stem), ("head_relu", head_out, head)]:
        if out.shape != ref.shape:
            pytest.fail(
                f"{name} outputs {out.shape[1:]} on a 64×64 image; expected {ref.shape[1:]} "
                "(the stem and the first block of a stage with stride 2 halve the size)."
            )
    if not np.allclose(stem_out, stem, atol=1e-3, rtol=1e-3):
        pytest.fail(
            "The output of stem_relu differs from Conv2D 3×3 (stride 2, 'same', no bias) → "
            "BN (epsilon 1e-3) → ReLU6."
        )
    if not np.allclose(head_out, head, atol=2e-3, rtol=1e-3):
        pytest.fail(
            "The stem is right but the output of head_relu differs: check the blocks (stages, "
            "strides, residuals) and the head, Conv2D 1×1 (no bias) → BN → ReLU6."
        )
    np.testing.assert_allclose(_np(model(x, training=False)), expected, atol=2e-3, rtol=1e-3)


def _encoder_input_model(k):
    """A small classifier with an ``avg_pool`` layer and logits, built with module ``k``."""
    inputs = k.Input((12, 12, 3))
    maps = k.layers.Conv2D(6, 3, activation="relu")(inputs)
    pooled = k.layers.GlobalAveragePooling2D(name="avg_pool")(maps)
    return k.Model(inputs, k.layers.Dense(9, name="classifier")(pooled))


@pytest.mark.points(
    2,
    hint="keras.Model(model.input, [model.get_layer('avg_pool').output, softmax of model.output]).",
    section="encodings",
)
def test_image_encoder(sub):
    rk = library(sub, "keras")
    rk.utils.set_random_seed(3)
    model = _encoder_input_model(rk)  # Where the student's code runs: the encoder wraps it.
    reference = _encoder_input_model(keras)  # Its twin here, with the same weights.
    reference.set_weights(model.get_weights())
    x = _images((4, 12, 12, 3), 22)
    outputs = sub.image_encoder(model)(x, training=False)
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
        pytest.fail("The encoder must have two outputs: (features, class_scores).")
    features, scores = _np(outputs[0]), _np(outputs[1])
    pooled = reference.get_layer("avg_pool").output
    expected_features = _np(keras.Model(reference.input, pooled)(x))
    np.testing.assert_allclose(features, expected_features, atol=1e-5)
    logits = _np(reference(x))
    if np.allclose(scores, logits, atol=1e-5):
        pytest.fail("class_scores are the logits: apply a softmax.")
    if np.allclose(scores, _np(tf.nn.softmax(logits, axis=0)), atol=1e-5):
        pytest.fail("The softmax runs over the batch axis: normalise each image's row of scores.")
    np.testing.assert_allclose(scores, _np(tf.nn.softmax(logits)), atol=1e-5)
