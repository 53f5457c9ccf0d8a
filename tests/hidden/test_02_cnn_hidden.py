"""Hidden tests of Lecture 02 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_02_cnn.py``, whose helpers they reuse); their messages never reach
students. The references (``references_02.py``, beside this file) follow the docstrings and
TensorFlow's documentation.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.grading.expected import module_at, public_tests

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
