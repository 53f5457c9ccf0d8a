"""Autograder for Lecture 04, neural networks for text.

References: expected values stored as data (``tests/autograder/expected/04_text.json``, which
the instructor's references compute on the fixed inputs and weights built here: Python and
numpy, tensorflow-text's WordpieceTokenizer, scikit-learn's CountVectorizer, TfidfVectorizer,
cosine_similarity and top_k_accuracy_score, real GloVe vectors, a numpy BERT forward pass;
``camp generate`` writes it), ``tf.nn`` and tensorflow_hub.load. Tiny settings only: each test
runs in seconds. Each
test calls the student's module ``sub``; student models, tokenizers and SavedModels are built,
seeded and loaded where the student's code runs (``library``), and only values come back to be
judged here. tests/mutants/04_text.yaml lists the student mistakes these tests must catch.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from course_lib.grading.access import arguments_after, float_errors_raised, library, type_name
from course_lib.grading.compare import assert_close, plain_array, plain_float
from course_lib.grading.expected import load


def _rng(offset=0):
    return np.random.default_rng(4040 + offset)


def _expected(name):
    """The reference's values for test ``name``, stored as data (see the module docstring)."""
    return load("04")[name]


TEXTS = [
    "A Dog, on the BEACH! ",
    "  two   cats...sleeping\ton a sofa",
    "Café's CRÈME-brûlée (3 of them)",
    "",
    "a man riding a wave on top of a surfboard .",
    "Straße, ﬁsh_bowl!",  # Case folding is more than lowercasing; "_" is punctuation.
    "«Deux» chiens — “sur” la plage… 🐶",  # Punctuation and symbols beyond ASCII.
    " \t?! ",  # Nothing but spaces and punctuation.
]


@pytest.mark.points(
    1,
    hint="tf_text.case_fold_utf8, then regex_replace [^\\p{L}\\p{N}\\s]+ by a space, collapse "
    "\\s+ to one space, tf.strings.strip.",
    section="tokenizing",
)
def test_normalize_text(sub):
    # A string tensor crosses as lists of bytes (what .numpy().tolist() gives).
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    out = [t.decode("utf-8") for t in probes.text_values(sub.normalize_text, TEXTS)]
    expected = _expected("normalize_text")
    if any(o != o.lower() for o in out):
        pytest.fail("Some capitals survived: apply tf_text.case_fold_utf8 first.")
    if any(letter in o for o in out for letter in "ßﬁ"):
        pytest.fail(
            "'Straße' kept its 'ß' (or 'ﬁsh' its ligature): lowercasing is not case folding; "
            "tf_text.case_fold_utf8 folds every Unicode letter."
        )
    if any("_" in o for o in out):
        pytest.fail("'_' survived: only letters, digits and whitespace are kept (\\w keeps '_').")
    if any(not (ch.isalnum() or ch.isspace()) for o in out for ch in o):
        pytest.fail(
            "Some punctuation or symbols survived (« » — “ ” … or an emoji): every character "
            "that is not a letter, a digit or whitespace goes, not only ASCII punctuation."
        )
    if any("  " in o or o != o.strip() for o in out):
        pytest.fail("Collapse runs of whitespace to one space and strip both ends.")
    assert out == expected
    assert probes.text_values(sub.normalize_text, []) == [], "No texts: an empty (0,) tensor."


@pytest.mark.points(
    1,
    hint="WhitespaceTokenizer().tokenize(normalize_text(texts)) gives a RaggedTensor; "
    ".to_list() and decode each bytes word with .decode('utf-8').",
    section="tokenizing",
)
def test_tokenize(sub):
    out = sub.tokenize(TEXTS)
    if out and out[0] and isinstance(out[0][0], bytes):
        pytest.fail("tokenize returned bytes: decode each word with .decode('utf-8').")
    assert out == [text.split() for text in _expected("normalize_text")]
    assert list(sub.tokenize([])) == [], "No texts: an empty list."


WORDPIECE_VOCAB = [
    "[PAD]", "[UNK]", "a", "dog", "do", "##g", "##gies", "##gy", "##s", "un", "##want", "##wa",
    "##nt", "##ed", "run", "##n", "##ing", "surf", "##board", "board", "b", "##o", "##a", "##r",
    "##d", "x",
]  # fmt: skip
WORDPIECE_WORDS = ["dog", "dogs", "doggies", "doggy", "unwanted", "running", "surfboard", "board",
                   "boards", "xdog", "cat", "dogz", "a", "unwantedness", "bored"]  # fmt: skip


@pytest.mark.points(
    2,
    hint="Greedy longest match first, from the left; pieces after the first carry '##'; when no "
    "piece matches at some position the whole word is unknown.",
    section="tokenizing",
)
def test_wordpiece_split_matches_tf_text(sub):
    vocabulary = set(WORDPIECE_VOCAB)
    # tensorflow-text's WordpieceTokenizer's pieces, stored (ASCII words: bytes are characters).
    pieces = _expected("wordpiece")
    for max_chars in (100, 5):
        for word, expected in zip(WORDPIECE_WORDS, pieces[str(max_chars)], strict=True):
            got = list(sub.wordpiece_split(word, vocabulary, max_chars=max_chars))
            if got != expected and max_chars == 5 and len(word) >= 5:
                pytest.fail(
                    f"{word!r} with max_chars=5: expected {expected}; received {got}. A word "
                    "longer than max_chars (the argument) is [unknown_token]; one of exactly "
                    "max_chars characters is split as usual."
                )
            if got != expected and expected == ["[UNK]"]:
                pytest.fail(
                    f"{word!r}: expected ['[UNK]'] (some position has no known piece, so the "
                    f"whole word is unknown); received {got}."
                )
            assert got == expected, f"{word!r}: expected {expected}, received {got}"
    got = list(sub.wordpiece_split("dogz", vocabulary, unknown_token="<unk>"))
    assert got == ["<unk>"], f"unknown_token='<unk>': expected ['<unk>'], received {got}."


CAPTIONS = [
    "a dog on the beach",
    "a dog and a cat",
    "the cat on the sofa",
    "a red car in the snow",
    "a dog in the snow",
    "zebra",
]


def _tokens(texts=CAPTIONS):
    return [t.split() for t in texts]


@pytest.mark.points(
    2,
    hint="Start with ['[PAD]', '[UNK]'], then words with count >= min_count sorted by "
    "(-count, word); max_size counts the special tokens too.",
    section="tokenizing",
)
def test_build_vocabulary(sub):
    tokens = _tokens()
    reference = _expected("build_vocabulary")
    expected = reference["min_count_2"]
    vocabulary = list(sub.build_vocabulary(tokens, min_count=2))
    if vocabulary[:2] != ["[PAD]", "[UNK]"]:
        pytest.fail(
            f"The vocabulary must start with '[PAD]' (id 0), '[UNK]' (id 1); got {vocabulary[:2]}."
        )
    if sorted(vocabulary) == sorted(expected) and vocabulary != expected:
        pytest.fail("Right words, wrong order: most frequent first, ties alphabetically.")
    assert vocabulary == expected
    assert list(sub.build_vocabulary(tokens, min_count=1, max_size=5)) == reference["max_size_5"]
    assert list(sub.build_vocabulary(tokens, min_count=1, max_size=2)) == ["[PAD]", "[UNK]"]
    # Texts may hold the special tokens themselves (an already encoded and decoded caption).
    special = list(sub.build_vocabulary(tokens + SPECIAL_TEXTS, min_count=2))
    if len(set(special)) != len(special):
        pytest.fail(
            f"A text holding '[UNK]' or '[PAD]' put a token in the vocabulary twice: {special}. "
            "Each special token keeps its own id only."
        )
    assert special == reference["special_texts"]


SPECIAL_TEXTS = [["[UNK]", "dog", "[PAD]", "[UNK]"], ["[PAD]", "[UNK]"]]


@pytest.mark.points(
    1,
    hint="Unknown words → id 1 ([UNK]); cut to max_length; fill the rest with 0 ([PAD]).",
    section="tokenizing",
)
def test_encode_tokens(sub):
    vocabulary = ["[PAD]", "[UNK]", "a", "dog", "the", "cat", "café"]
    tokens = [["a", "dog", "on", "the", "beach"], ["cat"], [], ["the"] * 9,
              ["café", "the", "dog", "cafe"]]  # fmt: skip
    copies = [list(t) for t in tokens], list(vocabulary)
    ids, args, _ = arguments_after(sub.encode_tokens, *copies, max_length=4)
    if args[0] != tokens or args[1] != vocabulary:
        pytest.fail(
            "encode_tokens changed the lists it was given (padding or cutting them in place): "
            "build the ids in a new array."
        )
    ids = np.asarray(ids)
    expected = np.array([[2, 3, 1, 4], [5, 0, 0, 0], [0, 0, 0, 0], [4, 4, 4, 4], [6, 4, 3, 1]])
    assert ids.shape == (5, 4), f"Expected shape (5, max_length=4); received {ids.shape}."
    assert ids.dtype == np.int32, f"Expected int32 ids; received {ids.dtype}."
    np.testing.assert_array_equal(ids, expected)
    empty = np.asarray(sub.encode_tokens([], vocabulary, max_length=4))
    assert empty.shape == (0, 4), f"No texts: expected shape (0, 4); received {empty.shape}."


@pytest.mark.points(
    1,
    hint="One row of vocab_size per token with a single 1 at its id, except padding (id 0).",
    section="one_hot",
)
def test_one_hot(sub):
    ids = np.array([[2, 3, 1, 0], [4, 0, 0, 0]])
    out = np.asarray(sub.one_hot(ids, 6))
    reference = _expected("one_hot")
    expected = np.asarray(reference["out"])
    assert out.shape == (2, 4, 6), f"Expected (batch, length, vocab_size); received {out.shape}."
    if np.allclose(out, reference["padding_kept"]):
        pytest.fail("Padding (id 0) must give an all-zero vector, not a 1 in column 0.")
    assert out.dtype == np.float32, f"Expected float32; received {out.dtype}."
    np.testing.assert_allclose(out, expected)
    listed = sub.one_hot([[2, 0], [0, 1]], 3)  # Ids as a list of lists, padding included.
    expected = [[[0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 1, 0]]]
    assert_close(listed, expected, dtype=np.float32, what="one_hot([[2, 0], [0, 1]], 3)")


BAG_VOCABULARY = ["[PAD]", "[UNK]", "a", "dog", "the", "cat", "snow", "café"]


def _bag_tokens():
    return _tokens() + [["café", "dog", "café", "cafe"], []]  # Non-ASCII, repeated, unknown.


@pytest.mark.points(
    1, hint="counts[i, j] = how often vocabulary[j] occurs in text i.", section="tfidf"
)
def test_bag_of_words_matches_count_vectorizer(sub):
    tokens = _bag_tokens()
    counts = sub.bag_of_words(tokens, BAG_VOCABULARY)
    counts = plain_array(counts, what="bag_of_words(...)", dtype=np.float64, shape=(8, 8))
    reference = _expected("bag_of_words")  # scikit-learn's CountVectorizer.
    if counts[:, 1].any() and not np.any(np.asarray(reference)[:, 1]):
        pytest.fail("Words outside the vocabulary are ignored, not counted as '[UNK]'.")
    assert_close(counts, reference, what="bag_of_words(...)")
    empty = np.asarray(sub.bag_of_words([], BAG_VOCABULARY))
    assert empty.shape == (0, 8), f"No texts: expected shape (0, 8); received {empty.shape}."


TFIDF_FIT = _tokens() + [["dog", "dog", "dog", "beach"], ["snow", "snow", "cat"]]
TFIDF_TEST = [["a", "dog", "dog", "in", "snow"], ["zebra", "zebra"], ["nothing", "known"]]
TFIDF_SETTINGS = [(True, False, "l2"), (False, True, "l1"), (True, True, None)]


def _check_tfidf(sub, smooth_idf, sublinear_tf, norm):
    vocabulary = sorted({w for t in TFIDF_FIT for w in t})
    fit_counts, test_counts = (
        np.array([[t.count(word) for word in vocabulary] for t in tokens], dtype=np.float64)
        for tokens in (TFIDF_FIT, TFIDF_TEST)
    )  # The counts are given here: the student's bag_of_words has a test of its own.
    # scikit-learn's TfidfVectorizer with these settings, stored.
    reference = _expected("tfidf")[f"{smooth_idf}-{sublinear_tf}-{norm}"]
    settings = f"smooth_idf={smooth_idf}, sublinear_tf={sublinear_tf}, norm={norm!r}"
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            idf, fit_after, _ = arguments_after(
                sub.inverse_document_frequency, fit_counts.copy(), smooth_idf
            )
            options = {"sublinear_tf": sublinear_tf, "norm": norm}
            given = test_counts.copy(), np.asarray(reference["idf"]).copy()
            out, after, _ = arguments_after(sub.tfidf, *given, **options)
    except FloatingPointError as error:
        pytest.fail(
            f"With {settings}, numpy warned ({error}): a log of 0 or a division by 0 was "
            "taken on the way, even if the result was cleaned afterwards. Compute the "
            "logarithm and the division only where the count or the norm is not 0."
        )
    if not np.array_equal(fit_after[0], fit_counts) or not np.array_equal(after[0], test_counts):
        pytest.fail(
            "The counts given to inverse_document_frequency or tfidf were changed in place: "
            "compute on a copy."
        )
    idf = plain_array(idf, what="inverse_document_frequency(...)", dtype="float")
    if not np.allclose(idf, reference["idf"]):
        pytest.fail(
            f"IDF differs from scikit-learn's (smooth_idf={smooth_idf}): expected "
            f"{np.round(reference['idf'], 4)}, received {np.round(idf, 4)}. Natural log, and +1."
        )
    out = plain_array(out, what=f"tfidf(..., {settings})", finite=False)
    assert out.dtype == np.float64, f"Expected float64 TF-IDF; received {out.dtype}."
    expected = np.asarray(reference["out"])
    if not np.all(np.isfinite(out)):
        pytest.fail("A document without known words gave nan: its all-zero row must stay zero.")
    if norm == "l2" and np.allclose(out, reference["columns_normalised"], atol=1e-6):
        pytest.fail("Scale each document's row to unit length, not each word's column.")
    if norm is not None and not np.allclose(out, expected, atol=1e-10):
        size = np.linalg.norm(out, ord=1 if norm == "l1" else 2, axis=1)
        if not np.allclose(size[:2], 1):
            pytest.fail(
                f"With norm={norm!r}, each row of counts * idf must have unit {norm} norm; "
                f"yours have {np.round(size, 4)}. Normalise after weighting by the IDF."
            )
    np.testing.assert_allclose(out, expected, atol=1e-10)


@pytest.mark.points(
    2,
    hint="scikit-learn's smoothed IDF (see the docstring) weights the counts, then each "
    "document's row has unit L2 norm (all-zero rows stay zero).",
    section="tfidf",
)
def test_tfidf_matches_sklearn_defaults(sub):
    _check_tfidf(sub, smooth_idf=True, sublinear_tf=False, norm="l2")


@pytest.mark.points(
    2,
    hint="Each setting changes one step: unsmoothed IDF, sublinear (logarithmic) counts, the L1 "
    "norm or none; check the docstring's definitions one at a time.",
    section="tfidf",
)
def test_tfidf_matches_sklearn_settings(sub):
    _check_tfidf(sub, smooth_idf=False, sublinear_tf=True, norm="l1")
    _check_tfidf(sub, smooth_idf=True, sublinear_tf=True, norm=None)
    with pytest.raises(ValueError):
        sub.tfidf(np.ones((2, 3)), np.ones(3), norm="max")


def _cosine_inputs():
    rng = _rng(1)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(4, 7))
    a[2] = 0
    a[3] *= 1e-7  # Tiny rows still have a direction (norms far above float64's rounding).
    b[1] *= 1e-9
    return a, b


@pytest.mark.points(
    2,
    hint="Cosine similarity compares directions, not lengths; an all-zero row has no direction "
    "and must give 0, not nan.",
    section="cosine",
)
def test_cosine_similarity_matrix(sub):
    a, b = _cosine_inputs()
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            out, args, _ = arguments_after(sub.cosine_similarity_matrix, a.copy(), b.copy())
    except FloatingPointError as error:
        pytest.fail(
            f"numpy warned ({error}) on an all-zero row: divide by a norm only where it is not "
            "0, rather than cleaning nan afterwards."
        )
    if not (np.array_equal(args[0], a) and np.array_equal(args[1], b)):
        pytest.fail("The matrices given were changed in place: normalise copies of the rows.")
    out = plain_array(out, what="cosine_similarity_matrix(a, b)", shape=(5, 4), finite=False)
    if not np.all(np.isfinite(out)):
        pytest.fail("An all-zero row gave nan: divide by its norm only where the norm is not 0.")
    if np.allclose(out, a @ b.T, atol=1e-6):
        pytest.fail("Those are dot products: divide the rows by their norms first.")
    expected = np.asarray(_expected("cosine_similarity_matrix"))  # scikit-learn's, stored.
    tiny = np.abs(out[3]).max() < 0.99 * np.abs(expected[3]).max() or np.abs(out[:, 1]).max() < (
        0.99 * np.abs(expected[:, 1]).max()
    )
    if tiny:
        pytest.fail(
            "Rows of tiny values (norms about 1e-7 and 1e-9) lost part of their similarity: a "
            "small number added to every norm (or a floor on it) changes the direction of such "
            "rows; only an all-zero row is special."
        )
    assert_close(out, expected, atol=1e-10, rtol=0, what="cosine_similarity_matrix(a, b)")
    empty = np.asarray(sub.cosine_similarity_matrix(np.zeros((0, 7)), b))
    assert empty.shape == (0, 4), f"No rows in a: expected shape (0, 4); received {empty.shape}."


def _jaccard_inputs():
    # "mat" occurs in the second list only, so the union counts words from both lists.
    return _tokens() + [[]], _tokens(["a dog a dog", "cat sofa the mat", "snow"]) + [[]]


@pytest.mark.points(
    1, hint="|A ∩ B| / |A ∪ B| of the word *sets*; 0 when both are empty.", section="retrieval"
)
def test_jaccard_similarity_matrix(sub):
    a, b = _jaccard_inputs()
    reference = _expected("jaccard_similarity_matrix")
    expected = np.asarray(reference["out"])
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            out = sub.jaccard_similarity_matrix(a, b)
    except FloatingPointError as error:
        pytest.fail(
            f"numpy warned ({error}) on two empty texts: divide only where the union is not "
            "empty, rather than cleaning nan afterwards."
        )
    out = plain_array(out, what="jaccard_similarity_matrix(a, b)", shape=(7, 4))
    if np.allclose(out, reference["multisets"]):  # Counts' minimum over maximum.
        pytest.fail("Jaccard compares word sets: count a repeated word once ('a dog a dog').")
    assert_close(out, expected, what="jaccard_similarity_matrix(a, b)")
    empty = np.asarray(sub.jaccard_similarity_matrix([], b))
    assert empty.shape == (0, 4), f"No texts in a: expected shape (0, 4); received {empty.shape}."


@pytest.mark.points(
    2,
    hint="Each query's correct item is on the diagonal; its rank counts the other items of its "
    "row scoring at least as high (ties count against it), as the docstring defines.",
    section="retrieval",
)
def test_recall_at_k(sub):
    scores = _recall_scores()
    got = sub.recall_at_k(scores, ks=(1, 2, 5, 10, 30))
    assert sorted(got) == [1, 2, 5, 10, 30], f"Expected one entry per K; received {sorted(got)}."
    # Without ties, Recall@K is scikit-learn's top-K accuracy with query i labelled i (K < n).
    for k, expected in _expected("recall_at_k").items():
        k = int(k)
        if got[k] != pytest.approx(expected):
            pytest.fail(
                f"Recall@{k}: expected {expected:.4f}, received {got[k]:.4f}. Check which score "
                "each query's rank compares with, which items it counts, and the ties."
            )
    assert got[30] == 1.0, "With K = n every correct item is within the top K."
    constant = sub.recall_at_k(np.zeros((10, 10)), ks=(1, 10))
    if constant[1] != 0.0:
        pytest.fail(
            "A constant score matrix must give Recall@1 = 0: ties count against the query "
            "(an argsort puts the correct item first by accident)."
        )
    assert constant[10] == 1.0
    for bad in (np.zeros((0, 0)), np.zeros((3, 4)), np.zeros(3), np.zeros((2, 2, 2))):
        with pytest.raises(ValueError):
            sub.recall_at_k(bad, ks=(1,))
    single = sub.recall_at_k(np.array([[0.5]]), ks=(1, 2))
    assert single == {1: 1.0, 2: 1.0}, f"One query, one item: expected Recall@1 = 1; {single}"


def _recall_scores():
    scores = _rng(2).normal(size=(30, 30))
    scores[np.arange(30), np.arange(30)] += np.linspace(-1, 3, 30)
    return scores


def _glove_top(n=50000):
    from course_lib.models.pretrained import load_glove_50d

    glove = load_glove_50d()
    return glove, np.asarray(glove.vectors[:n], dtype=np.float32)


@pytest.mark.points(
    2,
    hint="Cosine, not dot product: normalise the rows and the query; sort descending; drop "
    "the excluded rows.",
    section="word_vectors",
)
def test_nearest_neighbors_on_glove(sub):
    glove, vectors = _glove_top()
    dog = glove.index["dog"]
    got = np.asarray(sub.nearest_neighbors(vectors, vectors[dog], 8, exclude=[dog]))
    reference = _expected("nearest_neighbors")
    expected = np.asarray(reference["out"])
    if dog in got:
        pytest.fail("The query word itself came back: leave the excluded rows out.")
    if got.shape == (8,) and np.array_equal(got, reference["dot_product"]):
        pytest.fail("That ranks by dot product, which favours long vectors: rank by cosine.")
    np.testing.assert_array_equal(got, expected)
    assert {"cat", "puppy"} <= {glove.words[i] for i in got}


def _small_vectors():
    vectors = _rng(8).normal(size=(12, 5))
    vectors[4] = 0  # No direction: similarity 0, below the positive ones, above the negative.
    return vectors


@pytest.mark.points(
    1,
    hint="An all-zero row has similarity 0 and ranks as such; excluded rows never come back, "
    "whatever container holds them; the defaults return 10 rows; the inputs stay as they were.",
    section="word_vectors",
)
def test_nearest_neighbors_zero_rows_and_defaults(sub):
    vectors = _small_vectors()
    reference = _expected("small_neighbors")
    got, args, _ = arguments_after(
        sub.nearest_neighbors, vectors.copy(), vectors[6] * 0.5, 10, exclude=(3, 7)
    )
    if not (np.array_equal(args[0], vectors) and np.array_equal(args[1], vectors[6] * 0.5)):
        pytest.fail("nearest_neighbors changed the arrays it was given: normalise copies.")
    got = plain_array(got, what="nearest_neighbors(...)", dtype="integer", shape=(10,))
    if got.tolist() != reference["out"] and 4 not in got.tolist()[:-1]:
        pytest.fail(
            f"The all-zero row 4 is missing or last in {got.tolist()}: its similarity is 0 "
            "(not nan, which sorts after everything), so it ranks above the rows of negative "
            "similarity."
        )
    if set(got.tolist()) & {3, 7}:
        pytest.fail(f"exclude=(3, 7) (a tuple): those rows came back in {got.tolist()}.")
    assert_close(got, reference["out"], what="nearest_neighbors(vectors, query, 10, (3, 7))")
    defaults = sub.nearest_neighbors(vectors, vectors[5])
    assert_close(defaults, reference["defaults"], what="nearest_neighbors(vectors, vectors[5])")
    got, args, _ = arguments_after(sub.analogy, vectors.copy(), 0, 1, 2, k=4)
    if not np.array_equal(args[0], vectors):
        pytest.fail("analogy changed the vectors it was given: scale copies to unit length.")
    assert_close(got, reference["analogy"], what="analogy(vectors, 0, 1, 2, k=4)")


ANALOGIES = [(("man", "king", "woman"), 3, "queen"), (("big", "bigger", "small"), 5, "larger")]


@pytest.mark.points(
    2,
    hint="a is to b as c is to ?: move from c as b differs from a, with every word's vector at "
    "the same length; nearest by cosine, leaving out a, b and c.",
    section="word_vectors",
)
def test_analogy_on_glove(sub):
    glove, vectors = _glove_top()
    for (words, k, first), reference in zip(ANALOGIES, _expected("analogy"), strict=True):
        a, b, c = (glove.index[w] for w in words)
        got = np.asarray(sub.analogy(vectors, a, b, c, k))
        expected, raw = np.asarray(reference["out"]), np.asarray(reference["raw"])
        if got.shape == raw.shape and np.array_equal(got, raw):
            pytest.fail(f"{' : '.join(words)}: scale a, b and c to unit length before b - a + c.")
        names = [glove.words[i] for i in got]
        assert np.array_equal(got, expected), (
            f"{words}: expected {[glove.words[i] for i in expected]}, received {names}"
        )
        assert names[0] == first


@pytest.mark.points(
    2,
    hint="For each non-padding target at position i, every non-padding j with 0 < |i - j| <= "
    "window_size, in order of i then j.",
    section="skipgram",
)
def test_skipgram_pairs_hand_computed(sub):
    sequences = SKIPGRAM_SEQUENCES
    got = np.asarray(sub.skipgram_pairs(sequences, window_size=2)).reshape(-1, 2)
    expected = [
        [5, 6], [5, 7],
        [6, 5], [6, 7], [6, 8],
        [7, 5], [7, 6], [7, 8],
        [8, 6], [8, 7],
        [2, 3],
        [3, 2], [3, 4],
        [4, 3],
    ]  # fmt: skip
    if any(0 in pair for pair in got.tolist()):
        pytest.fail("Padding (id 0) must never be a target or a context.")
    short = np.asarray(_expected("skipgram_short_window"))  # Stopping 1 early on the right.
    if got.shape == short.shape and np.array_equal(got, short):
        pytest.fail(
            "The window stops one position early on the right: a context may be up to "
            "window_size positions away on either side, both ends included."
        )
    np.testing.assert_array_equal(got, np.array(expected))
    window1 = np.asarray(sub.skipgram_pairs([[5, 6, 7]], window_size=1)).reshape(-1, 2)
    np.testing.assert_array_equal(window1, [[5, 6], [6, 5], [6, 7], [7, 6]])
    assert np.asarray(sub.skipgram_pairs(sequences)).dtype == np.int64, "Expected int64 pairs."
    narrow = np.asarray(sub.skipgram_pairs(sequences.astype(np.int32)))  # As encode_tokens gives.
    assert narrow.dtype == np.int64, f"int32 texts: expected int64 pairs; received {narrow.dtype}."
    none = np.asarray(sub.skipgram_pairs([[0, 0, 0], [7, 0, 0]]))
    assert none.shape == (0, 2), f"No pairs: expected shape (0, 2); received {none.shape}."
    nothing = np.asarray(sub.skipgram_pairs(np.zeros((0, 5), np.int64)))
    assert nothing.shape == (0, 2), f"No texts: expected shape (0, 2); received {nothing.shape}."


@pytest.mark.points(
    1,
    hint="Pairs come from positions: a word repeated next to itself pairs with itself; texts of "
    "different lengths (a list of lists) and windows wider than a text work too.",
    section="skipgram",
)
def test_skipgram_pairs_repeats_and_ragged_texts(sub):
    repeated = np.asarray(sub.skipgram_pairs([[4, 4, 4]], window_size=1)).reshape(-1, 2)
    if len(repeated) < 4:
        pytest.fail(
            f"[[4, 4, 4]] with window_size=1 gave {repeated.tolist()}: a target and its "
            "context are different *positions*, which may hold the same word (4 pairs here)."
        )
    np.testing.assert_array_equal(repeated, [[4, 4]] * 4)
    ragged = sub.skipgram_pairs([[5, 6, 7], [8, 9]], window_size=5)  # Wider than any text.
    expected = [[5, 6], [5, 7], [6, 5], [6, 7], [7, 5], [7, 6], [8, 9], [9, 8]]
    assert_close(ragged, expected, what="skipgram_pairs([[5, 6, 7], [8, 9]], window_size=5)")


SKIPGRAM_SEQUENCES = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0], [2, 3, 0, 4, 0, 0]])
NEGATIVE_COUNTS = np.array([0, 0, 100, 10, 1, 50], dtype=np.float64)
NEGATIVE_ROW = np.array([2, 3, 4, 5, 2, 3, 0])


@pytest.mark.points(
    2,
    hint="The distribution follows the docstring's power of the counts; column 0 of the "
    "contexts is the true context and the others are drawn from the distribution with the "
    "seed's generator; labels mark the true context only.",
    section="skipgram",
)
def test_negative_sampling(sub):
    counts = NEGATIVE_COUNTS
    reference = _expected("negative_sampling")
    distribution = np.asarray(sub.negative_sampling_distribution(counts))
    expected = np.asarray(reference["distribution"])
    if np.allclose(distribution, counts / counts.sum()):
        pytest.fail("Raise the counts to the power 0.75 before normalising.")
    np.testing.assert_allclose(distribution, expected)
    narrow = sub.negative_sampling_distribution(counts.astype(np.float32))
    assert_close(
        narrow, expected, rtol=1e-12, dtype=np.float64,
        what="negative_sampling_distribution of float32 counts (float64 probabilities)",
    )  # fmt: skip
    square_root = np.asarray(sub.negative_sampling_distribution(counts, power=0.5))
    if not np.allclose(square_root, reference["square_root"]):
        pytest.fail("With power=0.5 the probabilities must follow counts ** 0.5: use the argument.")
    sequences = np.tile(NEGATIVE_ROW[None], (300, 1))
    targets, contexts, labels = sub.skipgram_training_data(
        sequences, expected, window_size=2, num_negatives=5, seed=0
    )
    pairs = np.tile(np.asarray(reference["row_pairs"]), (300, 1))  # Each row's pairs, in order.
    np.testing.assert_array_equal(np.asarray(targets), pairs[:, 0])
    targets, contexts, labels = np.asarray(targets), np.asarray(contexts), np.asarray(labels)
    dtypes = (targets.dtype, contexts.dtype, labels.dtype)
    assert dtypes == (np.int64, np.int64, np.float32), (
        f"Expected int64 targets and contexts and float32 labels; received {dtypes}."
    )
    assert contexts.shape == labels.shape == (len(pairs), 6)
    np.testing.assert_array_equal(contexts[:, 0], pairs[:, 1])
    np.testing.assert_array_equal(labels[:, 0], 1)
    np.testing.assert_array_equal(labels[:, 1:], 0)
    frequencies = np.bincount(contexts[:, 1:].ravel(), minlength=6) / contexts[:, 1:].size
    np.testing.assert_allclose(frequencies, expected, atol=0.01)
    again = np.asarray(sub.skipgram_training_data(sequences, expected, 2, 5, seed=0)[1])
    other = np.asarray(sub.skipgram_training_data(sequences, expected, 2, 5, seed=1)[1])
    if not np.array_equal(again, contexts):
        pytest.fail(
            "The same seed gave different negatives: draw with np.random.default_rng(seed)."
        )
    if np.array_equal(other, contexts):
        pytest.fail("seed=1 gave the negatives of seed=0: seed the generator with the argument.")
    numpy_there = library(sub, "numpy")  # numpy's global generator where the student's code runs.
    numpy_there.random.seed(123)
    sub.skipgram_training_data(sequences[:5], expected, 2, 5, seed=3)
    after = plain_float(numpy_there.random.random(), what="numpy's next global random number")
    if after != np.random.RandomState(123).random_sample():
        pytest.fail(
            "skipgram_training_data used (or reseeded) numpy's global generator: draw the "
            "negatives from np.random.default_rng(seed), which leaves the global state alone."
        )


def _check_integer_inputs(model, name):
    """The model's inputs take integer ids, as the docstring says (not Keras' default float32)."""
    dtypes = [str(tensor.dtype) for tensor in model.inputs]
    if not all(dtype.startswith(("int", "uint")) for dtype in dtypes):
        pytest.fail(
            f"{name}'s model has inputs of dtypes {dtypes}: ids are integers; give each "
            "keras.Input the dtype the docstring says."
        )


SKIPGRAM_TARGETS = np.array([1, 5, 7])
SKIPGRAM_CONTEXTS = np.array([[2, 3, 4], [5, 6, 7], [0, 11, 1]])


def _skipgram_weights(vocab_size, dim):
    """The judge's values of the two embedding tables (float32)."""
    rng = _rng(7)
    names = ("target_embedding", "context_embedding")
    return {name: rng.normal(size=(vocab_size, dim)).astype(np.float32) for name in names}


@pytest.mark.points(
    1,
    hint="Two Embedding layers named as the docstring says; each logit scores one context "
    "against its own example's target (one number per pair of vectors).",
    section="skipgram",
)
def test_skipgram_model_dot_products(sub):
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the model is built.
    model = sub.build_skipgram_model(12, 4)
    _check_integer_inputs(model, "build_skipgram_model")
    for name, value in _skipgram_weights(12, 4).items():  # The judge's embeddings.
        model.get_layer(name).embeddings.assign(value)
    logits = np.asarray(model([SKIPGRAM_TARGETS, SKIPGRAM_CONTEXTS]))
    assert logits.shape == (3, 3), f"Expected (batch, num_contexts); received {logits.shape}."
    np.testing.assert_allclose(logits, _expected("skipgram_model"), rtol=1e-5, atol=1e-6)


@pytest.mark.points(
    2,
    hint="Build the data with skipgram_training_data, compile with Adam(1e-2) and "
    "BinaryCrossentropy(from_logits=True), fit; return history.history['loss'].",
    section="skipgram",
)
def test_train_skipgram_loss_decreases(sub):
    rng = _rng(3)
    topics = [np.arange(2, 7), np.arange(7, 12)]  # Two groups of words that co-occur.
    sequences = np.stack([rng.choice(topics[i % 2], size=8) for i in range(120)])
    counts = np.bincount(sequences.ravel(), minlength=12).astype(np.float64)
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the model is built.
    model, losses = sub.train_skipgram(
        sequences, counts, embedding_dim=8, window_size=2, num_negatives=3, epochs=4,
        batch_size=128, seed=0,
    )  # fmt: skip
    assert len(losses) == 4
    # The reference over 20 seeds (weights and negatives): last/first 0.69-0.71 (mean 0.70),
    # last loss 0.418-0.427. The bars 0.8 and 0.46 leave margins of 0.09 and 0.03; an untrained
    # model stays at ln 2 = 0.69 and one trained a single epoch ends at 0.59-0.61.
    assert losses[-1] < 0.8 * losses[0], f"The loss did not fall enough: {losses}"
    assert losses[-1] < 0.46, f"The last epoch's loss {losses[-1]:.3f} is not below 0.46."


def _binary_cross_entropy(logits, labels):
    """TensorFlow's mean binary cross-entropy of logits."""
    losses = tf.nn.sigmoid_cross_entropy_with_logits(np.asarray(labels, np.float64), logits)
    return float(tf.reduce_mean(losses).numpy())


def _settings_data():
    sequences = _rng(6).integers(2, 9, size=(40, 6))
    return sequences, np.bincount(sequences.ravel(), minlength=9).astype(np.float64)


@pytest.mark.points(
    1,
    hint="Pass window_size, num_negatives and seed on to skipgram_training_data, compile with "
    "keras.optimizers.Adam(1e-2) and BinaryCrossentropy(from_logits=True), and fit with the "
    "epochs and batch_size arguments.",
    section="skipgram",
)
def test_train_skipgram_settings(sub):
    sequences, counts = _settings_data()
    reference = _expected("train_skipgram_settings")
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the model is built.
    (model, losses), calls = probes.record_global_calls(
        sub.train_skipgram, "skipgram_training_data", sequences, counts, embedding_dim=4,
        window_size=1, num_negatives=2, epochs=2, batch_size=64, seed=7,
    )  # fmt: skip
    if len(calls) != 1:
        pytest.fail(
            f"train_skipgram called skipgram_training_data {len(calls)} times; build the data "
            "with one call."
        )
    settings = {k: calls[0][k] for k in ("window_size", "num_negatives", "seed")}
    if settings != {"window_size": 1, "num_negatives": 2, "seed": 7}:
        pytest.fail(
            f"skipgram_training_data received {settings}; pass on train_skipgram's "
            "window_size=1, num_negatives=2 and seed=7."
        )
    np.testing.assert_allclose(
        np.asarray(calls[0]["distribution"]), reference["distribution"], atol=1e-12
    )
    assert len(losses) == 2, f"Expected one loss per epoch (2); received {len(losses)}."
    rate = float(np.asarray(model.optimizer.learning_rate))
    if rate != pytest.approx(1e-2):
        pytest.fail(f"Adam's learning rate must be 1e-2 (the docstring's); found {rate:g}.")
    num_pairs = reference["pairs"]
    steps = int(np.asarray(model.optimizer.iterations))
    if steps != 2 * math.ceil(num_pairs / 64):
        pytest.fail(
            f"Expected {2 * math.ceil(num_pairs / 64)} training steps (2 epochs of batches of "
            f"64); counted {steps}. Pass epochs and batch_size to fit."
        )
    data = sub.skipgram_training_data(sequences, calls[0]["distribution"], 1, 2, seed=7)
    targets, contexts, labels = (np.asarray(v) for v in data)
    logits = np.asarray(model.predict([targets, contexts], verbose=0), dtype=np.float64)
    loss = float(model.evaluate([targets, contexts], labels, verbose=0))
    if loss != pytest.approx(_binary_cross_entropy(logits, labels), rel=1e-3):
        pytest.fail(
            "The compiled loss is not the binary cross-entropy of the model's logits: use "
            "BinaryCrossentropy(from_logits=True)."
        )
    _check_fit_logs(model, losses, "train_skipgram", epochs=2)
    library(sub, "keras").utils.set_random_seed(1)  # Another global state before the call.
    _, again = sub.train_skipgram(
        sequences, counts, embedding_dim=4, window_size=1, num_negatives=2, epochs=2,
        batch_size=64, seed=7,
    )  # fmt: skip
    # Same seed, same initial weights and negatives: equal up to float rounding (repeats were
    # bit-equal). Models initialised from global seeds 0-3 instead differ by 6e-4 to 6e-3
    # (relative) in their losses: rel=1e-5 leaves a margin of 60.
    if [plain_float(x) for x in again] != pytest.approx([plain_float(x) for x in losses], rel=1e-5):
        pytest.fail(
            "Two calls with seed=7 trained differently: call keras.utils.set_random_seed(seed) "
            "before building the model, so the seed fixes the initial weights too."
        )


def _check_fit_logs(model, losses, name, epochs):
    """The optimizer is Adam, fit ran quietly and ``losses`` are the History's epoch losses."""
    if type_name(model.optimizer) != "Adam":
        pytest.fail(f"{name} compiled with {type_name(model.optimizer)}; the docstring says Adam.")
    history = model.history  # The History of the model's last fit.
    verbose = history.params.get("verbose")
    if verbose != 0:
        pytest.fail(
            f"fit ran with verbose={verbose!r} while {name} was called with verbose=0: pass "
            "the verbose argument on to fit."
        )
    logged = [plain_float(x) for x in history.history["loss"]]
    returned = [plain_float(x, what=f"A loss returned by {name}") for x in losses]
    if len(logged) != epochs or returned != logged:
        pytest.fail(
            f"{name} returned {returned}; fit logged {logged}: return the mean training loss "
            "of each epoch that fit logged (history.history['loss'])."
        )


WORD_INDEX = {"a": 0, "dog": 1, "on": 2, "beach": 3, "cat": 4}


def _word_vectors():
    return _rng(4).normal(size=(5, 6)).astype(np.float32)


@pytest.mark.points(
    1,
    hint="Average the rows of the known words only; zeros for a text without known words.",
    section="sentence_embeddings",
)
def test_mean_word_vectors(sub):
    vectors = _word_vectors()
    tokens = [["a", "dog", "zebra"], ["zebra"], ["cat", "cat", "on"]]
    out = np.asarray(sub.mean_word_vectors(tokens, WORD_INDEX, vectors))
    expected = np.stack([vectors[[0, 1]].mean(0), np.zeros(6), vectors[[4, 4, 2]].mean(0)])
    if np.allclose(out[0], vectors[[0, 1]].sum(0) / 3):
        pytest.fail("Divide by the number of KNOWN words, not by the length of the text.")
    assert out.dtype == np.float32, f"Expected float32; received {out.dtype}."
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    empty = np.asarray(sub.mean_word_vectors([], WORD_INDEX, vectors))
    assert empty.shape == (0, 6), f"No texts: expected shape (0, 6); received {empty.shape}."
    wide = sub.mean_word_vectors([[], ["dog", "dog"]], WORD_INDEX, vectors.astype(np.float64))
    assert_close(
        wide, np.stack([np.zeros(6), vectors[1]]), rtol=1e-6, dtype=np.float32,
        what="mean_word_vectors([[], ['dog', 'dog']], ...) of float64 vectors (float32 result)",
    )  # fmt: skip


SIF_CASE = (
    [["a", "dog", "on", "a", "beach"], ["a", "cat"], ["dog", "zebra"], ["cat", "on"]],
    WORD_INDEX,
    # "beach" is a known word without a probability: p = 0, so weight 1.
    {"a": 0.3, "dog": 0.05, "on": 0.2, "cat": 0.04, "zebra": 0.1},
    1e-2,
)


@pytest.mark.points(
    2,
    hint="Weight each known word as the docstring says and divide by the number of known words; "
    "then remove from every row its component along the first singular vector of the raw "
    "(uncentred) matrix.",
    section="sentence_embeddings",
)
def test_sif_embeddings(sub):
    vectors = _word_vectors()
    tokens, word_index, probabilities, a = SIF_CASE
    reference = _expected("sif_embeddings")
    expected = np.asarray(reference["out"])
    out = np.asarray(sub.sif_embeddings(tokens, word_index, vectors, probabilities, a=a))
    if np.allclose(out, reference["weighted"], atol=1e-5):
        pytest.fail("Remove the first principal component: v - (v · u) u.")
    if np.allclose(out, reference["centred"], atol=1e-5):
        pytest.fail("SIF takes the singular vector of the raw matrix; do not centre it first.")
    assert out.dtype == np.float64, f"Expected float64; received {out.dtype}."
    np.testing.assert_allclose(out, expected, atol=1e-5)
    empty = np.asarray(sub.sif_embeddings([], word_index, vectors, probabilities, a=a))
    assert empty.shape == (0, 6), f"No texts: expected shape (0, 6); received {empty.shape}."
    single = sub.sif_embeddings(tokens[:1], word_index, vectors, probabilities, a=a)
    assert_close(
        single, np.zeros((1, 6)), atol=1e-6, dtype=np.float64,
        what="sif_embeddings of a single text (its vector is the common component)",
    )  # fmt: skip
    # An empty text adds a zero row, which leaves the singular vectors as they were.
    more = sub.sif_embeddings([*tokens, []], word_index, vectors, probabilities, a=a)
    assert_close(
        more, np.vstack([expected, np.zeros((1, 6))]), atol=1e-5, dtype=np.float64,
        what="sif_embeddings of the same texts and an empty one",
    )  # fmt: skip


def _pool_inputs():
    states = _rng(5).normal(size=(3, 4, 5)).astype(np.float32)
    return states, np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.int32)


@pytest.mark.points(
    1,
    hint="Average the vectors of the real tokens only; a row of padding only must not give nan.",
    section="sentence_embeddings",
)
def test_masked_mean_pool(sub):
    states, mask = _pool_inputs()
    out = np.asarray(sub.masked_mean_pool(states, mask))
    reference = _expected("masked_mean_pool")
    expected = np.asarray(reference["out"])
    if np.allclose(out[:2], np.asarray(reference["length_mean"])[:2], atol=1e-6):
        pytest.fail("Divide by the number of real tokens (the mask's sum), not by seq.")
    if not np.all(np.isfinite(out)):
        pytest.fail("A row of padding only gave nan: divide by max(mask sum, 1e-9).")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    again = sub.masked_mean_pool(states.astype(np.float64), mask.astype(np.float32))
    assert_close(
        again, expected, rtol=1e-5, atol=1e-6,
        what="masked_mean_pool of float64 states and a float32 mask",
    )  # fmt: skip


ROLES = ("kernel", "bias", "gamma", "beta", "embeddings")


def _named_weights(layout, offset):
    """Seeded values for the variables of a layer's sublayers: ``{name: {role: array}}``.

    ``layout``: ``{sublayer name: {role: shape}}``. Each value depends on the sublayer's name and
    the variable's role only, never on the order in which the student's code created them;
    layer-norm gains are random too, so that a misplaced norm shows.
    """
    weights = {}
    for index, (name, shapes) in enumerate(layout.items()):
        weights[name] = {}
        for role, shape in shapes.items():
            rng = np.random.default_rng([4040, offset, index, ROLES.index(role)])
            weights[name][role] = rng.normal(scale=0.3, size=shape).astype(np.float32)
    return weights


def _assign_named(layer, weights):
    """Write ``_named_weights`` into the sublayers the docstring names, by name and role."""
    for name, roles in weights.items():
        sublayer = getattr(layer, name, None)
        if sublayer is None:
            pytest.fail(f"{type_name(layer)} has no sublayer {name!r} (the docstring names it).")
        for role, value in roles.items():
            variable = getattr(sublayer, role, None)
            shape = None if variable is None else tuple(variable.shape)
            if shape is None:
                pytest.fail(
                    f"{type_name(layer)}.{name} has no {role} after build: build every "
                    "sublayer in build(input_shape), as the docstring says."
                )
            if shape != value.shape:
                pytest.fail(
                    f"{type_name(layer)}.{name}.{role}: expected a variable of shape "
                    f"{value.shape}; received {shape}."
                )
            variable.assign(value)


def _block_layout(hidden, intermediate):
    def dense(inputs, units):
        return {"kernel": (inputs, units), "bias": (units,)}

    norm = {"gamma": (hidden,), "beta": (hidden,)}
    return {
        "query_dense": dense(hidden, hidden),
        "key_dense": dense(hidden, hidden),
        "value_dense": dense(hidden, hidden),
        "attention_output_dense": dense(hidden, hidden),
        "attention_layer_norm": norm,
        "intermediate_dense": dense(hidden, intermediate),
        "output_dense": dense(intermediate, hidden),
        "output_layer_norm": norm,
    }


def _embeddings_layout(vocab_size, hidden, max_positions, type_vocab_size):
    return {
        "word_embeddings": {"embeddings": (vocab_size, hidden)},
        "position_embeddings": {"embeddings": (max_positions, hidden)},
        "token_type_embeddings": {"embeddings": (type_vocab_size, hidden)},
        "layer_norm": {"gamma": (hidden,), "beta": (hidden,)},
    }


def _block(sub, hidden=16, heads=4, intermediate=32, dropout_rate=0.1, seed=0, epsilon=1e-12):
    library(sub, "keras").utils.set_random_seed(seed)  # Seeded where the block is built.
    block = sub.TransformerEncoderBlock(
        hidden_size=hidden, num_heads=heads, intermediate_size=intermediate,
        dropout_rate=dropout_rate, layer_norm_epsilon=epsilon,
    )  # fmt: skip
    block.build((None, None, hidden))
    _assign_named(block, _named_weights(_block_layout(hidden, intermediate), seed + 10))
    return block


def _inputs(batch=2, seq=6, hidden=16, offset=20):
    x = _rng(offset).normal(size=(batch, seq, hidden)).astype(np.float32)
    mask = np.ones((batch, seq), np.float32)
    mask[1, 3:] = 0
    return x, mask


@pytest.mark.points(
    1,
    hint="Output shape = input shape; a hidden_size that num_heads does not divide, or an "
    "input whose last axis is not hidden_size, raises ValueError.",
    section="transformer",
)
def test_block_shapes_and_errors(sub):
    block = _block(sub)
    x, mask = _inputs()
    assert tuple(block(x, attention_mask=mask).shape) == (2, 6, 16)
    assert tuple(block(x).shape) == (2, 6, 16)
    with pytest.raises(ValueError):
        sub.TransformerEncoderBlock(hidden_size=10, num_heads=4, intermediate_size=8)
    with pytest.raises(ValueError):
        sub.TransformerEncoderBlock(hidden_size=8, num_heads=2, intermediate_size=8)(
            np.zeros((1, 3, 5), np.float32)
        )


@pytest.mark.points(
    3,
    hint="BERT's post-LN block as the lecture describes it: scaled dot-product attention over "
    "the heads with padding keys masked, then the feed-forward with the exact GELU, each "
    "followed by its residual sum and layer norm.",
    section="transformer",
)
def test_block_matches_keras_multi_head_attention(sub):
    block = _block(sub)
    x, mask = _inputs()
    out = np.asarray(block(x, attention_mask=mask, training=False))
    # Keras' MultiHeadAttention, LayerNormalization and Dense layers with the block's weights
    # compute the same as the instructor's numpy BERT block, stored here with its mistakes.
    reference = _expected("block")
    expected = np.asarray(reference["out"])
    if not np.allclose(out, expected, atol=1e-4):
        for key, advice in (
            ("approximate", "use the exact GELU (erf), as BERT does, not tanh's"),
            ("unscaled", "scale the scores by the head size, as the lecture does"),
            ("pre_ln", "BERT is post-LN: the layer norm comes after each residual sum"),
        ):
            if np.allclose(out, reference[key], atol=1e-4):
                pytest.fail(f"Almost: {advice}.")
        if np.allclose(out, np.asarray(block(x, training=False)), atol=1e-4):
            pytest.fail("The attention_mask is ignored: padding keys must get -1e9.")
        inverted = np.asarray(block(x, attention_mask=1.0 - mask, training=False))
        if np.allclose(inverted, expected, atol=1e-4):
            pytest.fail(
                "The mask is inverted: -1e9 goes where attention_mask is 0 (padding), not where "
                "it is 1."
            )
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.points(
    2,
    hint="With the mask, padding keys get -1e9 before the softmax, so the outputs at real "
    "tokens cannot depend on what is in the padded positions.",
    section="transformer",
)
def test_block_padding_invariance(sub):
    block = _block(sub, seed=1)
    x, mask = _inputs(offset=21)
    out = np.asarray(block(x, attention_mask=mask, training=False))
    changed = x.copy()
    changed[1, 3:] = _rng(22).normal(size=(3, 16)) * 10
    out_changed = np.asarray(block(changed, attention_mask=mask, training=False))
    np.testing.assert_allclose(out_changed[1, :3], out[1, :3], atol=1e-5)
    alone = np.asarray(block(x[1:, :3], attention_mask=mask[1:, :3], training=False))
    np.testing.assert_allclose(alone[0], out[1, :3], atol=1e-5)
    np.testing.assert_allclose(out[0], np.asarray(block(x[:1], training=False))[0], atol=1e-5)


DROPOUT_RATE = 0.5  # Not the default 0.1: the test sees whether the layers use the argument.


def _dropout_sites(calls, expected_shapes, what):
    """Fail with advice when the dropout calls recorded in training mode are not as expected."""
    shapes = [tuple(call["shape"]) for call in calls]
    rates = sorted({round(float(call["rate"]), 6) for call in calls})
    if not calls:
        pytest.fail(
            f"{what} in training mode called no keras.layers.Dropout: the docstring's dropout "
            "layers must act when training=True."
        )
    if rates != [DROPOUT_RATE]:
        pytest.fail(
            f"{what}: the dropout layers used rates {rates}; build them with dropout_rate "
            f"(here {DROPOUT_RATE})."
        )
    if shapes != [tuple(shape) for shape in expected_shapes]:
        pytest.fail(
            f"{what} in training mode applied dropout to tensors of shapes {shapes}, in this "
            f"order; the lecture's layout drops {[tuple(s) for s in expected_shapes]}. Check "
            "which tensors each dropout receives (and that none is missing or added)."
        )


@pytest.mark.points(
    2,
    hint="In training mode dropout acts on the attention probabilities and on each sublayer's "
    "output before its residual sum, with dropout_rate; in inference mode it does nothing.",
    section="transformer",
)
def test_block_dropout_in_training_mode(sub):
    block = _block(sub, dropout_rate=DROPOUT_RATE, seed=3)
    x, mask = _inputs(offset=27)
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    reference = _expected("block_training")
    # Every keras.layers.Dropout applies the judge's fixed mask in training mode (the i-th
    # call the i-th mask), so the output is deterministic and the reference drops the same.
    out, calls = probes.with_fixed_dropout(block, x, attention_mask=mask, training=True)
    _dropout_sites(calls, [(2, 4, 6, 6), (2, 6, 16), (2, 6, 16)], "The block")
    out = plain_array(out, what="The block's output in training mode", shape=(2, 6, 16))
    if np.allclose(out, reference["inference"], atol=1e-4):
        pytest.fail("In training mode the output equals inference mode's: nothing was dropped.")
    assert_close(
        out, reference["out"], atol=1e-4, rtol=0, what="The block's output in training mode",
        advice="Each sublayer's output is dropped before it is added to the residual, and the "
        "attention probabilities are dropped before they weight the values.",
    )  # fmt: skip
    quiet, calls = probes.with_fixed_dropout(block, x, attention_mask=mask)
    if calls:
        pytest.fail("Called without training, the block dropped values: never fix training=True.")
    assert_close(
        quiet, reference["inference"], atol=1e-4, rtol=0,
        what="The block's output called without training (inference mode)",
    )  # fmt: skip


@pytest.mark.points(
    1,
    hint="A sequence of padding only must give finite values (a large negative number, not "
    "-inf, before the softmax), and it must not change the other sequences of the batch.",
    section="transformer",
)
def test_block_fully_masked_sequence(sub):
    block = _block(sub, seed=4)
    x, mask = _inputs(batch=3, offset=28)
    mask[2] = 0  # The third sequence is padding only.
    out = plain_array(
        block(x, attention_mask=mask, training=False), what="The block's output", finite=False
    )
    if not np.all(np.isfinite(out)):
        pytest.fail(
            "A sequence of padding only gave nan or inf: every score of its rows is masked, "
            "and a softmax over -inf alone is 0 / 0. Add -1e9, as the lecture does."
        )
    alone = block(x[:2], attention_mask=mask[:2], training=False)
    assert_close(
        out[:2], plain_array(alone, what="The block's output"), atol=1e-5, rtol=0,
        what="The outputs of the real sequences beside a sequence of padding only",
    )  # fmt: skip


@pytest.mark.points(
    1,
    hint="Use the arguments, not BERT's values: num_heads heads of hidden_size / num_heads, and "
    "layer norms built with epsilon=layer_norm_epsilon.",
    section="transformer",
)
def test_block_non_default_settings(sub):
    block = _block(sub, hidden=12, heads=3, intermediate=20, seed=2, epsilon=0.5)
    x, mask = _inputs(seq=5, hidden=12, offset=24)
    out = np.asarray(block(x, attention_mask=mask, training=False))
    reference = _expected("block_non_default")  # By layer-norm epsilon.
    expected = np.asarray(reference["0.5"])
    if not np.allclose(out, expected, atol=1e-4):
        for eps in (1e-3, 1e-6, 1e-12):
            if np.allclose(out, reference[str(eps)], atol=1e-4):
                pytest.fail(
                    f"The layer norms use epsilon={eps:g}: build them with "
                    "LayerNormalization(epsilon=layer_norm_epsilon)."
                )
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.points(
    1,
    hint="get_config returns super().get_config() updated with every __init__ argument: "
    "hidden_size, num_heads, intermediate_size, dropout_rate, layer_norm_epsilon.",
    section="transformer",
)
def test_block_get_config_round_trip(sub):
    block = sub.TransformerEncoderBlock(
        hidden_size=12, num_heads=3, intermediate_size=20, dropout_rate=0.25,
        layer_norm_epsilon=1e-6, name="my_block",
    )  # fmt: skip
    config = block.get_config()
    for key, value in dict(hidden_size=12, num_heads=3, intermediate_size=20).items():
        assert config.get(key) == value, f"get_config()[{key!r}]: expected {value}"
    assert config.get("dropout_rate") == pytest.approx(0.25)
    assert config.get("layer_norm_epsilon") == pytest.approx(1e-6)
    clone = sub.TransformerEncoderBlock.from_config(config)
    assert clone.name == "my_block" and clone.get_config() == config
    x = _rng(23).normal(size=(1, 4, 12)).astype(np.float32)
    block(x)
    clone(x)
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(
        np.asarray(clone(x, training=False)), np.asarray(block(x, training=False)), atol=1e-6
    )


EMBEDDING_IDS = np.array([[3, 4, 5, 0], [7, 1, 0, 0]], np.int32)
EMBEDDING_TYPES = np.array([[0, 0, 1, 1], [1, 1, 1, 1]], np.int32)


@pytest.mark.points(
    1,
    hint="Each token's vector adds three embeddings (its word, its position, its type: 0 when "
    "no types are given), then the layer norm and dropout.",
    section="transformer",
)
def test_bert_embeddings(sub):
    layer = sub.BertEmbeddings(
        vocab_size=20, hidden_size=8, max_positions=10, type_vocab_size=2, dropout_rate=0.1
    )
    ids = EMBEDDING_IDS
    layer(ids)
    _assign_named(layer, _named_weights(_embeddings_layout(20, 8, 10, 2), 30))
    reference = _expected("bert_embeddings")
    out = np.asarray(layer(ids, training=False))
    np.testing.assert_allclose(out, reference["out"], atol=1e-4)
    out = np.asarray(layer(ids, token_type_ids=EMBEDDING_TYPES, training=False))
    np.testing.assert_allclose(out, reference["types"], atol=1e-4)
    config = layer.get_config()
    assert config.get("vocab_size") == 20 and config.get("max_positions") == 10


EMBEDDING_SETTINGS = dict(
    vocab_size=20,
    hidden_size=8,
    max_positions=10,
    type_vocab_size=3,
    dropout_rate=DROPOUT_RATE,
    layer_norm_epsilon=0.3,
)  # Every argument away from its default.


@pytest.mark.points(
    1,
    hint="Use every argument (type_vocab_size, dropout_rate, layer_norm_epsilon); dropout acts "
    "after the layer norm, in training mode only; get_config returns every argument.",
    section="transformer",
)
def test_bert_embeddings_settings_and_training(sub):
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the layer is built.
    layer = sub.BertEmbeddings(**EMBEDDING_SETTINGS, name="my_embeddings")
    ids, types = EMBEDDING_IDS, np.minimum(EMBEDDING_TYPES * 2, 2).astype(np.int32)
    layer.build(ids.shape)  # build creates every sublayer's variables (the docstring's contract).
    _assign_named(layer, _named_weights(_embeddings_layout(20, 8, 10, 3), 31))
    reference = _expected("bert_embeddings_settings")
    out = layer(ids, token_type_ids=types, training=False)
    if not np.allclose(plain_array(out, what="The embeddings"), reference["out"], atol=1e-4):
        if np.allclose(np.asarray(out), reference["default_epsilon"], atol=1e-4):
            pytest.fail(
                "The layer norm uses Keras' default epsilon: build it with "
                "epsilon=layer_norm_epsilon (0.3 here)."
            )
    assert_close(out, reference["out"], atol=1e-4, rtol=0, what="The embeddings (inference)")
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    dropped, calls = probes.with_fixed_dropout(layer, ids, token_type_ids=types, training=True)
    _dropout_sites(calls, [(2, 4, 8)], "BertEmbeddings")
    assert_close(
        dropped, reference["training"], atol=1e-4, rtol=0,
        what="The embeddings in training mode",
        advice="Dropout acts on the layer norm's output (the layer's last step).",
    )  # fmt: skip
    config = layer.get_config()
    for key, value in EMBEDDING_SETTINGS.items():
        assert config.get(key) == pytest.approx(value), f"get_config()[{key!r}]: expected {value}"
    clone = sub.BertEmbeddings.from_config(config)
    assert clone.name == "my_embeddings" and clone.get_config() == config
    clone(ids)
    clone.set_weights(layer.get_weights())
    assert_close(
        clone(ids, token_type_ids=types, training=False), reference["out"], atol=1e-4, rtol=0,
        what="The embeddings of BertEmbeddings.from_config(layer.get_config()) with its weights",
    )  # fmt: skip


ENCODER_EPSILON = 0.05  # Not the default 1e-12: the test sees whether every layer norm uses it.


ENCODER_IDS = np.array([[2, 5, 9, 3, 0, 0], [2, 7, 7, 7, 11, 3]], np.int32)


def _encoder_weights(seed, vocab_size=30):
    """Named values for the tiny encoder's layers "embeddings", "layer_0" and "layer_1"."""
    weights = {"embeddings": _named_weights(_embeddings_layout(vocab_size, 8, 16, 2), seed)}
    for i in range(2):
        weights[f"layer_{i}"] = _named_weights(_block_layout(8, 16), seed + 1 + i)
    return weights


def _tiny_encoder(sub, vocab_size=30, seed=40, dropout_rate=0.1):
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the model is built.
    model = sub.build_text_encoder(
        vocab_size=vocab_size, hidden_size=8, num_layers=2, num_heads=2, intermediate_size=16,
        max_positions=16, type_vocab_size=2, dropout_rate=dropout_rate,
        layer_norm_epsilon=ENCODER_EPSILON,
    )  # fmt: skip
    for name, weights in _encoder_weights(seed, vocab_size).items():
        _assign_named(model.get_layer(name), weights)
    return model


@pytest.mark.points(
    3,
    hint="The docstring's inputs and layer names, every block given the attention mask, then "
    "the masked mean of the real tokens, scaled to unit length.",
    section="transformer",
)
def test_text_encoder_matches_numpy_bert(sub):
    model = _tiny_encoder(sub)
    _check_integer_inputs(model, "build_text_encoder")
    ids = ENCODER_IDS
    mask = (ids > 0).astype(np.int32)
    out = np.asarray(model({"input_ids": ids, "attention_mask": mask}, training=False))
    reference = _expected("text_encoder")  # The instructor's numpy BERT, with its mistakes.
    expected = np.asarray(reference["out"])
    assert out.shape == (2, 8), f"Expected (batch, hidden_size) = (2, 8); received {out.shape}."
    if not np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5):
        pytest.fail("Sentence embeddings must have unit L2 norm (all-MiniLM-L6-v2 normalises).")
    if not np.allclose(out, expected, atol=1e-4):
        if np.allclose(out, reference["first_token"], atol=1e-4):
            pytest.fail("That is the first token's vector: average the real tokens' vectors.")
        if np.allclose(out, reference["unmasked"], atol=1e-4):
            pytest.fail("Pass attention_mask to every block: real tokens attend to padding.")
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.points(
    2,
    hint="Give dropout_rate to the embeddings and to every block; in training mode each of "
    "them drops where its own test says; pooling and the unit norm come after.",
    section="transformer",
)
def test_text_encoder_in_training_mode(sub):
    model = _tiny_encoder(sub, dropout_rate=DROPOUT_RATE)
    ids = ENCODER_IDS
    inputs = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int32)}
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    out, calls = probes.with_fixed_dropout(model, inputs, training=True)
    block = [(2, 2, 6, 6), (2, 6, 8), (2, 6, 8)]
    _dropout_sites(calls, [(2, 6, 8)] + block + block, "The encoder")
    assert_close(
        out, _expected("text_encoder")["training"], atol=1e-4, rtol=0,
        what="The sentence embeddings in training mode",
    )  # fmt: skip


@pytest.mark.points(
    1,
    hint="Padding must not matter: whatever ids sit where attention_mask is 0, the embeddings "
    "stay the same, and a text of padding only gives a zero vector (no nan).",
    section="transformer",
)
def test_text_encoder_ignores_padding(sub):
    model = _tiny_encoder(sub)
    ids = np.concatenate([ENCODER_IDS, np.zeros((1, 6), np.int32)])  # The last: padding only.
    mask = (ids > 0).astype(np.int32)
    out = plain_array(
        model({"input_ids": ids, "attention_mask": mask}, training=False),
        what="The sentence embeddings", shape=(3, 8), finite=False,
    )  # fmt: skip
    if not np.all(np.isfinite(out)):
        pytest.fail(
            "A text of padding only gave nan: its mean pools nothing (divide by max(count, "
            "1e-9)) and its zero vector has no length (divide by max(norm, 1e-12))."
        )
    assert_close(out[2], np.zeros(8), atol=1e-6, what="The embedding of a text of padding only")
    assert_close(
        out[:2], _expected("text_encoder")["out"], atol=1e-4, rtol=0,
        what="The embeddings of real texts beside a text of padding only",
    )  # fmt: skip
    noisy = np.where(mask == 1, ids, 13).astype(np.int32)  # Other ids under the padding.
    again = model({"input_ids": noisy, "attention_mask": mask}, training=False)
    assert_close(
        again, out, atol=1e-5, rtol=0,
        what="The embeddings with other ids at the padded positions",
        advice="Which tokens are real is attention_mask's to say, not the ids'.",
    )  # fmt: skip


TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "dog", "on", "the", "beach", "cat",
              "##s", "in", "snow", ".", ",", "red", "car"]  # fmt: skip


@pytest.mark.points(
    2,
    hint="A tf.Module holding the model and the tokenizer, whose __call__ is a tf.function "
    "with input_signature=[tf.TensorSpec([None], tf.string)]; tf.saved_model.save(module, "
    "export_dir).",
    section="transformer",
)
def test_export_round_trip_with_tensorflow_hub(sub):
    # The tokenizer, the model, the files and the reloaded SavedModel all live where the
    # student's code runs; only the embeddings come back here.
    folder = library(sub, "pathlib").Path(library(sub, "tempfile").mkdtemp())
    vocab_file = folder.joinpath("vocab.txt")
    vocab_file.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    minilm = library(sub, "course_lib.models.minilm")
    tokenizer = minilm.BertTextTokenizer(vocab_file, max_length=16)
    model = _tiny_encoder(sub, vocab_size=len(TINY_VOCAB))
    texts = ["A dog on the beach.", "Red cars in the SNOW, a cat", "zebra"]
    expected = np.asarray(model(tokenizer.encode(texts), training=False))
    logger = library(sub, "tensorflow").get_logger()
    level = int(logger.level)
    logger.setLevel(
        "ERROR"
    )  # Saving logs "Assets written" on stderr, which nbgrader counts as an error.
    try:
        path = sub.export_text_encoder(model, tokenizer, folder.joinpath("exported"))
        del model
        reloaded = library(sub, "tensorflow_hub").load(str(path))
    finally:
        logger.setLevel(level)
    # The signature's TensorSpec([None], tf.string) turns the list into a string tensor.
    out = np.asarray(reloaded(texts))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _softmax(z):
    """TensorFlow's softmax, in float64."""
    return tf.nn.softmax(np.asarray(z, dtype=np.float64)).numpy()


@pytest.mark.points(
    2,
    hint="Temperature 0 means the most likely index; otherwise sample from the softmax of the "
    "logits scaled by the temperature (small temperatures sharpen it), with the rng argument.",
    section="rnn",
)
def test_sample_with_temperature(sub):
    logits = np.array([2.0, 1.0, 0.5, -1.0, 1.9])
    random = library(sub, "numpy").random  # The generators live beside the student's code.
    probes = library(sub, "course_lib.grading.probes.lecture_04")
    rng = random.default_rng(0)
    first = sub.sample_with_temperature(logits, 0.0, rng)
    assert type(first) is int, f"Return a Python int (int(...)); received {type(first).__name__}."
    assert first == 0, "Temperature 0 must give the argmax."
    cold = probes.repeated_calls(sub.sample_with_temperature, 20, logits, 1e-4, rng)
    if any(index != 0 for index in cold):
        pytest.fail(
            f"Temperature 1e-4 must pick the argmax (0) every time; received {cold}. Divide the "
            "logits by the temperature (small temperatures sharpen the distribution)."
        )
    with pytest.raises(ValueError):
        sub.sample_with_temperature(logits, -1.0, rng)
    # generate_text forbids the padding id with a logit of -inf; small temperatures sharpen.
    forbidden = np.array([-np.inf, 30.0, 29.0, -5.0])
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            picks = probes.repeated_calls(
                sub.sample_with_temperature, 50, forbidden, 0.01, random.default_rng(2)
            )
            picks += probes.repeated_calls(
                sub.sample_with_temperature, 200, forbidden, 1.0, random.default_rng(3)
            )
    except FloatingPointError as error:
        pytest.fail(
            f"numpy warned ({error}) on logits [-inf, 30, 29, -5]: subtract the largest scaled "
            "logit before exponentiating, so that nothing overflows."
        )
    if 0 in picks:
        pytest.fail("An index whose logit is -inf was drawn: its probability is exactly 0.")
    # A Keras model's logits are float32 (generate_text); the index is a Python int.
    logits32 = _rng(9).normal(size=97).astype(np.float32) * 3
    drawn = probes.repeated_calls(
        sub.sample_with_temperature, 30, logits32, 0.7, random.default_rng(4)
    )
    if not all(type(index) is int and 0 <= index < 97 for index in drawn):
        pytest.fail(f"Expected Python ints in [0, 97); received {drawn[:5]}...")
    assert picks[:50] == [1] * 50, "Temperature 0.01 must pick the argmax (1) every time."
    assert 2 in picks[50:], "At temperature 1, logit 29 next to 30 must be drawn sometimes."
    draws = 20000
    for temperature in (1.0, 2.0):
        rng = random.default_rng(1)
        samples = probes.repeated_calls(
            sub.sample_with_temperature, draws, logits, temperature, rng
        )
        frequencies = np.bincount(samples, minlength=5) / draws
        expected = _softmax(logits / temperature)
        if temperature == 2.0 and np.allclose(frequencies, _softmax(logits * 2), atol=0.02):
            pytest.fail("Divide the logits by the temperature; do not multiply.")
        # Five standard errors of a binomial proportion: fails by chance about once in 10^6.
        tolerance = 5 * np.sqrt(expected * (1 - expected) / draws)
        assert np.all(np.abs(frequencies - expected) <= tolerance), (
            f"temperature {temperature}: frequencies {np.round(frequencies, 3)}, expected "
            f"{np.round(expected, 3)}"
        )
    again = probes.repeated_calls(
        sub.sample_with_temperature, draws, logits, 2.0, random.default_rng(1)
    )
    if list(again) != list(samples):
        pytest.fail(
            "Two generators with the same seed gave different samples: draw with the rng "
            "argument (rng.choice), not with np.random."
        )


@pytest.mark.points(
    2,
    hint="Embedding → GRU/LSTM(units, return_sequences=True, name='rnn') → Dense(vocab_size) "
    "logits; compile with SparseCategoricalCrossentropy(from_logits=True).",
    section="rnn",
)
def test_char_lm_structure_and_training(sub):
    library(sub, "keras").utils.set_random_seed(0)  # Seeded where the model is built.
    model = sub.build_char_lm(vocab_size=7, embedding_dim=8, units=16, cell="gru")
    assert model.output_shape == (None, None, 7), (
        f"Expected logits of shape (batch, seq, vocab_size); the model gives "
        f"{model.output_shape}. Did the recurrent layer return sequences?"
    )
    assert type_name(model.get_layer("rnn")) == "GRU"
    _check_integer_inputs(model, "build_char_lm")
    lstm = sub.build_char_lm(vocab_size=7, embedding_dim=8, units=16, cell="lstm")
    assert type_name(lstm.get_layer("rnn")) == "LSTM", "cell='lstm' must build an LSTM layer."
    for built, gates in ((model, 3), (lstm, 4)):
        shapes = [tuple(plain_array(w, what="A weight").shape) for w in built.get_weights()]
        if (shapes[:2], shapes[-2:]) != ([(7, 8), (8, 16 * gates)], [(16, 7), (7,)]):
            pytest.fail(
                f"build_char_lm(vocab_size=7, embedding_dim=8, units=16) has weights of shapes "
                f"{shapes}: use the embedding_dim and units arguments, with one Dense(vocab_size) "
                "after the recurrent layer."
            )
    with pytest.raises(ValueError):
        sub.build_char_lm(vocab_size=7, cell="transformer")
    pattern = np.tile(np.array([1, 2, 3, 4, 5, 6], np.int32), 80)
    inputs = pattern[:-1][: 79 * 6 - 2].reshape(-1, 4)[:100]
    targets = pattern[1:][: 79 * 6 - 2].reshape(-1, 4)[:100]
    outputs = np.asarray(model(inputs[:8], training=False))
    if np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1, atol=1e-4):
        pytest.fail("The model must output logits (no softmax): the loss applies the softmax.")
    start = model.get_weights()
    losses = sub.train_char_lm(model, inputs, targets, epochs=5, batch_size=20, seed=3)
    assert len(losses) == 5, f"Expected one loss per epoch (5); received {len(losses)}."
    rate = float(np.asarray(model.optimizer.learning_rate))
    if rate != pytest.approx(1e-2):
        pytest.fail(f"Adam's learning rate must be 1e-2 (the docstring's); found {rate:g}.")
    steps = int(np.asarray(model.optimizer.iterations))
    if steps != 25:
        pytest.fail(
            f"Expected 25 training steps (5 epochs of 100 windows in batches of 20); counted "
            f"{steps}. Pass epochs and batch_size to fit."
        )
    # The reference over 20 seeds (initial weights and fit seed): first loss 1.85-1.88 (ln 7 =
    # 1.95, bar +-30 %), last/first 0.12-0.21 (mean 0.17). The bar 0.5 leaves a margin of 0.29;
    # an untrained model stays at ln 7 (ratio 1.0) and one trained 2 epochs of 5 reaches only
    # 0.81-0.87.
    _check_fit_logs(model, losses, "train_char_lm", epochs=5)
    logits = plain_array(model.predict(inputs[:20], verbose=0), what="The logits")
    loss = plain_float(model.evaluate(inputs[:20], targets[:20], verbose=0), what="The loss")
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(targets[:20], logits)
    if loss != pytest.approx(float(tf.reduce_mean(cross_entropy)), rel=1e-3):
        pytest.fail(
            "The compiled loss is not the cross-entropy of the model's logits: use "
            "SparseCategoricalCrossentropy(from_logits=True)."
        )
    assert losses[-1] < 0.5 * losses[0], f"The loss did not fall enough: {losses}"
    assert losses[0] == pytest.approx(math.log(7), rel=0.3)
    twin = sub.build_char_lm(vocab_size=7, embedding_dim=8, units=16, cell="gru")
    twin.set_weights(start)
    if list(sub.train_char_lm(twin, inputs, targets, epochs=5, batch_size=20, seed=3)) != losses:
        pytest.fail(
            "Training twice with the same seed gave different losses: call "
            "keras.utils.set_random_seed(seed) before fitting."
        )
    twin.set_weights(start)
    if list(sub.train_char_lm(twin, inputs, targets, epochs=5, batch_size=20, seed=4)) == losses:
        pytest.fail("seed=4 trained exactly as seed=3: pass the seed argument to set_random_seed.")
