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
# # Lecture 08: A contrastive dual encoder
#
# **Builds on:** Lecture 01 (softmax, cross-entropy, `GradientTape`), Lecture 02 (the photo
# collection's categories and the supervised classifier), Lecture 03 (residual blocks),
# Lecture 04 (MiniLM and SIF sentence embeddings, cosine similarity) and Lecture 05 (ranking
# metrics and the `SearchEngine` interface).
# **You will build:** projection heads and L2-normalised embeddings; the symmetric InfoNCE loss
# with a learnable, bounded temperature, checked against numpy and its gradients; an image tower
# from your Lecture 03 blocks and a text tower on frozen MiniLM sentence embeddings; a
# `DualEncoder` Keras model with its own `train_step` and `test_step`, trained with `tf.data`
# on the photo collection; text-to-image retrieval measured with Lecture 05's metrics, and
# image-to-text retrieval as CLIP reports it; zero-shot classification by prompts ("a photo of
# a dog"), one prompt or an ensemble of them; pictures of the embedding space and of the
# retrieval results; and a `DualEncoderEngine` that joins Lecture 05's search engines.
#
# So far the course matched a text query with a *description* of the picture (captions,
# detected labels, classifier scores). A dual encoder learns a common representation instead:
# an image and a text become points of the same space, close when the text describes the image.
# This is how CLIP (Radford et al., 2021) and ALIGN (Jia et al., 2021) work, and what keras-io's
# "Natural language image search with a Dual Encoder" (Khalid Salama) builds on COCO; here the
# towers are small enough to train on a laptop CPU.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 08`.

# %% [markdown]
# ## Setup

# %%
import math
import time
from pathlib import Path

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from course_lib.data.cache import cached_collection
from course_lib.data.coco import load_coco
from course_lib.data.pipelines import load_image
from course_lib.demo import in_kernel, should_run_demo, show_figure
from course_lib.student.lectures import lecture_module

if not in_kernel():  # Outside Jupyter and Colab, draw into files, never into a window.
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen before pyplot loads)

SEED = 0  # Fixes data generation, shuffling, caption draws and weight initialisation.
COLLECTION_IMAGE_SIZE = 128  # Pixels per side of the generated photos.
IMAGE_SIZE = 64  # Pixels per side of the photos the image tower sees (resized from 128).
TRAIN_IMAGES = 8000  # Photos of the train split (five captions each).
VAL_IMAGES = 1000  # Photos of the val split (the reported retrieval and zero-shot figures).
IMAGE_FILTERS = (32, 64, 128)  # Filters of the image tower's residual blocks (each halves H, W).
EMBEDDING_DIM = 128  # Size of the joint embedding space (the output of both projection heads).
DROPOUT_RATE = 0.1  # Dropout inside the projection heads.
INITIAL_TEMPERATURE = 0.07  # CLIP's initial temperature (logits scaled by 1 / 0.07 ≈ 14.3).
MAX_LOGIT_SCALE = 100.0  # CLIP keeps the logit scale 1 / temperature at most 100.
BATCH_SIZE = 128  # Image-caption pairs per step: each pair has BATCH_SIZE - 1 negatives.
EPOCHS = 15  # Passes over the training photos (one random caption per photo and epoch).
LEARNING_RATE = 2e-3  # AdamW's step size.
WEIGHT_DECAY = 1e-4  # AdamW's decoupled weight decay (kernels only, as in OpenCLIP).
KS = (1, 5, 10)  # Recall@K is reported for these K.
MAP_K = 10  # Cut-off of the reported mAP (as the competition's mAP@10).
PROMPT = "a photo of a {}"  # Zero-shot prompt; {} is a category name.
PROMPT_TEMPLATES = (  # Prompt ensembling: each category's prompts, averaged (CLIP's trick).
    "a photo of a {}",
    "a picture of a {}",
    "a photo of the {}",
    "there is a {} in the picture",
    "a {} in a photo",
    "a scene with a {}",
)


def search_lecture():
    """Lecture 05's module: its metrics, ``top_k``, ``SearchEngine``, ``FusionEngine``..."""
    return lecture_module("05", quiet=True)


def cnn_lecture():
    """Lecture 03's module: its ``ResidualBlock`` builds the image tower."""
    return lecture_module("03", quiet=True)


# %% [markdown]
# ## Data
#
# The course's photo collection: every photo has five captions and a scene graph. A training
# example is a *pair*, a photo and one of its captions; nothing else is labelled. Photos are
# decoded once at 64×64 and kept in memory as uint8 (8,000 photos take 98 MB), cached in the
# collection folder as `.npy`.


# %%
def collection_dir(
    train_images: int = TRAIN_IMAGES,
    val_images: int = VAL_IMAGES,
    seed: int = SEED,
    root: Path | None = None,
) -> Path:
    """Return the generated collection folder (train and val splits), generating it once."""
    splits = {"train": train_images, "val": val_images}
    return cached_collection("l08", splits, seed, COLLECTION_IMAGE_SIZE, root)


def load_split(folder: Path, split: str, image_size: int = IMAGE_SIZE):
    """Return ``(pixels, records)``: uint8 (n, S, S, 3) photos and their COCO records.

    The pixels are decoded once and cached in ``folder/pixels_<split>_<S>.npy``.
    """
    records = load_coco(folder, split).records
    path = Path(folder) / f"pixels_{split}_{image_size}.npy"
    if path.is_file():
        return np.load(path), records
    paths = tf.data.Dataset.from_tensor_slices([str(r.path) for r in records])
    size = (image_size, image_size)
    images = paths.map(lambda p: load_image(p, size), num_parallel_calls=tf.data.AUTOTUNE)
    pixels = np.concatenate(
        [np.round(batch.numpy() * 255).astype(np.uint8) for batch in images.batch(500)]
    )
    np.save(path, pixels)
    return pixels, records


def to_pixels(images, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Turn image paths, or arrays (H, W, 3) uint8 or floats in [0, 1], into uint8 (n, S, S, 3)."""
    out = []
    for image in images:
        if isinstance(image, str | Path):
            array = load_image(tf.constant(str(image)), (image_size, image_size)).numpy()
        else:
            array = np.asarray(image)
            if array.ndim != 3 or array.shape[-1] != 3:
                raise ValueError(
                    f"Expected an image path or an (height, width, 3) array; received shape "
                    f"{array.shape}."
                )
            array = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
            size = (image_size, image_size)
            array = tf.image.resize(array, size, method="bilinear", antialias=True).numpy()
        out.append(np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8))
    return np.stack(out) if out else np.zeros((0, image_size, image_size, 3), np.uint8)


# %% [markdown]
# ## Text features: frozen MiniLM sentence embeddings
#
# The text tower starts from Lecture 04's MiniLM (the real all-MiniLM-L6-v2 weights in your own
# Keras encoder). It stays *frozen*: its 384-d sentence embeddings are computed once for every
# caption and cached, and only a projection head on top of them is trained, which saves most of
# the training time on a CPU. LiT (Zhai et al., 2022, "locked-image tuning") does the mirror
# image: it locks a pretrained *image* tower and trains the text tower to match it. We lock the
# text tower instead, because a pretrained sentence encoder is what we have (Lecture 04's
# MiniLM) and our image tower is small and learns the course's photos from scratch.
# Without MiniLM's package the tower falls back to Lecture 04's SIF GloVe embeddings (50-d); the
# lecture says which one it uses. SIF removes the texts' common direction, which it estimates on
# the texts it is given, so every batch of texts is embedded together with a fixed set of
# training captions (the anchors) and the common direction comes from those.


# %%
class TextFeatures:
    """Sentence features of texts: MiniLM (384-d) when installed, else SIF GloVe (50-d).

    ``TextFeatures(anchor_captions)(texts)`` → float32 (len(texts), dim); ``name`` is
    ``"minilm"`` or ``"sif-glove"``.
    """

    def __init__(self, anchor_captions: list[str], prefer: str = "minilm", quiet: bool = False):
        from course_lib.models import minilm

        self.text = lecture_module("04", quiet=True)
        if prefer == "minilm" and minilm.is_available():
            self.name = "minilm"
            self.model, self.tokenizer = minilm.load_minilm(self.text)
        else:
            from course_lib.models.pretrained import load_glove_50d

            self.name = "sif-glove"
            if not quiet and prefer == "minilm":
                print(f"MiniLM is not installed ({minilm.INSTALL}): using SIF GloVe embeddings.")
            glove = load_glove_50d()
            self.word_index, self.vectors = glove.index, glove.vectors
            self.anchors = self.text.tokenize(list(anchor_captions))
            self.probabilities = self.text.word_probabilities(self.anchors)

    def __call__(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        texts = list(texts)
        if self.name == "minilm":
            from course_lib.models import minilm

            return minilm.embed(self.model, self.tokenizer, texts, batch_size)
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.text.tokenize(texts[start : start + batch_size])
            both = self.text.sif_embeddings(
                tokens + self.anchors, self.word_index, self.vectors, self.probabilities
            )
            out.append(both[: len(tokens)])
        dim = self.vectors.shape[1]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


def caption_features(records, features: TextFeatures, folder: Path, split: str) -> np.ndarray:
    """Return float32 (n, 5, dim): the features of every photo's five captions, cached on disk."""
    path = Path(folder) / f"text_{split}_{features.name}.npy"
    if path.is_file():
        return np.load(path)
    per_image = min(len(r.captions) for r in records)
    captions = [c for r in records for c in r.captions[:per_image]]
    order = np.argsort([len(c) for c in captions], kind="stable")  # Less padding per batch.
    sorted_features = features([captions[i] for i in order])
    out = np.empty_like(sorted_features)
    out[order] = sorted_features
    out = out.reshape(len(records), per_image, -1)
    np.save(path, out)
    return out


# %% [markdown]
# ## Projection heads and normalised embeddings
#
# The two towers end in spaces of different sizes (128 channels of a CNN, 384 dimensions of
# MiniLM). A *projection head* maps each into the joint space of `EMBEDDING_DIM` dimensions,
# exactly as in keras-io's dual encoder: a dense projection $p = W_1 x + b_1$, then
# $h = \mathrm{GELU}(p)$ (the exact GELU, $x\,\Phi(x)$ with the normal CDF $\Phi$), a second
# dense layer $W_2 h + b_2$, dropout, a residual connection back to $p$ and layer normalisation:
#
# $$\mathrm{head}(x) = \mathrm{LN}\big(p + \mathrm{Dropout}(W_2\,\mathrm{GELU}(p) + b_2)\big)$$
#
# Similarity in the joint space is the cosine: both embeddings are scaled to unit length
# (L2-normalised), so their dot product lies in [-1, 1] and no embedding wins by being long.
# `l2_normalize` divides by $\sqrt{\max(\lVert x \rVert^2, \epsilon)}$, as
# `tf.math.l2_normalize`, so that a zero vector stays zero instead of becoming NaN.


# %%
def l2_normalize(x, axis: int = -1, epsilon: float = 1e-12):
    """Scale ``x`` to unit L2 norm along ``axis``, differentiably (``keras.ops``).

    Args:
        x: float array or tensor, float32 or float64, any shape; axis: the axis to normalise;
        epsilon: the smallest squared norm divided by (a zero vector stays zero).

    Returns:
        A tensor of the shape and dtype of ``x``: ``x / sqrt(max(sum(x ** 2, axis), epsilon))``,
        the same as ``tf.math.l2_normalize(x, axis, epsilon)``.
    """
    ### BEGIN SOLUTION
    x = keras.ops.convert_to_tensor(x)
    squared = keras.ops.sum(keras.ops.square(x), axis=axis, keepdims=True)
    return x * keras.ops.rsqrt(keras.ops.maximum(squared, epsilon))
    ### END SOLUTION


class ProjectionHead(keras.layers.Layer):
    """keras-io's projection head: Dense → GELU → Dense → Dropout → residual → LayerNorm.

    Sublayers: ``projection`` and ``fc`` (``keras.layers.Dense(projection_dim)``), ``dropout``
    (``keras.layers.Dropout(dropout_rate)``) and ``layer_norm``
    (``keras.layers.LayerNormalization()``, Keras' default epsilon 1e-3).

    Input: float32 (batch, features). Output: float32 (batch, projection_dim), not normalised.
    """

    def __init__(
        self, projection_dim: int = EMBEDDING_DIM, dropout_rate: float = DROPOUT_RATE, **kw
    ):
        super().__init__(**kw)
        if not isinstance(projection_dim, int) or projection_dim < 1:
            raise ValueError(f"Expected projection_dim an int >= 1; received {projection_dim!r}.")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"Expected dropout_rate in [0, 1); received {dropout_rate!r}.")
        self.projection_dim, self.dropout_rate = projection_dim, dropout_rate
        self.projection = keras.layers.Dense(projection_dim, name="projection")
        self.fc = keras.layers.Dense(projection_dim, name="fc")
        self.dropout = keras.layers.Dropout(dropout_rate, name="dropout")
        self.layer_norm = keras.layers.LayerNormalization(name="layer_norm")

    def build(self, input_shape):
        self.projection.build(input_shape)
        shape = (*input_shape[:-1], self.projection_dim)
        self.fc.build(shape)
        self.layer_norm.build(shape)

    def call(self, inputs, training=None):
        """Args: inputs (batch, features); training: dropout acts only when True."""
        ### BEGIN SOLUTION
        projected = self.projection(inputs)  # (batch, projection_dim)
        x = keras.ops.gelu(projected, approximate=False)
        x = self.fc(x)  # (batch, projection_dim)
        x = self.dropout(x, training=training)
        return self.layer_norm(projected + x)  # (batch, projection_dim)
        ### END SOLUTION

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.projection_dim)

    def get_config(self):
        config = super().get_config()
        config.update(projection_dim=self.projection_dim, dropout_rate=self.dropout_rate)
        return config


# %% [markdown]
# ## The symmetric InfoNCE loss
#
# A batch holds B pairs $(x_i, t_i)$. With unit embeddings $u_i$ (images) and $v_j$ (texts),
# the logits are the B×B cosine similarities divided by a temperature τ:
# $\ell_{ij} = u_i \cdot v_j / \tau$. Row $i$ is a classification problem: which of the B
# texts belongs to image $i$? The answer is text $i$, the diagonal; the other B - 1 texts of
# the batch are its *in-batch negatives*, free of charge. Column $j$ asks the same question the
# other way round. CLIP's loss is the mean of the two cross-entropies:
#
# $$L = \frac{1}{2}\Big(\frac{1}{B}\sum_i -\log \frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ij}}}
#   + \frac{1}{B}\sum_j -\log \frac{e^{\ell_{jj}}}{\sum_i e^{\ell_{ij}}}\Big)$$
#
# This is InfoNCE (van den Oord et al., 2018), made symmetric. The loss normalises the
# embeddings itself, so it compares directions whatever it is given.
#
# **The temperature** sets how peaked the softmax is. Cosines live in [-1, 1]: with τ = 1 the
# best a model can reach is a gap of 2 between the right logit and the others, which leaves a
# lot of probability on the negatives. CLIP *learns* τ, through its logarithm so that it stays
# positive: the weight is $s = \log(1/\tau)$, initialised to $\log(1/0.07)$, and the logit
# scale $e^s$ is kept at most 100, $\tau \in [0.01, 1]$.
#
# *How* it is kept there matters. OpenCLIP clamps $s$ to $[0, \log 100]$ **after each
# optimizer step** (`logit_scale.clamp_(0, math.log(100))` in its training loop) and uses $e^s$
# as it is in the forward pass: the gradient reaches $s$ everywhere, and a step that would push
# $s$ past the bound leaves it at the bound. Clipping in the forward pass instead,
# $e^{\mathrm{clip}(s, 0, \log 100)}$, gives the same logits while $s$ is inside, but a zero
# gradient once $s$ is past the bound, where nothing but weight decay would ever move it again.
# We do as OpenCLIP does: the weight carries a Keras *constraint*, `ClampTo(0, log(100))`, that
# every Keras optimizer applies to the weight after each update (in `optimizer.apply`).


# %%
class ClampTo(keras.constraints.Constraint):
    """A weight constraint: clamp the weight into ``[low, high]`` after every optimizer step."""

    def __init__(self, low: float, high: float):
        if not low <= high:
            raise ValueError(f"Expected low <= high; received {low!r} and {high!r}.")
        self.low, self.high = float(low), float(high)

    def __call__(self, weight):
        return keras.ops.clip(weight, self.low, self.high)

    def get_config(self):
        return {"low": self.low, "high": self.high}


class LearnableTemperature(keras.layers.Layer):
    """A learnable temperature τ, stored as ``log_logit_scale`` = log(1 / τ), clamped as OpenCLIP.

    Weight: ``log_logit_scale``, a float32 scalar (shape ()), initialised to
    ``log(1 / initial_temperature)``, with the constraint ``ClampTo(0, log(max_logit_scale))``
    (the optimizer clamps it after each update; the forward pass does not clip).

    ``logit_scale()`` → a float32 scalar tensor, 1 / τ: ``exp(log_logit_scale)``, between 1 and
    ``max_logit_scale`` once an optimizer has stepped; ``temperature()`` → its inverse, τ.
    ``layer(similarities)`` → ``similarities * logit_scale()``, the logits.
    """

    def __init__(
        self,
        initial_temperature: float = INITIAL_TEMPERATURE,
        max_logit_scale: float = MAX_LOGIT_SCALE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 < initial_temperature <= 1.0:
            raise ValueError(
                f"Expected initial_temperature in (0, 1]; received {initial_temperature!r}."
            )
        if not max_logit_scale >= 1.0:
            raise ValueError(f"Expected max_logit_scale >= 1; received {max_logit_scale!r}.")
        self.initial_temperature = float(initial_temperature)
        self.max_logit_scale = float(max_logit_scale)
        ### BEGIN SOLUTION
        self.log_logit_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(1.0 / self.initial_temperature)),
            constraint=ClampTo(0.0, math.log(self.max_logit_scale)),
            name="log_logit_scale",
        )
        ### END SOLUTION
        self.built = True  # The only weight exists already.

    def logit_scale(self):
        """Return 1 / τ = exp(``log_logit_scale``), differentiable in the weight (no clip)."""
        ### BEGIN SOLUTION
        return keras.ops.exp(self.log_logit_scale)
        ### END SOLUTION

    def temperature(self):
        """Return τ = 1 / ``logit_scale()``, a float32 scalar tensor."""
        return 1.0 / self.logit_scale()

    def call(self, similarities):
        return similarities * self.logit_scale()

    def get_config(self):
        config = super().get_config()
        config.update(
            initial_temperature=self.initial_temperature, max_logit_scale=self.max_logit_scale
        )
        return config


def symmetric_info_nce(image_embeddings, text_embeddings, temperature):
    """CLIP's symmetric InfoNCE loss over a batch of B matching pairs (in-batch negatives).

    Args:
        image_embeddings: float (B, dim) array or tensor (float32 or float64), any length:
            normalised here with ``l2_normalize``.
        text_embeddings: float (B, dim), same dtype; row i describes image i.
        temperature: τ > 0, a Python float or a scalar tensor (e.g. ``layer.temperature()``).

    Returns:
        A scalar tensor of the inputs' dtype: the mean over the B rows of the cross-entropy of
        ``logits = u @ v.T / τ`` (image → text, targets on the diagonal), plus the same mean
        over the B columns (text → image), divided by 2. Differentiable in all three inputs.
    """
    ### BEGIN SOLUTION
    images = l2_normalize(image_embeddings)  # (B, dim)
    texts = l2_normalize(text_embeddings)  # (B, dim)
    temperature = keras.ops.cast(temperature, images.dtype)
    logits = keras.ops.matmul(images, keras.ops.transpose(texts)) / temperature  # (B, B)
    labels = keras.ops.arange(keras.ops.shape(logits)[0])  # (B,): pair i is on the diagonal
    image_to_text = keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_to_image = keras.ops.sparse_categorical_crossentropy(
        labels, keras.ops.transpose(logits), from_logits=True
    )
    return (keras.ops.mean(image_to_text) + keras.ops.mean(text_to_image)) / 2.0
    ### END SOLUTION


# %% [markdown]
# ### Why the batch size matters
#
# Each row of the loss picks the right text among B. An encoder that knows nothing gives every
# text the same logit, and the loss is exactly $\log B$: 2.08 nats for B = 8, 4.85 for B = 128,
# 10.4 for CLIP's B = 32,768. The loss is also a bound: $I(\text{image}; \text{text}) \ge
# \log B - L$ (van den Oord et al.), so a batch of B pairs can certify at most $\log B$ nats of
# shared information, and the task gets harder, and more informative, as B grows: with 8 pairs
# a model that only tells dogs from pizzas already wins, with 128 it must tell a dog on a bike
# from a dog in a basket. This is why CLIP trains with huge batches, and why our loss values
# from different batch sizes are not comparable. The cell below measures both facts: identical
# embeddings give exactly log B, and the same noisy pairs (each text its image's vector plus
# twice as much noise) score a higher loss in larger batches, where more negatives come close.

# %%
if should_run_demo(__name__):
    rng = np.random.default_rng(SEED)
    for batch in (8, 32, 128, 512):
        shared = rng.normal(size=(batch, 64))
        chance = symmetric_info_nce(np.ones((batch, 64)), np.ones((batch, 64)), 0.07)
        noisy = symmetric_info_nce(shared, shared + 2.0 * rng.normal(size=(batch, 64)), 0.07)
        print(
            f"B = {batch:3d}: log B = {math.log(batch):.3f}, identical embeddings (chance) "
            f"{float(chance):.3f}, noisy pairs {float(noisy):.3f}"
        )


# %% [markdown]
# ## The two towers
#
# **Image tower**: the residual blocks you wrote in Lecture 03 (`ResidualBlock(filters,
# strides=2)`, each halving the height and width), global average pooling, then a projection
# head. Three blocks of 32, 64 and 128 filters turn a 64×64 photo into an 8×8×128 grid and then
# a 128-d vector: 0.33 M weights with the projection head, cheap enough to train on a CPU.
# (keras-io uses a frozen Xception here; CLIP a ResNet-50 or a ViT.)
#
# **Text tower**: the frozen sentence features (MiniLM or SIF) through a projection head.
#
# `cnn_lecture()` (`lecture_module("03")`) gives your own Lecture 03 code once it passed
# `camp check 03`, else the reference solutions; `search_lecture()` does the same for Lecture 05.


# %%
def build_image_tower(
    image_size: int = IMAGE_SIZE,
    block_filters=IMAGE_FILTERS,
    embedding_dim: int = EMBEDDING_DIM,
    dropout_rate: float = DROPOUT_RATE,
    blocks=None,
) -> keras.Model:
    """Build the image tower from Lecture 03's ``ResidualBlock``.

    Layers: Input (image_size, image_size, 3) → one ``blocks.ResidualBlock(f, strides=2)`` per
    ``f`` in ``block_filters`` (named ``block1``, ``block2``...) → GlobalAveragePooling2D →
    ``ProjectionHead(embedding_dim, dropout_rate)``. ``blocks`` is what holds
    ``ResidualBlock`` (default: ``cnn_lecture()``, your Lecture 03 module); take the block from
    it, never from elsewhere.

    Returns:
        A ``keras.Model`` named ``"image_tower"`` mapping float32 (batch, S, S, 3) images in
        [0, 1] to float32 (batch, embedding_dim) embeddings (not normalised).
    """
    blocks = cnn_lecture() if blocks is None else blocks
    ### BEGIN SOLUTION
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    for index, filters in enumerate(block_filters):
        x = blocks.ResidualBlock(filters, strides=2, name=f"block{index + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (batch, block_filters[-1])
    outputs = ProjectionHead(embedding_dim, dropout_rate, name="head")(x)
    return keras.Model(inputs, outputs, name="image_tower")
    ### END SOLUTION


def build_text_tower(
    feature_dim: int, embedding_dim: int = EMBEDDING_DIM, dropout_rate: float = DROPOUT_RATE
) -> keras.Model:
    """Build the text tower: Input (feature_dim,) → ``ProjectionHead(embedding_dim, dropout_rate)``.

    Returns:
        A ``keras.Model`` named ``"text_tower"`` mapping float32 (batch, feature_dim) sentence
        features to float32 (batch, embedding_dim) embeddings (not normalised).
    """
    ### BEGIN SOLUTION
    inputs = keras.Input((feature_dim,), name="text_features")
    outputs = ProjectionHead(embedding_dim, dropout_rate, name="head")(inputs)
    return keras.Model(inputs, outputs, name="text_tower")
    ### END SOLUTION


# %% [markdown]
# ## The dual encoder as a Keras model
#
# `DualEncoder` holds both towers and the temperature. Calling it on `(images, text_features)`
# gives the two batches of unit embeddings. `fit` and `evaluate` call `train_step` and
# `test_step` once per batch; we override them because the loss needs the whole batch of both
# towers at once (a Keras loss sees `y_true, y_pred` per example). `train_step` computes the
# loss inside a `tf.GradientTape` (towers with `training=True`: dropout and batch statistics),
# applies the gradients of *every* trainable weight, the temperature's included, with the
# compiled optimizer, and updates the running mean `loss_tracker`; `test_step` does the same
# without training. Both return `{"loss": mean so far, "temperature": current τ}`.


# %%
class DualEncoder(keras.Model):
    """An image tower, a text tower and a ``LearnableTemperature`` trained with InfoNCE.

    Args:
        image_tower: images → (batch, dim); text_tower: text features → (batch, dim).
        initial_temperature, max_logit_scale: of the ``LearnableTemperature`` (attribute
            ``temperature``).

    ``model((images, text_features), training=...)`` → ``(image_embeddings,
    text_embeddings)``, both float32 (batch, dim), L2-normalised.
    """

    def __init__(
        self,
        image_tower: keras.Model,
        text_tower: keras.Model,
        initial_temperature: float = INITIAL_TEMPERATURE,
        max_logit_scale: float = MAX_LOGIT_SCALE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_tower, self.text_tower = image_tower, text_tower
        self.temperature = LearnableTemperature(
            initial_temperature, max_logit_scale, name="temperature"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]  # Reset by Keras at the start of every epoch.

    def call(self, inputs, training=None):
        images, texts = inputs
        ### BEGIN SOLUTION
        image_embeddings = l2_normalize(self.image_tower(images, training=training))
        text_embeddings = l2_normalize(self.text_tower(texts, training=training))
        return image_embeddings, text_embeddings
        ### END SOLUTION

    def train_step(self, data):
        """One gradient step on a batch ``(images, text_features)``; returns the logs."""
        ### BEGIN SOLUTION
        images, texts = data
        with tf.GradientTape() as tape:
            image_embeddings, text_embeddings = self((images, texts), training=True)
            loss = symmetric_info_nce(
                image_embeddings, text_embeddings, self.temperature.temperature()
            )
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result(), "temperature": self.temperature.temperature()}
        ### END SOLUTION

    def test_step(self, data):
        """The loss of a batch without training; returns the logs."""
        ### BEGIN SOLUTION
        images, texts = data
        image_embeddings, text_embeddings = self((images, texts), training=False)
        loss = symmetric_info_nce(image_embeddings, text_embeddings, self.temperature.temperature())
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result(), "temperature": self.temperature.temperature()}
        ### END SOLUTION


# %% [markdown]
# ## Training with `tf.data`
#
# An epoch shows every training photo once, in a new random order, each with **one of its five
# captions drawn at random**: over the epochs a photo meets all its descriptions, and the model
# cannot learn one sentence by heart. The draws come from `tf.data.Dataset.random(seed)`
# zipped with the shuffled photos, so a seed fixes the whole sequence of epochs; the seeds are
# fixed (`keras.utils.set_random_seed`) before anything is built. Photos are stored as uint8
# and scaled to [0, 1] per batch. The last incomplete batch is dropped: a batch of 3 pairs is a
# much easier (and noisier) task than one of 128. Validation batches are dropped the same way,
# so every validation loss is a loss over 128 pairs, comparable with the training loss and
# with itself from epoch to epoch (the 1,000 val photos give 7 batches, 896 pairs, a new random
# draw each epoch); a last batch of 104 pairs would mix an easier task into the mean.
#
# The optimizer is AdamW, Adam with *decoupled* weight decay: each step also shrinks a weight
# by `learning_rate × WEIGHT_DECAY` times itself. As OpenCLIP does, only the kernels (weights of
# rank 2 and more) decay: decaying the learned temperature would pull the logit scale towards
# $e^0 = 1$, and the biases and the normalisations' scales and offsets are too few to overfit
# and mean something at any size. `optimizer.exclude_from_weight_decay(var_list=...)` lists
# them before the first step.
#
# Watch the validation loss of the first epochs: it may sit *above* the chance level log B while
# the training loss falls. Validation runs the image tower with `training=False`, so its batch
# normalisation uses the moving averages of the batch statistics, and with a momentum of 0.99
# those lag behind weights that change fast early in training; a constant error in every image
# embedding favours the few texts that point the same way, which is worse than guessing. After
# a few hundred steps the averages catch up (on the reference run the val loss fell from 6.6 at
# epoch 4 to 2.1 at epoch 9).


# %%
def pairs_dataset(
    images: np.ndarray,
    text_features: np.ndarray,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of (photo, one random caption's features) batches.

    Args:
        images: (n, S, S, 3) uint8 (scaled by 1 / 255) or floats already in [0, 1].
        text_features: float (n, captions, dim): the features of each photo's captions.
        batch_size: pairs per batch; seed: fixes the order and the caption draws of every
        epoch; drop_remainder: drop the last incomplete batch.

    Returns:
        A dataset of ``(images, features)``: float32 (batch, S, S, 3) in [0, 1] and float32
        (batch, dim). Every epoch (every new iteration) visits each photo once in a new random
        order, each with ``text_features[i, c]`` for a caption ``c`` drawn uniformly at random
        per photo and epoch. The same seed gives the same epochs.
    """
    images, text_features = np.asarray(images), np.asarray(text_features, np.float32)
    if len(images) != len(text_features):
        raise ValueError(
            f"Expected one row of text features per image; received {len(images)} images and "
            f"{len(text_features)} rows."
        )
    ### BEGIN SOLUTION
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    captions = text_features.shape[1]
    pairs = tf.data.Dataset.from_tensor_slices((images, text_features))
    pairs = pairs.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def pick(pair, draw):
        image, features = pair
        image = tf.cast(image, tf.float32) / scale  # (S, S, 3) in [0, 1]
        return image, features[draw % captions]  # (dim,)

    dataset = tf.data.Dataset.zip(pairs, draws).map(pick, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    ### END SOLUTION


class TimeBudget(keras.callbacks.Callback):
    """Stop training after the epoch during which ``seconds`` have passed."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.started = seconds, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.started > self.seconds:
            self.model.stop_training = True


def train_dual_encoder(
    model: DualEncoder,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | None = None,
    epochs: int = EPOCHS,
    learning_rate: float = LEARNING_RATE,
    verbose: int = 2,
    max_seconds: float | None = None,
) -> keras.callbacks.History:
    """Compile with AdamW (cosine decay over ``epochs``) and fit; stop early at ``max_seconds``.

    Weight decay applies to the kernels only: weights of rank below 2 (biases, normalisations'
    scales and offsets, the temperature's ``log_logit_scale``) are excluded, as in OpenCLIP.
    """
    steps = max(1, int(train_ds.cardinality())) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=WEIGHT_DECAY)
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
    )
    model.compile(optimizer=optimizer)
    callbacks = [TimeBudget(max_seconds)] if max_seconds else []
    return model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        verbose=verbose,
        callbacks=callbacks,
        shuffle=False,  # pairs_dataset shuffles; Keras cannot shuffle a tf.data pipeline.
    )


def embed_images(model: DualEncoder, images, batch_size: int = 256) -> np.ndarray:
    """float32 (n, dim) unit embeddings of uint8 (or [0, 1]) photos (n, S, S, 3)."""
    images = np.asarray(images)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    parts = [
        np.asarray(l2_normalize(model.image_tower(images[i : i + batch_size] / scale)))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def embed_text_features(model: DualEncoder, features, batch_size: int = 1024) -> np.ndarray:
    """float32 (n, dim) unit embeddings of sentence features (n, feature_dim)."""
    features = np.asarray(features, np.float32)
    parts = [
        np.asarray(l2_normalize(model.text_tower(features[i : i + batch_size])))
        for i in range(0, len(features), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


# %% [markdown]
# ### Extension: hard negatives from the scene graphs
#
# Random batches hold easy negatives: a dog on a beach against a pizza in a kitchen. The scene
# graphs tell us which photos are *alike* (same scene, same objects), and a batch built from
# alike photos forces the model to read the details: relations, accessories, counts. The
# function below orders the photos so that each batch gathers photos that share their scene and
# main object, with a random order inside the groups and among the batches. Batch the photos in
# that order without shuffling (one random caption each, as `pairs_dataset` draws them), and mix
# such epochs with random ones: only hard batches make the model forget the easy distinctions.
# Two captions of alike photos may both fit both photos, a false negative the loss punishes;
# CLIP's batches are random for that reason too. Not graded; try it and compare the val R@1.


# %%
def hard_negative_order(graphs: list[dict], batch_size: int = BATCH_SIZE, seed: int = SEED):
    """Return a permutation of the photos whose consecutive batches share scene and main object."""
    rng = np.random.default_rng(seed)

    def key(graph):
        objects = sorted(obj["category"] for obj in graph.get("objects", []))
        return (graph.get("scene", ""), objects[0] if objects else "")

    jitter = rng.random(len(graphs))
    order = sorted(range(len(graphs)), key=lambda i: (key(graphs[i]), jitter[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return np.array([i for batch in batches for i in batch], np.int64)


# %% [markdown]
# ## Evaluation: text-to-image retrieval
#
# The val split's captions are the queries and its photos the gallery. Rank every photo by the
# cosine of its embedding with the query's, then score the rankings with Lecture 05's metrics:
# Recall@K (the share of the relevant photos in the top K) and mAP@K. With one caption per
# query, the relevant photo is the one it was written for; queries read off a scene graph
# (`course_lib.competition.grammar.caption_query`) have every photo whose scene graph matches
# as relevant, as in the competition.
#
# CLIP reports both directions. **Image → text**: each photo is a query over all the captions,
# and it scores a hit at K when *any* of its five captions is among the K captions most similar
# to it. That Recall@K is a hit rate, not Lecture 05's share of the relevant items found: with
# five right captions, a share would cap R@1 at 0.2. Text → image with one photo per caption is
# the same either way.


# %%
def retrieval_report(
    text_embeddings, image_embeddings, relevant: list[set], ks=KS, map_k: int = MAP_K
) -> dict[str, float]:
    """Rank the photos for every text query by cosine similarity and score the rankings.

    Use Lecture 05's ``top_k``, ``recall_at_k`` and ``mean_average_precision_at_k``
    (``search = search_lecture()``).

    Args:
        text_embeddings: float (Q, dim) query embeddings (normalised here).
        image_embeddings: float (N, dim) photo embeddings (normalised here); photo j has id j.
        relevant: Q sets of relevant photo indices; ks: the K of Recall@K; map_k: mAP's cut-off.

    Returns:
        ``{"R@k": mean Recall@k for each k in ks, f"mAP@{map_k}": mAP@map_k}``, floats.
    """
    search = search_lecture()
    ### BEGIN SOLUTION
    texts = np.asarray(l2_normalize(np.asarray(text_embeddings, np.float32)))
    images = np.asarray(l2_normalize(np.asarray(image_embeddings, np.float32)))
    similarity = texts @ images.T  # (Q, N): rows are queries
    indices, _ = search.top_k(similarity, max(*ks, map_k))  # (Q, K)
    rankings = [list(map(int, row)) for row in indices]
    pairs = list(zip(rankings, relevant, strict=True))
    report = {f"R@{k}": float(np.mean([search.recall_at_k(r, s, k) for r, s in pairs])) for k in ks}
    report[f"mAP@{map_k}"] = search.mean_average_precision_at_k(rankings, relevant, map_k)
    return report
    ### END SOLUTION


def image_to_text_recall(image_embeddings, text_embeddings, text_image, ks=KS) -> dict:
    """Image → text Recall@K as CLIP reports it: each photo queries all the texts.

    Args:
        image_embeddings: float (N, dim); text_embeddings: float (T, dim) (both normalised
            here); text_image: (T,) ints, the photo (row of ``image_embeddings``) each text
            describes; ks: the K of Recall@K.

    Returns:
        ``{"R@k": share of the photos with at least one of their own texts among the k texts
        most similar to them}`` for each k in ``ks``, floats. Ties keep the texts' order.
    """
    ### BEGIN SOLUTION
    images = np.asarray(l2_normalize(np.asarray(image_embeddings, np.float32)))
    texts = np.asarray(l2_normalize(np.asarray(text_embeddings, np.float32)))
    similarity = images @ texts.T  # (N, T): rows are photo queries
    best = np.argsort(-similarity, axis=1, kind="stable")[:, : max(ks)]  # (N, K)
    own = np.asarray(text_image)[best] == np.arange(len(images))[:, None]  # (N, K)
    return {f"R@{k}": float(own[:, :k].any(axis=1).mean()) for k in ks}
    ### END SOLUTION


# %% [markdown]
# ## Zero-shot classification by prompts
#
# A dual encoder classifies without a classifier: embed one sentence per category ("a photo of
# a dog", "a photo of a pizza"...), and the most similar prompt names the photo's category.
# The class probabilities are a softmax over the categories of the cosines divided by the
# learned temperature, exactly the image → text half of the loss with the prompts as texts.
# Nothing was trained on category labels.
#
# Our photos hold several objects, so we compare with Lecture 02's *multi-label* classifier on
# what is comparable: the **mAP over the categories** (rank the val photos by each category's
# score, average precision per category, mean over the categories present; scikit-learn's
# `average_precision_score`, as Lecture 02 computed its val mAP 0.58). Lecture 02's micro-F1
# (0.61) needs a threshold on calibrated sigmoid probabilities, which a softmax over prompts
# does not give, so it has no zero-shot counterpart. We also report the **top-1 accuracy**: the
# share of photos whose best prompt names one of the categories present in it.


# %%
def zero_shot_probabilities(image_embeddings, class_embeddings, temperature) -> np.ndarray:
    """Class probabilities of each photo from prompt embeddings.

    Args:
        image_embeddings: float (N, dim); class_embeddings: float (C, dim), one prompt per
            category (both normalised here); temperature: τ > 0.

    Returns:
        float64 (N, C): softmax over the C categories (each row sums to 1) of
        ``cosine(image, prompt) / temperature``.
    """
    ### BEGIN SOLUTION
    images = np.asarray(l2_normalize(np.asarray(image_embeddings, np.float64)))
    classes = np.asarray(l2_normalize(np.asarray(class_embeddings, np.float64)))
    logits = images @ classes.T / float(temperature)  # (N, C)
    logits -= logits.max(axis=1, keepdims=True)  # The softmax is unchanged; exp cannot overflow.
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)
    ### END SOLUTION


def zero_shot_report(probabilities, multi_hot) -> dict[str, float]:
    """Score zero-shot class probabilities against the categories present in each photo.

    Args:
        probabilities: (N, C) scores per photo and category; multi_hot: (N, C) 0/1 labels;
            both numpy arrays or nested lists.

    Returns:
        ``{"top1_accuracy": share of photos whose highest-scoring category is present,
        "mAP": sklearn average_precision_score averaged over the categories with at least one
        positive photo, "num_classes_scored": how many those are (an int)}``.
    """
    from sklearn.metrics import average_precision_score

    ### BEGIN SOLUTION
    probabilities, multi_hot = np.asarray(probabilities), np.asarray(multi_hot)
    best = np.argmax(probabilities, axis=1)  # (N,)
    top1 = float(multi_hot[np.arange(len(best)), best].mean())
    present = multi_hot.sum(axis=0) > 0  # (C,)
    mean_ap = average_precision_score(multi_hot[:, present], probabilities[:, present])
    return {"top1_accuracy": top1, "mAP": float(mean_ap), "num_classes_scored": int(present.sum())}
    ### END SOLUTION


def prompts(categories: list[str], template: str = PROMPT) -> list[str]:
    """Return one prompt per category: ``template.format(category)``."""
    return [template.format(category) for category in categories]


# %% [markdown]
# ### Prompt ensembling
#
# One sentence per category is a noisy estimate of where the category lies in the text space:
# "a photo of a dog" and "there is a dog in the picture" land in slightly different places.
# CLIP *ensembles* prompts: it embeds several templates per category (`PROMPT_TEMPLATES`),
# L2-normalises each embedding, averages them per category and normalises the mean again; the
# averaged prompt then plays the role of the single one. On ImageNet, 80 templates added 3.5
# points of top-1 accuracy to CLIP's zero-shot classifier over the single default prompt
# (Radford et al., 2021). The demo compares the top-1 accuracy on val with one prompt and with
# the ensemble.


# %%
def ensemble_class_embeddings(prompt_embeddings) -> np.ndarray:
    """CLIP's prompt ensemble: one embedding per category from several prompts.

    Args:
        prompt_embeddings: float (P, C, dim): the embeddings of P prompt templates for each of
            C categories (row ``[p, c]``: template p filled with category c).

    Returns:
        float64 (C, dim): per category, the mean of its P L2-normalised embeddings, L2-normalised.
    """
    ### BEGIN SOLUTION
    unit = np.asarray(l2_normalize(np.asarray(prompt_embeddings, np.float64)))  # (P, C, dim)
    return np.asarray(l2_normalize(unit.mean(axis=0)))  # (C, dim)
    ### END SOLUTION


# %% [markdown]
# ## Pictures of the embedding space
#
# PCA projects the embeddings on the two directions along which they vary most: centre the
# rows, take the SVD $X - \bar{x} = U S V^\top$, and the coordinates are the projections on the
# first two right-singular vectors, $(X - \bar{x}) V_{:, :2}$ (scikit-learn's `PCA(2)`, up to
# the sign of each axis). The demo colours photos and captions by their scene: scenes are the
# broadest structure of the collection and form regions (kitchen tables, living rooms and lakes
# apart from the outdoor scenes, with the reference model). In CLIP, photos and captions occupy
# two separate regions of the sphere, the *modality gap* (Liang et al., 2022): check whether
# yours mix.


# %%
def pca_2d(embeddings) -> np.ndarray:
    """Project (n, dim) embeddings on their first two principal axes: float64 (n, 2)."""
    ### BEGIN SOLUTION
    x = np.asarray(embeddings, np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T  # (n, 2)
    ### END SOLUTION


def plot_embedding_space(image_embeddings, text_embeddings, labels: list[str], path) -> Path:
    """Scatter the PCA of photos (dots) and captions (crosses), coloured by ``labels`` (<= 10)."""
    points = pca_2d(np.concatenate([image_embeddings, text_embeddings]))
    n = len(image_embeddings)
    figure, axes = plt.subplots(figsize=(7, 6))
    names = sorted(set(labels))
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(names):
        rows = np.array([label == name for label in labels])
        colour = colours(index % 10)
        axes.scatter(*points[:n][rows].T, s=14, color=colour, label=name)
        axes.scatter(*points[n:][rows].T, s=18, color=colour, marker="x")
    axes.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes.set_title("Photos (dots) and their captions (crosses), PCA of the joint space")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return Path(path)


def plot_retrieval_grid(queries, pixels, rankings, relevant, path, k: int = 5) -> Path:
    """One row per query: its text, then its top ``k`` photos, framed green when relevant."""
    figure = plt.figure(figsize=(2.0 * (k + 1.6), 2.0 * len(queries)))
    for row, (query, ranking) in enumerate(zip(queries, rankings, strict=True)):
        axes = figure.add_subplot(len(queries), k + 1, row * (k + 1) + 1)
        axes.text(0.0, 0.5, query, wrap=True, fontsize=8, va="center")
        axes.axis("off")
        for column, index in enumerate(ranking[:k]):
            axes = figure.add_subplot(len(queries), k + 1, row * (k + 1) + column + 2)
            axes.imshow(pixels[index])
            colour = "green" if index in relevant[row] else "red"
            for spine in axes.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(3)
            axes.set_xticks([])
            axes.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return Path(path)


# %% [markdown]
# ## A search engine for Lecture 05
#
# The dual encoder is one more representation of a picture for a text query, and it speaks
# Lecture 05's `SearchEngine` interface: `index(images)` embeds the pictures once (in batches,
# stored L2-normalised), `score(queries)` embeds the queries and returns the (queries,
# pictures) matrix of cosines. It then fuses with the caption, object and classifier engines in
# a `FusionEngine`. The engine takes two functions, so it works with any dual encoder: the one
# you train here, or the shipped reference (`course_lib.models.dual_encoder.engine()`). Its
# `index`, `search` and `search_batch` are Lecture 05's `SearchEngine` methods themselves.


# %%
class DualEncoderEngine:
    """Search pictures by the cosine of dual-encoder embeddings (Lecture 05's interface).

    Args:
        embed_images: a function from a list of image paths to float (n, dim) embeddings.
        embed_texts: a function from a list of texts to float (n, dim) embeddings.
        batch_size: the most paths given to ``embed_images`` at once.
    """

    name = "dual-encoder"

    def __init__(self, embed_images, embed_texts, batch_size: int = 256) -> None:
        self.image_ids: list | None = None
        self.embed_images, self.embed_texts = embed_images, embed_texts
        self.batch_size = int(batch_size)

    def index(self, images: list[dict]) -> "DualEncoderEngine":
        """Lecture 05's ``SearchEngine.index``: store the ids, then ``encode_images``."""
        return search_lecture().SearchEngine.index(self, images)

    def search(self, query: str, k: int = MAP_K) -> list[tuple]:
        """The ``k`` best ``(image_id, score)`` pairs for one query (Lecture 05's ``search``)."""
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: list[str], k: int = MAP_K) -> list[list[tuple]]:
        """Lecture 05's ``SearchEngine.search_batch`` on this engine's scores."""
        return search_lecture().SearchEngine.search_batch(self, queries, k)

    def encode_images(self, images: list[dict]) -> None:
        """Store ``self.image_embeddings``: float32 (N, dim), unit rows, in the order of images.

        Pictures are dicts with a ``"path"``; ``embed_images`` gets at most ``batch_size``
        paths per call.
        """
        ### BEGIN SOLUTION
        paths = [image["path"] for image in images]
        parts = [
            np.asarray(self.embed_images(paths[i : i + self.batch_size]), np.float32)
            for i in range(0, len(paths), self.batch_size)
        ]
        self.image_embeddings = np.asarray(l2_normalize(np.concatenate(parts)))
        ### END SOLUTION

    def score(self, queries: list[str]) -> np.ndarray:
        """float32 (Q, N): cosine of each query's embedding with each indexed picture's.

        ``embed_texts`` gets the queries as one list.
        """
        ### BEGIN SOLUTION
        texts = np.asarray(self.embed_texts(list(queries)), np.float32)
        return np.asarray(l2_normalize(texts)) @ self.image_embeddings.T
        ### END SOLUTION


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or as a script (`python 08_dual_encoder.py`), never on import: it
# generates the photos, computes the caption features once, trains the dual encoder, and
# reports retrieval on val, zero-shot classification and a fused search engine; the plots go
# to the collection folder. The course ships a reference model trained this way for 30 minutes
# (`scripts/train_dual_encoder.py`, loaded by `course_lib.models.dual_encoder`).

# %%
if should_run_demo(__name__):
    from course_lib.competition.grammar import caption_query
    from course_lib.data import read_split
    from course_lib.data.pipelines import multi_hot
    from course_lib.search.helpers import relevance_grades

    # The lectures the training builds on, checked before the photos are generated: 03 (the
    # image tower's blocks) and 04 (the text features). Retrieval below also needs Lecture 05.
    cnn_lecture()
    lecture_module("04", quiet=True)
    keras.utils.set_random_seed(SEED)
    folder = collection_dir()
    train_pixels, train_records = load_split(folder, "train")
    val_pixels, val_records = load_split(folder, "val")
    features = TextFeatures([c for r in train_records[:2000] for c in r.captions[:1]])
    print(f"Text features: {features.name}")
    train_text = caption_features(train_records, features, folder, "train")
    val_text = caption_features(val_records, features, folder, "val")
    model = DualEncoder(build_image_tower(), build_text_tower(train_text.shape[-1]))
    train_dual_encoder(
        model,
        pairs_dataset(train_pixels, train_text),
        pairs_dataset(val_pixels, val_text, seed=SEED + 1),  # Full batches only, as training.
    )

    # Retrieval: every val caption is a query whose relevant photo is its own.
    search = search_lecture()
    image_vectors = embed_images(model, val_pixels)
    caption_vectors = embed_text_features(model, val_text.reshape(-1, val_text.shape[-1]))
    own = [{i // val_text.shape[1]} for i in range(len(caption_vectors))]
    print("val captions → photos:", retrieval_report(caption_vectors, image_vectors, own))
    owner = np.arange(len(caption_vectors)) // val_text.shape[1]  # The photo of each caption.
    print("val photos → captions:", image_to_text_recall(image_vectors, caption_vectors, owner))
    # Queries read off scene graphs: every matching photo is relevant.
    val_images = read_split(folder, "val")
    rng = np.random.default_rng(SEED)
    graph_queries = [caption_query(image["graph"], rng)[:2] for image in val_images[:300]]
    row = {image["id"]: i for i, image in enumerate(val_images)}
    relevant = [
        {row[i] for i, grade in relevance_grades(graph, val_images).items() if grade == 2}
        for _, graph in graph_queries
    ]
    query_vectors = embed_text_features(model, features([text for text, _ in graph_queries]))
    print("graph queries → photos:", retrieval_report(query_vectors, image_vectors, relevant))

    # Zero-shot classification against the categories present in each val photo.
    val_coco = load_coco(folder, "val")
    labels = multi_hot(val_coco.records, val_coco.categories)
    class_vectors = embed_text_features(model, features(prompts(val_coco.category_names)))
    temperature = float(model.temperature.temperature())
    probabilities = zero_shot_probabilities(image_vectors, class_vectors, temperature)
    print(f"zero-shot (τ = {temperature:.3f}):", zero_shot_report(probabilities, labels))
    # Prompt ensembling: every template for every category, averaged per category.
    names = val_coco.category_names
    per_template = np.stack(
        [embed_text_features(model, features(prompts(names, t))) for t in PROMPT_TEMPLATES]
    )  # (templates, categories, dim)
    ensemble = ensemble_class_embeddings(per_template)
    probabilities = zero_shot_probabilities(image_vectors, ensemble, temperature)
    print(
        f"zero-shot, {len(PROMPT_TEMPLATES)} prompts averaged:",
        zero_shot_report(probabilities, labels),
    )
    print("Lecture 02's supervised classifier on val: mAP 0.58, micro-F1 0.61")

    # Pictures.
    scenes = [image["graph"]["scene"] for image in val_images[:300]]
    plot_embedding_space(
        image_vectors[:300], caption_vectors[: 300 * 5 : 5], scenes, folder / "embedding_space.png"
    )
    scores = query_vectors[:6] @ image_vectors.T
    rankings = search.top_k(scores, 5)[0]
    queries = [text for text, _ in graph_queries[:6]]
    plot_retrieval_grid(queries, val_pixels, rankings, relevant[:6], folder / "retrieval.png")
    print(f"Plots: {folder / 'embedding_space.png'}, {folder / 'retrieval.png'}")
    show_figure(folder / "embedding_space.png")
    show_figure(folder / "retrieval.png")

    # The dual encoder as a search engine, alone and fused with TF-IDF on the captions.
    def embed_paths(paths):
        return embed_images(model, to_pixels(paths))

    def embed_queries(texts):
        return embed_text_features(model, features(texts))

    texts = [text for text, _ in graph_queries]
    engines = {
        "dual encoder": DualEncoderEngine(embed_paths, embed_queries),
        "fusion with TF-IDF captions": search.FusionEngine(
            [DualEncoderEngine(embed_paths, embed_queries), search.CaptionEngine("tfidf")]
        ),
    }
    relevant_ids = [{val_images[i]["id"] for i in s} for s in relevant]
    for name, engine in engines.items():
        engine.index(val_images)
        print(name, search.evaluate_engine(engine, texts, relevant_ids, MAP_K))
