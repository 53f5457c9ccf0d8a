"""Hidden tests of Lecture 04 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_04_text.py``, whose helpers they reuse); their messages never reach
students. The references (``references_04.py``): Python and numpy, tensorflow-text,
scikit-learn, GloVe, Keras' MultiHeadAttention with the student's weights, a numpy BERT.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

from course_lib.grading.access import library
from course_lib.grading.expected import module_at, public_tests

ref = module_at(Path(__file__).with_name("references_04.py"))
public = public_tests("04")
BLOCK = list(public._block_layout(16, 32))
EMBEDDINGS = list(public._embeddings_layout(20, 8, 10, 2))


def _read(layer, names):
    """``{sublayer: {role: array}}`` of a student's layer, read where it lives."""
    return {
        name: {
            role: np.asarray(getattr(getattr(layer, name), role))
            for role in public.ROLES
            if getattr(getattr(layer, name), role, None) is not None
        }
        for name in names
    }


@pytest.mark.points(1, hint="Other texts.", section="tokenizing")
def test_text_functions_on_other_inputs(sub):
    texts = ["Hello, World!! 42", "tabs\tand\nnewlines", "ÉCOLE d'été", "..."]
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    out = [t.decode("utf-8") for t in probes.text_values(sub.normalize_text, texts)]
    assert out == [ref.normalize(t) for t in texts]
    tokens = [t.split() for t in ["b a c a", "c c d", "a", "e b b b"]]
    for min_count, max_size in ((1, None), (2, None), (1, 4)):
        got = list(sub.build_vocabulary(tokens, min_count=min_count, max_size=max_size))
        assert got == ref.vocabulary(tokens, min_count, max_size), (min_count, max_size)
    vocabulary = ref.vocabulary(tokens)
    np.testing.assert_allclose(
        sub.bag_of_words(tokens, vocabulary), ref.bag_of_words(tokens, vocabulary)
    )


@pytest.mark.points(1, hint="WordPiece on other words.", section="tokenizing")
def test_wordpiece_on_other_words(sub):
    words = ["surfing", "boarded", "undo", "dogged", "runs", "abc", "##", "x"]
    vocabulary = public.WORDPIECE_VOCAB
    for max_chars in (100, 6):
        expected = ref.wordpiece(words, vocabulary, max_chars)
        for word, pieces in zip(words, expected, strict=True):
            got = list(sub.wordpiece_split(word, set(vocabulary), max_chars=max_chars))
            assert got == pieces, (word, max_chars)


@pytest.mark.points(1, hint="TF-IDF and similarities on other corpora.", section="tfidf")
def test_tfidf_and_similarities_on_other_inputs(sub):
    fit = [t.split() for t in ["a b b", "b c", "c c c d", "a d e", "e"]]
    test = [t.split() for t in ["a a e", "d", "z"]]
    vocabulary = sorted({w for t in fit for w in t})
    fit_counts = np.array([[t.count(w) for w in vocabulary] for t in fit], dtype=np.float64)
    counts = np.array([[t.count(w) for w in vocabulary] for t in test], dtype=np.float64)
    for smooth_idf, sublinear_tf, norm in ((False, False, "l2"), (True, True, "l1")):
        idf, expected = ref.tfidf(fit, test, smooth_idf, sublinear_tf, norm)
        got_idf = np.asarray(sub.inverse_document_frequency(fit_counts, smooth_idf))
        np.testing.assert_allclose(got_idf, idf)
        out = np.asarray(sub.tfidf(counts, idf, sublinear_tf=sublinear_tf, norm=norm))
        np.testing.assert_allclose(out, expected, atol=1e-10)
    rng = public._rng(50)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    b[4] = 0
    with np.errstate(all="ignore"):
        out = np.asarray(sub.cosine_similarity_matrix(a, b))
    np.testing.assert_allclose(out, ref.cosine(a, b), atol=1e-10)
    np.testing.assert_allclose(sub.jaccard_similarity_matrix(fit, test), ref.jaccard(fit, test))


@pytest.mark.points(1, hint="Recall@K of other scores.", section="retrieval")
def test_recall_at_k_on_other_scores(sub):
    scores = public._rng(51).normal(size=(17, 17))
    scores[np.arange(17), np.arange(17)] += 1.5
    got = sub.recall_at_k(scores, ks=(1, 3, 7))
    for k, expected in ref.recall_at_k(scores, (1, 3, 7)).items():
        assert got[k] == pytest.approx(expected), k


@pytest.mark.points(1, hint="Other GloVe queries.", section="word_vectors")
def test_word_vectors_on_other_queries(sub):
    glove, vectors = public._glove_top()
    cat = glove.index["car"]
    got = np.asarray(sub.nearest_neighbors(vectors, vectors[cat], 6, exclude=[cat]))
    np.testing.assert_array_equal(got, ref.neighbors(vectors, vectors[cat], 6, [cat]))
    a, b, c = (glove.index[w] for w in ("france", "paris", "italy"))
    got = np.asarray(sub.analogy(vectors, a, b, c, 4))
    np.testing.assert_array_equal(
        got, ref.neighbors(vectors, ref.analogy_query(vectors, a, b, c), 4, [a, b, c])
    )


@pytest.mark.points(1, hint="Skip-gram pairs of other texts.", section="skipgram")
def test_skipgram_pairs_on_random_sequences(sub):
    rng = public._rng(52)
    sequences = rng.integers(0, 6, size=(5, 9))
    for window_size in (1, 3, 5):
        got = np.asarray(sub.skipgram_pairs(sequences, window_size=window_size)).reshape(-1, 2)
        np.testing.assert_array_equal(got, ref.skipgram_pairs(sequences, window_size))
    counts = rng.integers(0, 50, size=9).astype(np.float64)
    np.testing.assert_allclose(
        sub.negative_sampling_distribution(counts, power=0.6),
        ref.negative_distribution(counts, 0.6),
    )


@pytest.mark.points(1, hint="The block against Keras' attention.", section="transformer")
def test_block_matches_keras_multi_head_attention_with_its_own_weights(sub):
    library(sub, "keras").utils.set_random_seed(5)
    block = sub.TransformerEncoderBlock(
        hidden_size=16, num_heads=4, intermediate_size=32, dropout_rate=0.1
    )
    x, mask = public._inputs(offset=53)
    block.build((None, None, 16))
    w = _read(block, BLOCK)
    out = np.asarray(block(x, attention_mask=mask, training=False))
    heads, hidden, size = 4, 16, 4
    attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=size)
    key_mask = mask.astype(bool)[:, None, :].repeat(6, axis=1)  # (batch, query, key)
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
    norms = [keras.layers.LayerNormalization(epsilon=1e-12) for _ in range(2)]
    intermediate = keras.layers.Dense(32, activation="gelu")
    output = keras.layers.Dense(hidden)
    for layer, shape, name in (
        (norms[0], (None, 6, 16), "attention_layer_norm"),
        (norms[1], (None, 6, 16), "output_layer_norm"),
        (intermediate, (None, 6, 16), "intermediate_dense"),
        (output, (None, 6, 32), "output_dense"),
    ):
        layer.build(shape)
        layer.set_weights(list(w[name].values()))
    h = norms[0](x + attention(x, x, attention_mask=key_mask))
    expected = np.asarray(norms[1](h + output(intermediate(h))))
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(out, ref.block(w, x, mask, 4, 1e-12), atol=1e-4)


@pytest.mark.points(1, hint="The encoder with its own weights.", section="transformer")
def test_text_encoder_matches_numpy_bert_with_its_own_weights(sub):
    library(sub, "keras").utils.set_random_seed(6)
    model = sub.build_text_encoder(
        vocab_size=20, hidden_size=8, num_layers=3, num_heads=4, intermediate_size=12,
        max_positions=10, type_vocab_size=2, dropout_rate=0.1, layer_norm_epsilon=0.02,
    )  # fmt: skip
    ids = np.array([[2, 5, 9, 3, 0], [4, 4, 4, 0, 0], [1, 2, 3, 4, 5]], np.int32)
    mask = (ids > 0).astype(np.int32)
    weights = {"embeddings": _read(model.get_layer("embeddings"), EMBEDDINGS)}
    for i in range(3):
        weights[f"layer_{i}"] = _read(model.get_layer(f"layer_{i}"), BLOCK)
    out = np.asarray(model({"input_ids": ids, "attention_mask": mask}, training=False))
    expected, _ = ref.text_encoder(weights, ids, mask, 4, 0.02)
    np.testing.assert_allclose(out, expected, atol=1e-4)
