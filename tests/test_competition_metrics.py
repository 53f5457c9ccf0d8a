"""Competition scores: Lecture 05's metrics, checked against scikit-learn and worked examples."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from course_lib.competition import metrics
from course_lib.competition.scoring import (
    load_solution,
    perfect_rankings,
    score_file,
    score_rankings,
    write_submission,
)
from course_lib.errors import CourseError

FIXTURE = Path(__file__).parent / "fixtures" / "competition"


def test_metrics_come_from_the_lecture_05_reference():
    assert Path(metrics.lecture().__file__).name == "05_search.py"
    assert Path(metrics.lecture().__file__).parent.name == "solutions"


def test_worked_example():
    # Relevant (grade 2): a, c; partial (grade 1): b. Ranking: b a x c.
    grades = {"a": 2, "b": 1, "c": 2}
    got = metrics.query_metrics(["b", "a", "x", "c"], grades)
    assert got["map@10"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert got["recall@1"] == 0.0
    assert got["recall@5"] == 1.0 and got["recall@10"] == 1.0
    assert got["mrr"] == pytest.approx(0.5)
    dcg = 1 / np.log2(2) + 2 / np.log2(3) + 2 / np.log2(5)
    ideal = 2 / np.log2(2) + 2 / np.log2(3) + 1 / np.log2(4)
    assert got["ndcg@10"] == pytest.approx(dcg / ideal)


def test_average_precision_cut_at_10_divides_by_min_of_relevant_and_10():
    relevant = {f"r{i}" for i in range(12)}
    ranking = [f"r{i}" for i in range(10)]  # Ten hits out of twelve relevant.
    assert metrics.query_metrics(ranking, dict.fromkeys(relevant, 2))["map@10"] == 1.0
    ranking = ["x"] + ranking[:9]
    expected = sum(k / (k + 1) for k in range(1, 10)) / 10
    assert metrics.query_metrics(ranking, dict.fromkeys(relevant, 2))["map@10"] == pytest.approx(
        expected
    )


def test_against_scikit_learn_on_full_rankings():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 9  # With at most 10 pictures, AP@10 and nDCG@10 see the whole ranking.
        grades = rng.integers(0, 3, n)
        grades[rng.integers(n)] = 2
        scores = rng.permutation(n).astype(float)
        ids = [str(i) for i in range(n)]
        ranking = [ids[i] for i in np.argsort(-scores)]
        got = metrics.query_metrics(ranking, {ids[i]: int(g) for i, g in enumerate(grades)})
        assert got["map@10"] == pytest.approx(average_precision_score(grades == 2, scores))
        assert got["ndcg@10"] == pytest.approx(ndcg_score([grades], [scores], k=10))


def test_partial_matches_count_only_in_ndcg():
    got = metrics.query_metrics(["b"], {"a": 2, "b": 1})
    assert got["map@10"] == 0 and got["mrr"] == 0 and got["recall@10"] == 0
    assert got["ndcg@10"] > 0


def test_fixture_scores_public_and_private(tmp_path):
    solution = load_solution(FIXTURE)
    assert solution.ids("public") == ["q1"] and solution.ids("private") == ["q2", "q3"]
    rankings = {"q1": ["102", "101"], "q2": ["103", "106", "104"], "q3": []}
    scores = score_rankings(rankings, solution)
    assert scores["public"]["map@10"] == pytest.approx(0.5)
    assert scores["private"]["map@10"] == pytest.approx((1 + 2 / 3) / 2 / 2)
    assert scores["all"]["map@10"] == pytest.approx((0.5 + 5 / 6 + 0) / 3)
    path = tmp_path / "sub.csv"
    write_submission(path, rankings, solution.query_ids)
    assert score_file(path, solution) == scores


def test_perfect_submission_scores_one(tmp_path):
    solution = load_solution(FIXTURE / "solution.json")
    scores = score_rankings(perfect_rankings(solution), solution)
    # Recall@1 of q2 (two relevant pictures) can only reach 1/2.
    assert scores["all"].pop("recall@1") == pytest.approx((1 + 0.5 + 1) / 3)
    assert all(v == pytest.approx(1.0) for v in scores["all"].values())


def test_missing_solution_is_a_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no solution.json there"):
        load_solution(tmp_path)
