"""Autograder for Lecture 05, the image search engine.

References: hand-worked values, and expected values stored as data
(``tests/autograder/expected/05_search.json``, which the instructor's references compute on the
fixed inputs built here: scikit-learn's ``average_precision_score``, ``ndcg_score``,
``TfidfVectorizer`` and ``minmax_scale``, numpy's stable ``argsort``, loops over ranks and
pictures; ``camp generate`` writes it), with small word vectors built here (plus the real GloVe
6B 50d, which loads offline). Each test calls the student's module ``sub``.

The engines call Lecture 04's functions through ``text_lecture()``. The sandboxed runner cannot
read the course checkout, so under ``camp`` the tests point ``text_lecture`` at Lecture 04's
solution (``lecture_module("04", prefer_student=False)``): its pure text and vector functions,
loaded here in the judge, which the student's code calls back. Under nbgrader the notebook's own
``text_lecture`` is used, as before.
"""

import functools
import warnings

import numpy as np
import pytest

from course_lib.grading.access import arguments_after, float_errors_raised, library
from course_lib.grading.compare import assert_close, plain_array
from course_lib.grading.expected import load
from course_lib.grading.remote import Handle


def _rng(offset=0):
    return np.random.default_rng(505 + offset)


def _expected(name):
    """The reference's values for test ``name``, stored as data (see the module docstring)."""
    return load("05")[name]


def _random_rankings(rng, queries=12, items=40):
    rankings, relevant = [], []
    for q in range(queries):
        length = int(rng.integers(0, 25))
        rankings.append([int(i) for i in rng.permutation(items)[:length]])
        count = 0 if q == 0 else int(rng.integers(1, 12))
        relevant.append({int(i) for i in rng.permutation(items)[:count]})
    return rankings, relevant


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


def _fixed_engine(sub, scores, convert=None, received=None):
    """A SearchEngine of the student's base class whose scores are a fixed (Q, N) matrix.

    The subclass is made where the student's class lives; its two methods are functions of this
    file (called back from the runner), so the scores come from here. ``score`` returns rows of
    ``scores`` (the queries are row numbers), passed through ``convert`` when given (another
    dtype, a list of lists), and appends the type name of the queries it got to ``received``.
    """

    def encode_images(self, images):
        return None

    def score(self, queries):
        if received is not None:
            received.append(type(queries).__name__)
        rows = np.stack([scores[int(q)] for q in queries])
        return rows if convert is None else convert(rows)

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
def _lecture_04_functions():
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


def _use_lecture_04(sub):
    """Under camp, make the student's ``text_lecture()`` return Lecture 04's solution."""
    if not isinstance(sub, Handle):
        return  # nbgrader: the notebook's own text_lecture() reads the checkout.
    text = library(sub, "types").SimpleNamespace(**_lecture_04_functions())
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
    # Two of the three relevant items in the top 2: recall 2/3, not 2/min(3, 2).
    capped = sub.recall_at_k([1, 5, 3], relevant, 2)
    if capped == pytest.approx(1.0):
        pytest.fail(
            "recall_at_k([1, 5, 3], {1, 5, 7}, k=2) returned 1.0: Recall@K divides the hits by "
            "all relevant items (3), even when K is smaller than that."
        )
    assert capped == pytest.approx(2 / 3)
    short = sub.precision_at_k([1], {1}, 4)
    if short == pytest.approx(1.0):
        pytest.fail(
            "precision_at_k([1], {1}, k=4) returned 1.0: Precision@K divides by K (4), even "
            "when the ranking is shorter than K."
        )
    assert short == pytest.approx(0.25)
    assert sub.recall_at_k([1, 2], set(), 2) == pytest.approx(0.0)
    assert sub.precision_at_k([1, 2], set(), 2) == pytest.approx(0.0)
    assert sub.precision_at_k([], {1}, 3) == pytest.approx(0.0)
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
    # Hits at ranks 1 and 3 of 4 relevant items: the sum over min(4, 5), not over the 2 hits.
    value = sub.average_precision_at_k([1, 2, 3, 4, 5], {1, 3, 6, 7}, 5)
    if value == pytest.approx((1 + 2 / 3) / 2):
        pytest.fail(
            "AP@5 with 4 relevant items, 2 of them retrieved, divides by min(m, K) = 4, not by "
            "the number of hits (2): missing a relevant item must cost."
        )
    # The only hits beyond the cut-off do not count: ranking [1, 2, 3, 4, 5], relevant {1, 5}.
    cut = sub.average_precision_at_k([1, 2, 3, 4, 5], {1, 5}, 3)
    if cut == pytest.approx((1 + 2 / 5) / 2):
        pytest.fail(
            "average_precision_at_k([1, 2, 3, 4, 5], {1, 5}, k=3) counted the hit at rank 5: "
            "only the first k ranks count."
        )
    assert cut == pytest.approx(1 / 2)
    assert one == pytest.approx(0.5)
    assert perfect == pytest.approx(1.0)
    assert two == pytest.approx((1 / 2 + 2 / 3) / 2)
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


def _ap_cases():
    """Twenty rankings of random scores: (ranking, relevant, labels, scores)."""
    rng, cases = _rng(1), []
    for _ in range(20):
        n = int(rng.integers(5, 60))
        labels = (rng.random(n) < 0.3).astype(int)
        labels[rng.integers(n)] = 1
        scores = rng.normal(size=n)
        ranking = [int(i) for i in np.argsort(-scores, kind="stable")]
        cases.append((ranking, {int(i) for i in np.flatnonzero(labels)}, labels, scores))
    return cases


@pytest.mark.points(
    2,
    hint="With K covering every item, AP@K equals scikit-learn's average_precision_score.",
    section="metrics",
)
def test_average_precision_matches_sklearn(sub):
    # scikit-learn's average_precision_score of each case, stored.
    expected_values = _expected("average_precision_sklearn")
    for (ranking, relevant, _, _), expected in zip(_ap_cases(), expected_values, strict=True):
        n = len(ranking)
        for k in (n, n + 5):
            assert sub.average_precision_at_k(ranking, relevant, k) == pytest.approx(expected)


@pytest.mark.points(
    2,
    hint="The mean over every query of its AP@K (the same value as average_precision_at_k, "
    "computed for all queries at once); a query without relevant items counts as 0.",
    section="metrics",
)
def test_mean_average_precision_matches_loop(sub):
    rankings, relevant = _random_rankings(_rng(2))
    for k in (1, 5, 10, 30):
        reference = _expected("mean_average_precision")[str(k)]  # A loop over ranks, stored.
        expected, skipped = reference["out"], reference["skipped"]
        try:
            with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
                value = sub.mean_average_precision_at_k(rankings, relevant, k)
        except FloatingPointError as error:
            pytest.fail(
                f"mean_average_precision_at_k made numpy warn ({error}): a query without "
                "relevant ids has AP 0, found without dividing 0 by 0."
            )
        if value != pytest.approx(expected) and value == pytest.approx(skipped):
            pytest.fail(
                "mean_average_precision_at_k skipped the query without relevant ids: it counts as "
                "AP 0 in the mean over all queries."
            )
        if value != pytest.approx(expected) and value == pytest.approx(reference["by_m"]):
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
    assert sub.reciprocal_rank([1, 2], set(), k=5) == pytest.approx(0.0)
    assert sub.reciprocal_rank([7, 8, 9, 1], {9, 1}, k=3) == pytest.approx(1 / 3)


def _ndcg_cases():
    """Fifteen graded rankings: (ranking, grade by id, grades, scores)."""
    rng, cases = _rng(3), []
    for _ in range(15):
        n = int(rng.integers(4, 40))
        grades = rng.integers(0, 4, size=n)
        grades[rng.integers(n)] = 2
        scores = rng.normal(size=n)
        ranking = [f"img{i}" for i in np.argsort(-scores, kind="stable")]
        cases.append((ranking, {f"img{i}": int(g) for i, g in enumerate(grades)}, grades, scores))
    return cases


@pytest.mark.points(
    3,
    hint="nDCG as the lecture and scikit-learn's ndcg_score define it, with linear gains (the "
    "grade itself) and the ideal ranking of every graded item.",
    section="metrics",
)
def test_ndcg_matches_sklearn(sub):
    references = _expected("ndcg")  # scikit-learn's ndcg_score of each case, stored.
    for trial, (case, reference) in enumerate(zip(_ndcg_cases(), references, strict=True)):
        ranking, by_id, grades, _ = case
        for k in (1, 3, 10, len(grades)):
            expected, exponential = reference[str(k)]["out"], reference[str(k)]["exponential"]
            value = sub.ndcg_at_k(ranking, by_id, k)
            if value != pytest.approx(expected) and value == pytest.approx(exponential):
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
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            zeros = [
                sub.ndcg_at_k(["a", "b"], {"a": 0}, 2),
                sub.ndcg_at_k(["a", "b"], {}, 2),
                sub.ndcg_at_k([], {"a": 1}, 2),
            ]
    except FloatingPointError as error:
        pytest.fail(
            f"ndcg_at_k made numpy warn ({error}) when every grade is 0: the nDCG is 0 then, "
            "found without dividing 0 by 0."
        )
    assert zeros == [pytest.approx(0.0)] * 3, "nDCG when every grade is 0, or none is retrieved"
    # A ranking shorter than k, with fractional grades: DCG 0.5 / log2(3) over the ideal
    # 1.5 + 0.5 / log2(3) + 0.25 / 2 (three graded items; "b" was not retrieved).
    short = sub.ndcg_at_k(["z", "a"], {"a": 0.5, "b": 1.5, "c": 0.25, "z": 0}, 5)
    assert short == pytest.approx((0.5 / np.log2(3)) / (1.5 + 0.5 / np.log2(3) + 0.25 / 2))


_BAD_KS = (0, -1, True, 2.0)  # Cut-offs the metrics refuse: not an integer >= 1.


def _metric_calls(sub):
    """Each ranking metric on one fixed ranking, as a function of k, with its value at k = 2.

    Ranking [3, 1, 4], relevant {1, 4} (grades 1: 2, 4: 1): the top 2 holds one hit, at rank 2.
    """
    ranking, relevant, grades = [3, 1, 4], {1, 4}, {1: 2, 4: 1}
    return {
        "precision_at_k": (lambda k: sub.precision_at_k(ranking, relevant, k), 1 / 2),
        "recall_at_k": (lambda k: sub.recall_at_k(ranking, relevant, k), 1 / 2),
        "average_precision_at_k": (
            lambda k: sub.average_precision_at_k(ranking, relevant, k),
            (1 / 2) / 2,
        ),
        "mean_average_precision_at_k": (
            lambda k: sub.mean_average_precision_at_k([ranking], [relevant], k),
            (1 / 2) / 2,
        ),
        "reciprocal_rank": (lambda k: sub.reciprocal_rank(ranking, relevant, k), 1 / 2),
        "ndcg_at_k": (
            lambda k: sub.ndcg_at_k(ranking, grades, k),
            (2 / np.log2(3)) / (2 + 1 / np.log2(3)),
        ),
    }


@pytest.mark.points(
    1,
    hint="Every ranking metric refuses a cut-off k that is not an integer >= 1 (0, a negative "
    "number, a float, a bool) with a ValueError, as the docstrings say; a numpy integer is an "
    "integer.",
    section="metrics",
)
def test_ranking_metrics_refuse_a_bad_k(sub):
    for name, (call, expected) in _metric_calls(sub).items():
        value = call(np.int64(2))
        assert value == pytest.approx(expected), f"{name}(..., k=np.int64(2))"
        for k in _BAD_KS:
            try:
                value = call(k)
            except ValueError:
                continue
            except Exception as error:  # noqa: BLE001 - the student's exception, named below.
                pytest.fail(
                    f"{name}(..., k={k!r}) raised {type(error).__name__} ({error}); a k that is "
                    "not an integer >= 1 raises ValueError (the lecture's _check_k(k) does it)."
                )
            pytest.fail(
                f"{name}(..., k={k!r}) returned {value!r}; a k that is not an integer >= 1 "
                "raises ValueError (the lecture's _check_k(k) does it)."
            )
    assert sub.reciprocal_rank([3, 1, 4], {1, 4}, None) == pytest.approx(1 / 2)


@pytest.mark.points(
    1,
    hint="An id listed twice counts once, at its first occurrence: drop the later repeats "
    "first (the lecture's _unique), then cut the ranking at k.",
    section="metrics",
)
def test_metrics_count_a_repeated_id_once(sub):
    # The first occurrences of [5, 5, 1] are [5, 1], of [1, 1, 2] [1, 2], of [2, 2, 4, 3]
    # [2, 4, 3]. The cases tell this from counting every occurrence and from a set of the top k.
    cases = {
        "precision_at_k([1, 1, 2], {1, 2}, k=2)": (
            sub.precision_at_k([1, 1, 2], {1, 2}, 2),
            1.0,
        ),
        "recall_at_k([5, 5, 1], {1}, k=2)": (sub.recall_at_k([5, 5, 1], {1}, 2), 1.0),
        "recall_at_k([1, 1, 2], {1, 3}, k=3)": (sub.recall_at_k([1, 1, 2], {1, 3}, 3), 0.5),
        "average_precision_at_k([5, 5, 1], {1}, k=2)": (
            sub.average_precision_at_k([5, 5, 1], {1}, 2),
            0.5,
        ),
        "mean_average_precision_at_k([[5, 5, 1], [2, 2, 4, 3]], [{1}, {2, 3}], k=3)": (
            sub.mean_average_precision_at_k([[5, 5, 1], [2, 2, 4, 3]], [{1}, {2, 3}], 3),
            (0.5 + (1 + 2 / 3) / 2) / 2,
        ),
        "reciprocal_rank([5, 5, 1], {1})": (sub.reciprocal_rank([5, 5, 1], {1}), 0.5),
        "reciprocal_rank([5, 5, 1], {1}, k=2)": (sub.reciprocal_rank([5, 5, 1], {1}, 2), 0.5),
        "ndcg_at_k(['a', 'a', 'b'], {'a': 2, 'b': 1}, k=2)": (
            sub.ndcg_at_k(["a", "a", "b"], {"a": 2, "b": 1}, 2),
            1.0,
        ),
    }
    for call, (value, expected) in cases.items():
        if value != pytest.approx(expected):
            pytest.fail(
                f"{call} returned {value!r}, expected {expected!r}: an id listed twice counts "
                "only at its first occurrence (keep the first occurrences, in order, then cut "
                "at k)."
            )


def _top_k_cases():
    rng = _rng(4)
    cases = [rng.normal(size=(6, 50)), rng.integers(0, 3, size=(8, 30)).astype(np.float64)]
    cases.append(np.zeros((2, 5)))
    cases.append(rng.integers(0, 4, size=(5, 40)).astype(np.float32) / 4)
    # Values one float unit apart (np.nextafter) beside exact ties: an epsilon added to break
    # ties, or a sort in another precision, reorders them.
    x, x32 = 0.1, np.float32(0.3)
    up, down = np.nextafter(x, 1.0), np.nextafter(x, -1.0)
    cases.append(np.array([[x, up, x, down, up, x, -5.0, 7.0], [down, x, up, x, down, up, x, x]]))
    up32, down32 = np.nextafter(x32, np.float32(1)), np.nextafter(x32, np.float32(0))
    cases.append(np.array([[x32, up32, x32, down32, x32, up32, down32]], dtype=np.float32))
    return cases


@pytest.mark.points(
    3,
    hint="The k best of each row, best first; equal scores keep the lower index first, and a "
    "full sort of every row is not needed.",
    section="topk",
)
def test_top_k_matches_stable_argsort(sub):
    for scores, reference in zip(_top_k_cases(), _expected("top_k"), strict=True):
        for k in (1, 3, 7, scores.shape[1], scores.shape[1] + 4):
            indices, values = sub.top_k(scores, k)
            indices, values = np.asarray(indices), np.asarray(values)
            if indices.dtype != np.int64 or values.dtype != scores.dtype:
                pytest.fail(
                    f"top_k returns int64 indices and values of the scores' dtype "
                    f"({scores.dtype}); received {indices.dtype} and {values.dtype}."
                )
            expected = np.asarray(reference[str(k)])  # numpy's stable argsort, stored.
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
                rises = np.diff(row_values.astype(np.float64), axis=1)
                if np.any(rises > 0) and np.all(rises[rises > 0] < 1e-6):
                    pytest.fail(
                        "top_k orders scores one rounding step apart as if they were equal: sort "
                        f"in the scores' own precision ({scores.dtype}), with no epsilon added."
                    )
                if np.any(rises > 0):
                    pytest.fail(
                        "top_k found the right k columns but did not sort them: argpartition "
                        "leaves them in any order; sort them by decreasing score."
                    )
                pytest.fail(
                    "top_k orders equal scores wrongly: the lower column index must come first."
                )
            np.testing.assert_array_equal(indices, expected)
            np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


@pytest.mark.points(
    1,
    hint="top_k leaves the scores it is given unchanged (negate or sort a copy), returns "
    "(Q, min(k, N)) arrays for a batch without queries and for a single column, and accepts a "
    "numpy integer k.",
    section="topk",
)
def test_top_k_boundaries(sub):
    scores = _rng(13).normal(size=(3, 6))
    (indices, values), args, _ = arguments_after(sub.top_k, scores.copy(), 4)
    if not np.array_equal(args[0], scores):
        pytest.fail("top_k changed the scores it was given (in place): negate or sort a copy.")
    expected = np.asarray(_expected("top_k_boundaries"))  # numpy's stable argsort, stored.
    assert_close(indices, expected, rtol=0, dtype=np.int64, what="top_k(scores, 4)'s indices")
    assert_close(values, np.take_along_axis(scores, expected, axis=1), rtol=0, dtype=np.float64)
    indices, values = sub.top_k(np.zeros((0, 5)), 3)
    plain_array(
        indices, what="top_k of 0 rows: the indices", dtype=np.int64, shape=(0, 3), empty=True
    )
    plain_array(
        values, what="top_k of 0 rows: the values", dtype=np.float64, shape=(0, 3), empty=True
    )
    indices, values = sub.top_k(np.array([[2.0], [-1.0]]), 4)
    assert_close(indices, [[0], [0]], rtol=0, dtype=np.int64, what="top_k of one column")
    assert_close(values, [[2.0], [-1.0]], rtol=0, dtype=np.float64, what="top_k of one column")
    indices, _ = sub.top_k(scores, np.int64(2))
    assert_close(
        indices, expected[:, :2], rtol=0, dtype=np.int64, what="top_k(scores, np.int64(2))"
    )


def _search_inputs():
    rng = _rng(5)
    queries = rng.normal(size=(23, 16)).astype(np.float32)
    return queries, rng.normal(size=(300, 16)).astype(np.float32)


@pytest.mark.points(
    2,
    hint="Score each batch of queries against the whole database at once, keep each row's "
    "top_k, and handle the last, shorter batch.",
    section="topk",
)
def test_inner_product_search(sub):
    queries, database = _search_inputs()
    reference = _expected("inner_product_search")
    expected = np.asarray(reference["indices"])
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
    np.testing.assert_allclose(scores, reference["scores"], rtol=1e-5, atol=1e-5)
    few, _ = sub.inner_product_search(queries[:2], database[:4], 10, batch_size=64, num_threads=1)
    assert np.asarray(few).shape == (2, 4)
    # float64 queries, and more threads than a batch has rows (some threads get no rows).
    try:
        more, more_scores = sub.inner_product_search(
            queries.astype(np.float64), database, 9, batch_size=3, num_threads=4
        )
    except (ValueError, ZeroDivisionError, IndexError) as error:
        pytest.fail(
            f"inner_product_search(..., batch_size=3, num_threads=4) raised "
            f"{type(error).__name__} ({error}): with more threads than rows in a batch, some "
            "threads get no rows."
        )
    if np.asarray(more).shape != expected.shape:
        pytest.fail(
            "inner_product_search(..., batch_size=3, num_threads=4) returned indices of shape "
            f"{np.asarray(more).shape}, expected {expected.shape}: a thread may get no rows."
        )
    assert_close(more, expected, rtol=0, dtype=np.int64, what="The indices (num_threads=4)")
    assert_close(more_scores, reference["scores"], rtol=1e-5, atol=1e-5, dtype=np.float32)
    none, none_scores = sub.inner_product_search(queries[:0], database, 3)
    plain_array(none, what="The indices of 0 queries", dtype=np.int64, shape=(0, 3), empty=True)
    plain_array(
        none_scores, what="The scores of 0 queries", dtype=np.float32, shape=(0, 3), empty=True
    )


def _blocks_by_query(blocks, full, what):
    """The query numbers of each ``top_k`` call's rows, matched by their scores (no empty call)."""
    calls = []
    for block in blocks:
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != full.shape[1]:
            pytest.fail(
                f"{what} called top_k on scores of shape {block.shape}; each query's scores "
                f"against all {full.shape[1]} database rows go through top_k."
            )
        gaps = np.abs(block[:, None, :] - full[None, :, :]).max(axis=2)  # (rows, Q)
        if len(block) and gaps.min(axis=1).max() > 1e-3:
            pytest.fail(f"{what} called top_k on scores that are not rows of queries @ database.T.")
        if len(block):
            calls.append([int(q) for q in gaps.argmin(axis=1)])
    return calls


@pytest.mark.points(
    1,
    hint="inner_product_search scores at most batch_size queries at a time and splits each "
    "batch's rows evenly among at most num_threads calls of top_k, one per thread.",
    section="topk",
)
def test_inner_product_search_batches_and_threads(sub):
    queries, database = _search_inputs()
    expected = np.asarray(_expected("inner_product_search")["indices"])
    full = queries.astype(np.float64) @ database.T.astype(np.float64)  # (23, 300)
    probes = library(sub, "course_lib.grading.probes.lecture_05")
    # 23 queries: batches of 5, 5, 5, 5, 3 rows; of 10, 10, 3 (fewer rows than threads); of 7,
    # 7, 7, 2 with one thread (one top_k call per batch).
    for batch_size, threads in ((5, 2), (10, 4), (7, 1)):
        what = f"inner_product_search(..., batch_size={batch_size}, num_threads={threads})"
        (indices, _), blocks = probes.top_k_blocks(
            sub.inner_product_search, queries, database, 9, batch_size=batch_size,
            num_threads=threads,
        )  # fmt: skip
        assert_close(indices, expected, rtol=0, dtype=np.int64, what=f"{what}'s indices")
        calls = _blocks_by_query(blocks, full, what)
        if sorted(q for call in calls for q in call) != list(range(len(queries))):
            pytest.fail(
                f"{what} gave top_k the queries {sorted(q for call in calls for q in call)}: "
                "each query's scores go through top_k exactly once."
            )
        for call in calls:
            if len({q // batch_size for q in call}) > 1:
                pytest.fail(
                    f"{what} gave one top_k call the queries {call}, from more than one batch: "
                    "score and select at most batch_size queries at a time."
                )
        for start in range(0, len(queries), batch_size):
            rows = min(batch_size, len(queries) - start)
            sizes = sorted(len(c) for c in calls if c[0] // batch_size == start // batch_size)
            if len(sizes) > threads or max(sizes, default=0) > -(-rows // threads):
                pytest.fail(
                    f"{what} split the {rows} queries of the batch starting at query {start} into "
                    f"top_k calls of {sizes} rows: give each of the num_threads threads an even "
                    "share of the batch's rows (no more calls than threads)."
                )


@pytest.mark.points(
    2,
    hint="search_batch ranks each query's scores with top_k and returns the indexed images' "
    "ids with their scores, not column numbers.",
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
    1,
    hint="search_batch hands score() the queries as a list, ranks whatever numbers score() "
    "returns (float32, a list of lists, bools) as float64 scores, and names the images by the "
    "ids in the order they were indexed.",
    section="topk",
)
def test_search_batch_takes_any_scores(sub):
    # Ids not in sorted order; equal scores must come in index order (30 before 20).
    ids = [30, 10, 20, 40, 50]
    scores = np.array([[0.25, 0.75, 0.25, 0.75, 0.5], [1.0, 0.0, 0.0, 1.0, 0.5]])
    conversions = {
        "float32 scores": lambda rows: rows.astype(np.float32),
        "scores as a list of lists": lambda rows: rows.tolist(),
        "bool scores (a match or not)": lambda rows: rows > 0.4,
    }
    expected = {
        "float32 scores": [
            [(10, 0.75), (40, 0.75), (50, 0.5), (30, 0.25)],
            [(30, 1.0), (40, 1.0), (50, 0.5), (10, 0.0)],
        ],
        "bool scores (a match or not)": [
            [(10, 1.0), (40, 1.0), (50, 1.0), (30, 0.0)],
            [(30, 1.0), (40, 1.0), (50, 1.0), (10, 0.0)],
        ],
    }
    expected["scores as a list of lists"] = expected["float32 scores"]
    for kind, convert in conversions.items():
        received = []
        engine = _fixed_engine(sub, scores, convert, received).index([{"id": i} for i in ids])
        try:
            results = engine.search_batch(("0", "1"), k=4)
        except TypeError as error:
            pytest.fail(
                f"With {kind}, search_batch raised TypeError ({error}): make the engine's scores "
                "a float64 array before ranking them."
            )
        if received != ["list"]:
            pytest.fail(
                f"search_batch called score() with {received} queries; score(queries) takes a "
                "list (make one of any sequence of queries it is given)."
            )
        got = [[(i, s) for i, s in row] for row in results]
        if not all(isinstance(s, float) for row in got for _, s in row):
            pytest.fail(
                f"With {kind}, search_batch returned scores of types "
                f"{sorted({type(s).__name__ for row in got for _, s in row})}: return Python "
                "floats (rank the engine's scores as float64)."
            )
        id_types = sorted({type(i).__name__ for row in got for i, _ in row})
        if id_types != ["int"]:
            pytest.fail(
                f"search_batch returned ids of types {id_types}: "
                "return the indexed ids themselves (Python ints here), not values taken from a "
                "numpy array of them."
            )
        if got != expected[kind]:
            pytest.fail(
                f"With {kind}, search_batch returned {got}, expected {expected[kind]}: rank the "
                "engine's scores as float64 numbers, whatever score() returns."
            )
    # 60 pictures with only four distinct scores: ties straddle the cut-off and fill the top 25.
    many = _search_ties()
    engine = _fixed_engine(sub, many).index([{"id": 100 + i} for i in range(60)])
    got = [[i for i, _ in row] for row in engine.search_batch(["0", "1"], k=25)]
    expected_ids = (100 + np.asarray(_expected("search_batch_ties"))).tolist()  # Stable argsort.
    if got != expected_ids:
        pytest.fail(
            "search_batch over 60 pictures with many equal scores returned another order than a "
            "stable ranking: equal scores come in the order the pictures were indexed (top_k "
            "does it; numpy's default argsort does not)."
        )


def _search_ties():
    """(2, 60) scores of four distinct values, so many are equal."""
    return _rng(15).integers(0, 4, size=(2, 60)) / 4


CAPTION_IMAGES = [
    {"id": 10, "captions": ["a dog on a red bike", "a small dog in a basket"]},
    {"id": 11, "captions": ["a cat on a couch", "a cat sleeping on the couch"]},
    {"id": 12, "captions": ["a red car in the snow", "a car parked on a snowy road"]},
    {"id": 13, "captions": ["two dogs playing in the park", "dogs on the grass"]},
]
CAPTION_QUERIES = ["dog on a bike", "a red car", "cat couch cat", "zebra", "snowy park"]


@pytest.mark.points(
    3,
    hint="Fit the vocabulary and the IDF on the pictures' documents (their captions joined), "
    "then TF-IDF the queries with that IDF and take cosine similarities.",
    section="representations",
)
def test_caption_engine_tfidf_matches_sklearn(sub):
    images, queries = CAPTION_IMAGES, CAPTION_QUERIES
    reference = _expected("caption_engine")  # scikit-learn's TfidfVectorizer's cosines.
    expected = np.asarray(reference["out"])
    _use_lecture_04(sub)
    engine = sub.CaptionEngine("tfidf").index(images)
    scores = np.asarray(engine.score(queries))
    if scores.shape != expected.shape:
        pytest.fail(
            f"score() should return (queries, images) = {expected.shape}; got {scores.shape}."
        )
    if np.allclose(scores, reference["frequent_words"]):
        pytest.fail(
            "Your vocabulary dropped the words seen once in the captions: build it with "
            "min_count=1."
        )
    if not np.isfinite(scores).all():
        pytest.fail(
            "score() returned NaN or inf: an unsmoothed IDF is infinite for words no document "
            "holds ([PAD], [UNK]); use the smoothed IDF (inverse_document_frequency's default)."
        )
    if np.allclose(scores, reference["unsmoothed"]):
        pytest.fail("Use the smoothed IDF (inverse_document_frequency's default).")
    np.testing.assert_allclose(scores, expected, atol=1e-9)
    assert [i for i, _ in engine.search("a red car", k=2)] == [12, 10]


def _object_inputs():
    rng = _rng(6)
    similarity = rng.uniform(0, 1, size=(3, 7))
    return similarity, rng.uniform(0, 1, size=(11, 7)) * (rng.random((11, 7)) < 0.4)


@pytest.mark.points(
    2,
    hint="Each query word keeps its best label for a picture; then average over the words "
    "(the docstring gives the order); no Python loops are needed.",
    section="representations",
)
def test_object_scores_match_loop(sub):
    similarity, detections = _object_inputs()
    reference = _expected("object_scores")  # A loop over pictures, words and labels, stored.
    expected = np.asarray(reference["out"])
    value = np.asarray(sub.object_scores(similarity, detections))
    if value.shape == (11,) and any(np.allclose(value, v) for v in reference["pooled_first"]):
        pytest.fail("Take each word's best label first (max over l), then the mean over words.")
    np.testing.assert_allclose(value, expected, rtol=1e-9)
    np.testing.assert_allclose(sub.object_scores(np.zeros((0, 7)), detections), np.zeros(11))


OBJECT_LABELS = ["bicycle", "car", "cat", "dog", "teddy bear"]


def _object_matrix():
    """The confidence of each label (OBJECT_LABELS) in each picture a, b, c, d."""
    confidence = {
        "a": {"dog": 0.9, "bicycle": 0.8},
        "b": {"cat": 1.0},
        "c": {"car": 0.95, "dog": 0.3},
        "d": {"teddy bear": 0.7},
    }
    return np.array([[confidence[i].get(label, 0.0) for label in OBJECT_LABELS] for i in "abcd"])


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
    _use_lecture_04(sub)
    engine = sub.ObjectEngine(vectors).index(images)
    expected = np.asarray(_expected("object_engine"))  # For "a puppy on the bike".
    scores = np.asarray(sub.ObjectEngine(vectors).index(images).score(["a puppy on the bike"]))
    np.testing.assert_allclose(scores[0], expected, rtol=1e-5)
    assert engine.search("a puppy on the bike", k=1)[0][0] == "a"


def _sparsify_inputs():
    similarity = _rng(7).normal(size=(5, 9))
    similarity[0, :] = -1.0
    similarity[1, 2:6] = 0.5  # A tie at the cut-off: the lower columns are kept.
    return similarity


@pytest.mark.points(
    1,
    hint="Each row keeps only its `top` largest similarities, never below 0, and zeros "
    "elsewhere; ties at the cut-off keep the lower columns.",
    section="dropbox",
)
def test_sparsify_top(sub):
    similarity = _sparsify_inputs()
    reference = _expected("sparsify_top")
    # Several values of top, not only the default, and one above C (every column is kept).
    for top in (1, 2, 3, 5, 12):
        out = np.asarray(sub.sparsify_top(similarity, top))
        expected = np.asarray(reference[str(top)])
        if out.shape != expected.shape:
            pytest.fail(f"sparsify_top returns the shape of similarity, {expected.shape}.")
        if top != 3 and np.allclose(out, reference["3"]):
            pytest.fail(f"sparsify_top(similarity, top={top}) kept 3 categories: use `top`.")
        if (np.count_nonzero(out, axis=1) > top).any():
            pytest.fail(f"sparsify_top kept more than top={top} categories in a row.")
        if (out < 0).any():
            pytest.fail("sparsify_top kept a negative similarity: clip the kept values at 0.")
        np.testing.assert_allclose(out, expected, err_msg=f"top={top}")


@pytest.mark.points(
    1,
    hint="sparsify_top works on a copy of the similarities (never in place), keeps `top` = "
    "TOP_CATEGORIES by default, and handles a single word and category, and no words at all.",
    section="dropbox",
)
def test_sparsify_top_boundaries(sub):
    similarity = _sparsify_inputs()
    out, args, _ = arguments_after(sub.sparsify_top, similarity.copy())
    if not np.array_equal(args[0], similarity):
        pytest.fail(
            "sparsify_top changed the similarities it was given (in place): zero and clip a new "
            "array."
        )
    assert_close(out, _expected("sparsify_top")["3"], rtol=1e-12, what="sparsify_top(similarity)")
    for given, kept in (([[0.4]], [[0.4]]), ([[-0.4]], [[0.0]])):
        value = sub.sparsify_top(np.array(given), 3)
        assert_close(value, kept, rtol=0, what=f"sparsify_top({given}, top=3)")
    value = sub.sparsify_top(np.zeros((0, 4)), 2)
    plain_array(value, what="sparsify_top of 0 words", dtype="float", shape=(0, 4), empty=True)


def _dropbox_inputs():
    rng = _rng(8)
    similarity = rng.uniform(-0.5, 1, size=(4, 12))
    return similarity, rng.uniform(0, 1, size=(20, 12))


@pytest.mark.points(
    2,
    hint="The query becomes one vector of category weights (each word's sparse categories, "
    "averaged over the words), and every picture is scored against it.",
    section="dropbox",
)
def test_dropbox_scores_match_reference(sub):
    similarity, category_scores = _dropbox_inputs()
    reference = _expected("dropbox_scores")  # A loop over the words, stored.
    for top in (3, 5):
        expected = np.asarray(reference[str(top)])
        value = np.asarray(sub.dropbox_scores(similarity, category_scores, top))
        if np.allclose(value, reference["dense"]):
            pytest.fail(
                f"Keep only each word's top {top} categories (zero elsewhere) before the product."
            )
        if top != 3 and np.allclose(value, reference["3"]):
            pytest.fail(f"dropbox_scores(..., top={top}) kept 3 categories: pass `top` on.")
        if np.allclose(value, 4 * expected):
            pytest.fail("Average the words' sparse category vectors (mean over words), not sum.")
        np.testing.assert_allclose(value, expected, rtol=1e-9, err_msg=f"top={top}")
    default = sub.dropbox_scores(similarity, category_scores)
    assert_close(default, reference["3"], rtol=1e-9, what="dropbox_scores with the default top")
    # No known word (W = 0): one zero per picture (20 pictures, 12 categories).
    none = sub.dropbox_scores(np.zeros((0, 12)), category_scores)
    assert_close(none, np.zeros(20), rtol=0, what="dropbox_scores of a query without words")


def _classifier_inputs():
    """(GloVe, categories, (pictures, categories) classifier scores)."""
    from course_lib.models.pretrained import load_glove_50d

    categories = ["dog", "bicycle", "cat", "car", "pizza", "teddy bear"]
    scores = _rng(9).uniform(0, 0.1, size=(6, 6)).astype(np.float32)
    for picture, category in enumerate([1, 0, 3, 4, 2, 5]):
        scores[picture, category] = 0.9
    return load_glove_50d(), categories, scores


@pytest.mark.points(
    2,
    hint="ClassifierEngine: query words → category vectors by GloVe cosine (top 3), mean over "
    "words, dot with each picture's classifier scores.",
    section="dropbox",
)
def test_classifier_engine_with_real_glove(sub):
    _, categories, scores = _classifier_inputs()
    images = [{"id": 100 + i, "category_scores": scores[i]} for i in range(6)]
    _use_lecture_04(sub)
    # The student's engine gets the same vectors, loaded where its code runs.
    runner_glove = library(sub, "course_lib.models.pretrained").load_glove_50d()
    engine = sub.ClassifierEngine(runner_glove, categories=categories, top=3).index(images)
    expected = np.asarray(_expected("classifier_engine"))  # For "the puppy on a bike".
    np.testing.assert_allclose(
        np.asarray(engine.score(["the puppy on a bike"]))[0], expected, rtol=1e-4
    )
    assert [i for i, _ in engine.search("bike", k=1)] == [100]


def _normalize_inputs():
    scores = _rng(10).normal(size=(4, 9)) * np.array([[1.0], [50.0], [0.01], [3.0]])
    scores[3] = 2.5
    return scores


@pytest.mark.points(
    1,
    hint="Each row (one query over all pictures) is normalised on its own, as the docstring "
    "defines min-max and z-scores (the population standard deviation); a constant row "
    "becomes zeros.",
    section="fusion",
)
def test_normalize_scores(sub):
    scores = _normalize_inputs()
    reference = _expected("normalize_scores")  # scikit-learn's minmax_scale and z-scores.
    minmax = np.asarray(sub.normalize_scores(scores, "minmax"))
    if minmax.shape != scores.shape:
        pytest.fail(f"normalize_scores returns the shape of scores, {scores.shape}.")
    if np.allclose(minmax, reference["minmax_columns"]):
        pytest.fail("Normalise each row (one query over all pictures), not each column.")
    if not np.isfinite(minmax).all():
        pytest.fail("normalize_scores returned NaN or inf: a constant row becomes zeros.")
    np.testing.assert_allclose(minmax[:3], reference["minmax"], atol=1e-12)
    np.testing.assert_allclose(minmax[3], 0.0)
    z = np.asarray(sub.normalize_scores(scores, "zscore"))
    if not np.isfinite(z).all():
        pytest.fail("normalize_scores returned NaN or inf: a constant row becomes zeros.")
    if np.allclose(z[:3], reference["zscore_ddof_1"]):
        pytest.fail("z-scores divide by the population standard deviation (ddof=0), not ddof=1.")
    np.testing.assert_allclose(z[:3], reference["zscore"], atol=1e-12)
    np.testing.assert_allclose(z[3], 0.0)


def _normalize_boundary_inputs():
    """Rows with a spread of 1e-9 (not constant), constant (0.1), negative, and one outlier."""
    rng = _rng(14)
    return np.stack(
        [
            3.0 + 1e-9 * rng.uniform(size=7),
            np.full(7, 0.1),  # Constant, though its computed mean and std round off.
            -100.0 * rng.uniform(size=7),
            np.eye(7)[2],
        ]
    )


@pytest.mark.points(
    1,
    hint="normalize_scores: min-max by default; a constant row (or a single picture) gives "
    "zeros without dividing 0 by 0, a row with a tiny spread is still spread over [0, 1], the "
    "scores given are not changed, and the result is float64.",
    section="fusion",
)
def test_normalize_scores_boundaries(sub):
    scores = _normalize_boundary_inputs()
    reference = _expected("normalize_boundaries")  # scikit-learn's minmax_scale and z-scores.
    for method in ("minmax", "zscore"):
        try:
            with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
                out, args, _ = arguments_after(sub.normalize_scores, scores.copy(), method)
        except FloatingPointError as error:
            pytest.fail(
                f"normalize_scores(..., {method!r}) made numpy warn ({error}) on a constant row: "
                "divide only where the spread is above 0, rather than cleaning NaN afterwards."
            )
        if not np.array_equal(args[0], scores):
            pytest.fail(
                "normalize_scores changed the scores it was given (in place): compute on a copy."
            )
        expected = np.asarray(reference[method])
        out = plain_array(out, what=f"normalize_scores(..., {method!r})", shape=scores.shape)
        if not np.all(out[1] == 0.0):
            pytest.fail(
                f"normalize_scores(..., {method!r}) of a constant row of seven 0.1 gave "
                f"{out[1][0]:.3g}...: its computed mean rounds off 0.1, which leaves a standard "
                "deviation and differences of about 1e-17, not 0; a row whose scores are all "
                "equal becomes exact zeros."
            )
        if np.allclose(out[0], 0.0):
            pytest.fail(
                f"normalize_scores(..., {method!r}) turned a row whose scores differ by about "
                "1e-9 into zeros: only a constant row (spread exactly 0) becomes zeros, and no "
                "epsilon is added to the spread."
            )
        assert_close(out, expected, atol=1e-6, rtol=0, dtype=np.float64, what=f"{method} scores")
    default = sub.normalize_scores(scores)
    assert_close(default, reference["minmax"], atol=1e-6, rtol=0, what="normalize_scores(scores)")
    single = sub.normalize_scores(np.array([[5.0], [-2.0]]), "zscore")
    assert_close(single, [[0.0], [0.0]], rtol=0, dtype=np.float64, what="Scores of one picture")
    # float32 scores give float64 values: (1, 2, 4) min-max is (0, 1/3, 1).
    small = sub.normalize_scores(np.array([[1.0, 2.0, 4.0]], dtype=np.float32))
    assert_close(small, [[0.0, 1 / 3, 1.0]], rtol=1e-15, dtype=np.float64, what="float32 scores")


def _fuse_inputs():
    rng = _rng(11)
    return rng.uniform(0, 0.3, size=(3, 10)), rng.uniform(0, 200, size=(3, 10))


@pytest.mark.points(
    2,
    hint="Normalise each engine's (Q, N) scores per query before the weighted sum; raw scores "
    "on different scales let the largest scale win.",
    section="fusion",
)
def test_fuse_scores_normalises_before_summing(sub):
    small, large = _fuse_inputs()
    reference = _expected("fuse_scores")
    fused = np.asarray(sub.fuse_scores([small, large], [2.0, 0.5], "minmax"))
    if np.allclose(fused, reference["raw"]):
        pytest.fail(
            "fuse_scores added the raw scores: normalise each matrix per query "
            "(normalize_scores) before weighting and summing."
        )
    expected = np.asarray(reference["minmax"])
    if np.allclose(fused, reference["unweighted"]):
        pytest.fail("fuse_scores ignored the weights: multiply each normalised matrix by its own.")
    np.testing.assert_allclose(fused, expected, atol=1e-12)
    unweighted = np.asarray(sub.fuse_scores([small, large]))
    np.testing.assert_allclose(unweighted, reference["unweighted"], atol=1e-12)
    fused = np.asarray(sub.fuse_scores([small, large], [2.0, 0.5], "zscore"))
    if np.allclose(fused, expected):
        pytest.fail("fuse_scores(..., method='zscore') min-max normalised: pass `method` on.")
    np.testing.assert_allclose(fused, reference["zscore"], atol=1e-12)


@pytest.mark.points(
    1,
    hint="fuse_scores works for one engine as for several, takes the weights as any sequence "
    "(a zero weight leaves an engine out, a negative one counts against it), never changes "
    "the score matrices it is given and never divides 0 by 0.",
    section="fusion",
)
def test_fuse_scores_boundaries(sub):
    small, large = _fuse_inputs()
    reference = _expected("fuse_scores")
    single = sub.fuse_scores([small])
    assert_close(single, reference["single"], atol=1e-12, rtol=0, what="fuse_scores([scores])")
    for weights in ((2.0, 0.5), np.array([2.0, 0.5])):
        fused = sub.fuse_scores([small, large], weights)
        assert_close(fused, reference["minmax"], atol=1e-12, rtol=0, what="Weights as a sequence")
    fused = sub.fuse_scores([small, large], [0.0, 1.0])
    assert_close(fused, reference["large_only"], atol=1e-12, rtol=0, what="A zero weight")
    fused = sub.fuse_scores([small, large], [-1.0, 1.0], "zscore")
    assert_close(fused, reference["against"], atol=1e-12, rtol=0, what="A negative weight")
    # An engine whose second query scores every picture the same, in float32.
    flat = large.astype(np.float32)
    flat[1] = 7.0
    given = [flat.copy(), small.copy()]  # float32 first: the sum is float64 all the same.
    try:
        with float_errors_raised(sub):  # numpy's warnings raise where the student's code runs.
            fused, args, _ = arguments_after(sub.fuse_scores, given, [3.0, 1.0], "zscore")
    except FloatingPointError as error:
        pytest.fail(
            f"fuse_scores made numpy warn ({error}) on a constant row: normalize_scores turns "
            "it into zeros without dividing by 0."
        )
    if not (np.array_equal(args[0][0], flat) and np.array_equal(args[0][1], small)):
        pytest.fail("fuse_scores changed the score matrices it was given (in place).")
    assert_close(fused, reference["flat"], atol=1e-6, rtol=0, dtype=np.float64, what="fused")


def _engine_inputs():
    """(5, 30) scores of a fixed engine, the relevant ids and their grades per query."""
    rng = _rng(12)
    scores = rng.normal(size=(5, 30))
    relevant = [{1000 + int(i) for i in rng.permutation(30)[: int(rng.integers(1, 6))]}]
    relevant += [{1000 + int(i) for i in rng.permutation(30)[:3]} for _ in range(4)]
    return scores, relevant, [{i: int(rng.integers(1, 3)) for i in r} for r in relevant]


@pytest.mark.points(
    2,
    hint="evaluate_engine: the engine's rankings of all queries at depth k, then mAP@k, MRR@k, "
    "mean Recall@k, mean Precision@k and (with graded) mean nDCG@k.",
    section="competition",
)
def test_evaluate_engine(sub):
    scores, relevant, graded = _engine_inputs()
    images = [{"id": 1000 + i} for i in range(30)]
    engine = _fixed_engine(sub, scores).index(images)
    queries = [str(q) for q in range(5)]
    reference = _expected("evaluate_engine")  # The metrics of stable-argsort rankings.
    report = sub.evaluate_engine(engine, queries, relevant, 10, graded)
    expected = reference["graded"]
    if sorted(report) != sorted(expected):
        pytest.fail(f"evaluate_engine returns the keys {sorted(expected)}; got {sorted(report)}.")
    binary = reference["binary"]
    if report["ndcg"] != pytest.approx(expected["ndcg"]) and report["ndcg"] == pytest.approx(
        binary["ndcg"]
    ):
        pytest.fail("nDCG uses the grades of `graded`, not 0/1 relevance from `relevant`.")
    for name, value in expected.items():
        assert report[name] == pytest.approx(value), name
    # A cut-off above the default K (a smaller one would hide a search with K: every metric cuts
    # the rankings at k); without graded relevance there is no "ndcg".
    report = sub.evaluate_engine(engine, queries, relevant, 15)
    expected = reference["k15"]
    if report == pytest.approx(reference["k15_depth10"]):
        pytest.fail("evaluate_engine(..., k=15) searched only the top 10: search with k, not K.")
    if sorted(report) != sorted(expected):
        pytest.fail(
            f"Without graded, evaluate_engine returns {sorted(expected)}; got {sorted(report)}."
        )
    for name, value in expected.items():
        assert report[name] == pytest.approx(value), f"{name}, k=15"
    # The first query has no relevant picture (each of its metrics is 0, never NaN, and counts
    # in every mean), and k = 40 is above the 30 indexed pictures.
    report = sub.evaluate_engine(engine, queries, [set(), *relevant[1:]], 40, [{}, *graded[1:]])
    expected = reference["no_relevant_k40"]
    if sorted(report) != sorted(expected):
        pytest.fail(f"evaluate_engine returns the keys {sorted(expected)}; got {sorted(report)}.")
    for name, value in expected.items():
        if report[name] != pytest.approx(value) and report[name] == pytest.approx(
            reference["no_relevant_skipped"][name]
        ):
            pytest.fail(
                f"evaluate_engine left the query without relevant pictures out of the mean "
                f"{name}: it counts, with {name} 0."
            )
        assert report[name] == pytest.approx(value), f"{name}, a query without relevant ids"
    # k = 2, below the number of relevant pictures of most queries (3).
    report = sub.evaluate_engine(engine, queries, relevant, 2, graded)
    for name, value in reference["k2"].items():
        assert report[name] == pytest.approx(value), f"{name}, k=2"
    # Four pictures, all relevant to the query; its top 1 is picture 4: Precision@1 1, Recall@1
    # 1/4, AP@1 1, RR 1 (relevant ids are a set, the ranking a list: they are not interchangeable).
    few = _fixed_engine(sub, np.array([[0.1, 0.2, 0.3, 0.9]])).index(
        [{"id": i} for i in range(1, 5)]
    )
    report = sub.evaluate_engine(few, ["0"], [{1, 2, 3, 4}], 1)
    expected = {"map": 1.0, "mrr": 1.0, "recall": 0.25, "precision": 1.0}
    if sorted(report) != sorted(expected):
        pytest.fail(f"evaluate_engine returns the keys {sorted(expected)}; got {sorted(report)}.")
    for name, value in expected.items():
        assert report[name] == pytest.approx(value), f"{name} of a top 1 among 4 relevant"
    # One grade dict too few: the lists disagree on the number of queries.
    with pytest.raises(ValueError):
        sub.evaluate_engine(engine, queries, relevant, 10, graded[:4])
