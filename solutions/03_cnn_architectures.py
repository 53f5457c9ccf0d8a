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
# # Lecture 03: CNN architectures
#
# **Builds on:** Lecture 02 (convolutions, padding and stride, pooling, batch normalisation,
# training a small CNN in Keras on the course's photo collection).
# **You will build:** the blocks of the four families that shaped image recognition, each as a
# reusable `keras.layers.Layer`: a VGG block, a ResNet basic block (identity and projection
# shortcuts), an Inception module, a depthwise-separable convolution and MobileNetV2's
# inverted-residual (MBConv) block. You count parameters and multiply-adds with formulas and for
# whole models, compare the families at equal width and depth, and train two of them on the
# photo collection. Then you assemble **EfficientNet-Lite0** from your own MBConv blocks, load
# the real ImageNet weights into it, and classify real photos; its pooled features and class
# scores become the image encodings φ that the search engine of Lecture 05 ranks.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 03`. Once your file gets
# full marks, `camp classify PHOTO.jpg` and Lecture 05 use *your* network.

# %% [markdown]
# ## Setup

# %%
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from course_lib.demo import should_run_demo

SEED = 0  # Fixes weight initialisation, data generation and shuffling.
IMAGE_SIZE = 64  # Side in pixels of the photo-collection images for the training demo.
NUM_TRAIN_IMAGES = 3000  # Training images generated for the demo.
NUM_VAL_IMAGES = 1000  # Validation images generated for the demo.
EPOCHS = 6  # Passes over the training images per family in the demo.
TRAIN_WIDTH = 16  # Channels of stage 0 of the (small) models trained in the demo.
BATCH_SIZE = 64  # Images per gradient step.
FAMILY_WIDTH = 32  # Channels of the first stage of the family comparison models.
FAMILY_STAGES = 3  # Stages (each halving the resolution) of the family comparison models.
DATA_DIR = Path("data/generated/l03_64px_seed0")  # Where the demo writes the photo collection.
LITE0_IMAGE_SIZE = 224  # Input side of EfficientNet-Lite0.
# EfficientNet-B0's stages, kept by Lite0: (expand ratio, kernel, stride, channels, repeats).
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
LITE0_STEM_FILTERS = 32  # Channels of the stem convolution.
LITE0_HEAD_FILTERS = 1280  # Channels of the 1×1 head convolution (the feature size of φ).


def _check_positive(name: str, value) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected {name} to be a positive integer; received {value!r}.")
    return int(value)


# %% [markdown]
# ## Blocks as Keras layers
#
# Every block below is a `keras.layers.Layer` subclass written the way Keras' own layers are:
#
# - `__init__` stores the settings (checked, with a `ValueError` that says what was expected);
# - `build(input_shape)` creates the sublayers, because their shapes depend on the number of
#   input channels, which is known only then;
# - `call(inputs, training=None)` only *uses* the sublayers (it never creates one) and passes
#   `training` on to every batch normalisation (with `training=True` batch norm normalises with
#   the batch's own statistics and updates its moving averages, with `training=False` it uses
#   the moving averages: never fix it to one or the other); batch normalisations keep Keras'
#   defaults (momentum 0.99) apart from the epsilon a block's text gives;
# - `get_config()` returns exactly the arguments of `__init__`, so that
#   `Block.from_config(block.get_config())` rebuilds the same block.
#
# The sublayers' attribute names are part of each block's contract (the autograder copies
# weights into them, and Lecture 05 loads ImageNet weights into your MBConv blocks by name).
# Blocks take float32 image batches and return float32 feature maps; every argument of
# `__init__` counts (the autograder also builds blocks with non-default kernel sizes, strides
# and epsilons).
# All convolutions use `padding="same"`: with stride 1 the output keeps the input's size, with
# stride 2 it is `ceil(size / 2)`.
#
# ### VGG: stacks of 3×3 convolutions
#
# VGG (Simonyan and Zisserman, 2014) uses only 3×3 convolutions: two of them see a 5×5 window
# with fewer parameters than one 5×5 convolution ($2 \cdot 9C^2 < 25C^2$) and one more ReLU. A
# VGG block is `num_convs` convolutions (with bias, ReLU) followed by 2×2 max pooling.


# %%
class VGGBlock(keras.layers.Layer):
    """``num_convs`` × (Conv2D ``kernel_size``, "same", bias, ReLU), then MaxPooling2D 2×2.

    Sublayers (created in ``build``): ``convs`` (a list of ``keras.layers.Conv2D``) and ``pool``
    (``keras.layers.MaxPooling2D``).

    Input: (batch, height, width, in_channels). Output: (batch, height // 2, width // 2, filters).
    """

    def __init__(self, filters: int, num_convs: int = 2, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.num_convs = _check_positive("num_convs", num_convs)
        self.kernel_size = _check_positive("kernel_size", kernel_size)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        self.convs = [
            keras.layers.Conv2D(
                self.filters, self.kernel_size, padding="same", activation="relu", name=f"conv{i}"
            )
            for i in range(1, self.num_convs + 1)
        ]
        self.pool = keras.layers.MaxPooling2D(2, name="pool")
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        x = inputs
        for conv in self.convs:
            x = conv(x)  # (batch, height, width, filters)
        return self.pool(x)  # (batch, height // 2, width // 2, filters)
        ### END SOLUTION

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()
        config.update(filters=self.filters, num_convs=self.num_convs, kernel_size=self.kernel_size)
        return config
        ### END SOLUTION


# %% [markdown]
# ### ResNet: learn a residual
#
# Deep plain networks train *worse* than shallow ones. ResNet (He et al., 2015) adds a shortcut
# so that a block computes $\mathrm{ReLU}(F(x) + s(x))$: the block only has to learn the change
# $F$. The basic block's $F$ is conv 3×3 (stride `strides`) → BN → ReLU → conv 3×3 → BN; the
# convolutions have no bias (the BN's β replaces it). The shortcut $s$ is the **identity** when
# the shapes agree (stride 1 and as many input as output channels), otherwise a **projection**:
# conv 1×1 with stride `strides` (no bias) → BN. The final ReLU comes *after* the addition.


# %%
class ResidualBlock(keras.layers.Layer):
    """ResNet's basic block with an identity or a projection shortcut.

    Sublayers (created in ``build``): ``conv1``, ``bn1``, ``conv2``, ``bn2``, and
    ``shortcut_conv``, ``shortcut_bn`` for the projection, both None for the identity.

    Input: (batch, height, width, in_channels). Output: (batch, ceil(height / strides),
    ceil(width / strides), filters).
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.strides = _check_positive("strides", strides)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        in_channels = int(input_shape[-1])
        conv = dict(padding="same", use_bias=False)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, strides=self.strides, **conv)
        self.bn1 = keras.layers.BatchNormalization()
        self.conv2 = keras.layers.Conv2D(self.filters, 3, **conv)
        self.bn2 = keras.layers.BatchNormalization()
        self.shortcut_conv = self.shortcut_bn = None
        if self.strides != 1 or in_channels != self.filters:
            self.shortcut_conv = keras.layers.Conv2D(self.filters, 1, strides=self.strides, **conv)
            self.shortcut_bn = keras.layers.BatchNormalization()
        ### END SOLUTION

    def call(self, inputs, training=None):
        ### BEGIN SOLUTION
        x = tf.nn.relu(self.bn1(self.conv1(inputs), training=training))  # (b, h', w', filters)
        x = self.bn2(self.conv2(x), training=training)  # (b, h', w', filters)
        shortcut = inputs
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        return tf.nn.relu(x + shortcut)  # (b, h', w', filters)
        ### END SOLUTION

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides)
        return config


# %% [markdown]
# ### Inception: several window sizes side by side
#
# GoogLeNet's Inception module (Szegedy et al., 2014) runs four branches on the same input and
# concatenates their channels: a 1×1 convolution; a 1×1 "reduce" then 3×3; a 1×1 reduce then
# 5×5; and 3×3 max pooling (stride 1, "same") then a 1×1 projection. The 1×1 reduces make the
# wide windows cheap. Every convolution has a bias and a ReLU.


# %%
class InceptionModule(keras.layers.Layer):
    """GoogLeNet's Inception module (v1): four branches concatenated on the channel axis.

    Sublayers (created in ``build``): ``branch1x1``, ``branch3x3_reduce``, ``branch3x3``,
    ``branch5x5_reduce``, ``branch5x5`` (Conv2D, ReLU), ``pool`` (MaxPooling2D 3×3, stride 1,
    "same") and ``pool_proj`` (Conv2D 1×1, ReLU).

    Input: (batch, height, width, in_channels). Output: (batch, height, width, filters_1x1 +
    filters_3x3 + filters_5x5 + filters_pool_proj), the branches in that order.
    """

    def __init__(
        self,
        filters_1x1: int,
        filters_3x3_reduce: int,
        filters_3x3: int,
        filters_5x5_reduce: int,
        filters_5x5: int,
        filters_pool_proj: int,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters_1x1 = _check_positive("filters_1x1", filters_1x1)
        self.filters_3x3_reduce = _check_positive("filters_3x3_reduce", filters_3x3_reduce)
        self.filters_3x3 = _check_positive("filters_3x3", filters_3x3)
        self.filters_5x5_reduce = _check_positive("filters_5x5_reduce", filters_5x5_reduce)
        self.filters_5x5 = _check_positive("filters_5x5", filters_5x5)
        self.filters_pool_proj = _check_positive("filters_pool_proj", filters_pool_proj)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        def conv(filters, kernel_size):
            return keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")

        self.branch1x1 = conv(self.filters_1x1, 1)
        self.branch3x3_reduce = conv(self.filters_3x3_reduce, 1)
        self.branch3x3 = conv(self.filters_3x3, 3)
        self.branch5x5_reduce = conv(self.filters_5x5_reduce, 1)
        self.branch5x5 = conv(self.filters_5x5, 5)
        self.pool = keras.layers.MaxPooling2D(3, strides=1, padding="same")
        self.pool_proj = conv(self.filters_pool_proj, 1)
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        branches = [
            self.branch1x1(inputs),  # (b, h, w, filters_1x1)
            self.branch3x3(self.branch3x3_reduce(inputs)),  # (b, h, w, filters_3x3)
            self.branch5x5(self.branch5x5_reduce(inputs)),  # (b, h, w, filters_5x5)
            self.pool_proj(self.pool(inputs)),  # (b, h, w, filters_pool_proj)
        ]
        return tf.concat(branches, axis=-1)
        ### END SOLUTION

    def get_config(self):
        config = super().get_config()
        config.update(
            filters_1x1=self.filters_1x1,
            filters_3x3_reduce=self.filters_3x3_reduce,
            filters_3x3=self.filters_3x3,
            filters_5x5_reduce=self.filters_5x5_reduce,
            filters_5x5=self.filters_5x5,
            filters_pool_proj=self.filters_pool_proj,
        )
        return config


# %% [markdown]
# ### Depthwise-separable convolution
#
# A standard $k \times k$ convolution from $C$ to $F$ channels mixes space and channels at once:
# $k^2 C F$ weights. MobileNet (Howard et al., 2017) splits it in two: a **depthwise**
# $k \times k$ convolution filters each channel on its own ($k^2 C$ weights), then a
# **pointwise** 1×1 convolution mixes channels ($C F$ weights), roughly $k^2$ times cheaper.
# Here the depthwise part has no bias and the pointwise part has one, which makes the block
# compute exactly what `keras.layers.SeparableConv2D` computes (MobileNet v1 puts BN and ReLU
# after each part).


# %%
class DepthwiseSeparableConv(keras.layers.Layer):
    """DepthwiseConv2D (``kernel_size``, ``strides``, "same", no bias), then Conv2D 1×1 with bias.

    Sublayers (created in ``build``): ``depthwise`` (``keras.layers.DepthwiseConv2D``) and
    ``pointwise`` (``keras.layers.Conv2D``).

    Input: (batch, height, width, in_channels). Output: (batch, ceil(height / strides),
    ceil(width / strides), filters).
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.kernel_size = _check_positive("kernel_size", kernel_size)
        self.strides = _check_positive("strides", strides)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        self.depthwise = keras.layers.DepthwiseConv2D(
            self.kernel_size, strides=self.strides, padding="same", use_bias=False
        )
        self.pointwise = keras.layers.Conv2D(self.filters, 1)
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        return self.pointwise(self.depthwise(inputs))  # (b, h', w', in) → (b, h', w', filters)
        ### END SOLUTION

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides)
        return config


# %% [markdown]
# ### MobileNetV2's inverted residual (MBConv)
#
# MobileNetV2 (Sandler et al., 2018) turns the bottleneck inside out: a cheap 1×1 convolution
# **expands** the channels `expand_ratio` times, a depthwise convolution filters them, and a 1×1
# convolution **projects** back to few channels. The projection has no activation (a *linear*
# bottleneck: ReLU on few channels destroys information). The shortcut joins the thin ends, and
# only when the shapes agree:
#
# 1. expansion (skipped when `expand_ratio == 1`): Conv2D 1×1 to `in_channels * expand_ratio`,
#    no bias → BN → ReLU6;
# 2. DepthwiseConv2D `kernel_size`, `strides`, "same", no bias → BN → ReLU6;
# 3. projection: Conv2D 1×1 to `filters`, no bias → BN (no activation);
# 4. add the input when `strides == 1` and `in_channels == filters`.
#
# ReLU6 is $\min(\max(x, 0), 6)$. EfficientNet calls this block MBConv (it adds
# squeeze-excitation and swish; EfficientNet-Lite removes both, which is what we build). Batch
# norm uses `epsilon=batch_norm_epsilon` (1e-3, as in TensorFlow and in the weights we load).


# %%
class InvertedResidual(keras.layers.Layer):
    """MobileNetV2's inverted-residual block (MBConv without squeeze-excitation), ReLU6.

    Sublayers (created in ``build``; ``course_lib.models.imagenet`` loads weights into them by
    name):
    ``expand_conv``, ``expand_bn`` (both None when ``expand_ratio == 1``), ``depthwise_conv``,
    ``depthwise_bn``, ``project_conv``, ``project_bn``; and ``use_residual`` (bool).

    Input: (batch, height, width, in_channels). Output: (batch, ceil(height / strides),
    ceil(width / strides), filters).
    """

    def __init__(
        self,
        filters: int,
        expand_ratio: int = 6,
        kernel_size: int = 3,
        strides: int = 1,
        batch_norm_epsilon: float = 1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_positive("filters", filters)
        self.expand_ratio = _check_positive("expand_ratio", expand_ratio)
        self.kernel_size = _check_positive("kernel_size", kernel_size)
        self.strides = _check_positive("strides", strides)
        if not batch_norm_epsilon > 0:
            raise ValueError(f"Expected batch_norm_epsilon > 0; received {batch_norm_epsilon!r}.")
        self.batch_norm_epsilon = float(batch_norm_epsilon)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        in_channels = int(input_shape[-1])
        epsilon = self.batch_norm_epsilon
        self.expand_conv = self.expand_bn = None
        if self.expand_ratio != 1:
            hidden = in_channels * self.expand_ratio
            self.expand_conv = keras.layers.Conv2D(hidden, 1, use_bias=False, name="expand_conv")
            self.expand_bn = keras.layers.BatchNormalization(epsilon=epsilon, name="expand_bn")
        self.depthwise_conv = keras.layers.DepthwiseConv2D(
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=False,
            name="depthwise_conv",
        )
        self.depthwise_bn = keras.layers.BatchNormalization(epsilon=epsilon, name="depthwise_bn")
        self.project_conv = keras.layers.Conv2D(
            self.filters, 1, use_bias=False, name="project_conv"
        )
        self.project_bn = keras.layers.BatchNormalization(epsilon=epsilon, name="project_bn")
        self.use_residual = self.strides == 1 and in_channels == self.filters
        ### END SOLUTION

    def call(self, inputs, training=None):
        ### BEGIN SOLUTION
        x = inputs  # (b, h, w, in)
        if self.expand_conv is not None:
            x = tf.nn.relu6(self.expand_bn(self.expand_conv(x), training=training))  # (b,h,w,6in)
        x = tf.nn.relu6(
            self.depthwise_bn(self.depthwise_conv(x), training=training)
        )  # (b,h',w',6in)
        x = self.project_bn(self.project_conv(x), training=training)  # (b, h', w', filters)
        if self.use_residual:
            x = x + inputs
        return x
        ### END SOLUTION

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            expand_ratio=self.expand_ratio,
            kernel_size=self.kernel_size,
            strides=self.strides,
            batch_norm_epsilon=self.batch_norm_epsilon,
        )
        return config


# %% [markdown]
# ## Counting parameters
#
# `model.count_params()` counts every weight, trainable or not. A Conv2D with a $k \times k$
# kernel from $C$ to $F$ channels has $k^2 C F$ weights plus $F$ biases; a depthwise
# convolution has $k^2 C$; batch normalisation keeps **four** numbers per channel (γ and β are
# trained, the moving mean and variance are not, but they are stored and counted).


# %%
def conv2d_params(kernel_size: int, in_channels: int, filters: int, use_bias: bool = True) -> int:
    """Number of weights of a Conv2D, as a Python int.

    ``kernel_size² · in_channels · filters``, plus ``filters`` biases when ``use_bias``.
    """
    ### BEGIN SOLUTION
    return kernel_size * kernel_size * in_channels * filters + (filters if use_bias else 0)
    ### END SOLUTION


def separable_conv_params(kernel_size: int, in_channels: int, filters: int) -> int:
    """Number of weights of ``DepthwiseSeparableConv``, as a Python int.

    The depthwise part has no bias, the pointwise part has one.
    """
    ### BEGIN SOLUTION
    return kernel_size * kernel_size * in_channels + conv2d_params(1, in_channels, filters)
    ### END SOLUTION


def inverted_residual_params(
    in_channels: int, filters: int, expand_ratio: int = 6, kernel_size: int = 3
) -> int:
    """Number of weights (batch-norm statistics included) of ``InvertedResidual``.

    Args:
        in_channels: channels of the input; filters: channels of the output.
        expand_ratio: expansion factor (1: no expansion layer); kernel_size: depthwise window.

    Returns:
        The value ``count_params()`` gives for the block, as a Python int.
    """
    ### BEGIN SOLUTION
    hidden = in_channels * expand_ratio
    expand = 0 if expand_ratio == 1 else in_channels * hidden + 4 * hidden
    depthwise = kernel_size * kernel_size * hidden + 4 * hidden
    project = hidden * filters + 4 * filters
    return expand + depthwise + project
    ### END SOLUTION


# %% [markdown]
# ## Counting FLOPs
#
# **Definition used in this course:** the FLOPs of a model are the **multiply-adds** (one
# multiplication followed by one addition counts once) of its Conv2D, DepthwiseConv2D,
# SeparableConv2D and Dense layers for **one** input image. Biases, batch normalisation,
# activations, pooling and additions are not counted (they are cheap next to these). Many
# papers (and this course) quote multiply-adds as "FLOPs"; tools that count multiplications
# and additions separately report twice as many.
#
# With the output of shape $(H', W', F)$:
#
# - Conv2D, $k_h \times k_w$ kernel, $C$ input channels: $H' W' F \cdot k_h k_w C$;
# - DepthwiseConv2D (output channels $F = C \cdot$ depth multiplier): $H' W' F \cdot k_h k_w$;
# - SeparableConv2D: its depthwise part, plus $H' W' F \cdot C m$ for the pointwise part;
# - Dense from $n$ to $u$ units: $n \cdot u$ per position (times $H' W'$ if applied to a map).
#
# `layer_shapes` runs the model once and records the input and output shape of every such
# layer, however deeply it is nested inside your blocks.


# %%
COUNTED_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
)


def layer_shapes(model: keras.Model, input_shape: tuple) -> list[tuple]:
    """Run ``model`` on one zero image and record every Conv/Dense layer it calls.

    Args:
        model: any Keras model; input_shape: one image's shape, e.g. (224, 224, 3).

    Returns:
        ``(layer, input_shape, output_shape)`` per call, shapes without the batch axis.
    """
    records, patched = [], []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, COUNTED_LAYERS):

            def recording_call(*args, _layer=layer, _call=layer.call, **kwargs):
                outputs = _call(*args, **kwargs)
                records.append((_layer, tuple(args[0].shape[1:]), tuple(outputs.shape[1:])))
                return outputs

            layer.call = recording_call  # An instance attribute hides the class's call.
            patched.append(layer)
    try:
        model(np.zeros((1, *input_shape), np.float32), training=False)
    finally:
        for layer in patched:
            del layer.call
    return records


def layer_multiply_adds(layer: keras.layers.Layer, input_shape: tuple, output_shape: tuple) -> int:
    """Multiply-adds of one call of a Conv2D, DepthwiseConv2D, SeparableConv2D or Dense layer.

    Args:
        layer: the layer (read its ``kernel_size``, ``units``, ``depth_multiplier``...).
        input_shape, output_shape: one example's shapes, without the batch axis, e.g.
            (32, 32, 16) and (16, 16, 64) for a conv, (1280,) and (1000,) for a dense layer.
            A Dense layer applied to a map, e.g. (4, 5, 12) to (4, 5, 7), counts once per
            position (4 · 5 · 12 · 7).

    Returns:
        The multiply-adds as a Python int (biases not counted); 0 for any other layer.
    """
    ### BEGIN SOLUTION
    in_channels = int(input_shape[-1])
    positions = int(np.prod(output_shape[:-1], dtype=np.int64))  # H'·W' (1 for a vector)
    out_channels = int(output_shape[-1])
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        depth = in_channels * layer.depth_multiplier
        return positions * depth * kh * kw + positions * depth * out_channels
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return positions * out_channels * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return positions * out_channels * kh * kw * in_channels // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return positions * in_channels * out_channels
    return 0
    ### END SOLUTION


def count_flops(model: keras.Model, input_shape: tuple) -> int:
    """FLOPs (multiply-adds, as defined above) of ``model`` for one image of ``input_shape``.

    Args:
        model: a Keras model; input_shape: (height, width, channels), no batch axis.

    Returns:
        The sum of ``layer_multiply_adds`` over every call recorded by ``layer_shapes``, as a
        Python int; nested layers (inside your blocks or a sub-model) count.
    """
    ### BEGIN SOLUTION
    return sum(
        layer_multiply_adds(layer, shape_in, shape_out)
        for layer, shape_in, shape_out in layer_shapes(model, input_shape)
    )
    ### END SOLUTION


# %% [markdown]
# ## Four families at equal width and depth
#
# To compare the families fairly, build each one the same way: a stem (Conv2D 3×3, `width`
# channels, "same", ReLU), then `num_stages` stages; stage `i` has `width · 2**i` channels and
# halves the resolution; then global average pooling and a Dense layer of logits.
#
# | family | one stage with `c` channels |
# | --- | --- |
# | `"vgg"` | `VGGBlock(c, num_convs=2)` (its pooling halves the resolution) |
# | `"resnet"` | `ResidualBlock(c, strides=2)`, `ResidualBlock(c)` |
# | `"inception"` | `InceptionModule(c//4, c//4, c//2, c//8, c//8, c//8)`, MaxPooling2D 2×2 |
# | `"mobilenet"` | `InvertedResidual(c, 6, strides=2)`, `InvertedResidual(c, 6)` |
#
# Every stage thus has two layers of 3×3 (or wider) windows and ends with `c` channels.


# %%
FAMILIES = ("vgg", "resnet", "inception", "mobilenet")


def build_family_model(
    family: str,
    input_shape: tuple = (IMAGE_SIZE, IMAGE_SIZE, 3),
    num_classes: int = 10,
    width: int = FAMILY_WIDTH,
    num_stages: int = FAMILY_STAGES,
) -> keras.Model:
    """Build the comparison model of one family (see the table above).

    Args:
        family: one of ``FAMILIES``; input_shape: (height, width, 3).
        num_classes: units of the final Dense layer (logits, no activation).
        width: channels of the stem and of stage 0; num_stages: number of stages.

    Returns:
        A ``keras.Model`` mapping (batch, *input_shape) to (batch, num_classes) logits.
        Raises ValueError for an unknown family.
    """
    ### BEGIN SOLUTION
    if family not in FAMILIES:
        raise ValueError(f"Expected a family among {FAMILIES}; received {family!r}.")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(inputs)
    for stage in range(num_stages):
        c = width * 2**stage
        if family == "vgg":
            x = VGGBlock(c, num_convs=2)(x)
        elif family == "resnet":
            x = ResidualBlock(c, strides=2)(x)
            x = ResidualBlock(c)(x)
        elif family == "inception":
            x = InceptionModule(c // 4, c // 4, c // 2, c // 8, c // 8, c // 8)(x)
            x = keras.layers.MaxPooling2D(2)(x)
        else:
            x = InvertedResidual(c, 6, strides=2)(x)
            x = InvertedResidual(c, 6)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)  # (batch, channels)
    logits = keras.layers.Dense(num_classes, name="logits")(x)  # (batch, num_classes)
    return keras.Model(inputs, logits, name=f"{family}_{width}x{num_stages}")
    ### END SOLUTION


def family_table(
    input_shape: tuple = (IMAGE_SIZE, IMAGE_SIZE, 3),
    num_classes: int = 10,
    width: int = FAMILY_WIDTH,
    num_stages: int = FAMILY_STAGES,
) -> list[dict]:
    """Compare the four families: one row per family, in the order of ``FAMILIES``.

    Returns:
        ``[{"family": str, "params": int, "flops": int}, ...]`` where ``params`` is the
        model's ``count_params()`` and ``flops`` its ``count_flops`` for one image.
    """
    ### BEGIN SOLUTION
    rows = []
    for family in FAMILIES:
        model = build_family_model(family, input_shape, num_classes, width, num_stages)
        rows.append(
            {
                "family": family,
                "params": int(model.count_params()),
                "flops": int(count_flops(model, input_shape)),
            }
        )
    return rows
    ### END SOLUTION


# %%
if should_run_demo(__name__):
    print(f"{'family':<10} {'params':>10} {'MFLOPs':>8}   ({IMAGE_SIZE}×{IMAGE_SIZE} input)")
    for row in family_table():
        print(f"{row['family']:<10} {row['params']:>10,} {row['flops'] / 1e6:>8.1f}")

# %% [markdown]
# At width 32 with three stages on 64×64 images (10 classes) the table reads:
#
# | family | parameters | MFLOPs |
# | --- | ---: | ---: |
# | VGG | 297,546 | 192.3 |
# | ResNet | 699,914 | 109.4 |
# | Inception | 43,534 | 28.9 |
# | MobileNet | 402,378 | 97.2 |
#
# A stage with $c$ channels costs about $18c^2$ weights in VGG (two 3×3 convolutions), $36c^2$
# in ResNet (two blocks of two), $24c^2$ in MobileNet (two blocks whose 1×1 convolutions
# expand 6 times; the depthwise 3×3 costs only $54c$) and $1.5c^2$ in Inception, whose 1×1
# reductions make its 3×3 and 5×5 windows cheap. FLOPs also depend on *where* the work
# happens: VGG convolves at full resolution before it pools, so it does the most
# multiply-adds with fewer weights than ResNet, which strides first.
#
# ## Training two families on the photo collection
#
# Parameters and FLOPs are not accuracy. We train the ResNet and the MobileNet models of the
# table on the course's photo collection: each picture shows 1-5 objects among 65 categories,
# so the target is a multi-hot vector and the loss a sigmoid cross-entropy per category. We
# report the **top-1 hit rate** (how often the highest-scoring category is in the picture) on
# the validation split, and the time per epoch on this machine's CPU.


# %%
def make_photo_collection(
    root: Path = DATA_DIR,
    num_train: int = NUM_TRAIN_IMAGES,
    num_val: int = NUM_VAL_IMAGES,
    image_size: int = IMAGE_SIZE,
    seed: int = SEED,
):
    """Write (once) and load the train and val splits; returns ``(train, val)`` CocoData."""
    from course_lib.data import make_split
    from course_lib.data.coco import load_coco

    for split, count in (("train", num_train), ("val", num_val)):
        if not (root / "annotations" / f"instances_{split}.json").is_file():
            make_split(root, split, num_images=count, seed=seed, image_size=image_size)
    return load_coco(root, "train"), load_coco(root, "val")


def top1_hit_rate(scores: np.ndarray, multi_hot: np.ndarray) -> float:
    """Fraction of rows whose highest score falls on a category present in the picture."""
    return float(multi_hot[np.arange(len(scores)), scores.argmax(axis=1)].mean())


def train_family(
    family: str, train, val, epochs: int = EPOCHS, width: int = TRAIN_WIDTH, seed: int = SEED
) -> dict:
    """Train one family's model on the photo collection; return its params, time and hit rate."""
    from course_lib.data.pipelines import label_dataset, multi_hot

    keras.utils.set_random_seed(seed)
    size = (IMAGE_SIZE, IMAGE_SIZE)
    train_ds = label_dataset(
        train.records, train.categories, size, BATCH_SIZE, shuffle_seed=seed, cache=True
    )
    val_ds = label_dataset(val.records, val.categories, size, BATCH_SIZE, cache=True)
    model = build_family_model(family, (*size, 3), len(train.categories), width=width)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    model.fit(train_ds.take(1), epochs=1, verbose=0)  # Warm-up: tracing and caching not timed.
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, verbose=0)
    seconds_per_epoch = (time.perf_counter() - start) / epochs
    scores = model.predict(val_ds, verbose=0)
    hit_rate = top1_hit_rate(scores, multi_hot(val.records, val.categories))
    return {
        "family": family,
        "params": model.count_params(),
        "seconds_per_epoch": seconds_per_epoch,
        "hit_rate": hit_rate,
        "loss": history.history["loss"],
    }


# %%
if should_run_demo(__name__):
    import matplotlib.pyplot as plt

    from course_lib.data.pipelines import multi_hot

    train_data, val_data = make_photo_collection()
    results = [train_family(family, train_data, val_data) for family in ("resnet", "mobilenet")]
    # A baseline that ignores the picture: always the most frequent training category.
    train_counts = multi_hot(train_data.records, train_data.categories).sum(axis=0)
    val_targets = multi_hot(val_data.records, val_data.categories)
    baseline = top1_hit_rate(np.tile(train_counts, (len(val_targets), 1)), val_targets)
    print(f"baseline (most frequent category): val top-1 hit rate {baseline:.3f}")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for result in results:
        label = result["family"]
        axes[0].scatter(result["params"], result["hit_rate"], s=60, label=label)
        axes[1].scatter(result["seconds_per_epoch"], result["hit_rate"], s=60, label=label)
        print(
            f"{label}: {result['params']:,} params, {result['seconds_per_epoch']:.1f} s/epoch, "
            f"val top-1 hit rate {result['hit_rate']:.3f}"
        )
    axes[0].set(xscale="log", xlabel="parameters", ylabel="val top-1 hit rate")
    axes[1].set(xlabel="seconds per epoch (CPU)", ylabel="val top-1 hit rate")
    axes[0].legend()
    figure.tight_layout()
    plt.show()

# %% [markdown]
# With the settings above (width 16, 3,000 training and 1,000 validation images of 64×64,
# six epochs, Adam 2·10⁻³, on two shared CPU cores) we measured:
#
# | model | parameters | s / epoch | final training loss | val top-1 hit rate |
# | --- | ---: | ---: | ---: | ---: |
# | ResNet | 180,225 | 8.5 | 0.120 | 0.180 |
# | MobileNet | 114,145 | 42.6 | 0.085 | 0.098 |
# | always the most frequent category | 0 | – | – | 0.195 |
#
# Three lessons. **FLOPs are not time:** the MobileNet needs fewer parameters and
# multiply-adds but an epoch takes five times longer, because depthwise convolutions (and
# their gradients) make poor use of a CPU's matrix units. **Training loss is not
# accuracy:** the MobileNet fits the training set better, yet on validation images neither
# small network beats the trivial baseline after six epochs; 3,000 pictures of 65 categories
# are too few to learn from scratch, and batch norm's moving averages (momentum 0.99) have
# seen under 300 steps. Raise `NUM_TRAIN_IMAGES` and `EPOCHS` and watch the gap close. And
# this is exactly why the rest of the course starts from a network **pretrained** on
# ImageNet's 1.28 million photos, which we now build from your own blocks.
#
# ## EfficientNet-Lite0 from your own blocks
#
# EfficientNet (Tan and Le, 2019) searched for a MobileNetV2-like network (B0) and scaled it up;
# EfficientNet-Lite is the variant for phones: no squeeze-excitation, ReLU6 instead of swish,
# and a fixed stem and head. Lite0 is, in order:
#
# 1. stem: Conv2D 3×3, stride 2, 32 channels, "same", no bias → BN → ReLU6;
# 2. the seven stages of `LITE0_STAGES`: `repeats` `InvertedResidual` blocks each; the first
#    block of a stage uses the stage's stride, the others stride 1;
# 3. head: Conv2D 1×1, 1280 channels, no bias → BN → ReLU6;
# 4. global average pooling → Dropout(`dropout_rate`) → Dense(`num_classes`) logits.
#
# All batch norms use epsilon 1e-3. Name the layers (the `name=` argument) as the function's
# docstring says: `course_lib.models.imagenet` finds them by name to load the real weights, which
# were trained by Google on ImageNet's 1.28 million photos (1000 classes) and ship as a PyTorch
# checkpoint that the course reads without PyTorch.


# %%
def build_efficientnet_lite0(
    input_shape: tuple = (LITE0_IMAGE_SIZE, LITE0_IMAGE_SIZE, 3),
    num_classes: int = 1000,
    dropout_rate: float = 0.2,
) -> keras.Model:
    """Assemble EfficientNet-Lite0 from ``InvertedResidual`` blocks.

    Layer names: ``stem_conv``, ``stem_bn``, ``stem_relu``; ``block_0`` ... ``block_15`` (the
    16 InvertedResidual blocks in order); ``head_conv``, ``head_bn``, ``head_relu``;
    ``avg_pool`` (GlobalAveragePooling2D), ``dropout``, ``classifier`` (Dense, logits).

    Args:
        input_shape: (height, width, 3); 224×224 for the ImageNet weights, any size divisible
            by 32 works.
        num_classes: units of the classifier; dropout_rate: rate of the Dropout layer before it.

    Returns:
        A ``keras.Model`` mapping (batch, *input_shape) images to (batch, num_classes) logits.
    """
    ### BEGIN SOLUTION
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Conv2D(
        LITE0_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv"
    )(inputs)  # (b, h/2, w/2, 32)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name="stem_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name="stem_relu")(x)
    index = 0
    for expand_ratio, kernel_size, stride, filters, repeats in LITE0_STAGES:
        for repeat in range(repeats):
            x = InvertedResidual(
                filters,
                expand_ratio=expand_ratio,
                kernel_size=kernel_size,
                strides=stride if repeat == 0 else 1,
                name=f"block_{index}",
            )(x)
            index += 1
    x = keras.layers.Conv2D(LITE0_HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name="head_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name="head_relu")(x)  # (b, h/32, w/32, 1280)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)  # (b, 1280)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="classifier")(x)  # (b, num_classes)
    return keras.Model(inputs, logits, name="efficientnet_lite0")
    ### END SOLUTION


# %% [markdown]
# ## Image encodings φ for the search engine
#
# A trained classifier gives two useful descriptions of a photo: the **pooled features** (the
# 1280 averages of the head's feature maps, what the network "sees") and the **class scores**
# (the softmax of the logits over the 1000 ImageNet classes, what it "thinks it is"). Lecture 05
# ranks photos with both; `course_lib.models.imagenet.encode_folder` computes them for a folder with
# your encoder and caches them on disk.


# %%
def image_encoder(model: keras.Model) -> keras.Model:
    """Turn a ``build_efficientnet_lite0`` model into an encoder with two outputs.

    Args:
        model: a model with an ``avg_pool`` layer and logits as output.

    Returns:
        A ``keras.Model`` mapping (batch, h, w, 3) images to ``(features, class_scores)``:
        features (batch, 1280), the output of ``avg_pool``; class_scores (batch, num_classes),
        the softmax of the logits (each row sums to 1).
    """
    ### BEGIN SOLUTION
    features = model.get_layer("avg_pool").output  # (batch, 1280)
    class_scores = keras.layers.Softmax(name="class_scores")(model.output)  # (batch, classes)
    return keras.Model(model.input, [features, class_scores], name="image_encoder")
    ### END SOLUTION


# %%
if should_run_demo(__name__):
    import sys

    from course_lib.models import imagenet

    # Your own blocks (this module), with the real ImageNet weights.
    lite0 = imagenet.load_efficientnet_lite0(sys.modules[__name__])
    print(f"EfficientNet-Lite0: {lite0.count_params():,} weights, "
          f"{count_flops(lite0, (224, 224, 3)) / 1e6:.0f} M multiply-adds per image")  # fmt: skip
    predictions = imagenet.classify_photos(lite0, imagenet.sample_photos())
    for name, top in zip(imagenet.sample_photo_names(), predictions, strict=True):
        print(f"{name:>20}: " + ", ".join(f"{label} {p:.2f}" for label, p in top[:3]))

# %% [markdown]
# Your blocks reproduce PyTorch's logits for these weights to within 4·10⁻⁶ (the course's
# tests check 10⁻³). The network has 4,694,024 numbers (batch-norm statistics included) and
# does 385 million multiply-adds per 224×224 image. On the photos that ship with scikit-image
# and scikit-learn it answers: chelsea, *Egyptian cat* 0.79 (tiger cat 0.09, tabby 0.07);
# coffee, *espresso* 0.90 (cup 0.03); astronaut, *bobsled* 0.29 (football helmet 0.10:
# ImageNet has no "astronaut" class, so the network picks the nearest helmeted scene); rocket,
# *drilling platform* 0.42 (missile 0.12); china.jpg, *bell cote* 0.29 (boathouse 0.16);
# flower.jpg, *daisy* 0.15 (bee 0.08). Try your own: `camp classify PHOTO.jpg`.
