"""Grade a class in shards and merge their gradebooks (introduced with Lecture 01's grader).

``camp autograde SUBMISSIONS --shard I/N`` grades one of N deterministic slices of the class, so
that a Slurm job array or a Kubernetes indexed Job grades a large class on many machines at once,
one shard per task, each writing its own gradebook. ``camp gradebook merge SHARD_CSVS... --out
grades.csv`` joins them into the gradebook a single ``camp autograde`` would have written; it
refuses a student graded in two shards and, given the submissions folder, a student in none.

Shards are numbered from 0, as Slurm's ``$SLURM_ARRAY_TASK_ID`` (with ``--array=0-N-1``) and
Kubernetes' ``$JOB_COMPLETION_INDEX`` count them: ``0/4`` to ``3/4``. Shard I holds the students
at positions I, I + N, I + 2N, ... of the student folders sorted by name (round robin: shard sizes
differ by at most one, and each shard gets a spread of the alphabet).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.classroom import list_students
from course_lib.grading.sheet import CSV_FIELDS, student_cell, write_atomic

REQUIRED = ("student", "lecture", "points", "max_points", "status")
SHOWN = 8  # Student names listed in one error line at most.


def parse_shard(text: str) -> tuple[int, int]:
    """Read ``--shard I/N`` (shards numbered from 0) and return ``(I, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise CourseError(
            f"--shard expects INDEX/COUNT such as 0/4 (shards are numbered from 0); "
            f"received {text!r}."
        )
    return check_shard(int(match.group(1)), int(match.group(2)))


def check_shard(index: int, count: int) -> tuple[int, int]:
    """Return ``(index, count)``; CourseError when the index is not one of the count's shards."""
    if count < 1:
        raise CourseError(f"--shard {index}/{count}: the number of shards must be at least 1.")
    if not 0 <= index < count:
        raise CourseError(
            f"--shard {index}/{count}: shards are numbered from 0, so with {count} shards the "
            f"index runs from 0 to {count - 1}."
        )
    return index, count


def select_shard(students: list[Path], index: int, count: int) -> list[Path]:
    """Return shard ``index`` of ``count``: every count-th student folder, sorted by name."""
    check_shard(index, count)
    return sorted(students, key=lambda path: path.name)[index::count]


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def read_gradebook(path: Path) -> list[dict]:
    """Return the rows of a gradebook written by ``camp autograde``; CourseError naming the file."""
    if not path.is_file():
        raise CourseError(f"Gradebook not found: {path}.")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
            if missing:
                raise CourseError(
                    f"{path} is not a gradebook of camp autograde (no column {', '.join(missing)})."
                )
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as error:
        raise CourseError(f"{path} is not a readable CSV gradebook ({error}).") from None
    for number, row in enumerate(rows, start=2):
        if any(row.get(name) in (None, "") for name in ("student", "lecture")):
            raise CourseError(f"{path}, line {number}: a row without a student or a lecture.")
    return rows


def merge_gradebooks(shards: list[Path], out: Path, submissions: Path | None = None) -> list[dict]:
    """Merge shard gradebooks into ``out`` (sorted by student and lecture) and return its rows.

    Raises:
        CourseError: a file given twice, a student in two shards, shards that graded different
            lectures, or (with ``submissions``) a student folder in no shard, or a graded
            student without a folder.
    """
    if not shards:
        raise CourseError("No shard gradebooks to merge.")
    owner: dict[str, Path] = {}
    lectures: dict[Path, set[str]] = {}
    rows: list[dict] = []
    for path in shards:
        if path.resolve() in {p.resolve() for p in lectures}:
            raise CourseError(f"{path} is given twice; list each shard's gradebook once.")
        shard_rows = read_gradebook(path)
        for name in sorted({row["student"] for row in shard_rows}):
            if name in owner:
                raise CourseError(
                    f"Student {name!r} is in two shards, {owner[name]} and {path}: each student "
                    "must be graded in exactly one shard (same submissions folder and --shard "
                    "COUNT for every shard)."
                )
            owner[name] = path
        lectures[path] = {row["lecture"] for row in shard_rows}
        rows += shard_rows
    graded = {path: numbers for path, numbers in lectures.items() if numbers}
    if len({frozenset(numbers) for numbers in graded.values()}) > 1:
        shown = "; ".join(f"{path}: {', '.join(sorted(n))}" for path, n in graded.items())
        raise CourseError(f"The shards graded different lectures ({shown}); grade them alike.")
    if submissions is not None:
        # Gradebooks name students by their cells (sheet.student_cell), not raw names.
        expected = {student_cell(folder.name) for folder in list_students(submissions)}
        missing = sorted(expected - owner.keys())
        if missing:
            raise CourseError(
                f"{len(missing)} student(s) of {submissions} are in no shard: {_names(missing)}; "
                "grade the missing shard(s) before merging."
            )
        extra = sorted(owner.keys() - expected)
        if extra:
            raise CourseError(
                f"{len(extra)} graded student(s) have no folder in {submissions}: "
                f"{_names(extra)}; merge the shards of this class only."
            )
    rows.sort(key=lambda row: (row["student"], row["lecture"]))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out, text.getvalue())
    return rows
