"""The competition's ranking metrics, taken from Lecture 05's reference solutions (Lecture 05).

There is one implementation of each metric: the functions of ``solutions/05_search.py``
(``lecture_module("05", prefer_student=False)``), which students write and test against
scikit-learn in that lecture. For one query, with its ranked image ids (best first) and the grade
(0/1/2) of every picture:

- binary relevance: a picture is relevant when its grade is 2 (it matches the whole query); a
  partial match (grade 1) counts as not relevant, except in nDCG;
- ``map@10``: AP@10 as Kaggle defines it, the sum of precision@i over the ranks i <= 10 holding a
  relevant picture, divided by min(number relevant, 10); averaged over queries. The leaderboard
  ranks by it;
- ``recall@K``: the fraction of the query's relevant pictures found in the top K;
- ``mrr``: 1 / rank of the first relevant picture in the whole list (0 if none), averaged;
- ``ndcg@10``: DCG@10 with the grades as linear gains, over the DCG@10 of the ideal order of all
  graded pictures (as scikit-learn's ``ndcg_score``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType

RELEVANT_GRADE = 2
METRICS = ("map@10", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")


@cache
def lecture() -> ModuleType:
    """Return the reference module of Lecture 05, which holds the metric functions."""
    from course_lib.student.lectures import lecture_module

    return lecture_module("05", prefer_student=False, quiet=True)


def relevant_set(grades: Mapping[str, int]) -> set[str]:
    """Return the ids whose grade counts as relevant for the binary metrics (grade 2)."""
    return {iid for iid, g in grades.items() if g >= RELEVANT_GRADE}


def query_metrics(ranked: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    """Return every competition metric of one query's ranking."""
    lec, ranked, relevant = lecture(), list(ranked), relevant_set(grades)
    return {
        "map@10": lec.average_precision_at_k(ranked, relevant, 10),
        "recall@1": lec.recall_at_k(ranked, relevant, 1),
        "recall@5": lec.recall_at_k(ranked, relevant, 5),
        "recall@10": lec.recall_at_k(ranked, relevant, 10),
        "mrr": lec.reciprocal_rank(ranked, relevant),
        "ndcg@10": lec.ndcg_at_k(ranked, dict(grades), 10),
    }


def mean_metrics(
    rankings: Mapping[str, Sequence[str]], truth: Mapping[str, Mapping[str, int]], ids: list[str]
) -> dict[str, float]:
    """Return each metric averaged over the queries ``ids`` (0 for every metric if none)."""
    sums = dict.fromkeys(METRICS, 0.0)
    for qid in ids:
        for name, value in query_metrics(rankings.get(qid, []), truth[qid]).items():
            sums[name] += value
    return {name: total / len(ids) if ids else 0.0 for name, total in sums.items()}
