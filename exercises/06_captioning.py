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
# # Lecture 06: Image captioning with visual attention
#
# **Builds on:** Lecture 01 (softmax, cross-entropy, `GradientTape`), Lecture 02 (convolution
# blocks and multi-label recognition on the photo collection), Lecture 04 (tokenizing,
# vocabularies, sampling with a temperature).
# **You will build:** an image encoder whose 8×8 grid of CNN features is cached to disk once;
# Bahdanau's additive attention as a Keras layer, with masking; a GRU decoder that writes one
# word at a time while looking at the grid; teacher-forcing training with a masked loss in a
# `tf.function` train step, with checkpoints, a progress bar and TensorBoard logs; greedy
# decoding, sampling with a temperature and beam search with length normalisation; corpus
# BLEU-1..4 and CIDEr-D exactly as the COCO caption evaluation computes them; and pictures of
# where the model looked for every word it wrote.
#
# A captioner turns every photo into a sentence, and sentences are what Lecture 05's search
# engine compares with a text query: generated captions let it search photos nobody described.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 06`.

# %% [markdown]
# ## Setup

# %%
import math
import re
import time
from collections import Counter
from pathlib import Path

import keras
import matplotlib
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from course_lib.data.cache import cached_collection
from course_lib.data.coco import load_coco
from course_lib.data.pipelines import label_dataset, load_image
from course_lib.demo import in_kernel, should_run_demo, show_figure

if not in_kernel():  # Outside Jupyter and Colab, draw into files, never into a window.
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen before pyplot loads)

SEED = 0  # Fixes data generation, shuffling, weight initialisation and sampling.
COLLECTION_IMAGE_SIZE = 128  # Pixels per side of the generated photos (as the search engine's).
IMAGE_SIZE = 64  # Pixels per side of the photos the encoder sees (resized from 128).
TRAIN_IMAGES = 8000  # Photos generated for training (five captions each).
VAL_IMAGES = 1000  # Photos generated for validation (the reported BLEU and CIDEr-D).
ENCODER_FILTERS = (16, 32, 64)  # Filters of each encoder block; each halves height and width.
ENCODER_EPOCHS = 6  # Passes over the training photos for the recognition pre-training.
PROJECTION_DIM = 96  # Size of each grid feature after the decoder's projection layer.
EMBEDDING_DIM = 96  # Size of the word embeddings.
UNITS = 128  # Units of the decoder's GRU (the size of its state).
ATTENTION_UNITS = 64  # Hidden size of the additive attention's scoring network.
DROPOUT_RATE = 0.2  # Dropout before the decoder's output layer.
MIN_WORD_COUNT = 3  # Words seen fewer times in the training captions become <unk>.
MAX_CAPTION_WORDS = 16  # Training captions are cut to this many words.
CAPTION_EPOCHS = 12  # Passes over the training captions.
BATCH_SIZE = 128  # Captions per gradient step.
LEARNING_RATE = 3e-3  # Adam's step size.
CLIP_NORM = 5.0  # Gradients are rescaled to at most this global norm.
MAX_DECODE_LENGTH = 20  # Most words (the end token included) a decoder may write.
BEAM_WIDTH = 3  # Hypotheses kept by beam search.
LENGTH_PENALTY = 0.7  # Beam scores are divided by length ** LENGTH_PENALTY (0: no normalisation).
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"  # Special tokens, ids 0, 1, 2, 3.

# %% [markdown]
# ## Data
#
# The course's photo collection, written in COCO's format by `course_lib.data.make_split`: every
# photo has five captions ("A living room with a television, a necktie and a small kitty.") and
# the list of objects in it. The first run generates the photos into `data/generated/` (a
# couple of minutes); later runs reuse them.
#
# Captions are tokenised the simple way, here and in the metrics alike: lower-case, every run of
# letters and digits is a word, everything else separates words. (The official COCO evaluation
# first runs the Stanford PTB tokenizer, a Java program; we pre-tokenise instead, identically on
# both sides, so the scores stay comparable and need no Java.) Word ids 0-3 are the special
# tokens `<pad>`, `<start>`, `<end>` and `<unk>`; a training caption becomes
# `<start> w1 ... wn <end> <pad> ...`.


# %%
def collection_dir(
    train_images: int = TRAIN_IMAGES,
    val_images: int = VAL_IMAGES,
    seed: int = SEED,
    root: Path | None = None,
) -> Path:
    """Return the generated collection folder (train and val splits), generating it once.

    Returns:
        ``root/l06_128px_seed<seed>_train<n>_val<m>`` (root: ``<checkout>/data/generated``)
        holding the COCO files of ``train`` and ``val`` (``course_lib.data.cache``).
    """
    splits = {"train": train_images, "val": val_images}
    return cached_collection("l06", splits, seed, COLLECTION_IMAGE_SIZE, root)


def tokenize_caption(text: str) -> list[str]:
    """Lower-case ``text`` and return its words: the runs of letters and digits.

    ``"A TV set, to the left of a kitten."`` → ``["a", "tv", "set", "to", "the", "left", "of",
    "a", "kitten"]``. Used for training and, on both sides, by the metrics.
    """
    return re.findall(r"[^\W_]+", text.lower())


def build_vocabulary(token_lists: list[list[str]], min_count: int = MIN_WORD_COUNT) -> list[str]:
    """Return the special tokens, then the words seen at least ``min_count`` times.

    Words are ordered by decreasing count, ties alphabetically, so the vocabulary is the same on
    every run.
    """
    counts = Counter(word for tokens in token_lists for word in tokens)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, START, END, UNK, *words]


def encode_captions(
    token_lists: list[list[str]], vocabulary: list[str], max_words: int = MAX_CAPTION_WORDS
) -> np.ndarray:
    """Turn token lists into ``<start> ids <end> <pad>...`` rows.

    Returns:
        int32 (len(token_lists), max_words + 2): each row starts with the id of ``<start>``,
        holds the ids of at most ``max_words`` words (unknown words get ``<unk>``), then
        ``<end>``, then ``<pad>`` (id 0) up to the end.
    """
    index = {word: i for i, word in enumerate(vocabulary)}
    out = np.zeros((len(token_lists), max_words + 2), np.int32)
    for row, tokens in enumerate(token_lists):
        ids = [index.get(word, index[UNK]) for word in tokens[:max_words]]
        out[row, : len(ids) + 2] = [index[START], *ids, index[END]]
    return out


def decode_tokens(ids, vocabulary: list[str]) -> str:
    """Return the words of ``ids`` joined by spaces, stopping at ``<end>``, skipping specials."""
    words = []
    for i in ids:
        word = vocabulary[int(i)]
        if word == END:
            break
        if word not in (PAD, START):
            words.append(word)
    return " ".join(words)


# %% [markdown]
# ## The encoder: a grid of CNN features
#
# Attention needs to know *where* things are, so the encoder keeps the spatial grid of the last
# convolution block instead of pooling it away: a 64×64 photo through three blocks that halve
# the height and width gives an 8×8 grid, 64 locations, each with a 64-channel feature vector
# describing its part of the photo. We teach the CNN to see by training it first for multi-label
# recognition (which of the object categories appear, as in Lecture 02); the grid model shares
# its layers. The original TensorFlow tutorial used ImageNet's InceptionV3 (8×8×2048 features);
# Lecture 03's EfficientNet-Lite0 with real ImageNet weights is the larger option here, at the
# price of a much slower feature extraction on a laptop.
#
# The features are computed once and cached in an `.npz` file per split, so training the
# decoder never runs the CNN again. Flatten the grid row by row: location `r * width + c` is the
# cell in row `r`, column `c`.


# %%
class ConvBlock(keras.layers.Layer):
    """Conv2D (same padding, no bias) → BatchNormalization → ReLU → MaxPooling2D(2).

    Args:
        filters: output channels of the convolution (an int >= 1).

    Input (batch, height, width, channels) → output (batch, height / 2, width / 2, filters).
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"Expected filters to be an int >= 1; received {filters!r}.")
        self.filters = filters
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.pool = keras.layers.MaxPooling2D(2, padding="same", name="pool")

    def build(self, input_shape):
        self.conv.build(input_shape)
        conv_shape = self.conv.compute_output_shape(input_shape)
        self.norm.build(conv_shape)
        self.pool.build(conv_shape)

    def call(self, inputs, training=None):
        features = self.conv(inputs)  # (batch, height, width, filters)
        features = keras.ops.relu(self.norm(features, training=training))
        return self.pool(features)  # (batch, height / 2, width / 2, filters)

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def build_encoder_cnn(
    image_size: int = IMAGE_SIZE,
    num_classes: int = 65,
    block_filters=ENCODER_FILTERS,
    dropout_rate: float = DROPOUT_RATE,
) -> tuple[keras.Model, keras.Model]:
    """Build the recognition CNN and the grid model that shares its layers.

    Layers: Input (image_size, image_size, 3) → one ``ConvBlock(f)`` per ``f`` in
    ``block_filters`` (the grid) → GlobalAveragePooling2D → Dropout(dropout_rate) →
    Dense(num_classes) logits (no activation).

    Returns:
        classifier: maps (batch, S, S, 3) images in [0, 1] to (batch, num_classes) logits.
        grid_model: maps the same input to the last block's output, (batch, S / 2**b,
            S / 2**b, block_filters[-1]) for b blocks; it uses the classifier's very layers, so
            training the classifier trains it.
    """
    # YOUR CODE HERE
    raise NotImplementedError("build_encoder_cnn: fill in the region marked YOUR CODE HERE")


def flatten_grid(grid) -> np.ndarray:
    """Turn a feature grid into a list of locations, row by row.

    Args:
        grid: (batch, height, width, channels) features.

    Returns:
        (batch, height * width, channels) numpy array of the grid's dtype (also for a tensor);
        location ``r * width + c`` holds ``grid[:, r, c, :]``. The grid is left unchanged.
    """
    # YOUR CODE HERE
    raise NotImplementedError("flatten_grid: fill in the region marked YOUR CODE HERE")


def train_encoder(
    classifier: keras.Model, folder: Path, epochs: int = ENCODER_EPOCHS, verbose: int = 2
) -> keras.callbacks.History:
    """Train the recognition CNN on the collection's object labels (binary cross-entropy)."""
    keras.utils.set_random_seed(SEED)
    train, val = load_coco(folder, "train"), load_coco(folder, "val")
    size = (IMAGE_SIZE, IMAGE_SIZE)
    train_ds = label_dataset(
        train.records, train.categories, size, BATCH_SIZE, shuffle_seed=SEED, cache=True
    )
    val_ds = label_dataset(val.records, train.categories, size, BATCH_SIZE, cache=True)
    classifier.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return classifier.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose)


def load_images(paths, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Read image files as the encoder sees them: (n, image_size, image_size, 3) in [0, 1]."""
    size = (image_size, image_size)
    return np.stack([load_image(tf.constant(str(p)), size).numpy() for p in paths])


def extract_features(grid_model: keras.Model, images: np.ndarray, batch_size: int = 256):
    """Return the flattened grid features of ``images``: float16 (n, locations, channels)."""
    parts = [
        flatten_grid(grid_model(images[i : i + batch_size], training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float16)


def cache_features(grid_model: keras.Model, folder: Path, split: str, tag: str = "encoder"):
    """Compute the grid features of a split once and keep them in ``folder/features_*.npz``.

    Returns:
        ``(features, captions)``: float16 (n, locations, channels) and, per image (in image-id
        order), its list of caption strings.
    """
    path = Path(folder) / f"features_{split}_{tag}.npz"
    records = load_coco(folder, split, kinds=["captions"]).records
    if path.is_file():
        features = np.load(path)["features"]
    else:
        features = np.concatenate(
            [
                extract_features(grid_model, load_images([r.path for r in records[i : i + 500]]))
                for i in range(0, len(records), 500)
            ]
        )
        np.savez(path, features=features)
    return features, [r.captions for r in records]


# %% [markdown]
# ## Bahdanau attention
#
# At every step the decoder asks "where should I look now?". Additive attention (Bahdanau et
# al., 2015) scores every grid location $i$ against the decoder's state $h$ with a small
# network, turns the scores into weights with a softmax over the locations, and returns the
# weighted average of the features, the *context vector*:
#
# $$e_i = v^\top \tanh(W_1 f_i + W_2 h + b), \qquad \alpha = \mathrm{softmax}(e), \qquad
# c = \sum_i \alpha_i f_i.$$
#
# An attention mask says which locations exist (useful when images of different shapes give grids of
# different sizes, or to hide padding): a masked location must get weight exactly 0, so give it a
# score of $-10^9$ before the softmax.


# %%
class BahdanauAttention(keras.layers.Layer):
    """Additive attention over the locations of a feature grid.

    Args:
        units: size of the scoring network's hidden layer (an int >= 1).

    Weights (created in ``build``): ``features_kernel`` (feature_dim, units) is $W_1$,
    ``hidden_kernel`` (hidden_dim, units) is $W_2$, ``bias`` (units,) is $b$ and
    ``score_vector`` (units,) is $v$.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Expected units to be an int >= 1; received {units!r}.")
        self.units = units

    def build(self, features_shape, hidden_shape):
        self.features_kernel = self.add_weight(
            shape=(features_shape[-1], self.units), initializer="glorot_uniform", name="w1"
        )
        self.hidden_kernel = self.add_weight(
            shape=(hidden_shape[-1], self.units), initializer="glorot_uniform", name="w2"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.score_vector = self.add_weight(
            shape=(self.units,), initializer="glorot_uniform", name="v"
        )

    def call(self, features, hidden, attention_mask=None):
        """Attend over ``features`` with the decoder state ``hidden``.

        Args:
            features: (batch, locations, feature_dim) grid features.
            hidden: (batch, hidden_dim) decoder state.
            attention_mask: optional (batch, locations) booleans (or 0/1 numbers), True (1) where
                a location may be attended. A row with no location left gets equal weights
                everywhere (all its scores are -1e9), never NaN.

        Returns:
            context: (batch, feature_dim), the attention-weighted sum of the features.
            weights: (batch, locations), non-negative, summing to 1 over the locations; 0 where
                ``attention_mask`` is False.
        """
        # YOUR CODE HERE
        raise NotImplementedError(
            "BahdanauAttention.call: fill in the region marked YOUR CODE HERE"
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units}


# %% [markdown]
# ## The decoder
#
# The decoder writes one word per step. Its state starts from the image (a dense layer on the
# mean of the grid features) and at every step it
#
# 1. attends over the grid with its current state, getting a context vector and weights;
# 2. embeds the previous word and concatenates it with the context;
# 3. updates its state with a GRU cell fed that concatenation;
# 4. predicts the next word from the new state and the context (dropout, then a dense layer to
#    one logit per vocabulary word).
#
# The `Captioner` model bundles a projection of the cached grid features (a dense layer with
# ReLU, applied to every location) with the decoder.


# %%
class CaptionDecoder(keras.layers.Layer):
    """One step of an attention GRU decoder.

    Args:
        vocab_size: number of words, special tokens included.
        embedding_dim: size of the word embeddings; units: size of the GRU state;
        attention_units: hidden size of the attention; dropout_rate: dropout before the output.

    Sub-layers: ``embedding`` (Embedding), ``attention`` (BahdanauAttention), ``cell`` (GRUCell),
    ``init_state`` (Dense(units, tanh)), ``dropout`` and ``output_layer`` (Dense(vocab_size)).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = EMBEDDING_DIM,
        units: int = UNITS,
        attention_units: int = ATTENTION_UNITS,
        dropout_rate: float = DROPOUT_RATE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {name} to be an int >= 1; received {value!r}.")
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Expected units to be an int >= 1; received {units!r}.")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"Expected 0 <= dropout_rate < 1; received {dropout_rate!r}.")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_units, self.dropout_rate = attention_units, dropout_rate
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.attention = BahdanauAttention(attention_units, name="attention")
        self.cell = keras.layers.GRUCell(units, name="cell")
        self.init_state = keras.layers.Dense(units, activation="tanh", name="init_state")
        self.dropout = keras.layers.Dropout(dropout_rate, name="dropout")
        self.output_layer = keras.layers.Dense(vocab_size, name="output_layer")

    def build(self, tokens_shape, state_shape, features_shape):
        feature_dim = features_shape[-1]
        shapes = {
            self.embedding: (tokens_shape,),
            self.attention: (features_shape, (None, self.units)),
            self.cell: ((None, self.embedding_dim + feature_dim),),
            self.init_state: ((None, feature_dim),),
            self.output_layer: ((None, self.units + feature_dim),),
        }
        for layer, layer_shapes in shapes.items():
            if not layer.built:  # initial_state may have built init_state already.
                layer.build(*layer_shapes)

    def initial_state(self, features):
        """Return the first state, (batch, units), from (batch, locations, dim) features."""
        return self.init_state(keras.ops.mean(features, axis=1))

    def call(self, tokens, state, features, training=None):
        """Run one decoding step.

        Args:
            tokens: (batch,) int ids of the previous words (``<start>`` at the first step).
            state: (batch, units) the GRU state.
            features: (batch, locations, feature_dim) projected grid features.
            training: True applies dropout (to ``[output, context]``, just before the output
                layer); False or None applies none.

        Returns:
            logits: (batch, vocab_size) scores of the next word (before the softmax).
            new_state: (batch, units) the GRU's new state.
            weights: (batch, locations) the attention weights used at this step.
        """
        # YOUR CODE HERE
        raise NotImplementedError("CaptionDecoder.call: fill in the region marked YOUR CODE HERE")

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "dropout_rate": self.dropout_rate,
        }


class Captioner(keras.Model):
    """Projection of cached grid features plus the attention decoder.

    ``model((features, tokens))`` returns the teacher-forced logits (batch, tokens - 1, vocab).
    """

    def __init__(
        self,
        vocab_size: int,
        projection_dim: int = PROJECTION_DIM,
        embedding_dim: int = EMBEDDING_DIM,
        units: int = UNITS,
        attention_units: int = ATTENTION_UNITS,
        dropout_rate: float = DROPOUT_RATE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.projection_dim, self.embedding_dim = (
            vocab_size,
            projection_dim,
            embedding_dim,
        )
        self.units, self.attention_units, self.dropout_rate = units, attention_units, dropout_rate
        self.projection = keras.layers.Dense(projection_dim, activation="relu", name="projection")
        self.decoder = CaptionDecoder(
            vocab_size, embedding_dim, units, attention_units, dropout_rate, name="decoder"
        )

    def encode(self, features):
        """Project cached grid features: (batch, locations, C) → (batch, locations, projection)."""
        return self.projection(keras.ops.cast(features, "float32"))

    def call(self, inputs, training=None):
        features, tokens = inputs
        return teacher_forcing_logits(self, features, tokens, training=training)[0]

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "projection_dim": self.projection_dim,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "dropout_rate": self.dropout_rate,
        }


# %% [markdown]
# ## Teacher forcing and the masked loss
#
# During training the decoder is fed the *true* previous word at every step, not its own guess
# (teacher forcing): the input is the caption without its last token, the target the caption
# without `<start>`. Captions have different lengths and are padded with id 0; padding is not a
# word to predict, so the loss averages the cross-entropy over the real target tokens only:
#
# $$\mathcal{L} = \frac{\sum_{b,t} m_{bt} \, \mathrm{CE}(y_{bt}, z_{bt})}{\sum_{b,t} m_{bt}},
# \qquad m_{bt} = [y_{bt} \ne \texttt{<pad>}].$$
#
# Adding more padding to a batch must not change the loss.
#
# The train step runs inside `tf.function`: TensorFlow traces the Python code once into a graph
# and then runs the graph, which is several times faster than running the loop over time steps
# eagerly. `tf.train.CheckpointManager` saves the model, the optimiser and the epoch counter
# after every epoch, so an interrupted run resumes where it stopped; a `tf.summary` file writer
# records the losses for TensorBoard (`tensorboard --logdir <log_dir>`); `keras.utils.Progbar`
# prints Keras's progress bar. `write_scalar` below writes a scalar exactly as
# `tf.summary.scalar` does, but without needing the `tensorboard` package installed.


# %%
SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
)  # Marks a summary as a scalar for TensorBoard's Scalars tab.


def write_scalar(name: str, value, step: int):
    """Write a scalar to the default ``tf.summary`` writer (``with writer.as_default():``)."""
    return tf.summary.write(name, tf.cast(value, tf.float32), step=step, metadata=SCALAR_METADATA)


def masked_loss(targets, logits, pad_id: int = 0):
    """Mean cross-entropy over the target tokens that are not padding.

    Args:
        targets: (batch, steps) word ids: an array or tensor of any integer dtype, or lists.
        logits: (batch, steps, vocab_size) float32 or float64 scores, of any size (±1000 too).
        pad_id: the id that marks padding.

    Returns:
        A scalar float32 tensor: the sum of the per-token cross-entropies where ``targets !=
        pad_id``, divided by the number of such tokens (0 if there are none).
    """
    # YOUR CODE HERE
    raise NotImplementedError("masked_loss: fill in the region marked YOUR CODE HERE")


def teacher_forcing_logits(model: Captioner, features, tokens, training=None):
    """Run the decoder over a whole caption, feeding it the true previous word at every step.

    Args:
        model: a ``Captioner``.
        features: (batch, locations, C) cached grid features (not yet projected).
        tokens: (batch, T) int ids ``<start> w1 ... <end> <pad>...``.
        training: passed to the decoder at every step (True: dropout on).

    Returns:
        logits: (batch, T - 1, vocab_size); ``logits[:, t]`` predicts ``tokens[:, t + 1]`` from
            ``tokens[:, : t + 1]``.
        weights: (batch, T - 1, locations), the attention weights of every step.
    """
    # YOUR CODE HERE
    raise NotImplementedError("teacher_forcing_logits: fill in the region marked YOUR CODE HERE")


def make_train_step(model: Captioner, optimizer: keras.optimizers.Optimizer):
    """Return a ``tf.function`` ``train_step(features, tokens) -> loss`` for ``model``.

    One step: teacher-forced logits (``training=True``: dropout on), the masked loss against
    ``tokens[:, 1:]``, the gradients of that loss for ``model.trainable_variables`` with a
    ``GradientTape``, and one ``optimizer.apply_gradients``. Returns the scalar loss.
    """
    # YOUR CODE HERE
    raise NotImplementedError("make_train_step: fill in the region marked YOUR CODE HERE")


def caption_batches(features, tokens, image_index, batch_size=BATCH_SIZE, seed=SEED):
    """Return a shuffled ``tf.data`` pipeline of ``(features, tokens)`` batches.

    Args:
        features: (images, locations, C); tokens: (captions, T) encoded captions;
        image_index: (captions,) the image of each caption.
    """
    data = tf.data.Dataset.from_tensor_slices((np.asarray(image_index), np.asarray(tokens)))
    data = data.shuffle(len(tokens), seed=seed, reshuffle_each_iteration=True)
    table = tf.constant(np.asarray(features, np.float32))
    data = data.batch(batch_size).map(lambda i, t: (tf.gather(table, i), t))
    return data.prefetch(tf.data.AUTOTUNE)


def train_captioner(
    model: Captioner,
    dataset: tf.data.Dataset,
    epochs: int = CAPTION_EPOCHS,
    log_dir=None,
    checkpoint_dir=None,
    learning_rate: float = LEARNING_RATE,
    verbose: int = 1,
    max_seconds: float | None = None,
) -> list[float]:
    """Train ``model`` with teacher forcing; checkpoint, log and show progress every epoch.

    Args:
        model: a ``Captioner``; dataset: yields ``(features, tokens)`` batches.
        epochs: the epoch count to reach: with a checkpoint in ``checkpoint_dir`` training
            resumes from the epoch saved there.
        log_dir: folder for TensorBoard logs (``tf.summary.create_file_writer``): the scalar
            ``loss`` (mean over the epoch) is written with ``write_scalar`` at step = epoch
            number (1, 2, ...).
        checkpoint_dir: folder for a ``tf.train.CheckpointManager`` of a ``tf.train.Checkpoint``
            holding ``model``, the optimizer and an ``epoch`` counter; restored at the start
            when it holds a checkpoint, saved after every epoch.
        learning_rate: the step size of ``keras.optimizers.Adam(learning_rate,
            global_clipnorm=CLIP_NORM)``, the optimizer the train step of
            ``make_train_step`` uses.
        verbose: 1 shows a ``keras.utils.Progbar`` per epoch, 0 nothing.
        max_seconds: stop after the epoch during which this many seconds have passed.

    Returns:
        The mean training loss of each epoch run by this call: a list of floats, each the mean
        of the epoch's batch losses.
    """
    # YOUR CODE HERE
    raise NotImplementedError("train_captioner: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Decoding: greedy and sampling
#
# At test time there is no true previous word: the decoder reads its own output. The decoding
# functions work with any *step function* `step_fn(tokens, state) -> (log_probs, new_state)`:
# `tokens` (batch,) the previous words, `log_probs` (batch, vocab) the log-probabilities of the
# next word. The state is an array, or a tuple of arrays, each with the batch on its first axis
# (for the captioner: the GRU state and the image's features). A caption ends with `<end>` (not
# part of the output) or after `max_length` steps.
#
# *Greedy* decoding takes the most likely word every time. *Sampling* draws the next word from
# the softmax of `log_probs / temperature`: a temperature below 1 sharpens the distribution
# (towards greedy), above 1 flattens it (more varied, more mistakes).


# %%
def batch_size_of(state) -> int:
    """Return the batch size of a decoder state: the first axis of its first array."""
    return int(np.shape(tf.nest.flatten(state)[0])[0])


def greedy_decode(
    step_fn, initial_state, start_id: int, end_id: int, max_length: int = MAX_DECODE_LENGTH
) -> list[list[int]]:
    """Decode by always taking the most likely next word (ties: the lowest id).

    Args:
        step_fn: ``step_fn(tokens, state) -> (log_probs, new_state)`` as described above.
        initial_state: the state before the first step; its batch size is the number of
            sequences decoded.
        start_id: fed as the previous word at the first step; end_id: ends a sequence.
        max_length: most steps (words plus the end token): ``step_fn`` is called at most
            ``max_length`` times, and no more once every sequence has ended.

    Returns:
        One list of ints per batch element: the words before the first ``end_id``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("greedy_decode: fill in the region marked YOUR CODE HERE")


def sample_decode(
    step_fn,
    initial_state,
    start_id: int,
    end_id: int,
    max_length: int = MAX_DECODE_LENGTH,
    temperature: float = 1.0,
    seed: int = SEED,
) -> list[list[int]]:
    """Decode by sampling each next word from ``softmax(log_probs / temperature)``.

    Args:
        as ``greedy_decode`` (``step_fn`` called no more once every sequence has ended), plus
        temperature: > 0 (raise ValueError otherwise; near 0 it is greedy decoding); seed:
        the seed of a ``np.random.default_rng`` that draws every sample, so a seed gives the
        same captions on every run. Each sequence is fed the word it drew.

    Returns:
        One list of ints per batch element: the words before the first ``end_id``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("sample_decode: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Beam search
#
# Greedy decoding commits to its first word forever; a slightly less likely first word can lead
# to a much more likely caption. Beam search keeps the `k` best partial captions (by the sum of
# their log-probabilities) at every step:
#
# 1. Start with one hypothesis per image, `<start>` with score 0 (the other `k - 1` beam slots
#    get score $-\infty$, so the first step does not pick the same word `k` times).
# 2. Extend every hypothesis by every word: candidate score = score + log p(word). A finished
#    hypothesis (it wrote `<end>`) can only be extended by `<end>` again, at log-probability 0,
#    so it keeps its score and its length.
# 3. Keep the `k` best of the `k × vocab` candidates of each image (ties: the lower beam slot,
#    then the lower word id), reorder the decoder states to follow their parents, and repeat
#    until every hypothesis has finished or `max_length` steps have run.
# 4. Return, per image, the hypothesis with the best *length-normalised* score
#    $\text{score} / \text{length}^{\alpha}$, where length counts the words written, `<end>`
#    included (`max_length` for a hypothesis that never ended). Without normalisation
#    ($\alpha = 0$) every extra word costs log-probability, and beam search prefers captions that
#    are too short.
#
# With `k = 1` beam search is greedy decoding.


# %%
def beam_search(
    step_fn,
    initial_state,
    start_id: int,
    end_id: int,
    beam_width: int = BEAM_WIDTH,
    max_length: int = MAX_DECODE_LENGTH,
    length_penalty: float = LENGTH_PENALTY,
) -> list[list[int]]:
    """Decode with beam search and length normalisation, as described above.

    Args:
        step_fn, initial_state, start_id, end_id, max_length: as ``greedy_decode``; the state of
            image ``i`` must be repeated ``beam_width`` times (rows ``i * beam_width`` to ``(i +
            1) * beam_width - 1``) before the first step, and every array of the state must be
            reordered with the parents' rows after every step.
        beam_width: hypotheses kept per image, an int ``k >= 1`` (ValueError otherwise).
        length_penalty: alpha of the normalisation ``score / length ** alpha``.

    ``step_fn`` is called at most ``max_length`` times, and no more once every hypothesis has
    finished; ``initial_state`` is left unchanged.

    Returns:
        One list of ints per image: the words of its best hypothesis, before ``end_id``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("beam_search: fill in the region marked YOUR CODE HERE")


def captioner_step_fn(model: Captioner):
    """Return the step function of a trained ``Captioner``; its state is (GRU state, features)."""

    @tf.function(reduce_retracing=True)
    def step(tokens, state, features):
        logits, state, _ = model.decoder(tokens, state, features, training=False)
        return tf.nn.log_softmax(logits), state

    def step_fn(tokens, state):
        hidden, features = state
        log_probs, hidden = step(tf.constant(tokens, tf.int32), hidden, features)
        return log_probs.numpy(), (hidden.numpy(), features)

    return step_fn


def generate_captions(
    model: Captioner,
    features,
    vocabulary: list[str],
    method: str = "beam",
    beam_width: int = BEAM_WIDTH,
    batch_size: int = 250,
    **options,
) -> list[str]:
    """Caption cached grid features with ``"greedy"``, ``"beam"`` or ``"sample"`` decoding."""
    if method not in ("greedy", "beam", "sample"):
        raise ValueError(f'Expected method "greedy", "beam" or "sample"; received {method!r}.')
    step_fn = captioner_step_fn(model)
    start, end = vocabulary.index(START), vocabulary.index(END)
    captions = []
    for i in range(0, len(features), batch_size):
        projected = model.encode(features[i : i + batch_size]).numpy()
        state = (model.decoder.initial_state(projected).numpy(), projected)
        if method == "greedy":
            ids = greedy_decode(step_fn, state, start, end, **options)
        elif method == "sample":
            ids = sample_decode(step_fn, state, start, end, **options)
        else:
            ids = beam_search(step_fn, state, start, end, beam_width, **options)
        captions += [decode_tokens(row, vocabulary) for row in ids]
    return captions


# %% [markdown]
# ## Metrics: BLEU and CIDEr-D
#
# Both compare a candidate caption with the image's reference captions through their
# *n-grams*, the runs of n consecutive words (n = 1..4). Captions enter already tokenised:
# words separated by single spaces (`caption.split()`).
#
# **BLEU** (Papineni et al., 2002), over the whole corpus as the COCO evaluation computes it:
# for each n, the *clipped* matches (each candidate n-gram counts at most as often as it appears
# in the single reference where it appears most) summed over all images, divided by the number
# of candidate n-grams, $p_n$. BLEU-N is the geometric mean
# $(p_1 \cdots p_N)^{1/N}$ times the brevity penalty $\min(1, e^{1 - r/c})$, where $c$ is the
# total candidate length and $r$ the sum, over images, of the length of the reference closest in
# length to the candidate (ties: the shorter one).
#
# **CIDEr-D** (Vedantam et al., 2015) weighs n-grams by TF-IDF: an n-gram that appears in the
# references of every image ("a") says little. For each n, each caption becomes a vector with
# one entry per n-gram, term count × $(\log N - \log \max(1, \mathrm{df}))$, where $N$ is the
# number of images and df the number of images whose references contain the n-gram. The
# similarity of candidate $g$ and reference $r$ for order n is
# $\sum_{k} \min(g_k, r_k)\, r_k / (\lVert g \rVert \lVert r \rVert)$ (clipping, the "D"; 0
# when a norm is 0) times $e^{-(\ell_g - \ell_r)^2 / (2 \sigma^2)}$ with $\sigma = 6$ and
# $\ell$ the length in words. An image's CIDEr-D is 10 × the mean over n = 1..4 of the mean
# over its references; the corpus score is the mean over images. Document frequencies come from
# the references of the corpus being scored, exactly as in `pycocoevalcap`.


# %%
def ngram_counts(words: list[str], max_n: int = 4) -> Counter:
    """Count the n-grams of ``words`` for n = 1..max_n.

    Returns:
        A ``Counter`` mapping each n-gram, a tuple of n words, to its number of occurrences:
        ``["a", "dog", "a"]`` → ``{("a",): 2, ("dog",): 1, ("a", "dog"): 1, ("dog", "a"): 1,
        ("a", "dog", "a"): 1}``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ngram_counts: fill in the region marked YOUR CODE HERE")


def corpus_bleu(candidates: dict, references: dict, max_n: int = 4) -> list[float]:
    """Corpus BLEU-1..max_n of tokenised captions, as pycocoevalcap's ``Bleu(4)``.

    Args:
        candidates: image id → one caption (words separated by spaces).
        references: image id → a list of reference captions; the same ids as ``candidates``
            (ValueError otherwise).
        max_n: the highest n-gram order.

    Returns:
        ``[BLEU-1, ..., BLEU-max_n]`` as floats in [0, 1]. An order without a single candidate
        n-gram, or without a single match, gives 0 for itself and the orders above it (COCO's
        scorer divides matches + 1e-15 by n-grams + 1e-9, which leaves a tiny positive value
        there instead; everywhere else the two agree).
    """
    # YOUR CODE HERE
    raise NotImplementedError("corpus_bleu: fill in the region marked YOUR CODE HERE")


def cider_d(
    candidates: dict, references: dict, max_n: int = 4, sigma: float = 6.0
) -> tuple[float, np.ndarray]:
    """CIDEr-D of tokenised captions, as pycocoevalcap's ``Cider()``.

    Args:
        candidates: image id → one caption (words separated by spaces).
        references: image id → a list of reference captions; the same ids as ``candidates``
            (ValueError otherwise).
        max_n: the highest n-gram order; sigma: width of the length penalty.

    Returns:
        ``(corpus score, per-image scores)``: the mean, and a float array with one score per
        image in the order of ``candidates``.
    """
    # YOUR CODE HERE
    raise NotImplementedError("cider_d: fill in the region marked YOUR CODE HERE")


def evaluate_captions(candidates: dict, references: dict) -> dict[str, float]:
    """Tokenise raw captions (``tokenize_caption``) and return BLEU-1..4 and CIDEr-D."""
    cands = {i: " ".join(tokenize_caption(c)) for i, c in candidates.items()}
    refs = {i: [" ".join(tokenize_caption(r)) for r in rs] for i, rs in references.items()}
    bleu = corpus_bleu(cands, refs)
    return {**{f"BLEU-{n + 1}": b for n, b in enumerate(bleu)}, "CIDEr-D": cider_d(cands, refs)[0]}


# %% [markdown]
# ## Where did the model look?
#
# The attention weights of every step form a map over the 8×8 grid. Stretched to the photo's
# size and laid over it, they show which part of the photo each word came from: "umbrella"
# should light up the umbrella.


# %%
def plot_attention(image, words: list[str], weights, path, columns: int = 4):
    """Save a grid of panels: the photo, then one panel per word with its attention over it.

    Args:
        image: (height, width, 3) floats in [0, 1] or uint8.
        words: the caption's words (``<end>`` may be one of them).
        weights: (len(words), locations) attention weights, locations a square number
            (ValueError otherwise, before any figure is made).
        path: the PNG file to write; columns: panels per row (as many rows as needed).

    Returns:
        The matplotlib Figure (already saved and closed), at least 2 inches wide and high per
        panel: exactly ``len(words) + 1`` axes, all turned off, the first titled ``"image"``,
        the others titled with their word; panel ``i + 1`` shows the photo, then (its last
        image) word ``i``'s weights as a ``(side, side)`` grid laid out row by row,
        ``weights[i].reshape(side, side)``, stretched over the photo.
    """
    # YOUR CODE HERE
    raise NotImplementedError("plot_attention: fill in the region marked YOUR CODE HERE")


def attention_for_caption(model: Captioner, features, caption: str, vocabulary: list[str]):
    """Return ``(words, weights)``: the caption's words plus ``<end>``, and their attention."""
    words = [*caption.split(), END]
    tokens = encode_captions([caption.split()], vocabulary, max_words=len(words))
    _, weights = teacher_forcing_logits(model, features[None], tokens[:, : len(words) + 1])
    return words, np.asarray(weights)[0]


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or as a script (`python 06_captioning.py`), never on import: it
# generates the photos, pre-trains the encoder, caches the features, trains the captioner and
# reports BLEU and CIDEr-D on the val split for greedy decoding and beam search. The course
# ships a reference model trained this way (`scripts/train_captioner.py`, loaded by
# `course_lib.models.captioner.load_reference_captioner()`), so the search engine can caption photos
# without training.

# %%
if should_run_demo(__name__):
    keras.utils.set_random_seed(SEED)
    folder = collection_dir()
    num_classes = len(load_coco(folder, "val", kinds=["instances"]).categories)
    classifier, grid_model = build_encoder_cnn(num_classes=num_classes)
    train_encoder(classifier, folder)
    train_features, train_captions = cache_features(grid_model, folder, "train")
    val_features, val_captions = cache_features(grid_model, folder, "val")
    token_lists = [tokenize_caption(c) for caps in train_captions for c in caps]
    vocabulary = build_vocabulary(token_lists)
    tokens = encode_captions(token_lists, vocabulary)
    image_index = np.repeat(np.arange(len(train_captions)), [len(c) for c in train_captions])
    model = Captioner(len(vocabulary))
    out = folder / "captioner_demo"
    losses = train_captioner(
        model,
        caption_batches(train_features, tokens, image_index),
        log_dir=out / "logs",
        checkpoint_dir=out / "checkpoints",
    )
    references = dict(enumerate(val_captions))
    for method in ("greedy", "beam"):
        generated = generate_captions(model, val_features, vocabulary, method)
        scores = evaluate_captions(dict(enumerate(generated)), references)
        print(method, {name: round(value, 4) for name, value in scores.items()})
    words, weights = attention_for_caption(model, val_features[0], generated[0], vocabulary)
    image = load_images([load_coco(folder, "val", kinds=["captions"]).records[0].path])[0]
    plot_attention(image, words, weights, out / "attention.png")
    print(f"Attention maps: {out / 'attention.png'}")
    show_figure(out / "attention.png")
