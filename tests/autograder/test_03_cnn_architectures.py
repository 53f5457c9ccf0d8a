"""Autograder for Lecture 03, CNN architectures.

References: Keras' own layers (Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, pooling) and
expected values stored as data (``tests/autograder/expected/03_cnn_architectures.json``): the
instructor's references (forward passes with ``tf.nn``, the lecture's parameter formulas, and
multiply-adds read from the operations of TensorFlow's graph of a model) run on the fixed inputs
and weights built here; ``camp generate`` writes them. Each test calls the student's module
``sub``. The tests give the student's sublayers seeded values chosen by sublayer name and role
(``_named_weights``), so every comparison is exact up to float32 rounding.

The student's objects live where the student's code runs (``sub``'s runner): a model the
student's function must receive is built there (``library(sub, "keras")``), with a twin built
here from the same layers (and weights) as the reference.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.grading.access import library, type_name
from course_lib.grading.expected import load, matches

EPS = 1e-3  # Batch-norm epsilon of the lecture's blocks (TensorFlow's default).
ROLES = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
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


def _expected(name):
    """The reference's values for test ``name``, stored as data (see the module docstring)."""
    return load("03")[name]


def _named_weights(layout, offset, scale=0.3):
    """Seeded values for the variables of a block's sublayers: ``{name: {role: array}}``.

    ``layout``: ``{sublayer name: {role: shape}}``. Each value depends on the sublayer's name and
    the variable's role only, never on the order in which the student's code created them.
    """
    weights = {}
    for index, (name, shapes) in enumerate(layout.items()):
        weights[name] = {}
        for role, shape in shapes.items():
            rng = np.random.default_rng([303, offset, index, ROLES.index(role)])
            if role == "moving_variance":
                value = rng.uniform(0.5, 2.0, size=shape)
            elif role == "gamma":
                value = rng.uniform(0.5, 1.5, size=shape)
            else:
                value = rng.normal(scale=scale, size=shape)
            weights[name][role] = value.astype(np.float32)
    return weights


def _assign_named(block, weights):
    """Write ``_named_weights`` into the student's sublayers, by name and role."""
    for name, roles in weights.items():
        layer = _sublayer(block, name, "that sublayer")
        if layer is None:
            pytest.fail(f"{type_name(block)}.{name} is None here; the lecture's block has one.")
        for role in ROLES:
            variable = getattr(layer, role, None)
            if variable is None:
                continue
            if role not in roles:
                pytest.fail(
                    f"{type_name(block)}.{name} has a {role}, which the lecture's block has not "
                    "(a convolution before a batch norm has no bias: use_bias=False)."
                )
            if tuple(variable.shape) != roles[role].shape:
                pytest.fail(
                    f"{type_name(block)}.{name}.{role} has shape {tuple(variable.shape)}; "
                    f"expected {roles[role].shape}."
                )
            variable.assign(roles[role])


def _bn_layout(channels):
    return dict.fromkeys(("gamma", "beta", "moving_mean", "moving_variance"), (channels,))


def _residual_layout(in_channels, filters, strides):
    layout = {
        "conv1": {"kernel": (3, 3, in_channels, filters)},
        "bn1": _bn_layout(filters),
        "conv2": {"kernel": (3, 3, filters, filters)},
        "bn2": _bn_layout(filters),
    }
    if strides != 1 or in_channels != filters:
        layout["shortcut_conv"] = {"kernel": (1, 1, in_channels, filters)}
        layout["shortcut_bn"] = _bn_layout(filters)
    return layout


def _inception_layout(in_channels, f1, r3, f3, r5, f5, pool):
    def conv(k, c, f):
        return {"kernel": (k, k, c, f), "bias": (f,)}

    return {
        "branch1x1": conv(1, in_channels, f1),
        "branch3x3_reduce": conv(1, in_channels, r3),
        "branch3x3": conv(3, r3, f3),
        "branch5x5_reduce": conv(1, in_channels, r5),
        "branch5x5": conv(5, r5, f5),
        "pool_proj": conv(1, in_channels, pool),
    }


def _mbconv_layout(in_channels, filters, expand_ratio, kernel_size):
    hidden = in_channels * expand_ratio
    layout = {}
    if expand_ratio != 1:
        layout["expand_conv"] = {"kernel": (1, 1, in_channels, hidden)}
        layout["expand_bn"] = _bn_layout(hidden)
    layout["depthwise_conv"] = {"kernel": (kernel_size, kernel_size, hidden, 1)}
    layout["depthwise_bn"] = _bn_layout(hidden)
    layout["project_conv"] = {"kernel": (1, 1, hidden, filters)}
    layout["project_bn"] = _bn_layout(filters)
    return layout


def _check_output(out, reference, mistakes, atol, rtol=0.0):
    """Compare with the stored output; name a known mistake (stored as a fingerprint) first."""
    expected = np.asarray(reference["out"], dtype=np.float32)
    if out.shape != expected.shape:
        pytest.fail(f"Expected output shape {expected.shape}; received {out.shape}.")
    if not np.allclose(out, expected, atol=atol, rtol=rtol):
        for key, message in mistakes.items():
            if matches(out, reference[key], atol + rtol * float(np.abs(expected).max())):
                pytest.fail(message)
        np.testing.assert_allclose(out, expected, atol=atol, rtol=rtol)


def _sublayer(block, name, what):
    layer = getattr(block, name, "missing")
    if isinstance(layer, str):
        pytest.fail(
            f"{type_name(block)} has no attribute {name!r} after it was called: build() must "
            f"create {what} as self.{name} (the autograder and course_lib find it by that name)."
        )
    return layer


def _bn_params(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def _round_trip(sub, layer, inputs):
    """from_config(get_config()) gives the same config and, with copied weights, the output,
    in inference and in training mode."""
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
    for training in (False, True):
        np.testing.assert_allclose(
            _np(clone(inputs, training=training)),
            _np(layer(inputs, training=training)),
            atol=1e-5,
            err_msg=f"The rebuilt {type_name(layer)} computes another output (training="
            f"{training}): get_config must return every argument of __init__.",
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
    # The second case has a non-default kernel size and a non-square image with an odd side
    # (pooling rounds down).
    for filters, num_convs, kernel_size, shape in [
        (8, 3, 3, (2, 12, 12, 3)),
        (6, 1, 5, (2, 9, 12, 4)),
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
    block = sub.VGGBlock(4, num_convs=3, kernel_size=5, name="vgg_test")
    block(x)
    _randomize(block, 1)
    config = block.get_config()
    for key, value in {"filters": 4, "num_convs": 3, "kernel_size": 5}.items():
        assert config.get(key) == value, f"get_config()[{key!r}] should be {value}."
    _round_trip(sub, block, x)


# ResNet ---------------------------------------------------------------------------------------


RESIDUAL_MISTAKES = {
    "no_residual": "The output is ReLU(F(x)): you forgot to add the shortcut.",
    "relu_before_add": "Apply the final ReLU after adding the shortcut, not before.",
    "bn_after_relu": "Apply BN before the activation: conv → BN → ReLU.",
    "pytorch_epsilon": "The batch norms keep Keras' default epsilon (1e-3), not PyTorch's.",
}


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
    _assign_named(block, _named_weights(_residual_layout(8, 8, 1), 2))
    out = _np(block(x, training=False))
    _check_output(out, _expected("residual_identity"), RESIDUAL_MISTAKES, atol=1e-4)


@pytest.mark.points(
    3,
    hint="When stride != 1 or in_channels != filters the shortcut is Conv2D 1×1 with "
    "strides (no bias) → BN, stored as shortcut_conv and shortcut_bn.",
    section="resnet",
)
def test_residual_block_projection_shortcut(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    for index, (strides, in_channels) in enumerate([(2, 8), (1, 4)]):
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
        _assign_named(
            block, _named_weights(_residual_layout(in_channels, 16, strides), 3 + strides)
        )
        out = _np(block(x, training=False))
        reference = _expected("residual_projection")[index]
        _check_output(out, reference, RESIDUAL_MISTAKES, atol=1e-4)


# Inception ------------------------------------------------------------------------------------


@pytest.mark.points(
    2,
    hint="Four branches on the same input: 1×1; 1×1 → 3×3; 1×1 → 5×5; maxpool 3×3 "
    "(stride 1, same) → 1×1; all convs with ReLU; concatenate in that order on the last axis.",
    section="inception",
)
def test_inception_module_matches_keras_layers(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((2, 7, 7, 6), 4) * 4  # Some pre-activations above 6: ReLU, not ReLU6.
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
    _assign_named(block, _named_weights(_inception_layout(6, 4, 3, 5, 2, 3, 2), 4))
    order = "Concatenate the branches in the order 1×1, 3×3, 5×5, pool."
    mistakes = {
        "reversed": order,
        "first_two_swapped": order,
        "unpooled": "The pool branch projects the max-pooled input (pool, then pool_proj).",
    }
    _check_output(_np(block(x)), _expected("inception"), mistakes, atol=1e-4)
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
            if strides > 1:  # The same layer without stride, subsampled: a strided pointwise.
                unstrided = keras.layers.SeparableConv2D(7, kernel_size, padding="same")
                unstrided.build(x.shape)
                unstrided.set_weights(keras_layer.get_weights())
                if np.allclose(out, _np(unstrided(x))[:, ::strides, ::strides], atol=1e-5):
                    pytest.fail(
                        f"{settings}: the depthwise convolution strides, not the pointwise."
                    )
            np.testing.assert_allclose(out, expected, atol=1e-5)
        _round_trip(sub, block, x)


# InvertedResidual(filters, expand_ratio, kernel_size, strides) on in_channels channels.
MBCONV_SHAPES = [(8, 8, 6, 3, 1), (8, 12, 4, 5, 2), (6, 4, 1, 3, 1), (8, 8, 6, 3, 2)]
# The same, with a batch-norm epsilon: the last one is large enough to change the output.
MBCONV_CASES = [
    (8, 8, 6, 3, 1, EPS),
    (8, 12, 4, 5, 2, EPS),
    (6, 6, 1, 3, 1, EPS),
    (8, 8, 3, 5, 1, 0.1),
]


@pytest.mark.points(
    2,
    hint="Count what the docstring's sublayers hold: the expansion exists only when "
    "expand_ratio != 1, the convolutions before a batch norm have no bias, and a batch norm "
    "keeps 4 numbers per channel.",
    section="mobilenet",
)
def test_inverted_residual_shapes_and_params(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    counts = _expected("inverted_residual_params")
    for index, shape in enumerate(MBCONV_SHAPES):
        in_channels, filters, expand_ratio, kernel_size, strides = shape
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
        expected = counts[index]
        if block.count_params() != expected:
            pytest.fail(
                f"InvertedResidual({filters}, expand_ratio={expand_ratio}, kernel_size="
                f"{kernel_size}) on {in_channels} channels: expected {expected} weights; "
                f"received {block.count_params()}. Convolutions before a BN have no bias."
            )


@pytest.mark.points(
    3,
    hint="Follow the docstring's order of sublayers and activations (the projection is "
    "linear), add the input only when the shapes allow it, and build the batch norms with the "
    "epsilon argument.",
    section="mobilenet",
)
def test_inverted_residual_matches_tf_nn(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    for index, case in enumerate(MBCONV_CASES):
        in_channels, filters, expand_ratio, kernel_size, strides, eps = case
        x = _images((2, 7, 7, in_channels), 7) * 3
        options = {} if eps == EPS else {"batch_norm_epsilon": eps}
        block = sub.InvertedResidual(filters, expand_ratio, kernel_size, strides, **options)
        settings = f"InvertedResidual({filters}, {expand_ratio}, {kernel_size}, {strides}"
        settings += f", batch_norm_epsilon={eps})" if options else ")"
        block(x)
        for name in ["depthwise_conv", "depthwise_bn", "project_conv", "project_bn"]:
            _sublayer(block, name, "that sublayer")
        _sublayer(block, "expand_conv", "the expansion Conv2D (or None)")
        layout = _mbconv_layout(in_channels, filters, expand_ratio, kernel_size)
        _assign_named(block, _named_weights(layout, 7, scale=0.6))
        out = _np(block(x, training=False))
        relu6_message = "use ReLU6 (capped at 6), not ReLU, after the expansion and the depthwise."
        residual_message = (
            "the residual is missing: add the input when strides == 1 and in_channels == filters."
        )
        training_message = (
            "in inference (training=False) batch norm uses its moving statistics: pass training "
            "on, never hard-code training=True."
        )
        mistakes = {
            "residual": residual_message,
            "project_activation": "the projection is linear: no ReLU6 after its BN.",
            "bn_first": "apply BN before the activation (conv → BN → ReLU6).",
            "relu": relu6_message,
            "depthwise_relu": relu6_message,
            "expand_relu": relu6_message,
            "training": training_message,
        }
        if eps != EPS:
            mistakes["epsilon"] = "build every batch norm with epsilon=batch_norm_epsilon."
        mistakes = {key: f"{settings}: {message}" for key, message in mistakes.items()}
        reference = _expected("inverted_residual")[index]
        _check_output(out, reference, mistakes, atol=1e-3, rtol=1e-4)


def _moving_statistics(norms):
    return {
        name: {role: _np(getattr(bn, role)) for role in ("moving_mean", "moving_variance")}
        for name, bn in norms.items()
    }


@pytest.mark.points(
    2,
    hint="call(inputs, training=None) passes training to every batch norm: in training mode they "
    "normalise with the batch's statistics and update their moving averages (Keras' default "
    "momentum); in inference mode, the default, they use and keep the moving averages.",
    section="resnet",
)
def test_blocks_batch_norm_follows_training(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    x = _images((4, 5, 7, 8), 9)  # Non-square, with an odd side that stride 2 rounds up.
    expected = _expected("batch_norm_training")
    cases = [
        (
            sub.ResidualBlock(16, strides=2),
            ["bn1", "bn2", "shortcut_bn"],
            _residual_layout(8, 16, 2),
            expected["residual"],
        ),
        (
            sub.InvertedResidual(8, expand_ratio=3),
            ["expand_bn", "depthwise_bn", "project_bn"],
            _mbconv_layout(8, 8, 3, 3),
            expected["inverted_residual"],
        ),
    ]
    for offset, (block, names, layout, reference) in enumerate(cases):
        block(x)
        _assign_named(block, _named_weights(layout, 20 + offset))
        norms = {name: _sublayer(block, name, "that batch norm") for name in names}
        before = _moving_statistics(norms)
        out = _np(block(x, training=True))
        after = _moving_statistics(norms)
        for name in names:
            if np.allclose(after[name]["moving_mean"], before[name]["moving_mean"]):
                pytest.fail(
                    f"{type_name(block)}: {name}'s moving mean did not change in a call with "
                    f"training=True: pass training to {name} (never a fixed True or False)."
                )
            for role, value in after[name].items():
                if not np.allclose(value, reference["moving"][name][role], atol=1e-4, rtol=1e-4):
                    pytest.fail(
                        f"{type_name(block)}: after one call with training=True, {name}.{role} "
                        "is not what Keras' BatchNormalization (default momentum 0.99) gives "
                        f"on that sublayer's input; received {np.round(value[:3], 4)}..."
                    )
        # The moving statistics changed during the call, but its output did not use them.
        np.testing.assert_allclose(out, reference["out"], atol=1e-3, rtol=1e-3)
        inference = _np(block(x, training=False))
        default = _np(block(x))
        for name, roles in _moving_statistics(norms).items():
            for role, value in roles.items():
                if not np.array_equal(value, after[name][role]):
                    pytest.fail(
                        f"{type_name(block)}: {name}.{role} changed in a call with training="
                        "False; in inference mode batch norm only reads its moving statistics."
                    )
        if np.allclose(inference, out, atol=1e-4):
            pytest.fail(
                f"{type_name(block)} with training=False gives the training-mode output: "
                "pass training on, never a fixed training=True."
            )
        if not np.allclose(default, inference, atol=1e-5):
            pytest.fail(
                f"{type_name(block)} called without training should run in inference mode, "
                "as Keras layers do: declare call(self, inputs, training=None)."
            )


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
    hint="Count one multiply-add per weight use: every output value of a layer uses the weights "
    "of its window once (mind depthwise layers and their depth multiplier, and a Dense layer "
    "applied at every position of a map); biases and other layers count 0.",
    section="flops",
)
def test_layer_multiply_adds(sub):
    rk = library(sub, "keras")
    # Each layer twice: the student's function reads one built where it runs, and the twin
    # built here (same settings, same shapes) gives the output shape. The expected counts were
    # read from TensorFlow's graph of each layer.
    counts = _expected("layer_multiply_adds")
    for (layer, shape), (student_layer, _), expected in zip(
        _counted_layers(keras), _counted_layers(rk), counts, strict=True
    ):
        rk.Sequential([rk.Input(shape), student_layer])
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
    hint="Every layer counts, also those inside a nested model, each with its own input and "
    "output shapes.",
    section="flops",
)
def test_count_flops_matches_graph(sub):
    # The student's function counts a model built where it runs; its twin here is the reference.
    model = _flops_model(library(sub, "keras"))
    expected = _expected("count_flops")  # Read from TensorFlow's graph of the same model.
    received = sub.count_flops(model, (16, 16, 3))
    _expect_int("count_flops(model, (16, 16, 3))", received)
    assert received == expected, "Nested layers (inside a sub-model) count too."


@pytest.mark.points(
    3,
    hint="One row per family in FAMILIES order, counting the weights Keras counts and the "
    "multiply-adds of your count_flops; build the stages as the lecture's table says "
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
        reference = _expected("family_table")[row["family"]]
        expected_params = reference["params"]
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
        if row["flops"] != reference["flops"]:
            pytest.fail(
                f"{row['family']}: {row['flops']} FLOPs in the table; the lecture's model has "
                f"{reference['flops']} multiply-adds in Conv2D, depthwise and Dense operations "
                "(counted from TensorFlow's graph)."
            )


FAMILIES = ("vgg", "resnet", "inception", "mobilenet")
# The family models of test_family_models_compute_the_reference: a non-square input, 5 classes,
# width 8, 2 stages.
FAMILY_SETTINGS = ((16, 24, 3), 5, 8, 2)
FAMILY_BLOCKS = {
    "vgg": "VGGBlock",
    "resnet": "ResidualBlock",
    "inception": "InceptionModule",
    "mobilenet": "InvertedResidual",
}


def _conv_layout(kernel_size, in_channels, filters):
    return {"kernel": (kernel_size, kernel_size, in_channels, filters), "bias": (filters,)}


def _family_layout(family, in_channels, classes, width, stages):
    """``{"stem", "blocks", "logits"}``: the variables of a family model, stage by stage."""
    blocks, c_in = [], width
    for c in [width * 2**i for i in range(stages)]:  # The channels of each stage.
        if family == "vgg":
            blocks.append({"conv1": _conv_layout(3, c_in, c), "conv2": _conv_layout(3, c, c)})
        elif family == "resnet":
            blocks += [_residual_layout(c_in, c, 2), _residual_layout(c, c, 1)]
        elif family == "inception":
            blocks.append(_inception_layout(c_in, c // 4, c // 4, c // 2, c // 8, c // 8, c // 8))
        else:
            blocks += [_mbconv_layout(c_in, c, 6, 3), _mbconv_layout(c, c, 6, 3)]
        c_in = c
    return {
        "stem": _conv_layout(3, in_channels, width),
        "blocks": blocks,
        "logits": {"kernel": (c_in, classes), "bias": (classes,)},
    }


def _family_weights(family, in_channels, classes, width, stages):
    """Seeded values for ``_family_layout``: by block position, sublayer name and role."""
    layout = _family_layout(family, in_channels, classes, width, stages)
    offset = 40 + FAMILIES.index(family)
    ends = _named_weights({"stem": layout["stem"], "logits": layout["logits"]}, offset, 0.2)
    blocks = [
        _named_weights(block, 100 * offset + i, 0.2) for i, block in enumerate(layout["blocks"])
    ]
    return {"stem": ends["stem"], "blocks": blocks, "logits": ends["logits"]}


def _assign_variable(variable, value, where):
    if tuple(variable.shape) != value.shape:
        pytest.fail(
            f"{where} has shape {tuple(variable.shape)}; the lecture's model has {value.shape} "
            "there. Build the stages as the lecture's table says."
        )
    variable.assign(value)


def _assign_family(sub, model, family, weights):
    """Write ``_family_weights`` into the student's family model: the stem (its first Conv2D),
    the blocks in order and the Dense layer of logits, found among the model's layers."""
    rk = library(sub, "keras")
    kind = getattr(sub, FAMILY_BLOCKS[family])
    layers = list(model.layers)
    convs = [layer for layer in layers if _is_instance(sub, layer, rk.layers.Conv2D)]
    denses = [layer for layer in layers if _is_instance(sub, layer, rk.layers.Dense)]
    blocks = [layer for layer in layers if _is_instance(sub, layer, kind)]
    if not convs or not denses:
        pytest.fail(f"The {family} model should start with a Conv2D stem and end with a Dense.")
    if len(blocks) != len(weights["blocks"]):
        pytest.fail(
            f"The {family} model has {len(blocks)} of your blocks; the lecture's table gives "
            f"it {len(weights['blocks'])} with these settings."
        )
    for name, layer in (("stem", convs[0]), ("logits", denses[-1])):
        for role, value in weights[name].items():
            _assign_variable(getattr(layer, role), value, f"{family} {name}.{role}")
    for index, (block, values) in enumerate(zip(blocks, weights["blocks"], strict=True)):
        if family != "vgg":
            _assign_named(block, values)
            continue
        convs = _sublayer(block, "convs", "the list of Conv2D layers")
        if len(convs) != len(values):
            pytest.fail(f"The VGG blocks of the table have {len(values)} convolutions each.")
        for conv, (name, roles) in zip(convs, values.items(), strict=True):
            for role, value in roles.items():
                _assign_variable(getattr(conv, role), value, f"vgg block {index} {name}.{role}")


@pytest.mark.points(
    3,
    hint="Build each family as the lecture's table says: stem Conv2D 3×3 with ReLU, the stages "
    "of your blocks (their settings and order), global average pooling, Dense logits; inside "
    "a functional model the blocks follow the model's training mode.",
    section="flops",
)
def test_family_models_compute_the_reference(sub):
    _seed(sub)  # Seeded before the student's code builds anything.
    shape, classes, width, stages = FAMILY_SETTINGS
    x = _images((2, *shape), 40) * 4  # Some stem pre-activations above 6: ReLU, not ReLU6.
    mistakes = {
        "max_pooling": "pool the last feature maps with their average (GlobalAveragePooling2D), "
        "not their maximum.",
        "linear_stem": "the stem convolution has a ReLU.",
        "average_stage_pool": "each Inception stage halves the size with MaxPooling2D 2×2.",
    }
    for family in FAMILIES:
        reference = _expected("family_models")[family]
        model = sub.build_family_model(family, shape, classes, width, stages)
        _assign_family(sub, model, family, _family_weights(family, 3, classes, width, stages))
        messages = {
            key: f"{family} model: {message}"
            for key, message in mistakes.items()
            if key in reference  # Inception alone pools between its stages.
        }
        out = _np(model(x, training=False))
        _check_output(out, {"out": reference["inference"], **reference}, messages, 1e-4, 1e-5)
        if not np.allclose(_np(model(x)), out, atol=1e-5):
            pytest.fail(
                f"{family} model: called without a training argument it should run in "
                "inference mode, as Keras models do: never pass a fixed training=True."
            )
        out = _np(model(x, training=True))
        if family in ("resnet", "mobilenet") and np.allclose(out, reference["inference"], 1e-4):
            pytest.fail(
                f"{family} model: in training mode its blocks' batch norms stay in inference "
                "mode; call the blocks without fixing training, the model passes it on."
            )
        np.testing.assert_allclose(out, reference["training"], atol=1e-4, rtol=1e-4)


# EfficientNet-Lite0 and encodings -------------------------------------------------------------


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
    expected = _expected("lite0_params")
    if model.count_params() != expected:
        pytest.fail(
            f"EfficientNet-Lite0 with {classes} classes has {expected:,} weights "
            f"(with BN statistics); yours has {model.count_params():,}."
        )


def _lite0_state():
    """Seeded ImageNet-shaped weights of EfficientNet-Lite0, named as PyTorch's state dict."""
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
    in_channels, index = 32, 0
    for expand_ratio, kernel_size, _, filters, repeats in LITE0_STAGES:
        for _ in range(repeats):
            p, hidden = f"_blocks.{index}.", in_channels * expand_ratio
            if expand_ratio != 1:
                conv(p + "_expand_conv", hidden, in_channels, 1)
                bn(p + "_bn0", hidden)
            conv(p + "_depthwise_conv", hidden, 1, kernel_size, depthwise=True)
            bn(p + "_bn1", hidden)
            conv(p + "_project_conv", filters, hidden, 1)
            bn(p + "_bn2", filters)
            in_channels, index = filters, index + 1
    conv("_conv_head", 1280, 320, 1)
    bn("_bn1", 1280, shift=4.0)
    state["_fc.weight"] = (rng.normal(size=(1000, 1280)) / 36).astype(np.float32)
    state["_fc.bias"] = rng.normal(scale=0.1, size=1000).astype(np.float32)
    # A few channels of the stem and the head vary little, as in trained networks: there batch
    # norm's epsilon changes the output by a sixth, so a wrong epsilon shows.
    quiet = _rng(24)
    for conv_name, bn_name, count in (("_conv_stem", "_bn0", 8), ("_conv_head", "_bn1", 64)):
        state[f"{conv_name}.weight"][:count] *= np.float32(0.05)
        state[f"{bn_name}.running_mean"][:count] *= np.float32(0.05)
        state[f"{bn_name}.running_var"][:count] *= np.float32(0.0025)
        state[f"{bn_name}.bias"][:count] = quiet.uniform(1.0, 3.0, count).astype(np.float32)
    return state


@pytest.mark.points(
    3,
    hint="With ImageNet-shaped weights loaded by course_lib.models.imagenet, the network must "
    "compute stem → blocks → head → average → dense exactly (TF 'same' padding, BN eps 1e-3).",
    section="efficientnet",
)
def test_efficientnet_lite0_computes_the_reference(sub):
    state = _lite0_state()
    x = _images((2, 64, 64, 3), 21)
    reference = _expected("lite0_forward")  # Stem and head outputs as fingerprints, logits.
    _seed(sub)  # Seeded before the student's code builds anything.
    model = sub.build_efficientnet_lite0((64, 64, 3), 1000)
    # course_lib's loader copies the weights where the model lives.
    library(sub, "course_lib.models.imagenet").assign_lite0_weights(model, state)
    # The stem's and the head's outputs too: ReLU6's clipping at the stem fades in the logits.
    names = ("stem_relu", "head_relu")
    inside = library(sub, "keras").Model(model.input, [model.get_layer(n).output for n in names])
    stem_out, head_out = (_np(t) for t in inside(x, training=False))
    for name, out, shape in [
        ("stem_relu", stem_out, (2, 32, 32, 32)),
        ("head_relu", head_out, (2, 2, 2, 1280)),
    ]:
        if out.shape != shape:
            pytest.fail(
                f"{name} outputs {out.shape[1:]} on a 64×64 image; expected {shape[1:]} "
                "(the stem and the first block of a stage with stride 2 halve the size)."
            )
    if not matches(stem_out, reference["stem"], 1e-3):
        pytest.fail(
            "The output of stem_relu differs from Conv2D 3×3 (stride 2, 'same', no bias) → "
            "BN (epsilon 1e-3) → ReLU6."
        )
    if not matches(head_out, reference["head"], 5e-4):
        pytest.fail(
            "The stem is right but the output of head_relu differs: check the blocks (stages, "
            "strides, residuals) and the head, Conv2D 1×1 (no bias) → BN → ReLU6."
        )
    logits = np.asarray(reference["logits"], dtype=np.float32)
    np.testing.assert_allclose(_np(model(x, training=False)), logits, atol=2e-3, rtol=1e-3)
    if not np.allclose(_np(model(x)), logits, atol=2e-3, rtol=1e-3):
        pytest.fail(
            "Called without a training argument the model should run in inference mode, as "
            "Keras models do: never pass a fixed training=True to a layer."
        )


@pytest.mark.points(
    3,
    hint="In training mode every batch norm normalises with the batch's statistics and updates "
    "its moving averages (Keras' default momentum), and Dropout(dropout_rate) drops pooled "
    "features between avg_pool and the classifier.",
    section="efficientnet",
)
def test_efficientnet_lite0_in_training_mode(sub):
    state, rate = _lite0_state(), 0.5
    x = _images((2, 64, 96, 3), 23)  # Non-square: the head's feature maps are 2×3.
    reference = _expected("lite0_training")
    _seed(sub)  # Seeded before the student's code builds anything.
    model = sub.build_efficientnet_lite0((64, 96, 3), 1000, dropout_rate=rate)
    library(sub, "course_lib.models.imagenet").assign_lite0_weights(model, state)
    names = ("stem_relu", "head_relu", "avg_pool", "dropout")
    outputs = [model.get_layer(name).output for name in names] + [model.output]
    # One call, so that the dropout mask seen inside is the one the logits used.
    inside = library(sub, "keras").Model(model.input, outputs)
    stem, head, pooled, dropped, logits = (_np(t) for t in inside(x, training=True))
    if not matches(stem, reference["stem"], 1e-3):
        pytest.fail(
            "In training mode the output of stem_relu differs from Conv2D → BN with the batch's "
            "statistics → ReLU6: do not fix training when you call stem_bn."
        )
    if not matches(head, reference["head"], 2e-3):
        pytest.fail(
            "In training mode the output of head_relu differs from the network whose batch "
            "norms all use the batch's statistics: do not fix training when you call the "
            "blocks or head_bn."
        )
    for name in ("stem_bn", "head_bn"):
        layer = model.get_layer(name)
        for role in ("moving_mean", "moving_variance"):
            if not matches(_np(getattr(layer, role)), reference[f"{name}.{role}"], 1e-4):
                pytest.fail(
                    f"After one call with training=True, {name}.{role} is not what Keras' "
                    "BatchNormalization (default momentum 0.99) gives on its input."
                )
    if dropped.shape != pooled.shape:
        pytest.fail(
            f"The dropout layer outputs {dropped.shape[1:]}; it drops the pooled features "
            f"{pooled.shape[1:]}: put it between avg_pool and the classifier."
        )
    zeroed = dropped == 0
    scaled = np.isclose(dropped, pooled / (1 - rate), rtol=1e-5, atol=1e-6)
    if not np.all(zeroed | scaled):
        pytest.fail(
            "In training mode the dropout layer should zero some pooled features and scale the "
            f"others by 1 / (1 - dropout_rate); its input is not avg_pool's output ({rate=})."
        )
    share = zeroed[pooled > 0].mean()
    if not 0.4 <= share <= 0.6:  # 1,591 positive features: a standard deviation of 0.0125.
        pytest.fail(
            f"With dropout_rate={rate} in training mode the dropout layer zeroed {share:.0%} of "
            "the pooled features: it must follow the model's training mode and use dropout_rate."
        )
    expected = dropped @ state["_fc.weight"].T + state["_fc.bias"]
    if not np.allclose(logits, expected, atol=1e-3, rtol=1e-4):
        pytest.fail("In training mode the logits should be the classifier of the dropout's output.")


def _encoder_input_model(k):
    """A small classifier with ``avg_pool``, ``dropout`` and logits, built with module ``k``."""
    inputs = k.Input((10, 14, 3))
    maps = k.layers.Conv2D(6, 3, activation="relu")(inputs)
    pooled = k.layers.GlobalAveragePooling2D(name="avg_pool")(maps)
    dropped = k.layers.Dropout(0.5, name="dropout")(pooled)
    return k.Model(inputs, k.layers.Dense(9, name="classifier")(dropped))


@pytest.mark.points(
    2,
    hint="Two outputs of the same network: the pooled features of the avg_pool layer, and the "
    "class probabilities of each image (the model itself outputs logits).",
    section="encodings",
)
def test_image_encoder(sub):
    rk = library(sub, "keras")
    rk.utils.set_random_seed(3)
    model = _encoder_input_model(rk)  # Where the student's code runs: the encoder wraps it.
    reference = _encoder_input_model(keras)  # Its twin here, with the same weights.
    reference.set_weights(model.get_weights())
    x = _images((4, 10, 14, 3), 22)
    encoder = sub.image_encoder(model)
    outputs = encoder(x, training=False)
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
    # In training mode the dropout before the classifier drops features: not the encodings.
    features, scores = (_np(t) for t in encoder(x, training=True))
    if not np.allclose(features, expected_features, atol=1e-5):
        pytest.fail("The features are avg_pool's output, taken before the dropout layer.")
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
