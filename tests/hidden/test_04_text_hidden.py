"""Hidden tests of Lecture 04 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_04_text.py``, whose helpers they reuse); their messages never reach
students. The references (``references_04.py``): Python and numpy, tensorflow-text,
scikit-learn, GloVe, Keras' MultiHeadAttention with the student's weights, a numpy BERT.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.grading.access import arguments_after, float_errors_raised, library
from course_lib.grading.compare import assert_close, plain_array
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.probes import lecture_04 as local_probes
from course_lib.grading.properties import GRADING

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
    texts = ["Hello, World!! 42", "tabs\tand\nnewlines", "ÉCOLE d'été", "...", "x² ½ Ⅻ İstanbul",
             "ΣΊΣΥΦΟΣ ǅ snake_case", "猫が好き 🐶\u00a0dog"]  # fmt: skip
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
    rate = 0.3
    block = sub.TransformerEncoderBlock(
        hidden_size=16, num_heads=4, intermediate_size=32, dropout_rate=rate
    )
    x, mask = public._inputs(offset=53)
    block.build((None, None, 16))
    w = _read(block, BLOCK)
    out = np.asarray(block(x, attention_mask=mask, training=False))
    expected = ref.keras_block(w, x, mask, 4, 1e-12, rate, training=False)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(out, ref.block(w, x, mask, 4, 1e-12), atol=1e-4)
    # Training mode: the same fixed dropout masks in the student's block (in the runner) and in
    # Keras' layers (here), where MultiHeadAttention drops the probabilities first.
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    out, calls = probes.with_fixed_dropout(block, x, attention_mask=mask, training=True)
    expected, reference_calls = local_probes.with_fixed_dropout(
        ref.keras_block, w, x, mask, 4, 1e-12, rate, training=True
    )
    assert [tuple(c["shape"]) for c in calls] == [c["shape"] for c in reference_calls]
    np.testing.assert_allclose(plain_array(out), expected, atol=1e-4)


@pytest.mark.points(1, hint="The encoder with its own weights.", section="transformer")
def test_text_encoder_matches_numpy_bert_with_its_own_weights(sub):
    library(sub, "keras").utils.set_random_seed(6)
    model = sub.build_text_encoder(
        vocab_size=20, hidden_size=8, num_layers=3, num_heads=4, intermediate_size=12,
        max_positions=10, type_vocab_size=2, dropout_rate=0.2, layer_norm_epsilon=0.02,
    )  # fmt: skip
    ids = np.array([[2, 5, 9, 3, 0], [4, 4, 4, 0, 0], [1, 2, 3, 4, 5]], np.int32)
    mask = (ids > 0).astype(np.int32)
    weights = {"embeddings": _read(model.get_layer("embeddings"), EMBEDDINGS)}
    for i in range(3):
        weights[f"layer_{i}"] = _read(model.get_layer(f"layer_{i}"), BLOCK)
    inputs = {"input_ids": ids, "attention_mask": mask}
    out = np.asarray(model(inputs, training=False))
    expected, _ = ref.text_encoder(weights, ids, mask, 4, 0.02)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    out, calls = probes.with_fixed_dropout(model, inputs, training=True)
    sites = [(3, 5, 8)] + [(3, 4, 5, 5), (3, 5, 8), (3, 5, 8)] * 3
    assert [tuple(c["shape"]) for c in calls] == sites
    assert all(c["rate"] == pytest.approx(0.2) for c in calls)
    masks = [local_probes.dropout_mask(i, shape, 0.2) for i, shape in enumerate(sites)]
    expected, _ = ref.text_encoder(weights, ids, mask, 4, 0.02, masks=masks)
    assert_close(out, expected, atol=1e-4, rtol=0, what="The embeddings in training mode")


@pytest.mark.points(1, hint="The character model against Keras' own layers.", section="rnn")
def test_char_lm_matches_keras_layers_with_its_weights(sub):
    library(sub, "keras").utils.set_random_seed(7)
    ids = public._rng(54).integers(1, 9, size=(3, 11)).astype(np.int32)
    for cell in ("gru", "lstm"):
        model = sub.build_char_lm(vocab_size=9, embedding_dim=5, units=6, cell=cell)
        weights = [plain_array(w, what="A weight") for w in model.get_weights()]
        out = plain_array(model(ids, training=False), what="The logits", shape=(3, 11, 9))
        np.testing.assert_allclose(out, ref.keras_char_lm(weights, cell, ids), atol=1e-5)


# Property tests on generated inputs (Hypothesis, derandomised by GRADING: same grade always).

SMALL_INTS = st.integers(-4, 4).map(float)


@st.composite
def matrices_with_tiny_and_zero_rows(draw):
    """Two matrices whose rows are scaled by 0, 1e-9, 1e-6, 1 or 1e3 (norms 0 or >= 1e-9)."""
    dim = draw(st.integers(1, 5))
    out = []
    for rows in (draw(st.integers(0, 4)), draw(st.integers(1, 4))):
        values = draw(hnp.arrays(np.float64, (rows, dim), elements=SMALL_INTS))
        scales = draw(hnp.arrays(np.float64, (rows, 1), elements=st.sampled_from(
            [0.0, 1e-9, 1e-6, 1.0, 1e3])))  # fmt: skip
        out.append((values * scales).astype(draw(st.sampled_from([np.float64, np.float32]))))
    return out


@pytest.mark.points(1, hint="Cosine similarity of generated matrices.", section="cosine")
@GRADING
@given(pair=matrices_with_tiny_and_zero_rows())
def test_cosine_similarity_on_generated_matrices(sub, pair):
    a, b = pair
    with float_errors_raised(sub):
        out, args, _ = arguments_after(sub.cosine_similarity_matrix, a.copy(), b.copy())
    assert np.array_equal(args[0], a) and np.array_equal(args[1], b)
    expected = ref.cosine(a, b)
    atol = 1e-5 if np.float32 in (a.dtype, b.dtype) else 1e-9
    assert_close(out, expected, atol=atol, rtol=0, shape=expected.shape)


@st.composite
def count_matrices(draw):
    """Fitting counts (every word in some document), counts to transform, and settings."""
    words = draw(st.integers(1, 5))
    fit = draw(hnp.arrays(np.float64, (draw(st.integers(1, 6)), words), elements=st.integers(0, 3)))
    fit[0] = np.maximum(fit[0], fit.sum(axis=0) == 0)  # df >= 1: the unsmoothed IDF is finite.
    counts = draw(
        hnp.arrays(np.float64, (draw(st.integers(1, 4)), words), elements=st.integers(0, 4))
    )
    settings = (draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from(["l1", "l2", None])))
    return fit, counts, settings


@pytest.mark.points(1, hint="TF-IDF of generated counts and settings.", section="tfidf")
@GRADING
@given(case=count_matrices())
def test_tfidf_on_generated_counts(sub, case):
    fit, counts, (smooth_idf, sublinear_tf, norm) = case
    idf, expected = ref.tfidf_of_counts(fit, counts, smooth_idf, sublinear_tf, norm)
    with float_errors_raised(sub):
        got_idf = sub.inverse_document_frequency(fit.copy(), smooth_idf)
        out, args, _ = arguments_after(
            sub.tfidf, counts.copy(), idf.copy(), sublinear_tf=sublinear_tf, norm=norm
        )
    assert np.array_equal(args[0], counts)
    assert_close(got_idf, idf, rtol=1e-12, dtype=np.float64)
    assert_close(out, expected, atol=1e-12, rtol=0, dtype=np.float64)


WORDS = st.lists(st.sampled_from(["a", "b", "c", "dé", "e"]), max_size=5)


@pytest.mark.points(1, hint="Jaccard, vocabulary and counts of generated texts.", section="tfidf")
@GRADING
@given(
    a=st.lists(WORDS, max_size=4),
    b=st.lists(WORDS, min_size=1, max_size=4),
    specials=st.lists(st.sampled_from(["[UNK]", "[PAD]", "a"]), max_size=3),
    min_count=st.integers(1, 3),
    max_size=st.one_of(st.none(), st.integers(0, 8)),
)
def test_text_counting_on_generated_texts(sub, a, b, specials, min_count, max_size):
    with float_errors_raised(sub):
        out = sub.jaccard_similarity_matrix(a, b)
    assert_close(out, ref.jaccard(a, b), rtol=1e-12, dtype=np.float64, shape=(len(a), len(b)))
    texts = [*a, specials]
    got = list(sub.build_vocabulary(texts, min_count=min_count, max_size=max_size))
    assert got == ref.vocabulary(texts, min_count, max_size)
    vocabulary = ["[PAD]", "[UNK]", "b", "dé", "z"]
    counts = sub.bag_of_words(texts, vocabulary)
    assert_close(counts, ref.bag_of_words(texts, vocabulary), dtype=np.float64)


@pytest.mark.points(1, hint="Recall@K of generated scores with ties.", section="retrieval")
@GRADING
@given(
    scores=st.integers(1, 7).flatmap(
        lambda n: hnp.arrays(np.float64, (n, n), elements=st.integers(0, 3).map(float))
    ),
    ks=st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True),
)
def test_recall_at_k_on_generated_scores_with_ties(sub, scores, ks):
    got = sub.recall_at_k(scores, ks=tuple(ks))
    expected = ref.recall_with_ties(scores.tolist(), ks)
    assert sorted(got) == sorted(ks)
    for k in ks:
        assert got[k] == pytest.approx(expected[k]), k


@pytest.mark.points(1, hint="Skip-gram pairs of generated texts.", section="skipgram")
@GRADING
@given(
    sequences=st.lists(st.lists(st.integers(0, 4), max_size=7), max_size=4),
    window_size=st.integers(1, 8),
)
def test_skipgram_pairs_on_generated_texts(sub, sequences, window_size):
    got = sub.skipgram_pairs(sequences, window_size=window_size)
    expected = ref.skipgram_pairs(sequences, window_size)
    assert_close(got, expected, dtype=np.int64, shape=(len(expected), 2))


@pytest.mark.points(1, hint="WordPiece on generated words.", section="tokenizing")
@GRADING
@given(
    word=st.text(alphabet="dogabrsuntx#", min_size=1, max_size=9),
    max_chars=st.integers(2, 10),
)
def test_wordpiece_on_generated_words(sub, word, max_chars):
    vocabulary = public.WORDPIECE_VOCAB
    expected = ref.wordpiece([word], vocabulary, max_chars)[0]
    got = list(sub.wordpiece_split(word, set(vocabulary), max_chars=max_chars))
    assert got == expected


@pytest.mark.points(
    1, hint="Ids, one-hot vectors and pooling on generated inputs.", section="one_hot"
)
@GRADING
@given(data=st.data())
def test_ids_and_pooling_on_generated_inputs(sub, data):
    vocab_size = data.draw(st.integers(1, 6))
    ids = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0,
                                                          max_side=4),
                               elements=st.integers(0, vocab_size - 1)))  # fmt: skip
    expected = np.eye(vocab_size, dtype=np.float32)[ids] * (ids != 0)[..., None]
    out, args, _ = arguments_after(sub.one_hot, ids.copy(), vocab_size)
    assert np.array_equal(args[0], ids)
    assert_close(out, expected, dtype=np.float32, shape=expected.shape)
    batch, seq, hidden = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5)), 3
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    states = data.draw(hnp.arrays(dtype, (batch, seq, hidden), elements=st.floats(-5, 5, width=32)))
    mask = data.draw(hnp.arrays(np.int32, (batch, seq), elements=st.integers(0, 1)))
    pooled = sub.masked_mean_pool(states, mask)
    expected = ref.masked_mean(states.astype(np.float64), mask)
    assert_close(pooled, expected, atol=1e-5, rtol=1e-5)  # float32 arithmetic is allowed.


@pytest.mark.points(1, hint="Sampling at temperature 0 of generated logits.", section="rnn")
@GRADING
@given(logits=hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-50, 50), unique=True))
def test_temperature_zero_is_the_argmax_on_generated_logits(sub, logits):
    rng = library(sub, "numpy").random.default_rng(0)
    with float_errors_raised(sub):
        assert sub.sample_with_temperature(logits, 0.0, rng) == int(np.argmax(logits))
        cold = sub.sample_with_temperature(logits, 1e-3, rng)
    gap = np.sort(logits)[-1] - np.sort(logits)[-2] if logits.size > 1 else np.inf
    if gap > 0.1:  # e^(-100) at temperature 1e-3: the argmax always.
        assert cold == int(np.argmax(logits))
