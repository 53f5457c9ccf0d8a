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
# # Lecture 02: Convolutional networks
#
# **Builds on:** Lecture 01 (dense layers, sigmoid, cross-entropy, training with Keras).
# **You will build:** the 2-D convolution of `tf.nn.conv2d` in numpy, first with loops and then
# vectorised, for any stride, `"valid"` or `"same"` padding and channel count; max and average
# pooling as `tf.nn.max_pool2d` / `tf.nn.avg_pool2d` compute them; the output-shape formula, the
# parameter count and the receptive field of a stack of layers; a Keras CNN that recognises which
# objects appear in the course's photo collection (multi-label, sigmoid outputs, binary
# cross-entropy, early stopping), scored with mean average precision and micro-F1; and pictures
# of what the network learned: its first-layer filters and the feature maps of an image.
#
# The search engine of Lecture 05 describes every photo by what a CNN sees in it: the
# recognition network of this lecture is its first image encoder.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 02`.

# %% [markdown]
# ## Setup

# %%
import math
from pathlib import Path

import keras
import matplotlib
import numpy as np
import tensorflow as tf
from sklearn.metrics import average_precision_score, f1_score

from course_lib.data.cache import cached_collection
from course_lib.data.coco import load_coco
from course_lib.data.pipelines import label_dataset
from course_lib.demo import in_kernel, should_run_demo, show_figure
from course_lib.paths import user_dir

if not in_kernel():  # Outside Jupyter and Colab, draw into files, never into a window.
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen before pyplot loads)

SEED = 0  # Fixes data generation, shuffling and weight initialisation.
IMAGE_SIZE = 64  # Height and width, in pixels, of the photos the CNN sees.
TRAIN_IMAGES = 4000  # Photos generated for training.
VAL_IMAGES = 1000  # Photos generated for validation (early stopping and the reported scores).
BLOCK_FILTERS = (32, 64, 128, 256)  # Filters of each convolution block; each block halves H, W.
DROPOUT_RATE = 0.3  # Dropout before the classification layer.
LEARNING_RATE = 4e-3  # Adam's step size.
EPOCHS = 13  # Most passes over the training photos (early stopping usually ends sooner).
PATIENCE = 4  # Epochs without a better validation loss before training stops.
BATCH_SIZE = 32  # Photos per gradient step.
THRESHOLD = 0.5  # A category is predicted present when its probability reaches this value.

# %% [markdown]
# ## Convolution
#
# A convolution layer slides a small kernel over the image. At every position it multiplies
# the kernel with the window of pixels under it, all input channels at once, and sums: one
# number per output channel. Deep-learning libraries compute the *cross-correlation*
#
# $$y[n, i, j, o] = \sum_{a, b, c} x[n, i s + a, j s + b, c] \; w[a, b, c, o],$$
#
# without flipping the kernel as the convolution of signal processing does (a learned kernel
# does not care). We store images as NHWC, `(batch, height, width, channels)`, and kernels as
# HWIO, `(kernel_height, kernel_width, in_channels, out_channels)`, exactly as `tf.nn.conv2d`.
#
# ## Padding and stride
#
# With `"valid"` padding the kernel only visits positions where it fits entirely, so the output
# has $\lfloor (H - K) / S \rfloor + 1$ rows. With `"same"` padding the output has
# $\lceil H / S \rceil$ rows and zeros are added around the image to make that possible:
# TensorFlow pads $P = \max((\lceil H/S \rceil - 1) S + K - H, 0)$ rows in total, $\lfloor P/2
# \rfloor$ on top and the rest, one more when $P$ is odd, at the bottom (the same for columns).


# %%
def as_pair(value, name: str = "value") -> tuple[int, int]:
    """Return ``(value, value)`` for an int, or the pair itself for a pair of ints.

    Raises ValueError for anything else, or for values below 1.
    """
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and v >= 1 for v in pair):
        raise ValueError(f"Expected {name} as an int >= 1 or a pair of them; received {value!r}.")
    return int(pair[0]), int(pair[1])


def check_padding(padding: str) -> str:
    """Return ``padding`` lower-cased if it is ``"valid"`` or ``"same"``; else raise ValueError."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f'Expected padding "valid" or "same"; received {padding!r}.')
    return padding.lower()


def conv_output_size(in_size: int, kernel_size: int, stride: int, padding: str) -> int:
    """Number of output rows (or columns) of a convolution or pooling along one axis.

    Args:
        in_size: input rows; kernel_size: kernel rows; stride: step between windows.
        padding: ``"valid"`` (no padding; assumes ``in_size >= kernel_size``) or ``"same"``.

    Returns:
        The output size, an int: ``floor((in - k) / s) + 1`` for valid, ``ceil(in / s)`` for same.
    """
    padding = check_padding(padding)
    # YOUR CODE HERE
    raise NotImplementedError("conv_output_size: fill in the region marked YOUR CODE HERE")


def same_padding(in_size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """Zeros TensorFlow adds before and after one axis for ``"same"`` padding.

    Args:
        in_size: input rows; kernel_size: kernel rows; stride: step between windows.

    Returns:
        ``(before, after)``: ``before = total // 2`` and ``after = total - before`` where
        ``total = max((ceil(in / s) - 1) * s + k - in, 0)``; the extra zero goes after.
    """
    # YOUR CODE HERE
    raise NotImplementedError("same_padding: fill in the region marked YOUR CODE HERE")


def pad_input(
    x: np.ndarray, kernel_size, strides, padding: str, constant: float = 0.0
) -> np.ndarray:
    """Pad the height and width axes of a batch of images as a convolution would.

    Args:
        x: (batch, height, width, channels) images.
        kernel_size: int or (kernel_height, kernel_width); strides: int or (rows, columns).
        padding: ``"valid"`` (returns ``x`` unchanged) or ``"same"`` (pads as ``same_padding``).
        constant: the value padded in (0 for convolution; pooling uses other values).

    Returns:
        (batch, height + top + bottom, width + left + right, channels) padded images.
    """
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size"), as_pair(strides, "strides")
    padding = check_padding(padding)
    # YOUR CODE HERE
    raise NotImplementedError("pad_input: fill in the region marked YOUR CODE HERE")


def check_conv_args(x: np.ndarray, kernel: np.ndarray) -> None:
    """Raise ValueError unless ``x`` is NHWC and ``kernel`` HWIO with matching channels."""
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            "Expected x of shape (batch, height, width, channels) and kernel of shape "
            f"(kh, kw, in_channels, out_channels); received {x.shape} and {kernel.shape}."
        )
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(
            f"Expected the kernel's in_channels to equal the input's {x.shape[3]} channels; "
            f"received {kernel.shape[2]}."
        )


# %% [markdown]
# ### With loops
#
# First the direct translation of the formula: visit every output position, cut out the window
# under the kernel and multiply it with all filters at once (`np.tensordot` over the window's
# height, width and channels).


# %%
def conv2d_loops(
    x: np.ndarray, kernel: np.ndarray, strides=1, padding: str = "valid"
) -> np.ndarray:
    """2-D cross-correlation as ``tf.nn.conv2d``, looping over output positions.

    Args:
        x: (batch, height, width, in_channels) images.
        kernel: (kernel_height, kernel_width, in_channels, out_channels) filters (not flipped).
        strides: int or (row stride, column stride).
        padding: ``"valid"`` or ``"same"`` (TensorFlow's split, see ``same_padding``).

    Returns:
        (batch, out_height, out_width, out_channels), sizes from ``conv_output_size``.
    """
    x, kernel = np.asarray(x), np.asarray(kernel)
    check_conv_args(x, kernel)
    # YOUR CODE HERE
    raise NotImplementedError("conv2d_loops: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ### Vectorised
#
# Python loops over pixels are slow. `numpy.lib.stride_tricks.sliding_window_view` returns every
# window of the padded image as a view, without copying: an array of shape
# `(batch, H', W', channels, kh, kw)`. Keeping every `stride`-th window and contracting the last
# three axes with the kernel computes all outputs in one matrix product (this is *im2col*: the
# windows become the rows of a matrix). `benchmarks/conv.py` measures the speed-up.


# %%
def conv2d_vectorized(
    x: np.ndarray, kernel: np.ndarray, strides=1, padding: str = "valid"
) -> np.ndarray:
    """2-D cross-correlation as ``tf.nn.conv2d``, without Python loops over positions.

    Args:
        x: (batch, height, width, in_channels) images.
        kernel: (kernel_height, kernel_width, in_channels, out_channels) filters.
        strides: int or (row stride, column stride).
        padding: ``"valid"`` or ``"same"``.

    Returns:
        (batch, out_height, out_width, out_channels), equal to ``conv2d_loops``.
    """
    x, kernel = np.asarray(x), np.asarray(kernel)
    check_conv_args(x, kernel)
    # YOUR CODE HERE
    raise NotImplementedError("conv2d_vectorized: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Pooling
#
# Pooling summarises each window of each channel separately: max pooling keeps the largest
# value, average pooling the mean. It has no weights and never mixes channels. With `"same"`
# padding TensorFlow ignores the padded positions: they never win a maximum, and an average is
# taken over the real pixels of the window only.


# %%
def pooling_windows(x: np.ndarray, pool_size, strides, padding: str, constant: float):
    """Return the pooling windows of ``x``: (batch, out_h, out_w, channels, pool_h, pool_w)."""
    ph, pw = as_pair(pool_size, "pool_size")
    sh, sw = as_pair(strides if strides is not None else (ph, pw), "strides")
    padded = pad_input(np.asarray(x, np.float64), (ph, pw), (sh, sw), padding, constant)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (ph, pw), axis=(1, 2))
    return windows[:, ::sh, ::sw]


def max_pool2d(x: np.ndarray, pool_size=2, strides=None, padding: str = "valid") -> np.ndarray:
    """Max pooling as ``tf.nn.max_pool2d``.

    Args:
        x: (batch, height, width, channels) feature maps.
        pool_size: int or (rows, columns) of each window.
        strides: int or pair; ``None`` means ``pool_size`` (non-overlapping windows, as Keras).
        padding: ``"valid"`` or ``"same"`` (padded positions never win).

    Returns:
        (batch, out_height, out_width, channels) float64 maxima, one per window and channel.
    """
    # YOUR CODE HERE
    raise NotImplementedError("max_pool2d: fill in the region marked YOUR CODE HERE")


def avg_pool2d(x: np.ndarray, pool_size=2, strides=None, padding: str = "valid") -> np.ndarray:
    """Average pooling as ``tf.nn.avg_pool2d``.

    Args:
        x: (batch, height, width, channels) feature maps.
        pool_size: int or (rows, columns); strides: int, pair or ``None`` (= ``pool_size``).
        padding: ``"valid"`` or ``"same"`` (the mean is over the real pixels of each window).

    Returns:
        (batch, out_height, out_width, channels) float64 means.
    """
    # YOUR CODE HERE
    raise NotImplementedError("avg_pool2d: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Parameters
#
# A `Conv2D` layer with $C_{out}$ filters of size $K_h \times K_w$ on $C_{in}$ channels holds
# $K_h K_w C_{in} C_{out}$ weights and $C_{out}$ biases, whatever the image size: the same small
# filters are shared by every position. A dense layer on the same image would need a weight per
# pixel and unit.


# %%
def conv_param_count(kernel_size, in_channels: int, filters: int, use_bias: bool = True) -> int:
    """Trainable parameters of ``keras.layers.Conv2D(filters, kernel_size, use_bias=...)``.

    Args:
        kernel_size: int or (kernel_height, kernel_width).
        in_channels: channels of the input; filters: output channels.
        use_bias: whether the layer has one bias per filter.

    Returns:
        The parameter count, an int.
    """
    kh, kw = as_pair(kernel_size, "kernel_size")
    # YOUR CODE HERE
    raise NotImplementedError("conv_param_count: fill in the region marked YOUR CODE HERE")


def conv_output_shape(
    input_shape: tuple, filters: int, kernel_size, strides=1, padding: str = "valid"
) -> tuple:
    """Output shape of ``keras.layers.Conv2D(filters, kernel_size, strides, padding)``.

    Args:
        input_shape: (batch, height, width, channels); batch may be None.
        filters, kernel_size, strides, padding: as the Keras layer's arguments.

    Returns:
        (batch, out_height, out_width, filters), sizes from ``conv_output_size``.
    """
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size"), as_pair(strides, "strides")
    # YOUR CODE HERE
    raise NotImplementedError("conv_output_shape: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Receptive field
#
# A unit of a deep layer depends on a window of the input: its receptive field. Walk through the
# stack from the input, keeping the receptive field $r$ (pixels along one side) and the *jump*
# $j$, the distance in input pixels between neighbouring units of the current layer. Start from
# $r = 1$, $j = 1$; a layer with kernel $k$ and stride $s$ does $r \leftarrow r + (k - 1) j$,
# then $j \leftarrow j s$. Pooling layers count as layers with their own kernel and stride.
# Strides multiply the growth of every later layer, which is why deep layers see whole objects.


# %%
def receptive_field(layers) -> int:
    """Receptive field, in input pixels along one side, of a unit of the last layer of a stack.

    Args:
        layers: a sequence of ``(kernel_size, stride)`` pairs of ints, input side first
            (convolutions and pooling alike; padding does not change the size).

    Returns:
        The receptive field, an int (1 for an empty stack).
    """
    # YOUR CODE HERE
    raise NotImplementedError("receptive_field: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Data
#
# The course's photo collection: everyday scenes with one to five objects among 66 categories
# (person, dog, bicycle, pizza...), written in COCO's format by `course_lib.data.make_split`.
# The first run generates the photos into `data/generated/` (about 20 seconds); later runs reuse
# them. `course_lib.data.pipelines.label_dataset` turns the records into a `tf.data` pipeline of
# `(image, multi_hot)` pairs: images scaled to [0, 1], and one 0/1 value per category.


# %%
def collection_dir(
    train_images: int = TRAIN_IMAGES,
    val_images: int = VAL_IMAGES,
    image_size: int = IMAGE_SIZE,
    seed: int = SEED,
    root: Path | None = None,
) -> Path:
    """Return a generated collection folder with these settings, generating what is missing.

    Args:
        train_images, val_images: photos of each split; image_size: pixels per side.
        seed: the generator's seed.
        root: the folder that holds collections; default ``<checkout>/data/generated``.

    Returns:
        A folder (under ``root``) holding the COCO files of ``train`` and ``val``, written on
        first use by ``course_lib.data.cache.cached_collection``.
    """
    return cached_collection(
        "l02", {"train": train_images, "val": val_images}, seed, image_size, root
    )


def make_datasets(
    folder: Path,
    image_size: int = IMAGE_SIZE,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
):
    """Return ``(train_ds, val_ds, category_names)`` of a generated collection.

    ``train_ds`` is shuffled with ``seed`` every epoch; both yield ``(images, multi_hot)``:
    (batch, image_size, image_size, 3) float32 in [0, 1] and (batch, categories) float32.
    Decoded images are cached in memory after the first epoch.
    """
    train, val = load_coco(folder, "train"), load_coco(folder, "val")
    size = (image_size, image_size)
    train_ds = label_dataset(
        train.records, train.categories, size, batch_size, shuffle_seed=seed, cache=True
    )
    val_ds = label_dataset(val.records, train.categories, size, batch_size, cache=True)
    return train_ds, val_ds, train.category_names


# %% [markdown]
# ## Model
#
# Each block is convolution → batch normalisation → ReLU → max pooling: the convolution finds
# local patterns, batch normalisation keeps the activations of every channel at zero mean and
# unit variance during training (which lets Adam use a large step), ReLU keeps the positive
# responses, and pooling halves the height and width, so the next block sees a twice larger
# region with the same kernel. The block is a `keras.layers.Layer`: its sub-layers are created
# in `__init__`, built in `build`, and only applied in `call`.
#
# After the last block, global average pooling keeps one number per channel ("how strongly does
# this pattern appear anywhere"), and a dense layer with a **sigmoid** per category answers 66
# independent yes/no questions: several objects can be in one photo, so the categories must not
# compete as they would under a softmax. The loss is the binary cross-entropy, averaged over
# categories.


# %%
class ConvBlock(keras.layers.Layer):
    """Conv2D (same padding, no bias) → BatchNormalization → ReLU → MaxPooling2D.

    Args:
        filters: output channels of the convolution (an int >= 1).
        kernel_size: the convolution's kernel size (int).
        pool_size: the max pooling's window and stride (int); 1 means no pooling.

    Input (batch, height, width, channels) → output (batch, ceil(height / pool_size),
    ceil(width / pool_size), filters). Sub-layers: ``conv``, ``norm``, ``pool``.
    """

    def __init__(self, filters: int, kernel_size: int = 3, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("filters", filters), ("kernel_size", kernel_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {name} to be an int >= 1; received {value!r}.")
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"Expected pool_size to be an int >= 1; received {pool_size!r}.")
        self.filters, self.kernel_size, self.pool_size = filters, kernel_size, pool_size
        self.conv = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False)
        # Keras' default momentum (0.99) averages over ~100 steps: too slow for short trainings.
        self.norm = keras.layers.BatchNormalization(momentum=0.9)
        self.pool = keras.layers.MaxPooling2D(pool_size, padding="same")

    def build(self, input_shape):
        self.conv.build(input_shape)
        conv_shape = self.conv.compute_output_shape(input_shape)
        self.norm.build(conv_shape)
        self.pool.build(conv_shape)

    def call(self, inputs, training=None):
        # YOUR CODE HERE
        raise NotImplementedError("ConvBlock.call: fill in the region marked YOUR CODE HERE")

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": self.filters, "kernel_size": self.kernel_size, "pool_size": self.pool_size}
        )
        return config


def build_cnn(
    image_size: int = IMAGE_SIZE,
    num_classes: int = 66,
    block_filters=BLOCK_FILTERS,
    dropout_rate: float = DROPOUT_RATE,
) -> keras.Model:
    """Build (not compile) the multi-label CNN with Keras' functional API.

    Layers: Input (image_size, image_size, 3) → one ``ConvBlock(f)`` per ``f`` in
    ``block_filters`` → GlobalAveragePooling2D → Dropout(dropout_rate) →
    Dense(num_classes, activation="sigmoid").

    Returns:
        A ``keras.Model`` mapping (batch, image_size, image_size, 3) images in [0, 1] to
        (batch, num_classes) probabilities, one independent probability per category.
    """
    # YOUR CODE HERE
    raise NotImplementedError("build_cnn: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Train
#
# `model.fit` takes the `tf.data` pipelines directly. Early stopping watches the validation
# loss, stops after `patience` epochs without improvement, and puts back the weights of the best
# epoch, so the model we evaluate is the one that generalised best. The step size decays along a
# cosine, so that the last epochs fine-tune instead of jumping around.


# %%
def cosine_schedule(learning_rate: float, epochs: int, train_ds: tf.data.Dataset):
    """Step sizes that fall from ``learning_rate`` to 0 along a half cosine over ``epochs``.

    Large steps early explore, small steps late settle into a minimum (and make the validation
    loss of the last epochs steadier). Returns ``learning_rate`` itself when the number of
    batches of ``train_ds`` is unknown.
    """
    steps = int(train_ds.cardinality())
    if steps <= 0:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps)


def train_cnn(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    epochs: int = EPOCHS,
    patience: int = PATIENCE,
    learning_rate: float = LEARNING_RATE,
    verbose: int = 1,
    seed: int = SEED,
) -> keras.callbacks.History:
    """Compile ``model`` (Adam, binary cross-entropy) and fit it with early stopping.

    Adam's step size follows ``cosine_schedule(learning_rate, epochs, train_ds)``.

    Args:
        model: the output of ``build_cnn`` (sigmoid outputs).
        train_ds, val_ds: ``tf.data`` datasets of ``(images, multi_hot)`` batches.
        epochs: most epochs, passed to ``fit`` as ``epochs=epochs``; patience: epochs without
            a lower ``val_loss`` before stopping.
        learning_rate: Adam's step size at the first step; verbose: 1 shows Keras' progress bars.
        seed: passed to ``keras.utils.set_random_seed`` before anything else (the only seeding).

    Every argument is used as given (the tests pass values other than the defaults).

    Returns:
        The ``History`` of ``model.fit``, with ``loss`` and ``val_loss`` per epoch. Training
        uses ``keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
        restore_best_weights=True)``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("train_cnn: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Evaluate
#
# Accuracy means little when most categories are absent from most photos. We report two scores
# on the validation photos:
#
# - **mean average precision (mAP)**: for each category, rank the photos by predicted
#   probability and average the precision at every photo that truly contains it; then average
#   over the categories present in the split (a category with no positive photo has no average
#   precision). It does not depend on a threshold: 1.0 means every category ranks its photos
#   perfectly. Chance level is the fraction of photos containing the category.
# - **micro-F1 at threshold 0.5**: count true positives, false positives and false negatives
#   over all photos and categories together, then $F_1 = 2TP / (2TP + FP + FN)$.
#
# Measured with the settings above (4,000 training photos of 64 × 64 pixels, 2 shared CPU cores,
# seed 0): 13 epochs in 246 s of training (about 19 s an epoch; generating the photos took 16 s
# once), val **mAP 0.58** and **micro-F1 0.61** over the 65 categories present in the val split.
# Chance level for mAP is about 0.04 (a photo holds 2.7 of the 66 categories on average). The
# validation loss was still falling at the last epoch: more photos and epochs score higher.


# %%
def evaluate_multilabel(
    y_true: np.ndarray, y_prob: np.ndarray, threshold: float = THRESHOLD
) -> dict[str, float]:
    """Mean average precision and micro-F1 of multi-label predictions.

    Args:
        y_true: (num_images, num_classes) 0/1 labels.
        y_prob: (num_images, num_classes) predicted probabilities.
        threshold: a category is predicted present when its probability is >= threshold.

    Returns:
        ``{"mAP": ..., "micro_f1": ..., "num_classes_scored": ...}``: ``mAP`` is scikit-learn's
        ``average_precision_score`` averaged (macro) over the categories with at least one
        positive image, ``num_classes_scored`` is how many those are, and ``micro_f1`` is
        ``f1_score(..., average="micro")`` of ``y_prob >= threshold`` (a probability equal to the
        threshold counts as present). mAP and micro_f1 are floats, num_classes_scored an int.
    """
    # YOUR CODE HERE
    raise NotImplementedError("evaluate_multilabel: fill in the region marked YOUR CODE HERE")


def predict_dataset(model: keras.Model, dataset: tf.data.Dataset):
    """Return ``(y_true, y_prob)`` as numpy arrays over every batch of ``dataset``."""
    labels, probabilities = [], []
    for images, multi_hot in dataset:
        labels.append(multi_hot.numpy())
        probabilities.append(model(images, training=False).numpy())
    return np.concatenate(labels), np.concatenate(probabilities)


# %% [markdown]
# ## Looking inside
#
# The first convolution works on pixels directly, so its filters can be drawn as little colour
# pictures: each filter is scaled to [0, 1] on its own (its smallest weight black, its largest
# white) and shown in a grid. The feature maps of a layer are its output channels for one image:
# bright where the channel's pattern appears.


# %%
def first_layer_filters(model: keras.Model) -> np.ndarray:
    """The kernel of the first convolution of ``model``, also when it sits inside a ``ConvBlock``.

    Returns:
        (kernel_height, kernel_width, in_channels, filters) numpy array of the current weights.
    """
    # YOUR CODE HERE
    raise NotImplementedError("first_layer_filters: fill in the region marked YOUR CODE HERE")


def grid_figure(rows: int, columns: int, cell_pixels: int, dpi: int = 100):
    """Return ``(figure, axes)``: a rows × columns grid of axes, each exactly a cell's pixels.

    The figure has no margins or gaps, so its PNG is ``columns * cell_pixels`` wide and
    ``rows * cell_pixels`` high; ``axes`` is a (rows, columns) array with the axis lines off.
    """
    figure = plt.figure(figsize=(columns * cell_pixels / dpi, rows * cell_pixels / dpi), dpi=dpi)
    axes = figure.subplots(rows, columns, squeeze=False)
    figure.subplots_adjust(left=0, right=1, bottom=0, top=1, wspace=0, hspace=0)
    for ax in axes.flat:
        ax.set_axis_off()
    return figure, axes


def plot_filters(model: keras.Model, path, columns: int = 8, cell_pixels: int = 32) -> np.ndarray:
    """Save the first-layer filters of ``model`` as a PNG grid, then close the figure.

    Args:
        model: a model whose first convolution has 3 input channels.
        path: the PNG file to write.
        columns: cells per row; the grid has ``ceil(filters / columns)`` rows.
        cell_pixels: pixels per side of each cell.

    Returns:
        (filters, kernel_height, kernel_width, 3) float64 pictures drawn: filter ``f`` is
        ``(w - w.min()) / (w.max() - w.min())`` of ``w = kernel[:, :, :, f]`` (0.5 everywhere if
        constant). Cell ``f`` (row-major) shows picture ``f`` with nearest interpolation,
        stretched over the whole cell; the PNG is exactly ``columns * cell_pixels`` ×
        ``rows * cell_pixels`` pixels; unused cells are white.
    """
    # YOUR CODE HERE
    raise NotImplementedError("plot_filters: fill in the region marked YOUR CODE HERE")


def feature_maps(model: keras.Model, image: np.ndarray, layer_name: str) -> np.ndarray:
    """Output of the layer named ``layer_name`` of a functional ``model`` for one image.

    Args:
        model: a functional or sequential Keras model.
        image: (height, width, 3) one image as the model expects it.
        layer_name: the name of one of ``model.layers``.

    Returns:
        (out_height, out_width, channels) numpy array: that layer's output in inference mode.
    """
    # YOUR CODE HERE
    raise NotImplementedError("feature_maps: fill in the region marked YOUR CODE HERE")


def plot_feature_maps(
    model: keras.Model,
    image: np.ndarray,
    layer_name: str,
    path,
    columns: int = 8,
    cell_pixels: int = 64,
) -> np.ndarray:
    """Save the channels of ``feature_maps(model, image, layer_name)`` as a grey PNG grid.

    Cell ``c`` (row-major) shows channel ``c``, scaled by its own minimum and maximum; the grid
    has ``columns`` columns and ``ceil(channels / columns)`` rows; the PNG is exactly
    ``columns * cell_pixels`` × ``rows * cell_pixels`` pixels. Returns the (h, w, channels) maps.
    """
    maps = feature_maps(model, image, layer_name)  # (h, w, channels)
    rows = math.ceil(maps.shape[-1] / columns)
    figure, axes = grid_figure(rows, columns, cell_pixels)
    for channel in range(maps.shape[-1]):
        axes.flat[channel].imshow(maps[:, :, channel], cmap="gray", aspect="auto")
    figure.savefig(path, format="png", dpi=figure.dpi)
    plt.close(figure)
    return maps


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or as a script (`python 02_cnn.py`), never on import: about
# 20 seconds to generate the photos the first time, then about four minutes of training.

# %%
if should_run_demo(__name__):
    x = np.random.default_rng(SEED).normal(size=(2, 9, 9, 3))
    w = np.random.default_rng(SEED + 1).normal(size=(4, 4, 3, 5))
    reference = tf.nn.conv2d(x, w, strides=2, padding="SAME").numpy()
    mine = conv2d_vectorized(x, w, strides=2, padding="same")
    print(f"conv2d_vectorized vs tf.nn.conv2d: max difference {np.abs(mine - reference).max():.1e}")
    print(
        f"Receptive field of 4 blocks (3×3 conv, 2×2 pool): {receptive_field([(3, 1), (2, 2)] * 4)}"
    )

    folder = collection_dir()
    train_ds, val_ds, names = make_datasets(folder)
    model = build_cnn(num_classes=len(names))
    model.summary()
    train_cnn(model, train_ds, val_ds)
    y_true, y_prob = predict_dataset(model, val_ds)
    scores = evaluate_multilabel(y_true, y_prob)
    print(f"val mAP {scores['mAP']:.3f}, micro-F1 {scores['micro_f1']:.3f}")

    out = user_dir() / "figures"
    out.mkdir(exist_ok=True)
    plot_filters(model, out / "l02_filters.png")
    image = next(iter(val_ds))[0][0].numpy()  # (IMAGE_SIZE, IMAGE_SIZE, 3)
    plot_feature_maps(model, image, "block1", out / "l02_feature_maps.png")
    print(f"Filters and feature maps written to {out}")
    show_figure(out / "l02_filters.png")
    show_figure(out / "l02_feature_maps.png")
