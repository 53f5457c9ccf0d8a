"""The instructor's grading verbs of ``camp`` (introduced with Lecture 01's autograder).

``camp autograde``, ``camp gradebook merge``, ``camp gradescope``, ``camp mutants`` and
``camp report``; mounted only in the instructor's checkout, never in a student edition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from course_lib.clikit import check_limits, command, console, err_console, lecture_number
from course_lib.errors import CourseError
from course_lib.grading.expected import hidden_dir
from course_lib.grading.judge import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, hidden_test_files

app = typer.Typer()


@command(app)
def autograde(
    submissions: Annotated[Path, typer.Argument(help="Folder with one subfolder per student.")],
    out: Annotated[Path, typer.Option(help="CSV gradebook to write.")] = Path("grades.csv"),
    lecture: Annotated[
        list[str] | None, typer.Option(help="Lecture to grade (repeatable); default all.")
    ] = None,
    student: Annotated[
        str | None, typer.Option(help="Regrade only this student (ignores cached results).")
    ] = None,
    hidden_tests: Annotated[
        Path | None,
        typer.Option(
            help="Folder of instructor-only tests test_NN_*.py; default: the checkout's "
            "tests/hidden."
        ),
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Parallel graders; default: CPU cores.")] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per student and lecture.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit of the process running student code, MB.")
    ] = DEFAULT_MEMORY_MB,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox",
            help="Grade even where student code cannot be isolated (the gradebook says so).",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Grade only shard INDEX/COUNT of the class, numbered from 0 (0/4 to 3/4): every "
            "COUNT-th student folder by name. Merge with `camp gradebook merge`.",
        ),
    ] = None,
) -> None:
    """Grade a class: CSV gradebook plus Gradescope results.json per student."""
    from rich.progress import Progress

    from course_lib.grading.classroom import autograde as run_autograde
    from course_lib.grading.gradebook import parse_shard
    from course_lib.grading.sandbox import probe

    check_limits(timeout, memory_mb, jobs)
    if shard is not None and student is not None:
        raise CourseError("--shard and --student do not combine; regrade a student alone.")
    shard_range = parse_shard(shard) if shard is not None else None
    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")
    if hidden_tests is not None and not hidden_tests.is_dir():
        raise CourseError(f"Hidden tests folder not found: {hidden_tests}.")
    hidden_tests = hidden_tests or hidden_dir()
    lectures = [lecture_number(x) for x in lecture] if lecture else None
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("Grading", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        rows = run_autograde(
            submissions,
            out,
            lectures,
            student,
            hidden_tests,
            jobs,
            timeout,
            memory_mb,
            update,
            sandbox_required=not no_sandbox,
            shard=shard_range,
        )
    table = Table("student", "lecture", "points", "status", "detail", "flags")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        cached = " (cached)" if row["cached"] else ""
        pts = f"{row['points']:g}/{row['max_points']:g}"
        cells = (row["student"], row["lecture"], pts, row["status"] + cached, row["detail"])
        table.add_row(*(escape(str(cell)) for cell in (*cells, row["flags"])))
    console.print(table)
    if missing := probe().missing:  # The isolation column says it too.
        err_console.print(f"warning: student code ran without {escape('; '.join(missing))}.")
    results = escape(str(out.parent / "results"))
    console.print(f"Gradebook written to {escape(str(out))}; Gradescope results in {results}.")


gradebook_app = typer.Typer(
    help="Gradebooks of `camp autograde`: merge the shards of a class.", no_args_is_help=True
)
app.add_typer(gradebook_app, name="gradebook")


@command(gradebook_app, "merge")
def gradebook_merge(
    shards: Annotated[list[Path], typer.Argument(help="Gradebook CSVs of the shards.")],
    out: Annotated[Path, typer.Option(help="Merged CSV gradebook to write.")] = Path("grades.csv"),
    submissions: Annotated[
        Path | None,
        typer.Option(help="The class's submissions folder: refuse students in no shard."),
    ] = None,
) -> None:
    """Merge the gradebooks of `camp autograde --shard`; refuse overlaps and missing students."""
    from course_lib.grading.gradebook import merge_gradebooks

    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")
    rows = merge_gradebooks(shards, out, submissions)
    students = len({row["student"] for row in rows})
    console.print(
        f"Merged {len(shards)} gradebooks ({students} students, {len(rows)} rows) into "
        f"{escape(str(out))}.",
        highlight=False,
        soft_wrap=True,
    )


@command(app)
def gradescope(
    lecture: Annotated[str, typer.Argument(help="Lecture number, e.g. 01.")],
    out: Annotated[
        Path | None, typer.Option(help="Zip to write; default: autograder_NN.zip.")
    ] = None,
    hidden_tests: Annotated[
        Path | None,
        typer.Option(
            help="Folder of instructor-only tests test_NN_*.py; default: the checkout's "
            "tests/hidden when it has the lecture's."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per submission.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit of the process running student code, MB.")
    ] = DEFAULT_MEMORY_MB,
) -> None:
    """Build a lecture's Gradescope autograder zip (setup.sh, run_autograder, pinned course)."""
    from course_lib.grading.gradescope import build_bundle

    check_limits(timeout, memory_mb, None)
    number = lecture_number(lecture)
    if hidden_tests is None and hidden_test_files(hidden_dir(), number):
        hidden_tests = hidden_dir()
    target = out or Path(f"autograder_{number}.zip")
    names = build_bundle(number, target, hidden_tests, timeout, memory_mb)
    console.print(
        f"Wrote {escape(str(target))} ({len(names)} files); upload it on the assignment's "
        "Configure Autograder page in Gradescope.",
        highlight=False,
        soft_wrap=True,
    )


@command(app)
def mutants(
    lecture: Annotated[
        str | None, typer.Argument(help="Lecture number, e.g. 01; every catalogue when omitted.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Mutants graded at once.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds allowed per mutant.")] = 120.0,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="Generate mutants of every graded region instead of reading the catalogue; "
            "report in build/mutants/auto-NN.json.",
        ),
    ] = False,
    limit: Annotated[
        int,
        typer.Option(help="With --auto: at most this many mutants per lecture (a fixed sample)."),
    ] = 150,
    min_score: Annotated[
        float, typer.Option(help="With --auto: exit 1 when a lecture's score is below this, %.")
    ] = 90.0,
) -> None:
    """Check that the autograder catches each mistake of tests/mutants/NN_topic.yaml (--auto:
    mutants generated from every graded region, docs/testing-checklist.md)."""
    from course_lib.grading.mutants import run

    check_limits(timeout, 512, jobs)
    number = lecture_number(lecture) if lecture else None
    if auto:
        from course_lib.grading.auto_report import run as run_auto

        if limit < 1:
            raise CourseError(f"--limit must be at least 1; received {limit}.")
        if not run_auto(number, console, jobs, timeout, limit, min_score):
            raise typer.Exit(1)
    elif not run(number, console, jobs, timeout):
        raise typer.Exit(1)


@command(app)
def report(
    grades_csv: Annotated[Path, typer.Argument(help="Gradebook CSV of `camp autograde`.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write report/ into; default: the gradebook's folder."),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(help="Per-student results folder; default: results/ next to the gradebook."),
    ] = None,
) -> None:
    """Class report: report/index.html with plots, failed tests and flags, and wide.csv."""
    from rich.markup import escape

    from course_lib.grading.report import write_report

    for name, path in write_report(grades_csv, out, results).items():
        console.print(f"{name}: {escape(str(path))}", highlight=False, soft_wrap=True)
