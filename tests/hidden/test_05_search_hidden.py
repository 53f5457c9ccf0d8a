"""Hidden tests of Lecture 05 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_05_search.py``, whose helpers they reuse); their messages never reach
students. The references (``references_05.py``): scikit-learn's metrics, TF-IDF and scaling,
numpy's stable argsort and loops over ranks.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from course_lib.grading.expected import module_at, public_tests

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
