"""The term's verbs of ``camp`` (course operations, introduced with Lecture 05's competition).

Mounted at the top level of ``camp`` in the instructor's checkout::

    camp similarity submissions/ --lecture 01 --out similarity/01/
    camp late grades/grades.csv --course course.toml --submissions submissions/ \\
        [--overrides overrides.csv] --out grades/late.csv
    camp export grades/late.csv --format canvas --course course.toml [--roster roster.csv] \\
        --out grades/canvas.csv

Each reads what the earlier step wrote and writes a new file: no grade of ``camp autograde`` is
ever changed. Bad input is one ``error: ...`` line naming the file, and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from course_lib.clikit import command, console, wrapping_table
from course_lib.errors import CourseError

app = typer.Typer()


def _csv_out(out: Path) -> None:
    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")


@command(app)
def similarity(
    submissions: Annotated[Path, typer.Argument(help="Folder with one subfolder per student.")],
    lecture: Annotated[str, typer.Option(help="Lecture whose graded regions to compare, e.g. 01.")],
    out: Annotated[
        Path, typer.Option(help="Folder to write index.html and pairs.csv into.")
    ] = Path("similarity"),
    threshold: Annotated[
        float, typer.Option(help="Flag pairs where either side's similarity is at least this.")
    ] = 0.5,
    top: Annotated[int, typer.Option(help="Pairs shown side by side in the report.")] = 20,
    common: Annotated[
        int, typer.Option(help="Ignore passages found in more than this many submissions.")
    ] = 10,
) -> None:
    """Rank pairs of students by similarity of their graded regions (flags only, no grades)."""
    from course_lib.term.course import lecture_number
    from course_lib.term.similarity import NOISE_CHARS, collect, exercise_file, rank_pairs
    from course_lib.term.similarity_report import pairs_csv, render, write_report

    number = lecture_number(lecture)
    if not submissions.is_dir():
        raise CourseError(f"Submissions folder not found: {submissions}.")
    if not 0 < threshold <= 1:
        raise CourseError(f"--threshold must be above 0 and at most 1; received {threshold:g}.")
    if top < 0 or common < 1:
        raise CourseError(f"--top must be 0 or more and --common 1 or more; got {top}, {common}.")
    if out.exists() and not out.is_dir():
        raise CourseError(f"--out must be a folder; {out} is a file.")
    exercise = exercise_file(number)
    works, skipped = collect(submissions, number)
    pairs = rank_pairs(works, exercise.read_text(encoding="utf-8"), common)
    page = render(
        pairs, works, skipped, number, f"exercises/{exercise.name}", threshold, top, common,
        NOISE_CHARS,
    )  # fmt: skip
    paths = write_report(out, page, pairs_csv(pairs, threshold))
    table = wrapping_table("#", "A", "B", "similarity A", "similarity B", "shared tokens")
    for rank, pair in enumerate(pairs[:10], start=1):
        cells = (pair.a.student, pair.b.student, f"{pair.similarity_a:.0%}")
        cells += (f"{pair.similarity_b:.0%}", str(pair.shared_tokens))
        table.add_row(str(rank), *(escape(cell) for cell in cells))
    if pairs:
        console.print(table)
    flagged = sum(pair.score >= threshold for pair in pairs)
    console.print(
        f"{len(works)} submissions of lecture {number} compared ({len(skipped)} students "
        f"without a readable file); {len(pairs)} pair(s) share code, {flagged} at or above "
        f"{threshold:.0%}. Report: "
        f"{escape(str(paths['page']))}; all pairs: {escape(str(paths['pairs']))}.",
        highlight=False,
        soft_wrap=True,
    )


@command(app)
def late(
    gradebook: Annotated[Path, typer.Argument(help="Gradebook CSV of `camp autograde`.")],
    course: Annotated[Path, typer.Option(help="Course file (TOML) with deadlines and policy.")],
    submissions: Annotated[
        Path, typer.Option(help="The submissions folder that was graded (dates the files).")
    ],
    out: Annotated[Path, typer.Option(help="Gradebook CSV to write, with the late columns.")],
    overrides: Annotated[
        Path | None,
        typer.Option(help="CSV of per-student extensions and late days (student, lecture, ...)."),
    ] = None,
) -> None:
    """Apply deadlines and the late policy: late_days and points_after_policy columns."""
    from course_lib.term.course import load_course, load_overrides
    from course_lib.term.deadlines import late_gradebook

    _csv_out(out)
    if out.resolve() == gradebook.resolve():
        raise CourseError(f"--out {out} is the gradebook itself; write a new file.")
    terms = load_course(course)
    exceptions = load_overrides(overrides, terms) if overrides is not None else None
    rows = late_gradebook(gradebook, terms, submissions, out, exceptions)
    table = wrapping_table("student", "lecture", "points", "late", "free days", "after", "from")
    shown = [row for row in rows if int(row["late_days"]) > 0]
    for row in shown:
        cells = (row["student"], row["lecture"], row["points"], str(row["late_days"]))
        cells += (str(row["late_days_used"]), row["points_after_policy"], row["submitted_from"])
        table.add_row(*(escape(str(cell)) for cell in cells))
    if shown:
        console.print(table)
    console.print(
        f"{len(shown)} of {len(rows)} submissions late; gradebook with late_days and "
        f"points_after_policy written to {escape(str(out))}.",
        highlight=False,
        soft_wrap=True,
    )


@command(app)
def export(
    gradebook: Annotated[Path, typer.Argument(help="Gradebook CSV (of camp autograde or late).")],
    fmt: Annotated[str, typer.Option("--format", help="canvas, moodle or wide.")],
    out: Annotated[Path, typer.Option(help="CSV file to write for the import.")],
    course: Annotated[
        Path | None, typer.Option(help="Course file: the lectures' column titles and Canvas ids.")
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option(help="CSV mapping student folders to LMS names, ids, emails (student, ...)."),
    ] = None,
) -> None:
    """Write the grades in Canvas's or Moodle's gradebook import format, or one wide CSV."""
    from course_lib.term.course import load_course
    from course_lib.term.export import FORMATS, write_export

    if fmt not in FORMATS:
        raise CourseError(f"--format: expected one of {', '.join(FORMATS)}; received {fmt!r}.")
    terms = load_course(course) if course is not None else None
    students, column = write_export(gradebook, fmt, out, terms, roster)
    console.print(
        f"{fmt} file of {students} students ({column}) written to {escape(str(out))}.",
        highlight=False,
        soft_wrap=True,
    )
