"""Load a competition's hidden solution and score submissions (the Lecture 05 competition).

The leaderboard metric is mAP@10 with binary relevance: a picture is relevant to a query when its
scene graph fully matches the query (grade 2); partial matches (grade 1) count as not relevant.
Recall@1/5/10, MRR and nDCG@10 (with the grades 0/1/2 as gains) are reported next to it. Scores
are averaged over the public queries (30%, shown during the competition), the private ones (70%,
revealed at the end) and all queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from course_lib.competition import metrics
from course_lib.competition.validate import read_submission
from course_lib.errors import CourseError

PRIMARY = "map@10"
USAGES = ("public", "private", "all")


@dataclass(frozen=True)
class Solution:
    """The hidden truth of a competition: queries, gallery ids, grades and public/private use."""

    path: Path
    query_ids: list[str]
    image_ids: list[str]
    texts: dict[str, str]
    grades: dict[str, dict[str, int]]
    usage: dict[str, str]
    queries: list[dict]
    max_ids: int

    def ids(self, usage: str) -> list[str]:
        """Return the query ids of ``usage``: public, private or all."""
        return [q for q in self.query_ids if usage == "all" or self.usage[q] == usage]


def solution_file(where: str | Path) -> Path:
    """Return solution.json given it, its folder or the competition folder."""
    where = Path(where)
    for candidate in (where, where / "solution.json", where / "solution" / "solution.json"):
        if candidate.is_file():
            return candidate
    raise CourseError(
        f"{where}: no solution.json there; expected the competition folder, its solution/ folder "
        "or the solution.json file that `camp competition make` wrote."
    )


def load_solution(where: str | Path) -> Solution:
    """Read solution.json (see ``solution_file`` for where it is looked for)."""
    path = solution_file(where)
    try:
        data = json.loads(path.read_text("utf-8"))
        queries = data["queries"]
        return Solution(
            path=path,
            query_ids=[q["query_id"] for q in queries],
            image_ids=list(data["image_ids"]),
            texts={q["query_id"]: q["query"] for q in queries},
            grades={q["query_id"]: {k: int(v) for k, v in q["grades"].items()} for q in queries},
            usage={q["query_id"]: q["usage"] for q in queries},
            queries=queries,
            max_ids=int(data.get("max_ids", 100)),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CourseError(
            f"{path}: not a solution file of `camp competition make` ({err})."
        ) from None


def score_rankings(rankings: dict[str, list[str]], solution: Solution) -> dict[str, dict]:
    """Return ``{usage: {metric: mean}}`` for public, private and all queries."""
    return {
        usage: metrics.mean_metrics(rankings, solution.grades, solution.ids(usage))
        for usage in USAGES
    }


def score_file(path: str | Path, solution: Solution) -> dict[str, dict]:
    """Validate the submission at ``path`` and score it; raises SubmissionFormatError."""
    rankings = read_submission(path, solution.query_ids, solution.image_ids, solution.max_ids)
    return score_rankings(rankings, solution)


def perfect_rankings(solution: Solution) -> dict[str, list[str]]:
    """Return the best possible submission: full matches first, then partial ones."""
    return {
        q: sorted(g, key=lambda iid: (-g[iid], iid))[: solution.max_ids]
        for q, g in solution.grades.items()
    }


def write_submission(path: str | Path, rankings: dict[str, list[str]], query_ids: list[str]):
    """Write ``rankings`` as a submission CSV, one line per query id in order."""
    lines = ["query_id,image_ids"] + [f"{q},{' '.join(rankings.get(q, []))}" for q in query_ids]
    Path(path).write_text("\n".join(lines) + "\n", "utf-8")
