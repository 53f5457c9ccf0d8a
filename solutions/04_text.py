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
# # Lecture 04: Neural networks for text
#
# **Builds on:** Lecture 01 (softmax, cross-entropy, training with Keras) and the photo
# collection's captions (Lecture 02).
# **You will build:** a text normaliser and tokenizers (whitespace and WordPiece, with
# tensorflow-text), a vocabulary with `[PAD]` and `[UNK]`, one-hot, bag-of-words and TF-IDF
# vectors (checked against scikit-learn), a vectorised cosine-similarity matrix, Recall@K for
# caption retrieval, nearest neighbours and analogies on real GloVe vectors, a skip-gram model
# with negative sampling, mean and SIF sentence embeddings, a Transformer encoder block and the
# BERT encoder around it (then the real all-MiniLM-L6-v2 weights go into *your* layers), a
# SavedModel export read back with TF-Hub, and a character-level GRU language model with
# temperature sampling.
#
# Half of image search is text: the query and the image descriptions must land in a common
# representation where cosine similarity means relevance. This lecture builds that
# representation from counting words up to a pretrained Transformer, and measures each step on
# caption retrieval: given one caption of a picture, find another caption of the same picture.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 04`.

# %% [markdown]
# ## Setup

# %%
import math
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from course_lib.demo import should_run_demo, show_figure

SEED = 0  # Fixes sampling, shuffling and weight initialisation, so results are reproducible.
NUM_TRAIN_IMAGES = 2000  # Images of the collection's train split whose captions the demos use.
NUM_VAL_IMAGES = 1000  # Images of the val split used for caption retrieval.
MIN_COUNT = 2  # A word enters the vocabulary when it occurs at least this often.
MAX_LENGTH = 24  # Token ids per caption after padding or truncation.
SPECIAL_TOKENS = ("[PAD]", "[UNK]")  # Ids 0 and 1 of every vocabulary, in this order.
WINDOW_SIZE = 2  # Skip-gram context: this many words on each side of the target.
NUM_NEGATIVES = 4  # Negative context words sampled per positive (target, context) pair.
EMBEDDING_DIM = 32  # Size of the skip-gram word vectors trained here.
SIF_A = 1e-3  # SIF's smoothing constant a in the weight a / (a + p(w)).
CHAR_SEQUENCE_LENGTH = 64  # Characters per training window of the character language model.
CHAR_UNITS = 128  # Units of the character model's GRU.
KS = (1, 5, 10)  # Recall@K is reported for these K.

# %% [markdown]
# ## Data
#
# The photo collection gives every picture five captions written in the style of COCO's human
# annotators, slips included ("A puppy at the beach.", "A BEACH SCENE WITH TWO PUPS."). We take
# the captions of the train split for statistics and training, and those of the val split for
# evaluation. They are generated in memory exactly as `camp data make` writes them to disk.


# %%
def load_captions(split: str = "train", num_images: int = NUM_TRAIN_IMAGES, seed: int = SEED):
    """Return the five captions of each of ``num_images`` images of a collection split.

    Returns:
        A list of ``num_images`` lists of caption strings.
    """
    from course_lib.search.text_retrieval import collection_captions

    return collection_captions(split, num_images, seed)


# %% [markdown]
# ## Tokenizing
#
# Before counting words we make equal words look equal: case folding (`Dog` and `DOG` become
# `dog`; `tf_text.case_fold_utf8` handles all of Unicode, not only A-Z), punctuation replaced by
# spaces, runs of spaces collapsed. tensorflow-text's `WhitespaceTokenizer` then splits on
# spaces and returns a `tf.RaggedTensor`: one row per text, rows of different lengths.


# %%
def normalize_text(texts) -> tf.Tensor:
    """Case-fold, replace punctuation by spaces, collapse whitespace and strip each text.

    "Punctuation" is every character that is not a letter (``\\p{L}``), a digit (``\\p{N}``) or
    whitespace; use ``tf_text.case_fold_utf8`` and ``tf.strings.regex_replace``.

    Args:
        texts: (batch,) strings (a list or a string tensor).

    Returns:
        (batch,) tf.string tensor, e.g. ``"A Dog, on the BEACH! "`` → ``"a dog on the beach"``;
        an empty list gives an empty (0,) tensor.
    """
    ### BEGIN SOLUTION
    texts = tf_text.case_fold_utf8(tf.convert_to_tensor(texts, dtype=tf.string))
    texts = tf.strings.regex_replace(texts, r"[^\p{L}\p{N}\s]+", " ")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)
    ### END SOLUTION


def tokenize(texts) -> list[list[str]]:
    """Normalise ``texts`` and split them into words with ``tf_text.WhitespaceTokenizer``.

    Args:
        texts: (batch,) strings.

    Returns:
        A list of ``batch`` lists of Python ``str`` words (decoded from UTF-8 bytes); ``[]`` for
        no texts.
    """
    ### BEGIN SOLUTION
    tokens = tf_text.WhitespaceTokenizer().tokenize(normalize_text(texts))  # (batch, (words))
    return [[word.decode("utf-8") for word in row] for row in tokens.to_list()]
    ### END SOLUTION


# %% [markdown]
# A vocabulary built from our captions will never hold every word users type. WordPiece (BERT's
# tokenizer) keeps going: it splits an unknown word into the longest pieces the vocabulary
# knows, marking pieces that continue a word with `##` ("doggies" → `dog`, `##gies`), and gives
# `[UNK]` only to a word that cannot be split at all. Write its greedy longest-match-first rule
# for one word; the test compares your answer with `tf_text.WordpieceTokenizer`.


# %%
def wordpiece_split(
    word: str, vocabulary, unknown_token: str = "[UNK]", max_chars: int = 100
) -> list[str]:
    """Split one word into WordPiece tokens, greedily taking the longest known piece each time.

    From the start of the word, take the longest prefix in ``vocabulary``; continue from where it
    ended, now looking for pieces written ``"##" + piece``. If at some position no piece matches
    (or the word has more than ``max_chars`` characters), the whole word becomes
    ``[unknown_token]``.

    Args:
        word: one word without spaces.
        vocabulary: a set (or any container) of tokens, continuation pieces starting with ``##``.
        unknown_token: returned for words that cannot be split.
        max_chars: longer words are unknown.

    Returns:
        The list of pieces, e.g. ``["dog", "##gies"]``, or ``[unknown_token]``.
    """
    ### BEGIN SOLUTION
    if len(word) > max_chars:
        return [unknown_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocabulary:
                break
            end -= 1
        if end == start:
            return [unknown_token]
        pieces.append(piece)
        start = end
    return pieces
    ### END SOLUTION


# %% [markdown]
# ## A vocabulary
#
# Words seen fewer than `MIN_COUNT` times are mostly typos and carry little evidence: they map
# to `[UNK]`. Id 0 is `[PAD]`, used to fill short captions up to a common length.


# %%
def build_vocabulary(
    token_lists: list[list[str]], min_count: int = MIN_COUNT, max_size: int | None = None
) -> list[str]:
    """Return ``["[PAD]", "[UNK]"]`` followed by the frequent words.

    Words occurring at least ``min_count`` times, most frequent first, ties in alphabetical
    order; with ``max_size``, the list (special tokens included) has at most that many entries.

    Args:
        token_lists: tokenised texts (lists of words).
        min_count: the smallest count a word needs.
        max_size: the largest vocabulary size, or None for no limit.

    Returns:
        The vocabulary: the token with id ``i`` is ``vocabulary[i]``.
    """
    ### BEGIN SOLUTION
    counts = Counter(word for tokens in token_lists for word in tokens)
    for special in SPECIAL_TOKENS:
        counts.pop(special, None)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    vocabulary = list(SPECIAL_TOKENS) + words
    return vocabulary if max_size is None else vocabulary[:max_size]
    ### END SOLUTION


def encode_tokens(
    token_lists: list[list[str]], vocabulary: list[str], max_length: int = MAX_LENGTH
) -> np.ndarray:
    """Map words to ids, truncate to ``max_length`` and pad with id 0.

    Args:
        token_lists: tokenised texts; vocabulary: as from ``build_vocabulary``.
        max_length: columns of the output.

    Returns:
        int32 (len(token_lists), max_length) ids: unknown words get ``vocabulary.index("[UNK]")``
        (1), positions after a text's end get 0 (``[PAD]``); a text longer than ``max_length``
        keeps its first ``max_length`` words. No texts give shape (0, max_length).
    """
    ### BEGIN SOLUTION
    index = {word: i for i, word in enumerate(vocabulary)}
    unknown = index["[UNK]"]
    ids = np.zeros((len(token_lists), max_length), dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        row_ids = [index.get(word, unknown) for word in tokens[:max_length]]
        ids[row, : len(row_ids)] = row_ids
    return ids
    ### END SOLUTION


# %% [markdown]
# ## One-hot, bag of words and TF-IDF
#
# A one-hot vector has a single 1 at a word's id. Summing a text's one-hot vectors gives its
# *bag of words*: counts, order forgotten. TF-IDF reweights counts so that words occurring in
# every caption ("a", "the") count little: with $n$ documents and $\mathrm{df}(w)$ of them
# containing $w$, scikit-learn's smoothed IDF is
# $\mathrm{idf}(w) = \ln\frac{1 + n}{1 + \mathrm{df}(w)} + 1$ (unsmoothed: $\ln\frac{n}{\mathrm{df}}
# + 1$); `sublinear_tf` replaces a count $c > 0$ by $1 + \ln c$; each row is then scaled to unit
# length. Your functions must match `CountVectorizer` and `TfidfVectorizer`.


# %%
def one_hot(ids, vocab_size: int) -> np.ndarray:
    """One-hot encode token ids; padding (id 0) becomes an all-zero vector.

    Args:
        ids: int (batch, length) token ids.
        vocab_size: length of each one-hot vector.

    Returns:
        float32 (batch, length, vocab_size).
    """
    ### BEGIN SOLUTION
    ids = np.asarray(ids)
    vectors = np.eye(vocab_size, dtype=np.float32)[ids]  # (batch, length, vocab_size)
    return vectors * (ids != 0)[..., None]
    ### END SOLUTION


def bag_of_words(token_lists: list[list[str]], vocabulary: list[str]) -> np.ndarray:
    """Count each vocabulary word in each text; words outside the vocabulary are ignored.

    Args:
        token_lists: (n,) tokenised texts; vocabulary: (vocab_size,) words.

    Returns:
        float64 (n, vocab_size) counts, column ``j`` counting ``vocabulary[j]`` (shape
        (0, vocab_size) for no texts).
    """
    ### BEGIN SOLUTION
    index = {word: i for i, word in enumerate(vocabulary)}
    counts = np.zeros((len(token_lists), len(vocabulary)))
    for row, tokens in enumerate(token_lists):
        for word in tokens:
            if word in index:
                counts[row, index[word]] += 1
    return counts
    ### END SOLUTION


def inverse_document_frequency(counts: np.ndarray, smooth_idf: bool = True) -> np.ndarray:
    """IDF of each column, as scikit-learn's ``TfidfVectorizer`` computes it.

    Args:
        counts: (num_documents, vocab_size) counts of the corpus the IDF is fitted on.
        smooth_idf: True: ``ln((1 + n) / (1 + df)) + 1``; False: ``ln(n / df) + 1``.

    Returns:
        float64 (vocab_size,) IDF weights.
    """
    ### BEGIN SOLUTION
    counts = np.asarray(counts)
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)  # (vocab_size,)
    if smooth_idf:
        return np.log((1 + n) / (1 + df)) + 1
    with np.errstate(divide="ignore"):
        return np.log(n / df) + 1
    ### END SOLUTION


def tfidf(
    counts: np.ndarray, idf: np.ndarray, sublinear_tf: bool = False, norm: str | None = "l2"
) -> np.ndarray:
    """TF-IDF vectors of documents, as ``TfidfVectorizer.transform`` computes them.

    Args:
        counts: (n, vocab_size) counts of the documents to transform.
        idf: (vocab_size,) from ``inverse_document_frequency``.
        sublinear_tf: replace each count c > 0 by ``1 + ln(c)``.
        norm: ``"l2"`` or ``"l1"``: scale each row (document) to unit norm after weighting by
            the IDF (all-zero rows stay zero); None: no scaling; anything else: ValueError.

    Returns:
        float64 (n, vocab_size).
    """
    ### BEGIN SOLUTION
    tf_ = np.asarray(counts, dtype=np.float64)
    if sublinear_tf:
        tf_ = np.where(tf_ > 0, 1 + np.log(np.where(tf_ > 0, tf_, 1)), 0.0)
    weighted = tf_ * idf  # (n, vocab_size)
    if norm is None:
        return weighted
    if norm == "l2":
        norms = np.sqrt((weighted**2).sum(axis=1, keepdims=True))
    elif norm == "l1":
        norms = np.abs(weighted).sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"Expected norm 'l1', 'l2' or None; received {norm!r}.")
    return weighted / np.where(norms == 0, 1, norms)
    ### END SOLUTION


# %% [markdown]
# ## Cosine similarity and retrieval
#
# Cosine similarity compares directions, not lengths: a long caption and a short one about the
# same things point the same way. For all pairs at once, normalise the rows of both matrices
# and take one matrix product; no Python loop over pairs. The course's original baseline,
# Jaccard overlap, compares word *sets*: $|A \cap B| / |A \cup B|$.
#
# We measure retrieval with Recall@K: the fraction of queries whose correct item is among the
# top K. Here query $i$'s correct gallery item is item $i$. Ties count against the query (a
# constant score must not look clever), so the correct item's rank is 1 + the number of *other*
# items scoring at least as high.


# %%
def cosine_similarity_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``, without loops over pairs.

    Args:
        a: (n, dim); b: (m, dim).

    Returns:
        float (n, m); a pair involving an all-zero row has similarity 0. With no rows in ``a``
        (or ``b``), shape (0, m) (or (n, 0)).
    """
    ### BEGIN SOLUTION
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a_norms = np.linalg.norm(a, axis=1, keepdims=True)  # (n, 1)
    b_norms = np.linalg.norm(b, axis=1, keepdims=True)  # (m, 1)
    a_unit = a / np.where(a_norms == 0, 1, a_norms)
    b_unit = b / np.where(b_norms == 0, 1, b_norms)
    return a_unit @ b_unit.T  # (n, m)
    ### END SOLUTION


def jaccard_similarity_matrix(
    token_lists_a: list[list[str]], token_lists_b: list[list[str]]
) -> np.ndarray:
    """Jaccard similarity ``|A ∩ B| / |A ∪ B|`` of the word sets of every pair of texts.

    Args:
        token_lists_a: (n,) tokenised texts; token_lists_b: (m,) tokenised texts.

    Returns:
        float64 (n, m); a word repeated in a text counts once; two empty texts have similarity
        0; no texts in ``token_lists_a`` give shape (0, m).
    """
    ### BEGIN SOLUTION
    words = sorted({w for tokens in token_lists_a + token_lists_b for w in tokens})
    a = bag_of_words(token_lists_a, words) > 0  # (n, words)
    b = bag_of_words(token_lists_b, words) > 0  # (m, words)
    intersection = a.astype(np.float64) @ b.T.astype(np.float64)  # (n, m)
    union = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :] - intersection
    return intersection / np.where(union == 0, 1, union)
    ### END SOLUTION


def recall_at_k(scores: np.ndarray, ks=KS) -> dict[int, float]:
    """Recall@K of a query-by-gallery score matrix whose correct pairs are on the diagonal.

    Args:
        scores: (n, n) similarities, n >= 1; row ``i`` scores the gallery for query ``i``, whose
            correct item is gallery item ``i``. An empty or non-square matrix: ValueError.
        ks: the K values.

    Returns:
        ``{k: fraction of queries whose correct item ranks within the top k}``, where the rank
        is 1 + the number of other items scoring at least as high (ties count against).
    """
    ### BEGIN SOLUTION
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.size == 0:
        raise ValueError(f"Expected a non-empty (n, n) score matrix; received {scores.shape}.")
    correct = np.diag(scores)[:, None]  # (n, 1)
    at_least = (scores >= correct).sum(axis=1) - 1  # Other items scoring >= the correct one.
    ranks = 1 + at_least  # (n,)
    return {k: float((ranks <= k).mean()) for k in ks}
    ### END SOLUTION


# %% [markdown]
# ## Real word vectors
#
# GloVe learned 50 numbers per word from 6 billion words of Wikipedia and news; words used in
# similar contexts get similar vectors. `course_lib.models.pretrained.load_glove_50d()` loads them
# (400,000 words) from a package, no download. Write the search on raw arrays: nearest
# neighbours by cosine, and analogies "a is to b as c is to ?" answered by the word nearest to
# $\hat b - \hat a + \hat c$ (unit vectors; a, b and c themselves excluded).


# %%
def nearest_neighbors(
    vectors: np.ndarray, query: np.ndarray, k: int = 10, exclude=()
) -> np.ndarray:
    """Indices of the ``k`` rows of ``vectors`` most similar to ``query`` by cosine.

    Args:
        vectors: (vocab_size, dim) word vectors; query: (dim,) vector.
        k: how many neighbours; exclude: row indices never returned.

    Returns:
        int (k,) row indices, most similar first (all-zero rows have similarity 0).
    """
    ### BEGIN SOLUTION
    similarity = cosine_similarity_matrix(query[None, :], vectors)[0]  # (vocab_size,)
    similarity[list(exclude)] = -np.inf
    return np.argsort(-similarity, kind="stable")[:k]
    ### END SOLUTION


def analogy(vectors: np.ndarray, a: int, b: int, c: int, k: int = 5) -> np.ndarray:
    """Answer "a is to b as c is to ?" (king - man + woman) with unit vectors (3CosAdd).

    Args:
        vectors: (vocab_size, dim); a, b, c: row indices of the three words.
        k: how many answers.

    Returns:
        int (k,) row indices nearest by cosine to ``unit(b) - unit(a) + unit(c)``, never a, b, c.
    """
    ### BEGIN SOLUTION
    unit = vectors[[a, b, c]] / np.linalg.norm(vectors[[a, b, c]], axis=1, keepdims=True)
    query = unit[1] - unit[0] + unit[2]  # (dim,)
    return nearest_neighbors(vectors, query, k, exclude=(a, b, c))
    ### END SOLUTION


# %% [markdown]
# ## Skip-gram with negative sampling
#
# word2vec's skip-gram learns vectors by predicting, for each word (the *target*), the words
# within `WINDOW_SIZE` positions of it (its *contexts*). Scoring every word of the vocabulary is
# expensive, so negative sampling turns it into binary classification: the true context gets
# label 1, and `NUM_NEGATIVES` words drawn at random get label 0. Words are drawn with
# probability proportional to $\mathrm{count}^{0.75}$, which gives rare words a little more
# chance than their frequency. The score of a pair is the dot product of the target's vector
# (one embedding table) and the context's vector (a second table).


# %%
def skipgram_pairs(sequences, window_size: int = WINDOW_SIZE) -> np.ndarray:
    """All (target, context) id pairs within ``window_size`` positions, padding (id 0) skipped.

    Args:
        sequences: (num_texts, length) ids (or a list of id lists).
        window_size: how many positions on each side.

    Returns:
        int64 (num_pairs, 2): ``[target, context]``, ordered by text, then target position, then
        context position; a position is never its own context. Shape (0, 2) when there is no
        pair.
    """
    ### BEGIN SOLUTION
    pairs = []
    for sequence in sequences:
        sequence = list(sequence)
        for i, target in enumerate(sequence):
            if target == 0:
                continue
            for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
                if j != i and sequence[j] != 0:
                    pairs.append((target, sequence[j]))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
    ### END SOLUTION


def negative_sampling_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Probability of drawing each word as a negative: proportional to ``counts ** power``.

    Args:
        counts: (vocab_size,) word counts (0 for ``[PAD]`` and ``[UNK]``, never drawn).
        power: the exponent (word2vec's 0.75).

    Returns:
        float64 (vocab_size,) probabilities summing to 1.
    """
    ### BEGIN SOLUTION
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()
    ### END SOLUTION


def skipgram_training_data(
    sequences,
    distribution: np.ndarray,
    window_size: int = WINDOW_SIZE,
    num_negatives: int = NUM_NEGATIVES,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training examples: each positive pair with ``num_negatives`` sampled negative contexts.

    Args:
        sequences: (num_texts, length) ids; distribution: (vocab_size,) negative probabilities.
        window_size, num_negatives: as above; seed: seeds ``np.random.default_rng``, so the
            same seed gives the same negatives and another seed other ones.

    Returns:
        targets: int64 (num_pairs,); contexts: int64 (num_pairs, 1 + num_negatives), column 0
        the true context from ``skipgram_pairs`` and the rest drawn from ``distribution``;
        labels: float32 (num_pairs, 1 + num_negatives), 1 in column 0 and 0 elsewhere.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    pairs = skipgram_pairs(sequences, window_size)  # (num_pairs, 2)
    negatives = rng.choice(len(distribution), size=(len(pairs), num_negatives), p=distribution)
    contexts = np.concatenate([pairs[:, 1:], negatives], axis=1)  # (num_pairs, 1 + neg)
    labels = np.zeros(contexts.shape, dtype=np.float32)
    labels[:, 0] = 1.0
    return pairs[:, 0], contexts.astype(np.int64), labels
    ### END SOLUTION


def build_skipgram_model(vocab_size: int, embedding_dim: int = EMBEDDING_DIM) -> keras.Model:
    """Skip-gram scorer: logits = dot products of target and context vectors.

    Inputs: ``target`` int (batch,) and ``contexts`` int (batch, num_contexts). Layers: an
    ``Embedding`` named ``"target_embedding"`` and one named ``"context_embedding"`` (both
    vocab_size × embedding_dim).

    Returns:
        A ``keras.Model`` taking ``[target, contexts]`` and giving (batch, num_contexts) logits.
    """
    ### BEGIN SOLUTION
    target = keras.Input(shape=(), dtype="int64", name="target")
    contexts = keras.Input(shape=(None,), dtype="int64", name="contexts")
    target_vectors = keras.layers.Embedding(vocab_size, embedding_dim, name="target_embedding")(
        target
    )  # (batch, dim)
    context_vectors = keras.layers.Embedding(vocab_size, embedding_dim, name="context_embedding")(
        contexts
    )  # (batch, num_contexts, dim)
    logits = keras.ops.einsum("bd,bcd->bc", target_vectors, context_vectors)
    return keras.Model([target, contexts], logits, name="skipgram")
    ### END SOLUTION


def train_skipgram(
    sequences,
    counts: np.ndarray,
    embedding_dim: int = EMBEDDING_DIM,
    window_size: int = WINDOW_SIZE,
    num_negatives: int = NUM_NEGATIVES,
    epochs: int = 5,
    batch_size: int = 256,
    seed: int = SEED,
    verbose: int = 0,
) -> tuple[keras.Model, list[float]]:
    """Train the skip-gram model with binary cross-entropy on logits (Adam, learning rate 1e-2).

    The data come from one call of ``skipgram_training_data`` with the distribution of
    ``negative_sampling_distribution(counts)`` and this function's ``window_size``,
    ``num_negatives`` and ``seed``; the model from ``build_skipgram_model(len(counts),
    embedding_dim)``, compiled with ``keras.optimizers.Adam(1e-2)`` and
    ``keras.losses.BinaryCrossentropy(from_logits=True)``, then fitted with ``epochs`` and
    ``batch_size``.

    Args:
        sequences: (num_texts, length) ids; counts: (vocab_size,) word counts (0 for specials).
        embedding_dim, window_size, num_negatives, epochs, batch_size: training settings.
        seed: passed to ``keras.utils.set_random_seed`` and to ``skipgram_training_data``.

    Returns:
        The trained (compiled) model and the mean training loss of each epoch.
    """
    ### BEGIN SOLUTION
    keras.utils.set_random_seed(seed)
    distribution = negative_sampling_distribution(counts)
    targets, contexts, labels = skipgram_training_data(
        sequences, distribution, window_size, num_negatives, seed
    )
    model = build_skipgram_model(len(counts), embedding_dim)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    history = model.fit(
        [targets, contexts], labels, epochs=epochs, batch_size=batch_size, verbose=verbose
    )
    return model, [float(x) for x in history.history["loss"]]
    ### END SOLUTION


# %% [markdown]
# ## Sentence embeddings from word vectors
#
# The simplest sentence vector is the mean of its word vectors. SIF (Arora et al., 2017) does
# better with two changes: each word is weighted by $a / (a + p(w))$, so frequent words count
# less, and the component that all sentences share (the first principal direction $u$ of the
# matrix of sentence vectors, the first right-singular vector of its SVD) is removed:
# $v \leftarrow v - u u^\top v$.


# %%
def word_probabilities(token_lists: list[list[str]]) -> dict[str, float]:
    """Return each word's relative frequency in ``token_lists`` (the p(w) of SIF)."""
    counts = Counter(word for tokens in token_lists for word in tokens)
    total = sum(counts.values())
    return {word: count / total for word, count in counts.items()}


def mean_word_vectors(
    token_lists: list[list[str]], word_index: dict[str, int], vectors: np.ndarray
) -> np.ndarray:
    """Mean of the vectors of each text's known words (unknown words skipped).

    Args:
        token_lists: (n,) tokenised texts; word_index: word → row of ``vectors``;
        vectors: (vocab_size, dim).

    Returns:
        float32 (n, dim); a text without any known word gets zeros; no texts give (0, dim).
    """
    ### BEGIN SOLUTION
    out = np.zeros((len(token_lists), vectors.shape[1]), dtype=np.float32)
    for row, tokens in enumerate(token_lists):
        rows = [word_index[w] for w in tokens if w in word_index]
        if rows:
            out[row] = np.asarray(vectors[rows]).mean(axis=0)
    return out
    ### END SOLUTION


def sif_embeddings(
    token_lists: list[list[str]],
    word_index: dict[str, int],
    vectors: np.ndarray,
    probabilities: dict[str, float],
    a: float = SIF_A,
) -> np.ndarray:
    """SIF sentence embeddings: weighted mean of word vectors, first principal component removed.

    Each known word ``w`` of a text gets weight ``a / (a + p(w))`` (p(w) = 0 for words missing
    from ``probabilities``); a text's vector is the sum of weighted vectors divided by its number
    of known words (zeros when none). Then, with ``u`` the first right-singular vector of the
    (n, dim) matrix of these vectors (``np.linalg.svd``, no centring), each row ``v`` becomes
    ``v - (v · u) u``.

    Args:
        token_lists: (n,) tokenised texts; word_index, vectors: as ``mean_word_vectors``;
        probabilities: word → p(w); a: the smoothing constant.

    Returns:
        float64 (n, dim); no texts give (0, dim).
    """
    ### BEGIN SOLUTION
    embeddings = np.zeros((len(token_lists), vectors.shape[1]))
    for row, tokens in enumerate(token_lists):
        known = [w for w in tokens if w in word_index]
        if not known:
            continue
        weights = np.array([a / (a + probabilities.get(w, 0.0)) for w in known])  # (words,)
        rows = np.asarray(vectors[[word_index[w] for w in known]], dtype=np.float64)
        embeddings[row] = weights @ rows / len(known)
    if len(token_lists) == 0:
        return embeddings  # (0, dim): no common component to remove.
    _, _, vt = np.linalg.svd(embeddings, full_matrices=False)
    u = vt[0]  # (dim,)
    return embeddings - np.outer(embeddings @ u, u)
    ### END SOLUTION


# %% [markdown]
# ## A Transformer encoder block
#
# Word vectors ignore order and context: "a dog on a bench" and "a bench on a dog" get the same
# mean. A Transformer lets every token look at every other token. One encoder block (BERT's
# post-LN layout):
#
# 1. Self-attention: queries, keys and values are linear maps of the input, split into
#    `num_heads` heads of size `hidden_size / num_heads`. Each head computes
#    $\mathrm{softmax}(Q K^\top / \sqrt{d_{head}} + M) V$ where the mask $M$ is a large negative
#    number (-1e9) for padding keys, so no token attends to padding. Heads are concatenated and
#    mapped by `attention_output_dense`.
# 2. Residual and layer norm: $x \leftarrow \mathrm{LN}(x + \mathrm{dropout}(\mathrm{attention}))$.
# 3. Feed-forward: `intermediate_dense` (to `intermediate_size`, exact GELU) then `output_dense`
#    (back to `hidden_size`); again $x \leftarrow \mathrm{LN}(x + \mathrm{dropout}(\mathrm{ff}))$.
#
# The sublayer attribute names below are a contract: `course_lib.models.minilm` copies the real
# weights of all-MiniLM-L6-v2 into them.


# %%
class TransformerEncoderBlock(keras.layers.Layer):
    """One post-LN Transformer encoder block, as in BERT.

    Args:
        hidden_size: size of each token's vector (input and output).
        num_heads: attention heads; must divide ``hidden_size``.
        intermediate_size: width of the feed-forward layer.
        dropout_rate: dropout after attention probabilities and after each sublayer.
        layer_norm_epsilon: epsilon of both layer norms.

    Sublayers (created in ``__init__``, built in ``build``): ``query_dense``, ``key_dense``,
    ``value_dense``, ``attention_output_dense`` (``Dense(hidden_size)``),
    ``attention_layer_norm``, ``output_layer_norm`` (``LayerNormalization``),
    ``intermediate_dense`` (``Dense(intermediate_size)`` with exact GELU), ``output_dense``
    (``Dense(hidden_size)``), and dropout layers.

    Call: ``block(x, attention_mask=None, training=None)`` with x (batch, seq, hidden_size) and
    attention_mask (batch, seq), 1 for real tokens and 0 for padding (None: all real); returns
    (batch, seq, hidden_size).
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        if hidden_size % num_heads != 0:
            raise ValueError(
                f"Expected num_heads to divide hidden_size; received hidden_size={hidden_size} "
                f"and num_heads={num_heads}."
            )
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.dropout_rate = dropout_rate
        self.layer_norm_epsilon = layer_norm_epsilon
        self.head_size = hidden_size // num_heads
        self.query_dense = keras.layers.Dense(hidden_size, name="query")
        self.key_dense = keras.layers.Dense(hidden_size, name="key")
        self.value_dense = keras.layers.Dense(hidden_size, name="value")
        self.attention_output_dense = keras.layers.Dense(hidden_size, name="attention_output")
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="attention_layer_norm"
        )
        self.intermediate_dense = keras.layers.Dense(
            intermediate_size,
            activation="gelu",
            name="intermediate",
        )
        self.output_dense = keras.layers.Dense(hidden_size, name="output")
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="output_layer_norm"
        )
        self.attention_dropout = keras.layers.Dropout(dropout_rate)
        self.output_dropout = keras.layers.Dropout(dropout_rate)
        ### END SOLUTION

    def build(self, input_shape):
        ### BEGIN SOLUTION
        if input_shape[-1] != self.hidden_size:
            raise ValueError(
                f"Expected inputs of shape (batch, seq, {self.hidden_size}); received "
                f"{tuple(input_shape)}."
            )
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(input_shape)
        self.attention_output_dense.build(input_shape)
        self.attention_layer_norm.build(input_shape)
        self.intermediate_dense.build(input_shape)
        self.output_dense.build((*input_shape[:-1], self.intermediate_size))
        self.output_layer_norm.build(input_shape)
        ### END SOLUTION

    def call(self, inputs, attention_mask=None, training=None):
        ### BEGIN SOLUTION
        batch, seq = keras.ops.shape(inputs)[0], keras.ops.shape(inputs)[1]

        def split_heads(x):  # (batch, seq, hidden) -> (batch, heads, seq, head_size)
            x = keras.ops.reshape(x, (batch, seq, self.num_heads, self.head_size))
            return keras.ops.transpose(x, (0, 2, 1, 3))

        query = split_heads(self.query_dense(inputs))
        key = split_heads(self.key_dense(inputs))
        value = split_heads(self.value_dense(inputs))
        scores = keras.ops.matmul(query, keras.ops.transpose(key, (0, 1, 3, 2)))
        scores = scores / math.sqrt(self.head_size)  # (batch, heads, seq, seq)
        if attention_mask is not None:
            mask = keras.ops.cast(attention_mask, scores.dtype)[:, None, None, :]
            scores = scores + (1.0 - mask) * -1e9
        probabilities = keras.ops.softmax(scores, axis=-1)
        probabilities = self.attention_dropout(probabilities, training=training)
        context = keras.ops.matmul(probabilities, value)  # (batch, heads, seq, head_size)
        context = keras.ops.reshape(
            keras.ops.transpose(context, (0, 2, 1, 3)), (batch, seq, self.hidden_size)
        )
        attention = self.output_dropout(self.attention_output_dense(context), training=training)
        x = self.attention_layer_norm(inputs + attention)  # (batch, seq, hidden)
        feed_forward = self.output_dense(self.intermediate_dense(x))  # (batch, seq, hidden)
        feed_forward = self.output_dropout(feed_forward, training=training)
        return self.output_layer_norm(x + feed_forward)
        ### END SOLUTION

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            dropout_rate=self.dropout_rate,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
        ### END SOLUTION


# %% [markdown]
# ## A BERT encoder, then the real all-MiniLM-L6-v2
#
# BERT's input vector of the token at position $p$ is the sum of three learned vectors: the
# token's (`word_embeddings`), the position's (`position_embeddings`, positions 0, 1, ...) and
# the segment's (`token_type_embeddings`, always segment 0 here), followed by a layer norm and
# dropout. Then come `num_layers` encoder blocks. A sentence embedding is the mean of the final
# token vectors over real tokens (padding excluded), scaled to unit length: that is what
# all-MiniLM-L6-v2 was trained to produce (6 layers, hidden size 384, 12 heads, 1536
# feed-forward units, 22.7M parameters). `course_lib.models.minilm.load_minilm()` builds it with
# your `build_text_encoder` and copies the real weights into your layers.


# %%
class BertEmbeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, then layer norm and dropout.

    Args:
        vocab_size, hidden_size: the embedding tables' shape; max_positions: rows of the
        position table; type_vocab_size: rows of the token-type table; dropout_rate;
        layer_norm_epsilon.

    Sublayers: ``word_embeddings``, ``position_embeddings``, ``token_type_embeddings``
    (``keras.layers.Embedding``) and ``layer_norm`` (``LayerNormalization``).

    Call: ``embeddings(input_ids, token_type_ids=None, training=None)`` with int (batch, seq)
    ids (token types default to 0); returns (batch, seq, hidden_size).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_positions: int = 512,
        type_vocab_size: int = 2,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_positions = max_positions
        self.type_vocab_size = type_vocab_size
        self.dropout_rate = dropout_rate
        self.layer_norm_epsilon = layer_norm_epsilon
        self.word_embeddings = keras.layers.Embedding(vocab_size, hidden_size, name="word")
        self.position_embeddings = keras.layers.Embedding(
            max_positions, hidden_size, name="position"
        )
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size, hidden_size, name="token_type"
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm"
        )
        self.dropout = keras.layers.Dropout(dropout_rate)
        ### END SOLUTION

    def build(self, input_shape):
        ### BEGIN SOLUTION
        self.word_embeddings.build(input_shape)
        self.position_embeddings.build(input_shape)
        self.token_type_embeddings.build(input_shape)
        self.layer_norm.build((*input_shape, self.hidden_size))
        ### END SOLUTION

    def call(self, input_ids, token_type_ids=None, training=None):
        ### BEGIN SOLUTION
        seq = keras.ops.shape(input_ids)[1]
        if token_type_ids is None:
            token_type_ids = keras.ops.zeros_like(input_ids)
        positions = keras.ops.arange(seq)[None, :]  # (1, seq)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )  # (batch, seq, hidden)
        return self.dropout(self.layer_norm(x), training=training)
        ### END SOLUTION

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            max_positions=self.max_positions,
            type_vocab_size=self.type_vocab_size,
            dropout_rate=self.dropout_rate,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
        ### END SOLUTION


def masked_mean_pool(token_states, attention_mask):
    """Mean of the token vectors of real tokens (``keras.ops``, so it works inside a model).

    Args:
        token_states: float (batch, seq, hidden); attention_mask: (batch, seq), 1 real, 0 pad.

    Returns:
        float (batch, hidden): sum of real tokens' vectors / max(number of real tokens, 1e-9).
    """
    ### BEGIN SOLUTION
    mask = keras.ops.cast(attention_mask, token_states.dtype)[:, :, None]  # (batch, seq, 1)
    total = keras.ops.sum(token_states * mask, axis=1)  # (batch, hidden)
    return total / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1e-9)
    ### END SOLUTION


def build_text_encoder(
    vocab_size: int,
    hidden_size: int = 384,
    num_layers: int = 6,
    num_heads: int = 12,
    intermediate_size: int = 1536,
    max_positions: int = 512,
    type_vocab_size: int = 2,
    dropout_rate: float = 0.1,
    layer_norm_epsilon: float = 1e-12,
) -> keras.Model:
    """A BERT sentence encoder: embeddings, encoder blocks, masked mean pooling, L2 norm.

    Inputs: a dict ``{"input_ids": int32 (batch, seq), "attention_mask": int32 (batch, seq)}``.
    Layers: ``BertEmbeddings`` named ``"embeddings"``, then ``TransformerEncoderBlock`` layers
    named ``"layer_0"`` ... ``"layer_{num_layers - 1}"``, each given the attention mask.

    Returns:
        A functional ``keras.Model`` giving float32 (batch, hidden_size) sentence embeddings of
        unit L2 norm (divide by ``max(norm, 1e-12)``).
    """
    ### BEGIN SOLUTION
    input_ids = keras.Input(shape=(None,), dtype="int32", name="input_ids")
    attention_mask = keras.Input(shape=(None,), dtype="int32", name="attention_mask")
    x = BertEmbeddings(
        vocab_size,
        hidden_size,
        max_positions,
        type_vocab_size,
        dropout_rate,
        layer_norm_epsilon,
        name="embeddings",
    )(input_ids)  # (batch, seq, hidden)
    for i in range(num_layers):
        block = TransformerEncoderBlock(
            hidden_size,
            num_heads,
            intermediate_size,
            dropout_rate,
            layer_norm_epsilon,
            name=f"layer_{i}",
        )
        x = block(x, attention_mask=attention_mask)
    pooled = masked_mean_pool(x, attention_mask)  # (batch, hidden)
    norms = keras.ops.sqrt(keras.ops.sum(pooled**2, axis=-1, keepdims=True))
    embeddings = pooled / keras.ops.maximum(norms, 1e-12)
    return keras.Model(
        {"input_ids": input_ids, "attention_mask": attention_mask}, embeddings, name="text_encoder"
    )
    ### END SOLUTION


# %% [markdown]
# ## Exporting the encoder for TF-Hub
#
# On TF-Hub, text encoders are SavedModels that take raw strings: tokenisation is inside the
# graph. Wrap the tokenizer and the model in a `tf.Module` whose `tf.function` has the input
# signature `tf.TensorSpec([None], tf.string)`, save it with `tf.saved_model.save`, and anyone
# can use it with `hub.load(path)` (a local path here; a URL online), without our code.


# %%
def export_text_encoder(model: keras.Model, tokenizer, export_dir) -> Path:
    """Save ``strings → sentence embeddings`` as a SavedModel that ``hub.load`` can read.

    Args:
        model: from ``build_text_encoder``.
        tokenizer: a ``tf.Module`` callable inside a ``tf.function``: (batch,) strings →
            ``(input_ids, attention_mask)``, both int32 (batch, seq), e.g.
            ``course_lib.models.minilm.tokenizer()``.
        export_dir: the folder to write.

    Returns:
        ``Path(export_dir)``; ``hub.load(export_dir)(tf.constant(["a dog"]))`` then gives
        (1, hidden_size) embeddings equal to ``model``'s (eval mode, no dropout).
    """
    ### BEGIN SOLUTION

    class ExportedEncoder(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.tokenizer = tokenizer  # A tf.Module: its vocabulary is saved with the model.

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            input_ids, attention_mask = self.tokenizer(texts)
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            return self.model(inputs, training=False)  # (batch, hidden)

    tf.saved_model.save(ExportedEncoder(), str(export_dir))
    return Path(export_dir)
    ### END SOLUTION


# %% [markdown]
# ## A character-level language model
#
# A recurrent network reads a caption one character at a time and predicts the next one; its
# state carries what it has seen so far. Sampling from it writes new captions. Dividing the
# logits by a *temperature* before the softmax controls boldness: temperature near 0 always
# picks the most likely character (repetitive), 1 samples from the model's own distribution,
# large values approach uniform noise.


# %%
def char_vocabulary(texts: list[str]) -> list[str]:
    """Return ``[""]`` (padding, id 0), then the sorted distinct characters of ``texts`` and
    ``"\\n"`` (which ends every caption)."""
    return [""] + sorted({ch for text in texts for ch in text} | {"\n"})


def char_windows(
    texts: list[str], vocabulary: list[str], sequence_length: int = CHAR_SEQUENCE_LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the texts, joined by newlines, into (input, next-character target) windows.

    Returns:
        inputs, targets: int32 (num_windows, sequence_length); targets are inputs shifted by one.
    """
    index = {ch: i for i, ch in enumerate(vocabulary)}
    ids = np.array([index[ch] for ch in "\n".join(texts) + "\n" if ch in index], np.int32)
    num_windows = (len(ids) - 1) // sequence_length
    stop = num_windows * sequence_length
    return (
        ids[:stop].reshape(num_windows, sequence_length),
        ids[1 : stop + 1].reshape(num_windows, sequence_length),
    )


def build_char_lm(
    vocab_size: int, embedding_dim: int = 32, units: int = CHAR_UNITS, cell: str = "gru"
) -> keras.Model:
    """Character language model: Embedding → GRU or LSTM (named ``"rnn"``) → Dense logits.

    Args:
        vocab_size: number of characters (id 0 is padding); embedding_dim, units: sizes;
        cell: ``"gru"`` or ``"lstm"`` (anything else: ValueError).

    Returns:
        A ``keras.Model`` mapping int (batch, seq) ids to (batch, seq, vocab_size) logits (no
        softmax) of the next character at each position; the recurrent layer returns sequences.
    """
    ### BEGIN SOLUTION
    layers = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
    if cell not in layers:
        raise ValueError(f"Expected cell 'gru' or 'lstm'; received {cell!r}.")
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embedding_dim)(ids)  # (batch, seq, dim)
    x = layers[cell](units, return_sequences=True, name="rnn")(x)  # (batch, seq, units)
    logits = keras.layers.Dense(vocab_size)(x)  # (batch, seq, vocab_size)
    return keras.Model(ids, logits, name=f"char_{cell}")
    ### END SOLUTION


def train_char_lm(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = SEED,
    verbose: int = 0,
) -> list[float]:
    """Compile (Adam 1e-2, sparse cross-entropy from logits) and fit; return each epoch's loss.

    Args:
        model: from ``build_char_lm``; inputs, targets: from ``char_windows``.
        epochs, batch_size, verbose: passed to ``model.fit``.
        seed: passed to ``keras.utils.set_random_seed`` before fitting, so the same initial
            weights and seed give the same losses (the seed sets the order of the windows).

    Returns:
        The mean training loss of each epoch, as Python floats.
    """
    ### BEGIN SOLUTION
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return [float(x) for x in history.history["loss"]]
    ### END SOLUTION


def sample_with_temperature(
    logits: np.ndarray, temperature: float, rng: np.random.Generator
) -> int:
    """Draw one index from ``softmax(logits / temperature)``.

    Args:
        logits: (vocab_size,) scores; temperature: > 0, or 0 for the argmax (no randomness).
        rng: a ``np.random.Generator``; use ``rng.choice(len(logits), p=probabilities)``.

    Returns:
        The sampled index, a Python int. Raises ValueError for a negative temperature.
    """
    ### BEGIN SOLUTION
    if temperature < 0:
        raise ValueError(f"Expected a temperature >= 0; received {temperature}.")
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    scaled = scaled - scaled.max()  # Stable for small temperatures.
    probabilities = np.exp(scaled) / np.exp(scaled).sum()
    return int(rng.choice(len(logits), p=probabilities))
    ### END SOLUTION


def generate_text(
    model: keras.Model,
    vocabulary: list[str],
    start: str,
    length: int = 60,
    temperature: float = 0.5,
    seed: int = SEED,
) -> str:
    """Continue ``start`` character by character until a newline or ``length`` characters."""
    rng = np.random.default_rng(seed)
    index = {ch: i for i, ch in enumerate(vocabulary)}
    ids = [index[ch] for ch in start if ch in index]
    for _ in range(length):
        logits = model(np.array([ids], np.int32), training=False)[0, -1]  # (vocab_size,)
        logits = np.array(logits)
        logits[0] = -np.inf  # Never the padding id.
        next_id = sample_with_temperature(logits, temperature, rng)
        if vocabulary[next_id] == "\n":
            break
        ids.append(next_id)
    return "".join(vocabulary[i] for i in ids)


def cell_activations(model: keras.Model, vocabulary: list[str], text: str) -> np.ndarray:
    """Return the recurrent layer's (len(text), units) outputs while it reads ``text``."""
    index = {ch: i for i, ch in enumerate(vocabulary)}
    ids = np.array([[index[ch] for ch in text if ch in index]], np.int32)
    states = keras.Model(model.input, model.get_layer("rnn").output)(ids)[0]  # (seq, units)
    return np.asarray(states)


def plot_cell_activation(model: keras.Model, vocabulary: list[str], text: str, unit: int, path):
    """Save a PNG of one recurrent unit's activation over ``text`` (Karpathy's visualisation)."""
    import matplotlib.pyplot as plt

    values = cell_activations(model, vocabulary, text)[:, unit]
    figure, axis = plt.subplots(figsize=(max(4, 0.22 * len(values)), 1.2))
    axis.imshow(values[None, :], cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    for x, ch in enumerate(text):
        axis.text(x, 0, ch, ha="center", va="center", fontsize=9, family="monospace")
    axis.set_axis_off()
    axis.set_title(f"unit {unit} of the recurrent layer (blue -1, red +1)", fontsize=9)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


# %% [markdown]
# ## Demo: tokenising the collection and the real COCO captions
#
# Runs when this notebook runs, or when this file runs as a script (`python 04_text.py`), never
# on import.

# %%
if should_run_demo(__name__):
    from course_lib.models import minilm
    from course_lib.paths import coco_mini_dir, user_dir
    from course_lib.search.text_retrieval import folder_captions

    train_groups = load_captions("train", NUM_TRAIN_IMAGES)
    train_captions = [c for group in train_groups for c in group]
    train_tokens = tokenize(train_captions)
    vocabulary = build_vocabulary(train_tokens)
    print(f"{len(train_captions)} train captions, vocabulary of {len(vocabulary)} words")
    print(train_captions[0], "->", train_tokens[0])
    val_tokens = tokenize([c for g in load_captions("val", 200) for c in g])
    ids = encode_tokens(val_tokens, vocabulary)
    print(f"val [UNK] rate: {(ids == 1).sum() / (ids > 0).sum():.3%}")
    if coco_mini_dir() is not None:
        coco_tokens = tokenize(
            [c for g in folder_captions(coco_mini_dir(), "train2017") for c in g]
        )
        coco_ids = encode_tokens(coco_tokens, vocabulary)
        print(f"real COCO [UNK] rate: {(coco_ids == 1).sum() / (coco_ids > 0).sum():.3%}")
    if coco_mini_dir() is not None and minilm.is_available():
        # BERT's WordPiece vocabulary still splits words that our caption vocabulary lacks.
        word_pieces = set(minilm.vocab_path().read_text(encoding="utf-8").split())
        unknown = sorted({w for t in coco_tokens for w in t} - set(vocabulary))
        print("WordPiece:", {w: wordpiece_split(w, word_pieces) for w in unknown[::40]})
        long_words = [w for w in unknown if len(wordpiece_split(w, word_pieces)) > 1]
        print("split by WordPiece:", {w: wordpiece_split(w, word_pieces) for w in long_words[:8]})

# %% [markdown]
# ## Demo: GloVe neighbours and analogies, and skip-gram vectors trained on our captions

# %%
if should_run_demo(__name__):
    from course_lib.models.pretrained import load_glove_50d

    glove = load_glove_50d()
    top = np.asarray(glove.vectors[:100_000])
    for word in ("dog", "beach", "car"):
        neighbours = nearest_neighbors(top, top[glove.index[word]], 6, exclude=[glove.index[word]])
        print(f"GloVe {word}: {[glove.words[i] for i in neighbours]}")
    for a, b, c in (("man", "king", "woman"), ("paris", "france", "tokyo")):
        answer = analogy(top, glove.index[a], glove.index[b], glove.index[c], 3)
        print(f"{a} : {b} :: {c} : {[glove.words[i] for i in answer]}")

    counts = bag_of_words(train_tokens, vocabulary).sum(axis=0)
    counts[:2] = 0  # Never draw [PAD] or [UNK] as negatives.
    sequences = encode_tokens(train_tokens, vocabulary)
    sequences[sequences == 1] = 0  # Skip unknown words like padding.
    skipgram, losses = train_skipgram(sequences, counts, epochs=5, verbose=0)
    print(f"skip-gram losses: {np.round(losses, 3)}")
    learned = skipgram.get_layer("target_embedding").embeddings.numpy()
    for word in ("dog", "beach", "car", "snow"):
        i = vocabulary.index(word)
        neighbours = nearest_neighbors(learned, learned[i], 6, exclude=[0, 1, i])
        print(f"skip-gram {word}: {[vocabulary[j] for j in neighbours]}")

# %% [markdown]
# ## Demo: caption retrieval with every representation, and the real MiniLM encoder

# %%
if should_run_demo(__name__):
    import sys

    from course_lib.search.text_retrieval import format_table, retrieval_table

    this = sys.modules[__name__]
    print(format_table(retrieval_table("val", NUM_VAL_IMAGES, module=this), "val split"))
    if minilm.is_available():
        encoder, text_tokenizer = minilm.load_minilm(this)
        sentences = ["A dog on the beach.", "A puppy playing in the sand.", "A red car in snow."]
        embeddings = minilm.embed(encoder, text_tokenizer, sentences)
        print(np.round(cosine_similarity_matrix(embeddings, embeddings), 3))
        export_dir = export_text_encoder(encoder, text_tokenizer, user_dir() / "minilm_savedmodel")
        import tensorflow_hub as hub

        reloaded = hub.load(str(export_dir))
        print("hub.load round trip:", np.abs(reloaded(tf.constant(sentences)) - embeddings).max())

# %% [markdown]
# ## Demo: a character-level GRU writes captions

# %%
if should_run_demo(__name__):
    chars = char_vocabulary(train_captions)
    inputs, targets = char_windows(train_captions, chars)
    char_model = build_char_lm(len(chars))
    print("char LM losses:", np.round(train_char_lm(char_model, inputs, targets, epochs=10), 3))
    for temperature in (0.0, 0.5, 1.0, 1.5):
        print(temperature, generate_text(char_model, chars, "A ", temperature=temperature))
    figures = user_dir() / "figures"
    figures.mkdir(exist_ok=True)
    # Like Karpathy's "position" cells: the unit whose activation best tracks how far into the
    # caption the model has read.
    samples = train_captions[:50]
    states = np.concatenate([cell_activations(char_model, chars, c) for c in samples])
    progress = np.concatenate([np.arange(len(c)) / len(c) for c in samples])
    correlations = [abs(np.corrcoef(states[:, u], progress)[0, 1]) for u in range(CHAR_UNITS)]
    unit = int(np.nanargmax(correlations))
    print(f"unit {unit}: |correlation| with position in the caption {correlations[unit]:.2f}")
    print(plot_cell_activation(char_model, chars, train_captions[3], unit, figures / "04_cell.png"))
    show_figure(figures / "04_cell.png")
