"""Hidden tests of Lecture 05 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_05_search.py``, whose helpers they reuse); their messages never reach
students. The references (``references_05.py``): scikit-learn's metrics, TF-IDF and scaling,
numpy's stable argsort and loops over ranks.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import average_precision_score, ndcg_score

from course_lib.grading.access import arguments_after, float_errors_raised
from course_lib.grading.compare import assert_close, plain_float
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_05.py"))
public = public_tests("05")


@pytest.mark.points(1, hint="Ranking metrics of other rankings.", section="metrics")
def test_ranking_metrics_on_other_rankings(sub):
    rng = public._rng(60)
    rankings, relevant = public._random_rankings(rng, queries=9, items=25)
    for k in (2, 8, 40):
        expected = np.mean([ref.ap(r, s, k) for r, s in zip(rankings, relevant, strict=True)])
        assert sub.mean_average_precision_at_k(rankings, relevant, k) == pytest.approx(expected)
        for r, s in zip(rankings, relevant, strict=True):
            assert sub.average_precision_at_k(r, s, k) == pytest.approx(ref.ap(r, s, k))
    for _ in range(5):
        n = int(rng.integers(3, 30))
        labels = (rng.random(n) < 0.4).astype(int)
        labels[0] = 1
        scores = rng.normal(size=n)
        ranking = [int(i) for i in np.argsort(-scores, kind="stable")]
        relevant_ids = {int(i) for i in np.flatnonzero(labels)}
        expected = average_precision_score(labels, scores)
        assert sub.average_precision_at_k(ranking, relevant_ids, n) == pytest.approx(expected)
        grades = rng.integers(0, 5, size=n)
        by_id = {i: int(g) for i, g in enumerate(grades)}
        for k in (2, n):
            expected = ndcg_score([grades], [scores], k=k)
            assert sub.ndcg_at_k(ranking, by_id, k) == pytest.approx(expected)


@pytest.mark.points(1, hint="Top k of other scores.", section="topk")
def test_top_k_and_search_on_other_scores(sub):
    rng = public._rng(61)
    scores = rng.integers(0, 5, size=(7, 33)).astype(np.float64)
    for k in (2, 11, 40):
        indices, values = sub.top_k(scores, k)
        np.testing.assert_array_equal(indices, ref.top_k(scores, k))
    queries = rng.normal(size=(11, 8)).astype(np.float32)
    database = rng.normal(size=(97, 8)).astype(np.float32)
    indices, _ = sub.inner_product_search(queries, database, 5, batch_size=4, num_threads=1)
    np.testing.assert_array_equal(indices, ref.top_k(queries @ database.T, 5))


@pytest.mark.points(1, hint="Category scores of other inputs.", section="dropbox")
def test_dropbox_and_fusion_on_other_inputs(sub):
    rng = public._rng(62)
    similarity = rng.normal(size=(3, 8))
    category_scores = rng.uniform(0, 1, size=(9, 8))
    for top in (1, 4, 8):
        np.testing.assert_allclose(sub.sparsify_top(similarity, top), ref.sparsify(similarity, top))
        np.testing.assert_allclose(
            sub.dropbox_scores(similarity, category_scores, top),
            ref.dropbox(similarity, category_scores, top),
            rtol=1e-9,
        )
    detections = rng.uniform(0, 1, size=(6, 8))
    np.testing.assert_allclose(
        sub.object_scores(np.abs(similarity), detections),
        ref.object_scores(np.abs(similarity), detections),
        rtol=1e-9,
    )
    a, b = rng.normal(size=(4, 6)) * 9, rng.uniform(size=(4, 6))
    np.testing.assert_allclose(sub.normalize_scores(a, "zscore"), ref.zscore(a), atol=1e-12)
    np.testing.assert_allclose(sub.normalize_scores(a, "minmax"), ref.minmax(a), atol=1e-12)
    np.testing.assert_allclose(
        sub.fuse_scores([a, b], [0.3, 1.7], "minmax"),
        0.3 * ref.minmax(a) + 1.7 * ref.minmax(b),
        atol=1e-12,
    )


@pytest.mark.points(1, hint="An engine's report on other scores.", section="competition")
def test_evaluate_engine_on_other_scores(sub):
    rng = public._rng(63)
    scores = rng.normal(size=(4, 20))
    engine = public._fixed_engine(sub, scores).index([{"id": 1000 + i} for i in range(20)])
    relevant = [{1000 + int(i) for i in rng.permutation(20)[:4]} for _ in range(4)]
    graded = [{i: int(rng.integers(1, 4)) for i in r} for r in relevant]
    report = sub.evaluate_engine(engine, [str(q) for q in range(4)], relevant, 6, graded)
    for name, value in ref.report(scores, relevant, graded, 6).items():
        assert report[name] == pytest.approx(value), name


# Property tests on generated inputs (Hypothesis, derandomised by GRADING: same grade always).

IDS = st.integers(0, 9)  # Few ids, so rankings repeat some and relevant sets overlap them.


@st.composite
def ranked_queries(draw):
    """1-3 queries: (ranking with repeats, relevant set, grade by id), and a cut-off k."""
    queries = []
    for _ in range(draw(st.integers(1, 3))):
        ranking = draw(st.lists(IDS, max_size=12))
        relevant = draw(st.sets(IDS, max_size=5))
        grades = draw(st.dictionaries(IDS, st.sampled_from([0, 1, 2, 3, 0.5]), max_size=6))
        queries.append((ranking, relevant, grades))
    return queries, draw(st.integers(1, 14))


@pytest.mark.points(1, hint="Ranking metrics of generated rankings.", section="metrics")
@GRADING
@given(case=ranked_queries())
def test_ranking_metrics_on_generated_rankings(sub, case):
    queries, k = case
    for ranking, relevant, grades in queries:
        pair = (ranking, relevant)
        checks = {
            "precision_at_k": (sub.precision_at_k(*pair, k), ref.precision(*pair, k)),
            "recall_at_k": (sub.recall_at_k(*pair, k), ref.recall(*pair, k)),
            "average_precision_at_k": (sub.average_precision_at_k(*pair, k), ref.ap(*pair, k)),
            "reciprocal_rank": (sub.reciprocal_rank(*pair, k), ref.reciprocal_rank(*pair, k)),
            "reciprocal_rank, k None": (sub.reciprocal_rank(*pair), ref.reciprocal_rank(*pair)),
            "ndcg_at_k": (sub.ndcg_at_k(ranking, grades, k), ref.ndcg(ranking, grades, k)),
        }
        for name, (value, expected) in checks.items():
            value = plain_float(value, what=f"{name}({ranking}, ..., k={k})")
            assert value == pytest.approx(expected, abs=1e-12), name
    rankings, relevant = [q[0] for q in queries], [q[1] for q in queries]
    expected = np.mean([ref.ap(r, s, k) for r, s in zip(rankings, relevant, strict=True)])
    value = plain_float(sub.mean_average_precision_at_k(rankings, relevant, k), what="mAP@k")
    assert value == pytest.approx(expected, abs=1e-12)


@st.composite
def scored_items(draw):
    """Distinct scores of n items, 0/1 labels with at least one 1, grades 0-3, and a k."""
    n = draw(st.integers(1, 12))
    scores = draw(
        hnp.arrays(np.float64, n, elements=st.floats(-10, 10, allow_subnormal=False), unique=True)
    )
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    labels[draw(st.integers(0, n - 1))] = 1
    grades = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 3)))
    return scores, labels, grades, draw(st.integers(1, n + 3))


@pytest.mark.points(1, hint="AP and nDCG of generated scores.", section="metrics")
@GRADING
@given(case=scored_items())
def test_ap_and_ndcg_match_sklearn_on_generated_scores(sub, case):
    scores, labels, grades, k = case
    ranking = [int(i) for i in np.argsort(-scores, kind="stable")]
    relevant = {int(i) for i in np.flatnonzero(labels)}
    value = plain_float(sub.average_precision_at_k(ranking, relevant, len(scores)), what="AP@n")
    assert value == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    by_id = {i: int(g) for i, g in enumerate(grades)}
    expected = (
        ndcg_score([grades], [scores], k=k) if len(scores) > 1 else ref.ndcg(ranking, by_id, k)
    )
    value = plain_float(sub.ndcg_at_k(ranking, by_id, k), what=f"nDCG@{k}")
    assert value == pytest.approx(expected, abs=1e-12)


@st.composite
def score_matrices(draw):
    """(Q, N) scores with many ties (multiples of 1/4), float32 or float64, and a k."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(0, 4)), draw(st.integers(1, 12)))
    values = draw(hnp.arrays(np.float64, shape, elements=st.integers(-3, 3).map(lambda v: v / 4)))
    return values.astype(dtype), draw(st.integers(1, shape[1] + 3))


@pytest.mark.points(1, hint="Top k of generated scores with ties.", section="topk")
@GRADING
@given(case=score_matrices())
def test_top_k_on_generated_scores(sub, case):
    scores, k = case
    (indices, values), args, _ = arguments_after(sub.top_k, scores.copy(), k)
    assert np.array_equal(args[0], scores)
    expected = ref.top_k(scores, k)
    assert_close(indices, expected, rtol=0, dtype=np.int64, shape=expected.shape)
    taken = np.take_along_axis(scores, expected, axis=1)
    assert_close(values, taken, rtol=0, dtype=scores.dtype, shape=expected.shape)


@st.composite
def engine_scores(draw):
    """2-3 (Q, N) score matrices, some rows constant, float32 or float64; weights; a method."""
    q, n = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    matrices = []
    for _ in range(draw(st.integers(1, 3))):
        values = draw(hnp.arrays(np.float64, (q, n), elements=st.integers(-20, 20)))
        scale = draw(st.sampled_from([1e-6, 0.1, 1.0, 300.0]))
        matrices.append((values * scale).astype(draw(st.sampled_from([np.float32, np.float64]))))
    weights = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, -1.0, 2.5]), min_size=len(matrices),
                            max_size=len(matrices)))  # fmt: skip
    return matrices, weights, draw(st.sampled_from(["minmax", "zscore"]))


@pytest.mark.points(1, hint="Normalised and fused scores of generated engines.", section="fusion")
@GRADING
@given(case=engine_scores())
def test_normalize_and_fuse_on_generated_scores(sub, case):
    matrices, weights, method = case
    normalise = ref.minmax if method == "minmax" else ref.zscore
    wide = [m.astype(np.float64) for m in matrices]
    with float_errors_raised(sub):
        out, args, _ = arguments_after(sub.normalize_scores, matrices[0].copy(), method)
        fused, fused_args, _ = arguments_after(
            sub.fuse_scores, [m.copy() for m in matrices], list(weights), method
        )
    assert np.array_equal(args[0], matrices[0])
    assert all(np.array_equal(a, m) for a, m in zip(fused_args[0], matrices, strict=True))
    assert_close(out, normalise(wide[0]), atol=1e-9, rtol=0, dtype=np.float64)
    expected = sum(w * normalise(m) for w, m in zip(weights, wide, strict=True))
    assert_close(fused, expected, atol=1e-9, rtol=0, dtype=np.float64)


SIMILARITIES = st.sampled_from([-0.5, -0.1, 0.0, 0.2, 0.2, 0.5, 0.9, 1.0])  # Ties and negatives.


@st.composite
def word_matrices(draw):
    """Similarities (W, C) with ties and negatives (W may be 0), scores (N, C), and a top."""
    words, columns, pictures = (
        draw(st.integers(0, 4)),
        draw(st.integers(1, 7)),
        draw(st.integers(1, 6)),
    )
    similarity = draw(hnp.arrays(np.float64, (words, columns), elements=SIMILARITIES))
    scores = draw(hnp.arrays(np.float64, (pictures, columns), elements=st.floats(0, 1)))
    return similarity, scores, draw(st.integers(1, columns + 2))


@pytest.mark.points(
    1, hint="Sparse, Dropbox and object scores of generated inputs.", section="dropbox"
)
@GRADING
@given(case=word_matrices())
def test_dropbox_and_object_scores_on_generated_inputs(sub, case):
    similarity, scores, top = case
    with float_errors_raised(sub):
        sparse, args, _ = arguments_after(sub.sparsify_top, similarity.copy(), top)
        relevance = sub.dropbox_scores(similarity.copy(), scores.copy(), top)
        objects = sub.object_scores(similarity.copy(), scores.copy())
    assert np.array_equal(args[0], similarity)
    empty = similarity.size == 0
    expected = ref.sparsify(similarity, top)
    if empty:
        assert np.asarray(sparse).shape == similarity.shape
    else:
        assert_close(sparse, expected, rtol=0, atol=1e-15, dtype="float")
    n = len(scores)
    assert_close(relevance, ref.dropbox(similarity, scores, top), atol=1e-12, shape=(n,))
    assert_close(objects, ref.object_scores(similarity, scores), atol=1e-12, shape=(n,))
