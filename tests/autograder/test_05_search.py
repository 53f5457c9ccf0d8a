"""Autograder for Lecture 05, the image search engine.

References: scikit-learn (``average_precision_score``, ``ndcg_score``, ``TfidfVectorizer``,
``minmax_scale``), numpy's stable ``argsort``, loops over ranks and pictures written here, and
small word vectors built here (plus the real GloVe 6B 50d, which loads offline). Each test calls
the student's module ``sub``.

The engines call Lecture 04's functions through ``text_lecture()``. The sandboxed runner cannot
read the course checkout, so under ``camp`` the tests point ``text_lecture`` at the reference
Lecture 04 (``lecture_module("04", prefer_student=False)``): its pure text and vector functions,
loaded here in the judge, which the student's code calls back. Under nbgrader the notebook's own
``text_lecture`` is used, as before.
"""

import functools
import warnings

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import average_precision_score, ndcg_score
from sklearn.preprocessing import minmax_scale

from course_lib.grading.access import library
from course_lib.grading.remote import Handle


def _rng(offset=0):
    return np.random.default_rng(505 + offset)


def _ap_reference(ranking, relevant, k, divide_by_m=False):
    """AP@k rank by rank; with ``divide_by_m``, the common mistake of dividing by m."""
    hits, total = 0, 0.0
    for rank, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    if not relevant:
        return 0.0
    return total / (len(relevant) if divide_by_m else min(len(relevant), k))


def _random_rankings(rng, queries=12, items=40):
    rankings, relevant = [], []
    for q in range(queries):
        length = int(rng.integers(0, 25))
        rankings.append([int(i) for i in rng.permutation(items)[:length]])
        count = 0 if q == 0 else int(rng.integers(1, 12))
        relevant.append({int(i) for i in rng.permutation(items)[:count]})
    return rankings, relevant


def _sparsify_reference(similarity, top):
    expected = np.zeros_like(similarity)
    for row in range(len(similarity)):
        keep = np.argsort(-similarity[row], kind="stable")[:top]
        expected[row, keep] = np.maximum(similarity[row, keep], 0)
    return expected


def _dropbox_reference(similarity, category_scores, top):
    return category_scores @ _sparsify_reference(similarity, top).mean(axis=0)


# Tiny word vectors: synonyms point the same way; "dog" and "cat" are close, "car" is far.
_WORDS = {
    "dog": [1.0, 0.1, 0.0, 0.0],
    "puppy": [0.9, 0.2, 0.1, 0.0],
    "cat": [0.7, 0.7, 0.0, 0.0],
    "bicycle": [0.0, 0.0, 1.0, 0.1],
    "bike": [0.1, 0.0, 0.9, 0.2],
    "car": [0.0, 0.1, 0.3, 1.0],
    "red": [0.3, 0.3, 0.3, 0.3],
    "teddy": [0.5, 0.0, 0.5, 0.0],
    "bear": [0.6, 0.5, 0.0, 0.1],
}


def _word_vectors():
    return {w: np.array(v, dtype=np.float32) for w, v in _WORDS.items()}


def _cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return a @ b.T


def _tfidf_cosines(documents, queries, **options):
    """(Q, N) cosines of scikit-learn's TF-IDF vectors of queries and documents (IDF of these)."""
    vectorizer = TfidfVectorizer(
        tokenizer=str.split, token_pattern=None, lowercase=False, **options
    )
    doc_matrix = vectorizer.fit_transform(documents).toarray()
    return vectorizer.transform(queries).toarray() @ doc_matrix.T


def _fixed_engine(sub, scores):
    """A SearchEngine of the student's base class whose scores are a fixed (Q, N) matrix.

    The subclass is made where the student's class lives; its two methods are functions of this
    file (called back from the runner), so the scores come from here.
    """

    def encode_images(self, images):
        return None

    def score(self, queries):
        return np.stack([scores[int(q)] for q in queries])

    methods = {"encode_images": encode_images, "score": score}
    fixed = library(sub, "builtins").type("Fixed", (sub.SearchEngine,), methods)
    return fixed()


# Lecture 04's functions an engine may call: pure text and vector computations, nothing that
# reads or writes files.
_TEXT_FUNCTIONS = (
    "normalize_text",
    "tokenize",
    "build_vocabulary",
    "encode_tokens",
    "bag_of_words",
    "inverse_document_frequency",
    "tfidf",
    "cosine_similarity_matrix",
    "jaccard_similarity_matrix",
    "word_probabilities",
    "mean_word_vectors",
    "sif_embeddings",
)


@functools.cache
def _reference_text_functions():
    from course_lib.student.lectures import lecture_module

    text = lecture_module("04", prefer_student=False, quiet=True)
    return {name: _quiet(getattr(text, name)) for name in _TEXT_FUNCTIONS}


def _quiet(function):
    """``function`` without warnings: they would come from the student's inputs, in the judge."""

    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return function(*args, **kwargs)

    return quiet


def _use_reference_text_lecture(sub):
    """Under camp, make the student's ``text_lecture()`` return the reference Lecture 04."""
    if not isinstance(sub, Handle):
        return  # nbgrader: the notebook's own text_lecture() reads the checkout.
    text = library(sub, "types").SimpleNamespace(**_reference_text_functions())
    sub.text_lecture = lambda: text


@pytest.mark.points(
    2,
    hint="Precision@K divides the hits in the top K by K; Recall@K divides them by the number "
    "of relevant items.",
    section="metrics",
)
def test_precision_and_recall_hand_worked(sub):
    ranking, relevant = [3, 1, 4, 5, 9], {1, 5, 7}
    assert sub.precision_at_k(ranking, relevant, 3) == pytest.approx(1 / 3)
    assert sub.precision_at_k(ranking, relevant, 5) == pytest.approx(2 / 5)
    recall = sub.recall_at_k(ranking, relevant, 5)
    if recall == pytest.approx(2 / 5):
        pytest.fail(
            "recall_at_k returned Precision@5 (2/5): Recall@K divides the hits by the number of "
            "relevant items (3), not by K."
        )
    assert recall == pytest.approx(2 / 3)
    first = sub.recall_at_k(ranking, relevant, 1)
    if first == pytest.approx(2 / 3):
        pytest.fail(
            "recall_at_k(..., k=1) counted relevant items beyond rank 1: only the first k ranked "
            "ids count."
        )
    assert first == pytest.approx(0.0)
    short = sub.precision_at_k([1], {1}, 4)
    if short == pytest.approx(1.0):
        pytest.fail(
            "precision_at_k([1], {1}, k=4) returned 1.0: Precision@K divides by K (4), even "
            "when the ranking is shorter than K."
        )
    assert short == pytest.approx(0.25)
    assert sub.recall_at_k([1, 2], set(), 2) == pytest.approx(0.0)
    repeated = sub.precision_at_k([1, 1, 2], {1}, 2)
    if repeated == pytest.approx(1.0):
        pytest.fail(
            "precision_at_k([1, 1, 2], {1}, k=2) returned 1.0: an id listed twice counts only at "
            "its first occurrence, so the top 2 is [1, 2] (keep the first occurrences in order)."
        )
    assert repeated == pytest.approx(0.5)


@pytest.mark.points(
    3,
    hint="AP@K sums the precision at each rank holding a relevant item, then divides by "
    "min(m, K), m = number of relevant items.",
    section="metrics",
)
def test_average_precision_hand_worked(sub):
    # Every value first, then the targeted hints, then the exact answers: each mistake below
    # also changes the other values, and its own hint must fire first.
    one = sub.average_precision_at_k([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], {2}, 10)
    perfect = sub.average_precision_at_k([1, 2], {1, 2, 3, 4}, 2)
    # Hits at ranks 2 and 3: (1/2 + 2/3) / 2; adding 1/rank instead would give (1/2 + 1/3) / 2.
    two = sub.average_precision_at_k([1, 2, 3, 4, 5], {2, 3}, 5)
    if one == pytest.approx(0.05):
        pytest.fail(
            "AP@10 of a ranking whose single relevant item is at rank 2 should be 0.5; you "
            "returned 0.05: divide by min(m, K) (here 1), not by K."
        )
    if perfect == pytest.approx(0.5):
        pytest.fail(
            "A perfect top 2 has AP@2 = 1 even with 4 relevant items; you returned 0.5: divide "
            "by min(m, K), not by m."
        )
    if two == pytest.approx((1 / 2 + 1 / 3) / 2):
        pytest.fail(
            "At each hit add the precision at that rank (hits so far / rank), not 1 / rank."
        )
    assert one == pytest.approx(0.5)
    assert perfect == pytest.approx(1.0)
    assert two == pytest.approx((1 / 2 + 2 / 3) / 2)
    # Hits at ranks 1 and 3: (1 + 2/3) / min(4, 5).
    value = sub.average_precision_at_k([1, 2, 3, 4, 5], {1, 3, 6, 7}, 5)
    assert value == pytest.approx((1 + 2 / 3) / 4)
    assert sub.average_precision_at_k([1, 2], set(), 2) == pytest.approx(0.0)
    assert sub.average_precision_at_k([5, 6], {1}, 2) == pytest.approx(0.0)
    repeated = sub.average_precision_at_k([1, 1, 2], {1, 2}, 3)
    if repeated == pytest.approx(1.5):
        pytest.fail(
            "average_precision_at_k([1, 1, 2], {1, 2}, k=3) returned 1.5: an id listed twice "
            "counts only at its first occurrence (the ranking is [1, 2], AP 1)."
        )
    assert repeated == pytest.approx(1.0)


@pytest.mark.points(
    2,
    hint="With K covering every item, AP@K equals scikit-learn's average_precision_score.",
    section="metrics",
)
def test_average_precision_matches_sklearn(sub):
    rng = _rng(1)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        labels = (rng.random(n) < 0.3).astype(int)
        labels[rng.integers(n)] = 1
        scores = rng.normal(size=n)
        ranking = [int(i) for i in np.argsort(-scores, kind="stable")]
        relevant = {int(i) for i in np.flatnonzero(labels)}
        expected = average_precision_score(labels, scores)
        for k in (n, n + 5):
            assert sub.average_precision_at_k(ranking, relevant, k) == pytest.approx(expected)


@pytest.mark.points(
    2,
    hint="Build a (Q, K) matrix of hits, cumsum along the ranks for the precision at every "
    "rank, keep it where there is a hit, sum, and divide each row by min(m, K).",
    section="metrics",
)
def test_mean_average_precision_matches_loop(sub):
    rng = _rng(2)
    rankings, relevant = _random_rankings(rng)
    for k in (1, 5, 10, 30):
        expected = np.mean(
            [_ap_reference(r, s, k) for r, s in zip(rankings, relevant, strict=True)]
        )
        value = sub.mean_average_precision_at_k(rankings, relevant, k)
        skipped = np.mean(
            [_ap_reference(r, s, k) for r, s in zip(rankings, relevant, strict=True) if s]
        )
        if value != pytest.approx(expected) and value == pytest.approx(skipped):
            pytest.fail(
                "mean_average_precision_at_k skipped the query without relevant ids: it counts as "
                "AP 0 in the mean over all queries."
            )
        by_m = np.mean(
            [_ap_reference(r, s, k, True) for r, s in zip(rankings, relevant, strict=True)]
        )
        if value != pytest.approx(expected) and value == pytest.approx(by_m):
            pytest.fail(f"mAP@{k}: divide each query's sum by min(m, k), not by m.")
        assert value == pytest.approx(expected), f"k={k}"
    strings = [["b", "a", "c"], ["x", "y"]]
    value = sub.mean_average_precision_at_k(strings, [{"a"}, {"y", "z"}], 3)
    assert value == pytest.approx((0.5 + 0.25) / 2)


@pytest.mark.points(
    1,
    hint="The reciprocal rank is 1 / (rank of the first relevant item), 0 if none is found "
    "(within the first k when k is given).",
    section="metrics",
)
def test_reciprocal_rank(sub):
    assert sub.reciprocal_rank([7, 8, 9, 1], {9, 1}) == pytest.approx(1 / 3)
    cut = sub.reciprocal_rank([7, 8, 9, 1], {9, 1}, k=2)
    if cut == pytest.approx(1 / 3):
        pytest.fail(
            "reciprocal_rank([7, 8, 9, 1], {9, 1}, k=2) should be 0: the first relevant id is at "
            "rank 3, beyond the cut-off k=2."
        )
    assert cut == pytest.approx(0.0)
    assert sub.reciprocal_rank(["a", "b"], {"a"}) == pytest.approx(1.0)
    assert sub.reciprocal_rank([1, 2], {3}) == pytest.approx(0.0)


@pytest.mark.points(
    3,
    hint="DCG@K = sum of grade_k / log2(k + 1) over the first K ranks (linear gains); divide "
    "by the DCG of all the grades sorted in decreasing order.",
    section="metrics",
)
def test_ndcg_matches_sklearn(sub):
    rng = _rng(3)
    for trial in range(15):
        n = int(rng.integers(4, 40))
        grades = rng.integers(0, 4, size=n)
        grades[rng.integers(n)] = 2
        scores = rng.normal(size=n)
        ranking = [f"img{i}" for i in np.argsort(-scores, kind="stable")]
        by_id = {f"img{i}": int(g) for i, g in enumerate(grades)}
        for k in (1, 3, 10, n):
            expected = ndcg_score([grades], [scores], k=k)
            value = sub.ndcg_at_k(ranking, by_id, k)
            exponential = sum(
                (2.0 ** by_id[i] - 1) / np.log2(r + 2) for r, i in enumerate(ranking[:k])
            )
            ideal = sorted((2.0**g - 1 for g in grades), reverse=True)[:k]
            ideal_dcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
            if value != pytest.approx(expected) and value == pytest.approx(exponential / ideal_dcg):
                pytest.fail(
                    "Your nDCG uses exponential gains 2^grade - 1; this course (like "
                    "sklearn.metrics.ndcg_score) uses linear gains: the grade itself."
                )
            assert value == pytest.approx(expected), f"trial {trial}, k={k}"


@pytest.mark.points(
    1,
    hint="The ideal DCG sorts every graded item of relevance_by_id, also those the ranking "
    "missed; all-zero grades give nDCG 0.",
    section="metrics",
)
def test_ndcg_ideal_counts_missed_items(sub):
    value = sub.ndcg_at_k(["a", "b"], {"a": 1, "c": 2}, 2)
    if value == pytest.approx(1.0):
        pytest.fail(
            "nDCG@2 of ['a', 'b'] with grades {a: 1, c: 2} is below 1: the ideal ranking puts "
            "'c' (grade 2) first even though this ranking missed it."
        )
    assert value == pytest.approx(1.0 / (2.0 + 1.0 / np.log2(3)))
    assert sub.ndcg_at_k(["a", "b"], {"a": 0}, 2) == pytest.approx(0.0)


@pytest.mark.points(
    3,
    hint="np.argpartition(scores, n - k, axis=1) finds the k largest of each row; then sort "
    "those k by score, equal scores by lower index (a stable sort of the indices sorted first).",
    section="topk",
)
def test_top_k_matches_stable_argsort(sub):
    rng = _rng(4)
    cases = [rng.normal(size=(6, 50)), rng.integers(0, 3, size=(8, 30)).astype(np.float64)]
    cases.append(np.zeros((2, 5)))
    cases.append(rng.integers(0, 4, size=(5, 40)).astype(np.float32) / 4)
    for scores in cases:
        for k in (1, 3, 7, scores.shape[1], scores.shape[1] + 4):
            indices, values = sub.top_k(scores, k)
            indices, values = np.asarray(indices), np.asarray(values)
            if indices.dtype != np.int64 or values.dtype != scores.dtype:
                pytest.fail(
                    f"top_k returns int64 indices and values of the scores' dtype "
                    f"({scores.dtype}); received {indices.dtype} and {values.dtype}."
                )
            expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            if indices.shape != expected.shape:
                pytest.fail(
                    f"top_k(scores of shape {scores.shape}, k={k}) should return indices of "
                    f"shape {expected.shape}; received {indices.shape}."
                )
            same_sets = all(
                set(a) == set(b) for a, b in zip(indices.tolist(), expected.tolist(), strict=True)
            )
            if same_sets and not np.array_equal(indices, expected):
                row_values = np.take_along_axis(scores, indices, axis=1)
                if np.any(np.diff(row_values, axis=1) > 0):
                    pytest.fail(
                        "top_k found the right k columns but did not sort them: argpartition "
                        "leaves them in any order; sort them by decreasing score."
                    )
                pytest.fail(
                    "top_k orders equal scores wrongly: the lower column index must come first "
                    "(sort the k indices, then a stable argsort of -values)."
                )
            np.testing.assert_array_equal(indices, expected)
            np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


@pytest.mark.points(
    2,
    hint="Score a batch of queries with one matrix product queries @ database.T, then keep "
    "each row's top_k; handle the last, shorter batch.",
    section="topk",
)
def test_inner_product_search(sub):
    rng = _rng(5)
    queries = rng.normal(size=(23, 16)).astype(np.float32)
    database = rng.normal(size=(300, 16)).astype(np.float32)
    full = queries @ database.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :9]
    indices, scores = sub.inner_product_search(queries, database, 9, batch_size=5, num_threads=2)
    indices, scores = np.asarray(indices), np.asarray(scores)
    if indices.dtype != np.int64 or scores.dtype != np.float32:
        pytest.fail(
            "inner_product_search returns int64 indices and float32 scores; received "
            f"{indices.dtype} and {scores.dtype}."
        )
    # 23 queries in batches of 5: the last batch holds 3.
    if np.array_equal(indices[:20], expected[:20]) and not np.array_equal(indices, expected):
        pytest.fail("inner_product_search got the last, shorter batch (queries 20-22) wrong.")
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(
        scores, np.take_along_axis(full, expected, axis=1), rtol=1e-5, atol=1e-5
    )
    few, _ = sub.inner_product_search(queries[:2], database[:4], 10, batch_size=64, num_threads=1)
    assert np.asarray(few).shape == (2, 4)


@pytest.mark.points(
    2,
    hint="search_batch: scores = self.score(queries), top_k of each row, then "
    "(self.image_ids[index], float(score)) pairs.",
    section="topk",
)
def test_search_batch_returns_ids_and_scores(sub):
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.0, 0.0, 0.0, 0.3]])
    images = [{"id": name} for name in ("w", "x", "y", "z")]
    engine = _fixed_engine(sub, scores).index(images)
    results = engine.search_batch(["0", "1"], k=3)
    if [len(r) for r in results] != [3, 3]:
        pytest.fail(
            f"search_batch(..., k=3) over 4 images returned {[len(r) for r in results]} results "
            "per query; return min(k, N) (use the k argument)."
        )
    if [[i for i, _ in r] for r in results] == [[1, 3, 2], [3, 0, 1]]:
        pytest.fail(
            "search_batch returned column indices of the score matrix; return the indexed "
            "images' ids, self.image_ids[index]."
        )
    assert [[i for i, _ in r] for r in results] == [["x", "z", "y"], ["z", "w", "x"]]
    np.testing.assert_allclose([s for _, s in results[0]], [0.9, 0.9, 0.5])
    assert engine.search("1", k=10)[0] == ("z", pytest.approx(0.3))
    assert len(engine.search("1", k=10)) == 4


@pytest.mark.points(
    3,
    hint="Fit the vocabulary and the IDF on the pictures' documents (their captions joined), "
    "then TF-IDF the queries with that IDF and take cosine similarities.",
    section="representations",
)
def test_caption_engine_tfidf_matches_sklearn(sub):
    images = [
        {"id": 10, "captions": ["a dog on a red bike", "a small dog in a basket"]},
        {"id": 11, "captions": ["a cat on a couch", "a cat sleeping on the couch"]},
        {"id": 12, "captions": ["a red car in the snow", "a car parked on a snowy road"]},
        {"id": 13, "captions": ["two dogs playing in the park", "dogs on the grass"]},
    ]
    queries = ["dog on a bike", "a red car", "cat couch cat", "zebra", "snowy park"]
    documents = [" ".join(image["captions"]) for image in images]
    expected = _tfidf_cosines(documents, queries)
    _use_reference_text_lecture(sub)
    engine = sub.CaptionEngine("tfidf").index(images)
    scores = np.asarray(engine.score(queries))
    if scores.shape != expected.shape:
        pytest.fail(
            f"score() should return (queries, images) = {expected.shape}; got {scores.shape}."
        )
    words = " ".join(documents).split()
    frequent = sorted({w for w in words if words.count(w) >= 2})
    if np.allclose(scores, _tfidf_cosines(documents, queries, vocabulary=frequent)):
        pytest.fail(
            "Your vocabulary dropped the words seen once in the captions: build it with "
            "min_count=1."
        )
    if not np.isfinite(scores).all():
        pytest.fail(
            "score() returned NaN or inf: an unsmoothed IDF is infinite for words no document "
            "holds ([PAD], [UNK]); use the smoothed IDF (inverse_document_frequency's default)."
        )
    if np.allclose(scores, _tfidf_cosines(documents, queries, smooth_idf=False)):
        pytest.fail("Use the smoothed IDF (inverse_document_frequency's default).")
    np.testing.assert_allclose(scores, expected, atol=1e-9)
    assert [i for i, _ in engine.search("a red car", k=2)] == [12, 10]


@pytest.mark.points(
    2,
    hint="For every picture n: mean over the query words w of max over labels l of "
    "similarity[w, l] * detection_scores[n, l]; broadcast to (W, N, L).",
    section="representations",
)
def test_object_scores_match_loop(sub):
    rng = _rng(6)
    similarity = rng.uniform(0, 1, size=(3, 7))
    detections = rng.uniform(0, 1, size=(11, 7)) * (rng.random((11, 7)) < 0.4)
    expected = np.array(
        [
            np.mean([max(similarity[w, l] * detections[n, l] for l in range(7)) for w in range(3)])
            for n in range(11)
        ]
    )
    value = np.asarray(sub.object_scores(similarity, detections))
    pooled_first = [
        (similarity.sum(0) * detections).max(1),
        (similarity.mean(0) * detections).max(1),
    ]
    if value.shape == (11,) and any(np.allclose(value, v) for v in pooled_first):
        pytest.fail("Take each word's best label first (max over l), then the mean over words.")
    np.testing.assert_allclose(value, expected, rtol=1e-9)
    np.testing.assert_allclose(sub.object_scores(np.zeros((0, 7)), detections), np.zeros(11))


@pytest.mark.points(
    2,
    hint="ObjectEngine matches query words to labels by word-vector cosine; check "
    "object_scores and that index() stores one confidence per (picture, label).",
    section="representations",
)
def test_object_engine_matches_synonyms(sub):
    vectors = _word_vectors()
    images = [
        {"id": "a", "detections": [("dog", 0.9), ("bicycle", 0.8)]},
        {"id": "b", "detections": [("cat", 1.0)]},
        {"id": "c", "detections": [("car", 0.95), ("dog", 0.3)]},
        {"id": "d", "detections": [("teddy bear", 0.7)]},
    ]
    _use_reference_text_lecture(sub)
    engine = sub.ObjectEngine(vectors).index(images)
    labels = ["bicycle", "car", "cat", "dog", "teddy bear"]
    label_vectors = np.stack(
        [np.mean([vectors[w] for w in label.split()], axis=0) for label in labels]
    )
    confidence = {
        "a": {"dog": 0.9, "bicycle": 0.8},
        "b": {"cat": 1.0},
        "c": {"car": 0.95, "dog": 0.3},
        "d": {"teddy bear": 0.7},
    }
    matrix = np.array([[confidence[i].get(label, 0.0) for label in labels] for i in "abcd"])
    similarity = np.maximum(_cosine([vectors["puppy"], vectors["bike"]], label_vectors), 0)
    expected = (similarity[:, None, :] * matrix[None]).max(axis=2).mean(axis=0)
    scores = np.asarray(sub.ObjectEngine(vectors).index(images).score(["a puppy on the bike"]))
    np.testing.assert_allclose(scores[0], expected, rtol=1e-5)
    assert engine.search("a puppy on the bike", k=1)[0][0] == "a"


@pytest.mark.points(
    1,
    hint="Keep each row's `top` largest similarities (clipped at 0) and set the rest to 0; "
    "use top_k per row.",
    section="dropbox",
)
def test_sparsify_top(sub):
    rng = _rng(7)
    similarity = rng.normal(size=(5, 9))
    similarity[0, :] = -1.0
    similarity[1, 2:6] = 0.5  # A tie at the cut-off: the lower columns are kept.
    # Several values of top, not only the default, and one above C (every column is kept).
    for top in (1, 2, 3, 5, 12):
        out = np.asarray(sub.sparsify_top(similarity, top))
        expected = _sparsify_reference(similarity, top)
        if out.shape != expected.shape:
            pytest.fail(f"sparsify_top returns the shape of similarity, {expected.shape}.")
        if top != 3 and np.allclose(out, _sparsify_reference(similarity, 3)):
            pytest.fail(f"sparsify_top(similarity, top={top}) kept 3 categories: use `top`.")
        if (np.count_nonzero(out, axis=1) > top).any():
            pytest.fail(f"sparsify_top kept more than top={top} categories in a row.")
        if (out < 0).any():
            pytest.fail("sparsify_top kept a negative similarity: clip the kept values at 0.")
        np.testing.assert_allclose(out, expected, err_msg=f"top={top}")


@pytest.mark.points(
    2,
    hint="q = the mean over query words of sparsify_top(similarity) rows, shape (C,); the "
    "relevance of every picture is category_scores @ q.",
    section="dropbox",
)
def test_dropbox_scores_match_reference(sub):
    rng = _rng(8)
    similarity = rng.uniform(-0.5, 1, size=(4, 12))
    category_scores = rng.uniform(0, 1, size=(20, 12))
    for top in (3, 5):
        expected = np.zeros(20)
        for w in range(4):  # One word at a time, written out as a loop.
            q = np.zeros(12)
            keep = np.argsort(-similarity[w], kind="stable")[:top]
            q[keep] = np.maximum(similarity[w, keep], 0)
            expected += category_scores @ q / 4
        value = np.asarray(sub.dropbox_scores(similarity, category_scores, top))
        dense = category_scores @ similarity.mean(axis=0)
        if np.allclose(value, dense):
            pytest.fail(
                f"Keep only each word's top {top} categories (zero elsewhere) before the product."
            )
        if top != 3 and np.allclose(value, _dropbox_reference(similarity, category_scores, 3)):
            pytest.fail(f"dropbox_scores(..., top={top}) kept 3 categories: pass `top` on.")
        if np.allclose(value, 4 * expected):
            pytest.fail("Average the words' sparse category vectors (mean over words), not sum.")
        np.testing.assert_allclose(value, expected, rtol=1e-9, err_msg=f"top={top}")
    np.testing.assert_allclose(sub.dropbox_scores(np.zeros((0, 12)), category_scores), 0.0)


@pytest.mark.points(
    2,
    hint="ClassifierEngine: query words → category vectors by GloVe cosine (top 3), mean over "
    "words, dot with each picture's classifier scores.",
    section="dropbox",
)
def test_classifier_engine_with_real_glove(sub):
    from course_lib.models.pretrained import load_glove_50d

    glove = load_glove_50d()
    categories = ["dog", "bicycle", "cat", "car", "pizza", "teddy bear"]
    rng = _rng(9)
    scores = rng.uniform(0, 0.1, size=(6, 6)).astype(np.float32)
    for picture, category in enumerate([1, 0, 3, 4, 2, 5]):
        scores[picture, category] = 0.9
    images = [{"id": 100 + i, "category_scores": scores[i]} for i in range(6)]
    _use_reference_text_lecture(sub)
    # The student's engine gets the same vectors, loaded where its code runs.
    runner_glove = library(sub, "course_lib.models.pretrained").load_glove_50d()
    engine = sub.ClassifierEngine(runner_glove, categories=categories, top=3).index(images)
    query_vectors = np.stack([glove["puppy"], glove["bike"]])
    category_vectors = np.stack([np.mean([glove[w] for w in c.split()], 0) for c in categories])
    similarity = _cosine(query_vectors, category_vectors)
    q = np.zeros(6)
    for row in similarity:
        keep = np.argsort(-row, kind="stable")[:3]
        q[keep] += np.maximum(row[keep], 0) / 2
    expected = scores.astype(np.float64) @ q
    np.testing.assert_allclose(
        np.asarray(engine.score(["the puppy on a bike"]))[0], expected, rtol=1e-4
    )
    assert [i for i, _ in engine.search("bike", k=1)] == [100]


@pytest.mark.points(
    1,
    hint="Min-max: (s - min) / (max - min) per row; z-score: (s - mean) / std per row "
    "(ddof=0); a constant row becomes zeros.",
    section="fusion",
)
def test_normalize_scores(sub):
    rng = _rng(10)
    scores = rng.normal(size=(4, 9)) * np.array([[1.0], [50.0], [0.01], [3.0]])
    scores[3] = 2.5
    minmax = np.asarray(sub.normalize_scores(scores, "minmax"))
    if minmax.shape != scores.shape:
        pytest.fail(f"normalize_scores returns the shape of scores, {scores.shape}.")
    if np.allclose(minmax, minmax_scale(scores, axis=0)):
        pytest.fail("Normalise each row (one query over all pictures), not each column.")
    if not np.isfinite(minmax).all():
        pytest.fail("normalize_scores returned NaN or inf: a constant row becomes zeros.")
    np.testing.assert_allclose(minmax[:3], minmax_scale(scores[:3], axis=1), atol=1e-12)
    np.testing.assert_allclose(minmax[3], 0.0)
    z = np.asarray(sub.normalize_scores(scores, "zscore"))
    if not np.isfinite(z).all():
        pytest.fail("normalize_scores returned NaN or inf: a constant row becomes zeros.")
    rows = scores[:3]
    if np.allclose(
        z[:3], (rows - rows.mean(1, keepdims=True)) / rows.std(1, ddof=1, keepdims=True)
    ):
        pytest.fail("z-scores divide by the population standard deviation (ddof=0), not ddof=1.")
    expected = (rows - rows.mean(1, keepdims=True)) / rows.std(1, keepdims=True)
    np.testing.assert_allclose(z[:3], expected, atol=1e-12)
    np.testing.assert_allclose(z[3], 0.0)


@pytest.mark.points(
    2,
    hint="Normalise each engine's (Q, N) scores per query before the weighted sum; raw scores "
    "on different scales let the largest scale win.",
    section="fusion",
)
def test_fuse_scores_normalises_before_summing(sub):
    rng = _rng(11)
    small = rng.uniform(0, 0.3, size=(3, 10))
    large = rng.uniform(0, 200, size=(3, 10))
    fused = np.asarray(sub.fuse_scores([small, large], [2.0, 0.5], "minmax"))
    if np.allclose(fused, 2.0 * small + 0.5 * large):
        pytest.fail(
            "fuse_scores added the raw scores: normalise each matrix per query "
            "(normalize_scores) before weighting and summing."
        )
    expected = 2.0 * minmax_scale(small, axis=1) + 0.5 * minmax_scale(large, axis=1)
    if np.allclose(fused, minmax_scale(small, axis=1) + minmax_scale(large, axis=1)):
        pytest.fail("fuse_scores ignored the weights: multiply each normalised matrix by its own.")
    np.testing.assert_allclose(fused, expected, atol=1e-12)
    unweighted = np.asarray(sub.fuse_scores([small, large]))
    np.testing.assert_allclose(
        unweighted, minmax_scale(small, axis=1) + minmax_scale(large, axis=1), atol=1e-12
    )

    def zscore(rows):
        return (rows - rows.mean(1, keepdims=True)) / rows.std(1, keepdims=True)

    fused = np.asarray(sub.fuse_scores([small, large], [2.0, 0.5], "zscore"))
    if np.allclose(fused, expected):
        pytest.fail("fuse_scores(..., method='zscore') min-max normalised: pass `method` on.")
    np.testing.assert_allclose(fused, 2.0 * zscore(small) + 0.5 * zscore(large), atol=1e-12)


@pytest.mark.points(
    2,
    hint="evaluate_engine: rankings from engine.search_batch(queries, k), then mAP@k, MRR@k, "
    "mean Recall@k, mean Precision@k and (with graded) mean nDCG@k.",
    section="competition",
)
def test_evaluate_engine(sub):
    rng = _rng(12)
    scores = rng.normal(size=(5, 30))
    images = [{"id": 1000 + i} for i in range(30)]
    engine = _fixed_engine(sub, scores).index(images)
    relevant = [{1000 + int(i) for i in rng.permutation(30)[: int(rng.integers(1, 6))]}]
    relevant += [{1000 + int(i) for i in rng.permutation(30)[:3]} for _ in range(4)]
    graded = [{i: int(rng.integers(1, 3)) for i in r} for r in relevant]
    queries = [str(q) for q in range(5)]
    report = sub.evaluate_engine(engine, queries, relevant, 10, graded)
    expected = _expected_report(scores, relevant, graded, 10)
    if sorted(report) != sorted(expected):
        pytest.fail(f"evaluate_engine returns the keys {sorted(expected)}; got {sorted(report)}.")
    binary = _expected_report(scores, relevant, [dict.fromkeys(r, 1) for r in relevant], 10)
    if report["ndcg"] != pytest.approx(expected["ndcg"]) and report["ndcg"] == pytest.approx(
        binary["ndcg"]
    ):
        pytest.fail("nDCG uses the grades of `graded`, not 0/1 relevance from `relevant`.")
    for name, value in expected.items():
        assert report[name] == pytest.approx(value), name
    # A cut-off above the default K (a smaller one would hide a search with K: every metric cuts
    # the rankings at k); without graded relevance there is no "ndcg".
    report = sub.evaluate_engine(engine, queries, relevant, 15)
    expected = _expected_report(scores, relevant, None, 15)
    if report == pytest.approx(_expected_report(scores, relevant, None, 15, depth=10)):
        pytest.fail("evaluate_engine(..., k=15) searched only the top 10: search with k, not K.")
    if sorted(report) != sorted(expected):
        pytest.fail(
            f"Without graded, evaluate_engine returns {sorted(expected)}; got {sorted(report)}."
        )
    for name, value in expected.items():
        assert report[name] == pytest.approx(value), f"{name}, k=15"


def _expected_report(scores, relevant, graded, k, depth=None):
    """The metrics @k of the stable-argsort rankings of ``scores`` cut at ``depth`` (default k)."""
    depth = k if depth is None else depth
    rankings = [[1000 + int(i) for i in np.argsort(-row, kind="stable")[:depth]] for row in scores]
    pairs = list(zip(rankings, relevant, strict=True))
    first = [
        next((1 / (r + 1) for r, i in enumerate(ranking[:k]) if i in rel), 0.0)
        for ranking, rel in pairs
    ]
    hits = [sum(i in rel for i in ranking[:k]) for ranking, rel in pairs]
    expected = {
        "map": np.mean([_ap_reference(r, s, k) for r, s in pairs]),
        "mrr": np.mean(first),
        "recall": np.mean([h / len(s) for h, s in zip(hits, relevant, strict=True)]),
        "precision": np.mean(hits) / k,
    }
    if graded is not None:
        full = np.array(
            [[g.get(1000 + i, 0) for i in range(scores.shape[1])] for g in graded], float
        )
        expected["ndcg"] = ndcg_score(full, scores, k=k)
    return expected
