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

from course_lib.grading.access import library
from course_lib.grading.expected import module_at, public_tests

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
    x = public._images((1, 6, 6, 5), 32)
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
    x = public._images((3, 5, 5, 6), 37)
    for block, names, reference in [
        (sub.ResidualBlock(6), RESIDUAL, lambda w: ref.residual(x, w, 1, batch=True)[0]),
        (
            sub.InvertedResidual(4, expand_ratio=2, strides=2),
            MBCONV,
            lambda w: ref.mbconv(x, w, 2, batch=True),
        ),
    ]:
        block(x)
        public._randomize(block, 38)
        weights = ref.read_weights(block, names)
        out = public._np(block(x, training=True))
        np.testing.assert_allclose(out, reference(weights), atol=1e-3, rtol=1e-3)


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
