"""Export a competition for a Kaggle community competition (Lecture 05's competition, issue 14).

``export_kaggle(comp, out)`` reads the folder of ``camp competition make`` and writes::

    OUT/solution.csv           query_id,image_ids,Usage: per query the relevant image ids
                               (space-separated) and Public or Private, the competition's own split
    OUT/sample_submission.csv  query_id,image_ids: the competition's sample submission
    OUT/queries.csv            query_id,query: the queries participants answer
    OUT/gallery.zip            gallery/<image id>.jpg: the pictures to search
    OUT/description.md         task, files, formats and the metric, for the competition's pages

The metric is Kaggle's MAP@K with K = 10 (``apk``/``mapk`` below, the usual definition: the sum
of precision at each rank <= K holding a relevant id, divided by min(number relevant, K)). It
equals ``camp competition score``'s mAP@10 on every valid submission, for both splits, because:

- relevance: the course grades each (query, picture) 0, 1 or 2 and its mAP@10 counts only grade 2
  (a full match) as relevant; ``solution.csv`` lists exactly the grade-2 pictures, so partial
  matches (grade 1) are not relevant on Kaggle either. Every query has at least one, so the
  min(len(actual), K) denominator is never 0. Graded relevance (nDCG@10) is not exported;
- repeated ids: the course drops a repeated id before cutting at K, Kaggle's ``apk`` keeps it in
  its rank and scores it once. ``camp competition score`` refuses a submission with a repeated id,
  so the two differ only on submissions the course would not score;
- the public score averages AP@10 over the rows whose Usage is Public, as the course averages over
  its public queries (30%); the private score likewise.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from course_lib.competition.metrics import relevant_set
from course_lib.competition.scoring import load_solution
from course_lib.errors import CourseError

K = 10
USAGE = {"public": "Public", "private": "Private"}
ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # A fixed time stamp, so the same competition zips identically.

DESCRIPTION = """# Image search

Find the pictures that match a text query. `gallery.zip` holds {gallery_size} pictures
(`gallery/<image id>.jpg`); `queries.csv` holds {num_queries} queries (`query_id,query`).

## Submission

A CSV file with the header `query_id,image_ids` and one line per query: up to {max_ids} image ids
(file names without `.jpg`), best first, separated by spaces, as in `sample_submission.csv`. Do
not repeat an id within a line. Only the first 10 ids of a line are scored.

## Evaluation

Submissions are scored by **MAP@10**, mean average precision at 10 as Kaggle defines it:

    AP@10 = (sum over ranks k <= 10 holding a relevant picture of P(k)) / min(m, 10)
    MAP@10 = mean of AP@10 over the queries

where P(k) is the share of relevant pictures among the first k ids and m the number of pictures
relevant to the query. A picture is relevant when it shows everything the query asks for: the
objects, how many, their size, how they relate (a dog *in* a basket *on* a bike) and the place.
Pictures with the right objects in the wrong arrangement count as not relevant. Many pictures
can be relevant to one query; every query has at least one.

The public leaderboard uses {public_percent}% of the queries; the private leaderboard, revealed at
the end, uses the other {private_percent}%. These are the numbers `camp competition score`
prints as mAP@10 public and private.

## For the host

Metric: MAP@K with K = 10. Solution file `solution.csv` (id column `query_id`, target column
`image_ids`, space-separated, `Usage` Public/Private); data files: `gallery.zip`, `queries.csv`,
`sample_submission.csv`. A submission that repeats an id scores differently on Kaggle (the
repeat keeps its rank) than in `camp competition score` (which refuses it).
"""


def apk(actual: Sequence[str], predicted: Sequence[str], k: int = K) -> float:
    """Return Kaggle's AP@K of one ranking: precision at each new hit, over min(len(actual), k)."""
    if k < 1:
        raise ValueError(f"Expected k >= 1; received {k}.")
    predicted = list(predicted)[:k]
    actual = set(actual)
    score, hits = 0.0, 0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            hits += 1
            score += hits / (i + 1)
    return score / min(len(actual), k) if actual else 0.0


def mapk(actual: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], k: int = K) -> float:
    """Return Kaggle's MAP@K: the mean of ``apk`` over queries (0 when there are none)."""
    if len(actual) != len(predicted):
        raise ValueError(
            f"Expected as many rankings as truths; received {len(predicted)} and {len(actual)}."
        )
    if not actual:
        return 0.0
    return sum(apk(a, p, k) for a, p in zip(actual, predicted, strict=True)) / len(actual)


def _read_rows(path: Path, columns: list[str]) -> list[dict]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = set(columns) - set(reader.fieldnames or [])
            if missing:
                raise CourseError(f"{path}: missing columns {', '.join(sorted(missing))}.")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise CourseError(f"{path}: cannot read the CSV file ({err}).") from None


def kaggle_scores(solution_csv: str | Path, submission_csv: str | Path) -> dict[str, float]:
    """Score a submission as Kaggle would from ``solution.csv``: ``{"Public": .., "Private": ..}``.

    A query missing from the submission scores 0; ids are split on whitespace.
    """
    truth = _read_rows(Path(solution_csv), ["query_id", "image_ids", "Usage"])
    rows = _read_rows(Path(submission_csv), ["query_id", "image_ids"])
    predicted = {r["query_id"]: (r["image_ids"] or "").split() for r in rows}
    out = {}
    for usage in USAGE.values():
        part = [r for r in truth if r["Usage"] == usage]
        out[usage] = mapk(
            [r["image_ids"].split() for r in part],
            [predicted.get(r["query_id"], []) for r in part],
        )
    return out


def solution_rows(grades: Mapping[str, Mapping[str, int]], usage: Mapping[str, str], ids) -> list:
    """Return the rows of solution.csv: query id, its grade-2 image ids, Public or Private."""
    rows = []
    for qid in ids:
        relevant = sorted(relevant_set(grades[qid]), key=lambda s: (len(s), s))
        rows.append([qid, " ".join(relevant), USAGE[usage[qid]]])
    return rows


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def export_kaggle(comp: str | Path, out: str | Path) -> dict[str, Path]:
    """Write the Kaggle files of competition folder ``comp`` into ``out``; return their paths.

    Raises CourseError when ``comp`` is not a competition folder with its solution, or ``out``
    is a file or a folder that is not empty.
    """
    comp, out = Path(comp), Path(out)
    if not comp.is_dir():
        raise CourseError(f"{comp}: no such competition folder; expected the folder of `make`.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseError(f"{out}: expected a new or empty folder for the Kaggle files.")
    solution = load_solution(comp)
    gallery = comp / "gallery"
    for name in ("queries.csv", "sample_submission.csv"):
        if not (comp / name).is_file():
            raise CourseError(f"{comp / name}: missing; expected the files of `make`.")
    pictures = [gallery / f"{iid}.jpg" for iid in solution.image_ids]
    absent = [p for p in pictures if not p.is_file()]
    if absent:
        raise CourseError(f"{absent[0]}: missing; the gallery has {len(absent)} pictures fewer.")
    if missing := [q for q in solution.query_ids if not relevant_set(solution.grades[q])]:
        raise CourseError(f"{solution.path}: query {missing[0]} has no relevant picture.")

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "solution": out / "solution.csv",
        "sample_submission": out / "sample_submission.csv",
        "queries": out / "queries.csv",
        "gallery": out / "gallery.zip",
        "description": out / "description.md",
    }
    rows = solution_rows(solution.grades, solution.usage, solution.query_ids)
    _write_csv(paths["solution"], ["query_id", "image_ids", "Usage"], rows)
    shutil.copyfile(comp / "sample_submission.csv", paths["sample_submission"])
    shutil.copyfile(comp / "queries.csv", paths["queries"])
    with zipfile.ZipFile(paths["gallery"], "w", zipfile.ZIP_STORED) as archive:
        for picture in pictures:  # JPEG is compressed already: storing is as small and faster.
            info = zipfile.ZipInfo(f"gallery/{picture.name}", ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, picture.read_bytes())
    n_public = len(solution.ids("public"))
    public_percent = round(100 * n_public / len(solution.query_ids)) if solution.query_ids else 0
    text = DESCRIPTION.format(
        gallery_size=len(solution.image_ids),
        num_queries=len(solution.query_ids),
        max_ids=solution.max_ids,
        public_percent=public_percent,
        private_percent=100 - public_percent,
    )
    paths["description"].write_text(text, "utf-8")
    return paths
