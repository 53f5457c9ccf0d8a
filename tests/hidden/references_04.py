"""Lecture 04's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs and named weights of the public tests
(``tests/autograder/test_04_text.py``, whose seeded builders it reuses) and ``camp generate``
writes the result to ``tests/autograder/expected/04_text.json``; the hidden tests
(``test_04_text_hidden.py``) compare the student's code with them on other inputs. The
references: Python and numpy written here, tensorflow-text's WordpieceTokenizer, scikit-learn's
CountVectorizer, TfidfVectorizer, cosine_similarity and top_k_accuracy_score, real GloVe
vectors searched with numpy, and a numpy BERT forward pass.
"""

import re
import unicodedata
from collections import Counter

import numpy as np
import tensorflow as tf
from scipy.special import erf

from course_lib.grading.expected import public_tests
from course_lib.grading.probes.lecture_04 import dropout_mask


def normalize(text):
    """Unicode case folding (NFKC, as ICU's NFKC_Casefold: "ß" → "ss", "ﬁ" → "fi"), then
    Python's Unicode ``\\w`` without the underscore: letters and digits."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(re.sub(r"[^\w\s]|_", " ", folded).split())


def wordpiece(words, vocabulary, max_chars):
    """tensorflow-text's WordpieceTokenizer on each word (ASCII: bytes are characters)."""
    import tensorflow_text as tf_text

    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(vocabulary, tf.range(len(vocabulary), dtype=tf.int64)),
        num_oov_buckets=1,
    )
    tokenizer = tf_text.WordpieceTokenizer(
        table, token_out_type=tf.string, unknown_token="[UNK]", max_bytes_per_word=max_chars
    )
    return [[p.decode() for p in tokenizer.tokenize([w]).to_list()[0]] for w in words]


def vocabulary(tokens, min_count=1, max_size=None):
    counts = Counter(w for t in tokens for w in t if w not in ("[PAD]", "[UNK]"))
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return (["[PAD]", "[UNK]"] + words)[:max_size]


def _identity(doc):
    return doc


def bag_of_words(tokens, vocab):
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(analyzer=_identity, vocabulary=vocab, lowercase=False)
    return counter.fit_transform(tokens).toarray().astype(np.float64)


def tfidf(fit_tokens, test_tokens, smooth_idf, sublinear_tf, norm):
    """scikit-learn's IDF of ``fit_tokens`` and TF-IDF of ``test_tokens``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocab = sorted({w for t in fit_tokens for w in t})
    vectorizer = TfidfVectorizer(
        analyzer=_identity, vocabulary=vocab, lowercase=False, smooth_idf=smooth_idf,
        sublinear_tf=sublinear_tf, norm=norm,
    )  # fmt: skip
    vectorizer.fit(fit_tokens)
    return vectorizer.idf_, vectorizer.transform(test_tokens).toarray()


def tfidf_of_counts(fit_counts, counts, smooth_idf, sublinear_tf, norm):
    """scikit-learn's TfidfTransformer fitted on ``fit_counts``: its IDF and ``counts``' TF-IDF."""
    from sklearn.feature_extraction.text import TfidfTransformer

    transformer = TfidfTransformer(norm=norm, smooth_idf=smooth_idf, sublinear_tf=sublinear_tf)
    transformer.fit(fit_counts)
    return transformer.idf_, transformer.transform(counts).toarray()


def cosine(a, b):
    """scikit-learn's cosine_similarity, in float64 (zero rows give 0)."""
    from sklearn.metrics.pairwise import cosine_similarity

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return cosine_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64))


def jaccard(a, b, multiset=False):
    """Jaccard of word sets (or, ``multiset=True``, of word counts: a mistake)."""
    if multiset:

        def one(x, y):
            union = sum((Counter(x) | Counter(y)).values())
            return sum((Counter(x) & Counter(y)).values()) / union if union else 0.0
    else:

        def one(x, y):
            union = set(x) | set(y)
            return len(set(x) & set(y)) / len(union) if union else 0.0

    return np.array([[one(x, y) for y in b] for x in a]).reshape(len(a), len(b))


def recall_at_k(scores, ks):
    """Recall@K without ties: scikit-learn's top-K accuracy with query i labelled i."""
    from sklearn.metrics import top_k_accuracy_score

    n = len(scores)
    return {
        k: float(top_k_accuracy_score(np.arange(n), scores, k=k, labels=np.arange(n))) for k in ks
    }


def recall_with_ties(scores, ks):
    """Recall@K by a loop over queries: rank = 1 + other items scoring at least as high."""
    n = len(scores)
    ranks = [1 + sum(scores[i][j] >= scores[i][i] for j in range(n) if j != i) for i in range(n)]
    return {k: sum(rank <= k for rank in ranks) / n for k in ks}


def neighbors(vectors, query, k, exclude):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)  # An all-zero row scores 0.
    scores = unit @ (query / np.linalg.norm(query))
    scores[list(exclude)] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def analogy_query(vectors, a, b, c):
    unit = vectors[[a, b, c]] / np.linalg.norm(vectors[[a, b, c]], axis=1)[:, None]
    return unit[1] - unit[0] + unit[2]


def skipgram_pairs(sequences, window_size, reach=None):
    """[target, context] pairs by text, then target position, then context position.

    ``reach``: how far right the window goes (``window_size - 1``: a common mistake).
    """
    reach = window_size if reach is None else reach
    pairs = [
        [row[i], row[j]]
        for row in (np.asarray(sequence).tolist() for sequence in sequences)
        for i in range(len(row))
        for j in range(len(row))
        if row[i] != 0 and row[j] != 0 and i != j and -window_size <= j - i <= reach
    ]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def negative_distribution(counts, power=0.75):
    weighted = np.asarray(counts, dtype=np.float64) ** power
    return weighted / weighted.sum()


def sif(token_lists, word_index, vectors, probabilities, a, centred=False, remove=True):
    weighted = np.zeros((len(token_lists), vectors.shape[1]))
    for row, words in enumerate(token_lists):
        known = [w for w in words if w in word_index]
        for w in known:
            weight = a / (a + probabilities.get(w, 0.0))
            weighted[row] += weight * vectors[word_index[w]] / len(known)
    if not remove:
        return weighted
    basis = weighted - weighted.mean(0) if centred else weighted
    u = np.linalg.svd(basis, full_matrices=False)[2][0]
    return weighted - np.outer(weighted @ u, u)


def masked_mean(states, mask, divide_by_length=False):
    summed = (states * mask[..., None]).sum(1)
    if divide_by_length:
        return summed / states.shape[1]
    return summed / np.maximum(mask.sum(1), 1e-9)[:, None]


def keras_block(w, x, mask, heads, eps, rate, training):
    """BERT's block from Keras' own layers carrying the weights ``w`` (``{sublayer: {role:
    array}}``): MultiHeadAttention (its dropout on the attention probabilities), Dropout on each
    sublayer's output, LayerNormalization after each residual sum, Dense with exact GELU."""
    import keras

    batch, seq, hidden = x.shape
    size, inner = hidden // heads, w["intermediate_dense"]["kernel"].shape[1]
    attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=size, dropout=rate)
    key_mask = np.asarray(mask).astype(bool)[:, None, :].repeat(seq, axis=1)  # (batch, q, k)
    attention(x, x, attention_mask=key_mask)
    attention.set_weights(
        [w["query_dense"]["kernel"].reshape(hidden, heads, size),
         w["query_dense"]["bias"].reshape(heads, size),
         w["key_dense"]["kernel"].reshape(hidden, heads, size),
         w["key_dense"]["bias"].reshape(heads, size),
         w["value_dense"]["kernel"].reshape(hidden, heads, size),
         w["value_dense"]["bias"].reshape(heads, size),
         w["attention_output_dense"]["kernel"].reshape(heads, size, hidden),
         w["attention_output_dense"]["bias"]]
    )  # fmt: skip
    norms = [keras.layers.LayerNormalization(epsilon=eps) for _ in range(2)]
    intermediate = keras.layers.Dense(inner, activation="gelu")
    output = keras.layers.Dense(hidden)
    dropouts = [keras.layers.Dropout(rate) for _ in range(2)]
    for layer, shape, name in (
        (norms[0], (None, seq, hidden), "attention_layer_norm"),
        (norms[1], (None, seq, hidden), "output_layer_norm"),
        (intermediate, (None, seq, hidden), "intermediate_dense"),
        (output, (None, seq, inner), "output_dense"),
    ):
        layer.build(shape)
        layer.set_weights(list(w[name].values()))
    attended = attention(x, x, attention_mask=key_mask, training=training)
    h = norms[0](x + dropouts[0](attended, training=training))
    feed_forward = dropouts[1](output(intermediate(h)), training=training)
    return np.asarray(norms[1](h + feed_forward))


def keras_char_lm(weights, cell, ids):
    """Embedding → GRU or LSTM (return_sequences) → Dense, Keras' own layers with ``weights``."""
    import keras

    vocab_size, dim = weights[0].shape
    units = weights[-2].shape[0]
    layer = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab_size, dim),
            layer(units, return_sequences=True),
            keras.layers.Dense(vocab_size),
        ]
    )
    model.set_weights(weights)
    return np.asarray(model(ids, training=False))


def layer_norm(x, gamma, beta, epsilon):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def gelu(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def block(w, x, mask, heads, eps, approximate=False, scale=True, post_ln=True, masks=None):
    """BERT's block in numpy from ``{sublayer: {role: array}}`` (the variants: mistakes).

    ``masks``: in training mode, the three dropout masks (scaled keep masks) in the order the
    block calls its dropouts: attention probabilities, attention output, feed-forward output.
    """
    drop = masks if masks is not None else (1.0, 1.0, 1.0)
    batch, seq, hidden = x.shape
    size = hidden // heads

    def dense(name, v):
        return v @ w[name]["kernel"] + w[name]["bias"]

    def norm(name, v):
        return layer_norm(v, w[name]["gamma"], w[name]["beta"], eps)

    def split(v):
        return v.reshape(batch, seq, heads, size).transpose(0, 2, 1, 3)

    inner = x if post_ln else norm("attention_layer_norm", x)
    q, k, v = (split(dense(d, inner)) for d in ("query_dense", "key_dense", "value_dense"))
    scores = q @ k.transpose(0, 1, 3, 2) / (np.sqrt(size) if scale else 1.0)
    scores = scores + (1.0 - mask[:, None, None, :]) * -1e9
    scores = scores - scores.max(-1, keepdims=True)
    probabilities = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True) * drop[0]
    context = (probabilities @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
    attention = dense("attention_output_dense", context) * drop[1]
    if post_ln:
        x = norm("attention_layer_norm", x + attention)
        hidden_ff = gelu(dense("intermediate_dense", x), approximate)
        return norm("output_layer_norm", x + dense("output_dense", hidden_ff) * drop[2])
    x = x + attention
    hidden_ff = gelu(dense("intermediate_dense", norm("output_layer_norm", x)))
    return x + dense("output_dense", hidden_ff)


def embeddings(w, ids, eps, types=None, mask=1.0):
    """BERT's embeddings; ``mask``: the dropout mask in training mode (after the layer norm)."""
    types = np.zeros_like(ids) if types is None else types
    x = (
        w["word_embeddings"]["embeddings"][ids]
        + w["position_embeddings"]["embeddings"][np.arange(ids.shape[1])][None]
        + w["token_type_embeddings"]["embeddings"][types]
    )
    return layer_norm(x, w["layer_norm"]["gamma"], w["layer_norm"]["beta"], eps) * mask


def text_encoder(weights, ids, mask, heads, eps, use_mask=True, masks=None):
    """The encoder's unit sentence vectors and the first-token variant (a mistake).

    ``masks``: in training mode, the dropout masks in call order: the embeddings', then three
    per block (see ``block``). A sequence of padding only gives zeros.
    """
    layers = len(weights) - 1
    masks = [1.0] * (1 + 3 * layers) if masks is None else masks
    x = embeddings(weights["embeddings"], ids, eps, mask=masks[0])
    block_mask = mask.astype(np.float64) if use_mask else np.ones(ids.shape)
    for i in range(layers):
        x = block(weights[f"layer_{i}"], x, block_mask, heads, eps, masks=masks[1 + 3 * i :][:3])
    pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
    first = x[:, 0] / np.linalg.norm(x[:, 0], axis=1, keepdims=True)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12), first


def expected():
    """The reference's values on the public tests' fixed inputs and named weights."""
    t = public_tests("04")
    values = {"normalize_text": [normalize(text) for text in t.TEXTS]}
    values["wordpiece"] = {
        str(n): wordpiece(t.WORDPIECE_WORDS, t.WORDPIECE_VOCAB, n) for n in (100, 5)
    }
    tokens = t._tokens()
    values["build_vocabulary"] = {
        "min_count_2": vocabulary(tokens, 2),
        "max_size_5": vocabulary(tokens, 1, 5),
        "special_texts": vocabulary(tokens + t.SPECIAL_TEXTS, 2),
    }
    ids = np.array([[2, 3, 1, 0], [4, 0, 0, 0]])
    with_padding = np.eye(6, dtype=np.float32)[ids]
    values["one_hot"] = {"out": with_padding * (ids != 0)[..., None], "padding_kept": with_padding}
    values["bag_of_words"] = bag_of_words(t._bag_tokens(), t.BAG_VOCABULARY)
    fit_tokens, test_tokens = t.TFIDF_FIT, t.TFIDF_TEST
    values["tfidf"] = {}
    for smooth_idf, sublinear_tf, norm in t.TFIDF_SETTINGS:
        idf, out = tfidf(fit_tokens, test_tokens, smooth_idf, sublinear_tf, norm)
        columns = np.linalg.norm(out, axis=0)
        values["tfidf"][f"{smooth_idf}-{sublinear_tf}-{norm}"] = {
            "idf": idf, "out": out, "columns_normalised": out / np.where(columns == 0, 1, columns),
        }  # fmt: skip
    a, b = t._cosine_inputs()
    values["cosine_similarity_matrix"] = cosine(a, b)
    a, b = t._jaccard_inputs()
    values["jaccard_similarity_matrix"] = {
        "out": jaccard(a, b),
        "multisets": jaccard(a, b, multiset=True),
    }
    values["recall_at_k"] = recall_at_k(t._recall_scores(), (1, 2, 5, 10))
    values["recall_at_k"] = {str(k): v for k, v in values["recall_at_k"].items()}
    glove, vectors = t._glove_top()
    dog = glove.index["dog"]
    dot = vectors @ vectors[dog]
    dot[dog] = -np.inf
    values["nearest_neighbors"] = {
        "out": neighbors(vectors, vectors[dog], 8, [dog]),
        "dot_product": np.argsort(-dot, kind="stable")[:8],
    }
    values["analogy"] = []
    for words, k, _ in t.ANALOGIES:
        a, b, c = (glove.index[w] for w in words)
        values["analogy"].append(
            {
                "out": neighbors(vectors, analogy_query(vectors, a, b, c), k, [a, b, c]),
                "raw": neighbors(vectors, vectors[b] - vectors[a] + vectors[c], k, [a, b, c]),
            }
        )
    small = t._small_vectors()
    values["small_neighbors"] = {
        "out": neighbors(small, small[6] * 0.5, 10, [3, 7]),
        "defaults": neighbors(small, small[5], 10, []),
        "analogy": neighbors(small, analogy_query(small, 0, 1, 2), 4, [0, 1, 2]),
    }
    values["skipgram_short_window"] = skipgram_pairs(t.SKIPGRAM_SEQUENCES, 2, reach=1)
    counts = t.NEGATIVE_COUNTS
    values["negative_sampling"] = {
        "distribution": negative_distribution(counts),
        "square_root": negative_distribution(counts, 0.5),
        "row_pairs": skipgram_pairs(t.NEGATIVE_ROW[None], 2),
    }
    sequences, counts = t._settings_data()
    values["train_skipgram_settings"] = {
        "distribution": negative_distribution(counts),
        "pairs": len(skipgram_pairs(sequences, 1)),
    }
    w = t._skipgram_weights(12, 4)
    target, contexts = t.SKIPGRAM_TARGETS, t.SKIPGRAM_CONTEXTS
    values["skipgram_model"] = np.einsum(
        "bd,bcd->bc", w["target_embedding"][target], w["context_embedding"][contexts]
    )
    vectors, args = t._word_vectors(), t.SIF_CASE
    values["sif_embeddings"] = {
        "out": sif(*args[:2], vectors, *args[2:]),
        "weighted": sif(*args[:2], vectors, *args[2:], remove=False),
        "centred": sif(*args[:2], vectors, *args[2:], centred=True),
    }
    states, mask = t._pool_inputs()
    values["masked_mean_pool"] = {
        "out": masked_mean(states, mask),
        "length_mean": masked_mean(states, mask, True),
    }
    weights = t._named_weights(t._block_layout(16, 32), 10)
    x, mask = t._inputs()
    values["block"] = {
        "out": block(weights, x, mask, 4, 1e-12),
        "approximate": block(weights, x, mask, 4, 1e-12, approximate=True),
        "unscaled": block(weights, x, mask, 4, 1e-12, scale=False),
        "pre_ln": block(weights, x, mask, 4, 1e-12, post_ln=False),
    }
    weights = t._named_weights(t._block_layout(12, 20), 12)
    x, mask = t._inputs(seq=5, hidden=12, offset=24)
    values["block_non_default"] = {
        str(eps): block(weights, x, mask, 3, eps) for eps in (0.5, 1e-3, 1e-6, 1e-12)
    }
    rate = t.DROPOUT_RATE
    weights = t._named_weights(t._block_layout(16, 32), 13)
    x, mask = t._inputs(offset=27)
    masks = [dropout_mask(i, shape, rate) for i, shape in enumerate(_BLOCK_SITES)]
    values["block_training"] = {
        "out": block(weights, x, mask, 4, 1e-12, masks=masks),
        "inference": block(weights, x, mask, 4, 1e-12),
    }
    weights = t._named_weights(t._embeddings_layout(20, 8, 10, 2), 30)
    ids, types = t.EMBEDDING_IDS, t.EMBEDDING_TYPES
    values["bert_embeddings"] = {
        "out": embeddings(weights, ids, 1e-12),
        "types": embeddings(weights, ids, 1e-12, types),
    }
    weights = t._named_weights(t._embeddings_layout(20, 8, 10, 3), 31)
    types = np.minimum(t.EMBEDDING_TYPES * 2, 2)
    eps = t.EMBEDDING_SETTINGS["layer_norm_epsilon"]
    values["bert_embeddings_settings"] = {
        "out": embeddings(weights, ids, eps, types),
        "default_epsilon": embeddings(weights, ids, 1e-3, types),
        "training": embeddings(weights, ids, eps, types, mask=dropout_mask(0, (2, 4, 8), rate)),
    }
    weights = t._encoder_weights(40)
    ids = t.ENCODER_IDS
    mask = (ids > 0).astype(np.int32)
    out, first = text_encoder(weights, ids, mask, 2, t.ENCODER_EPSILON)
    unmasked, _ = text_encoder(weights, ids, mask, 2, t.ENCODER_EPSILON, use_mask=False)
    sites = [(2, 6, 8)] + [(2, 2, 6, 6), (2, 6, 8), (2, 6, 8)] * 2
    masks = [dropout_mask(i, shape, rate) for i, shape in enumerate(sites)]
    training, _ = text_encoder(weights, ids, mask, 2, t.ENCODER_EPSILON, masks=masks)
    values["text_encoder"] = {
        "out": out, "first_token": first, "unmasked": unmasked, "training": training,
    }  # fmt: skip
    return values


# The shapes of the block's dropout calls on the public test's inputs: probabilities (batch,
# heads, seq, seq), then the attention output and the feed-forward output (batch, seq, hidden).
_BLOCK_SITES = [(2, 4, 6, 6), (2, 6, 16), (2, 6, 16)]
