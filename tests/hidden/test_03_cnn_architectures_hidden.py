"""Hidden tests of Lecture 03 (instructor only): the references on the student's own blocks.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_03_cnn_architectures.py``, whose helpers they reuse); their messages
never reach students. Here the blocks keep weights given in the order the student's code created
them (``_randomize``), and the references (``references_03.py``) read those weights back, so
other weights and inputs than the public tests' are checked.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.grading.access import library
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_03.py"))
public = public_tests("03")
RESIDUAL = ["conv1", "bn1", "conv2", "bn2", "shortcut_conv", "shortcut_bn"]
INCEPTION = ["branch1x1", "branch3x3_reduce", "branch3x3", "branch5x5_reduce", "branch5x5"]
MBCONV = ["expand_conv", "expand_bn", "depthwise_conv", "depthwise_bn", "project_conv"]
MBCONV += ["project_bn"]


def _strides(block):
    return int(block.strides)


@pytest.mark.points(1, hint="Residual blocks with other weights.", section="resnet")
def test_residual_blocks_match_the_reference(sub):
    public._seed(sub, 5)
    for filters, strides, shape in [(8, 1, (2, 5, 5, 8)), (12, 2, (2, 7, 7, 4))]:
        x = public._images(shape, 30)
        block = sub.ResidualBlock(filters, strides=strides)
        block(x)
        public._randomize(block, 31)
        expected, _ = ref.residual(x, ref.read_weights(block, RESIDUAL), strides)
        out = public._np(block(x, training=False))
        np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.points(1, hint="An Inception module with other widths.", section="inception")
def test_inception_module_matches_the_reference(sub):
    public._seed(sub, 6)
    x = public._images((1, 6, 6, 5), 32) * 4
    block = sub.InceptionModule(3, 2, 4, 3, 2, 5)
    block(x)
    public._randomize(block, 33)
    expected, _ = ref.inception(x, ref.read_weights(block, [*INCEPTION, "pool_proj"]))
    np.testing.assert_allclose(public._np(block(x)), expected, atol=1e-4)


@pytest.mark.points(1, hint="Inverted residuals with other settings.", section="mobilenet")
def test_inverted_residuals_match_the_reference(sub):
    public._seed(sub, 7)
    for in_channels, filters, expand_ratio, kernel_size, strides, eps in [
        (4, 4, 2, 5, 1, 1e-3),
        (6, 10, 3, 3, 2, 1e-3),
        (5, 5, 1, 5, 1, 0.05),
    ]:
        x = public._images((2, 6, 6, in_channels), 34) * 3
        options = {"batch_norm_epsilon": eps} if eps != ref.EPS else {}
        block = sub.InvertedResidual(filters, expand_ratio, kernel_size, strides, **options)
        block(x)
        public._randomize(block, 35, scale=0.6)
        out = public._np(block(x, training=False))
        expected = ref.mbconv(x, ref.read_weights(block, MBCONV), strides, eps=eps)
        np.testing.assert_allclose(out, expected, atol=1e-3, rtol=1e-4)
    for in_channels, filters, expand_ratio, kernel_size in [(3, 7, 5, 7), (16, 16, 1, 3)]:
        block = sub.InvertedResidual(filters, expand_ratio, kernel_size)
        block(public._images((1, 4, 4, in_channels), 36))
        expected = ref.mbconv_params(in_channels, filters, expand_ratio, kernel_size)
        assert block.count_params() == expected
        assert sub.inverted_residual_params(in_channels, filters, expand_ratio, kernel_size) == (
            expected
        )


@pytest.mark.points(1, hint="Training-mode batch norms in the blocks.", section="resnet")
def test_blocks_in_training_mode_match_the_reference(sub):
    public._seed(sub, 8)
    x = public._images((3, 5, 8, 6), 37)  # Non-square, an odd side that stride 2 rounds up.
    for block, names, forward in [
        (sub.ResidualBlock(6), RESIDUAL, lambda w, **kw: ref.residual(x, w, 1, **kw)[0]),
        (
            sub.InvertedResidual(
                4, expand_ratio=2, kernel_size=5, strides=2, batch_norm_epsilon=0.05
            ),
            MBCONV,
            lambda w, **kw: ref.mbconv(x, w, 2, eps=0.05, **kw),
        ),
    ]:
        block(x)
        public._randomize(block, 38)
        weights, trace = ref.read_weights(block, names), {}
        out = public._np(block(x, training=True))
        np.testing.assert_allclose(
            out, forward(weights, batch=True, trace=trace), atol=1e-3, rtol=1e-3
        )
        # The moving statistics moved by Keras' momentum towards the batch's statistics ...
        updated = ref.read_weights(block, names)
        for name, moved in ref.moving_stats(trace, weights).items():
            for role, value in moved.items():
                np.testing.assert_allclose(updated[name][role], value, atol=1e-5, rtol=1e-5)
        # ... and inference reads them without changing them.
        out = public._np(block(x, training=False))
        np.testing.assert_allclose(out, forward(updated), atol=1e-3, rtol=1e-4)
        for name, roles in ref.read_weights(block, names).items():
            for role, value in roles.items():
                np.testing.assert_array_equal(value, updated[name][role])


@pytest.mark.points(1, hint="Blocks on non-square images.", section="vgg")
def test_blocks_on_non_square_images_match_the_reference(sub):
    public._seed(sub, 9)
    x = public._images((2, 7, 10, 5), 39) * 4
    block = sub.VGGBlock(4, num_convs=2, kernel_size=5)
    block(x)
    public._randomize(block, 40)
    convs = {
        str(i): {"kernel": public._np(c.kernel), "bias": public._np(c.bias)}
        for i, c in enumerate(block.convs)
    }
    np.testing.assert_allclose(public._np(block(x)), ref.vgg(x, convs), atol=1e-4)
    block = sub.InceptionModule(2, 3, 4, 2, 3, 1)
    block(x)
    public._randomize(block, 41)
    expected, _ = ref.inception(x, ref.read_weights(block, [*INCEPTION, "pool_proj"]))
    np.testing.assert_allclose(public._np(block(x)), expected, atol=1e-4)
    for kernel_size, strides in [(5, 2), (3, 3)]:
        block = sub.DepthwiseSeparableConv(6, kernel_size=kernel_size, strides=strides)
        block(x)
        public._randomize(block, 42)
        layer = keras.layers.SeparableConv2D(6, kernel_size, strides=strides, padding="same")
        layer.build(x.shape)
        layer.set_weights(
            [
                public._np(block.depthwise.kernel),
                public._np(block.pointwise.kernel),
                public._np(block.pointwise.bias),
            ]
        )
        np.testing.assert_allclose(public._np(block(x)), public._np(layer(x)), atol=1e-5)


def _family_weights_of(sub, model, family):
    """The weights of a student's family model, read in the layout of ``ref.family_forward``."""
    rk = library(sub, "keras")
    kind = getattr(sub, public.FAMILY_BLOCKS[family])
    layers = list(model.layers)
    conv = [layer for layer in layers if public._is_instance(sub, layer, rk.layers.Conv2D)][0]
    dense = [layer for layer in layers if public._is_instance(sub, layer, rk.layers.Dense)][-1]
    names = {"resnet": RESIDUAL, "inception": [*INCEPTION, "pool_proj"], "mobilenet": MBCONV}
    blocks = []
    for block in (layer for layer in layers if public._is_instance(sub, layer, kind)):
        if family == "vgg":
            blocks.append(
                {
                    str(i): {"kernel": public._np(c.kernel), "bias": public._np(c.bias)}
                    for i, c in enumerate(block.convs)
                }
            )
        else:
            blocks.append(ref.read_weights(block, names[family]))
    return {
        "stem": {"kernel": public._np(conv.kernel), "bias": public._np(conv.bias)},
        "blocks": blocks,
        "logits": {"kernel": public._np(dense.kernel), "bias": public._np(dense.bias)},
    }


@pytest.mark.points(2, hint="Family models with other settings, both modes.", section="flops")
def test_family_models_match_the_reference_in_both_modes(sub):
    public._seed(sub, 10)
    # Width 16 reaches 64 channels, where c // 7 and c // 8 differ (Inception's widths).
    shape, classes, width, stages = (24, 16, 3), 3, 16, 3
    x = public._images((3, *shape), 43) * 4
    for offset, family in enumerate(public.FAMILIES):
        model = sub.build_family_model(family, shape, classes, width, stages)
        public._randomize(model, 44 + offset, scale=0.1)
        weights = _family_weights_of(sub, model, family)
        for training in (False, True):
            out = public._np(model(x, training=training))
            expected = ref.family_forward(family, x, weights, batch=training)
            np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4, err_msg=family)


@pytest.mark.points(1, hint="Multiply-adds of other layers and models.", section="flops")
def test_multiply_adds_match_the_graph(sub):
    rk = library(sub, "keras")

    def layers(k):
        return [
            (k.layers.Conv2D(5, (1, 3), strides=(2, 1), padding="valid"), (9, 7, 2)),
            (k.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3), (7, 7, 2)),
            (k.layers.SeparableConv2D(4, 5, padding="valid"), (9, 9, 3)),
            (k.layers.Dense(3), (2, 3, 6)),
        ]

    for (layer, shape), (student_layer, _) in zip(layers(keras), layers(rk), strict=True):
        expected = ref.graph_multiply_adds(keras.Sequential([keras.Input(shape), layer]), shape)
        rk.Sequential([rk.Input(shape), student_layer])
        output_shape = tuple(layer.compute_output_shape((None, *shape))[1:])
        assert sub.layer_multiply_adds(student_layer, shape, output_shape) == expected, shape
    public._seed(sub)
    for row in sub.family_table((16, 16, 3), 5, 8, 2):
        model = sub.build_family_model(row["family"], (16, 16, 3), 5, 8, 2)
        probe = library(sub, "course_lib.grading.probes.lecture_03")
        expected = ref.multiply_adds(probe.graph_operations(model, (16, 16, 3)))
        assert row["flops"] == expected, row
        assert row["params"] == ref.family_params(row["family"], 3, 5, 8, 2), row


@pytest.mark.points(
    1, hint="Multiply-adds of a layer called twice, of an image size given.", section="flops"
)
def test_count_flops_counts_every_call(sub):
    def shared_model(k):
        """One Conv2D called twice, one Dense on a map and on a vector."""
        conv, dense = k.layers.Conv2D(3, 3, padding="same"), k.layers.Dense(4)
        inputs = k.Input((10, 6, 3))
        maps = conv(conv(inputs))
        pooled = k.layers.GlobalAveragePooling2D()(dense(maps))
        vector = dense(k.layers.GlobalAveragePooling2D()(maps))
        return k.Model(inputs, k.layers.Concatenate()([pooled, vector]))

    expected = ref.graph_multiply_adds(shared_model(keras), (10, 6, 3))
    assert sub.count_flops(shared_model(library(sub, "keras")), (10, 6, 3)) == expected

    def any_size_model(k):
        """A fully convolutional model: the image size comes from count_flops' argument."""
        inputs = k.Input((None, None, 3))
        x = k.layers.Conv2D(5, 3, strides=2, padding="same")(inputs)
        return k.Model(inputs, k.layers.Dense(2)(k.layers.GlobalAveragePooling2D()(x)))

    expected = ref.graph_multiply_adds(any_size_model(keras), (12, 20, 3))
    assert sub.count_flops(any_size_model(library(sub, "keras")), (12, 20, 3)) == expected


@pytest.mark.points(1, hint="Parameter counts of other sizes.", section="flops")
@GRADING
@given(
    kernel_size=st.integers(1, 7),
    in_channels=st.integers(1, 48),
    filters=st.integers(1, 48),
    use_bias=st.booleans(),
    expand_ratio=st.integers(1, 6),
)
def test_parameter_counts_match_keras_on_generated_sizes(
    sub, kernel_size, in_channels, filters, use_bias, expand_ratio
):
    k, c, f = kernel_size, in_channels, filters
    layer = keras.layers.Conv2D(f, k, use_bias=use_bias)
    layer.build((None, 9, 9, c))
    received = sub.conv2d_params(k, c, f, use_bias=use_bias)
    assert type(received) is int and received == layer.count_params()
    layer = keras.layers.SeparableConv2D(f, k)
    layer.build((None, 9, 9, c))
    received = sub.separable_conv_params(k, c, f)
    assert type(received) is int and received == layer.count_params()
    received = sub.inverted_residual_params(c, f, expand_ratio, k)
    assert type(received) is int and received == ref.mbconv_params(c, f, expand_ratio, k)


LAYER_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


@pytest.mark.points(1, hint="Multiply-adds of other layers.", section="flops")
@GRADING
@given(
    kind=st.sampled_from(LAYER_KINDS),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(["same", "valid"]),
    size=st.tuples(st.integers(4, 9), st.integers(4, 9), st.integers(1, 5)),
    filters=st.integers(1, 6),
    depth_multiplier=st.integers(1, 3),
)
def test_layer_multiply_adds_match_the_graph_on_generated_layers(
    sub, kind, kernel, strides, padding, size, filters, depth_multiplier
):
    def build(k):
        if kind == "Dense":
            return k.layers.Dense(filters)
        options = {"strides": strides, "padding": padding}
        if kind != "Conv2D":
            options["depth_multiplier"] = depth_multiplier
        if kind == "DepthwiseConv2D":
            return k.layers.DepthwiseConv2D(kernel, **options)
        return getattr(k.layers, kind)(filters, kernel, **options)

    layer, student_layer = build(keras), build(library(sub, "keras"))
    expected = ref.graph_multiply_adds(keras.Sequential([keras.Input(size), layer]), size)
    rk = library(sub, "keras")
    rk.Sequential([rk.Input(size), student_layer])
    output_shape = tuple(layer.compute_output_shape((None, *size))[1:])
    received = sub.layer_multiply_adds(student_layer, size, output_shape)
    assert type(received) is int and received == expected, (kind, size, output_shape)
