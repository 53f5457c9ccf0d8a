"""The student's verbs of ``camp``: ``camp check`` (introduced with Lecture 01).

TensorFlow is imported inside the commands, never at module level, so ``camp --help`` is fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from course_lib.clikit import check_limits, command, console, lecture_number, shown
from course_lib.errors import CourseError
from course_lib.grading.judge import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

app = typer.Typer()


def _resolve_submission(submission: str) -> Path:
    """Map ``--submission`` to a path; ``solutions``/``exercises`` name the checkout's folders."""
    from course_lib.paths import project_root

    path = Path(submission)
    if not path.exists() and submission in ("solutions", "exercises"):
        return project_root() / submission
    return path


def _default_submission(lecture: str) -> Path:
    """The student's work on ``lecture`` in the current folder, else the checkout's exercise.

    Prints which file is graded. The folder is returned (not the file), so the grader names
    the other candidates it did not grade (the newest file wins, as in ``camp autograde``).
    """
    from course_lib.paths import project_root
    from course_lib.student.submission import SubmissionError, choose_lecture_file

    here = Path.cwd()
    try:
        chosen, _ = choose_lecture_file(here, lecture)
    except SubmissionError:
        exercises = project_root() / "exercises"
        try:
            chosen, _ = choose_lecture_file(exercises, lecture)
        except SubmissionError:
            return exercises  # The grader reports the missing file.
        console.print(
            f"Lecture {lecture}: no {lecture}_*.py or {lecture}_*.ipynb in the current folder "
            f"({escape(str(here))}); grading the course's exercise {escape(str(chosen))}.",
            highlight=False,
            soft_wrap=True,
        )
        return exercises
    console.print(
        f"Lecture {lecture}: grading {escape(shown(chosen))} from the current folder.",
        highlight=False,
        soft_wrap=True,
    )
    return here


def _check_plan(lecture: str | None, submission: str | None) -> list[tuple[str, Path | None]]:
    """Return (lecture, submission) pairs to grade; None means "look in the current folder".

    A single file passed without a lecture number is graded for its own lecture only (its
    notebook metadata or file name), never against every lecture.
    """
    from course_lib.grading.judge import available_lectures, test_files
    from course_lib.student.submission import lecture_of_file

    if submission is None:
        numbers = [lecture_number(lecture)] if lecture else available_lectures()
        plan = [(number, None) for number in numbers]
    else:
        target = _resolve_submission(submission)
        if lecture is not None:
            plan = [(lecture_number(lecture), target)]
        elif target.is_file():
            plan = [(lecture_of_file(target), target)]
        else:
            plan = [(number, target) for number in available_lectures()]
    for number, _ in plan:
        test_files(number)  # An unknown lecture is an error before anything is graded.
    return plan


def _print_result(result) -> None:
    title = escape(f"Lecture {result.lecture}: {result.submission}")
    table = Table(title=title, title_justify="left")
    table.add_column("test", overflow="fold")
    table.add_column("points", justify="right", overflow="fold")
    table.add_column("passed", justify="center", overflow="fold")
    table.add_column("hint", overflow="fold")
    for test in result.tests:
        mark = "[green]yes[/]" if test["passed"] else "[red]no[/]"
        hint = "\n".join(x for x in (test["hint"], test["message"]) if x)
        pts = f"{test['points']:g}/{test['max_points']:g}"
        table.add_row(escape(test["name"]), pts, mark, escape(hint))
    if result.tests:
        console.print(table)
    else:
        console.print(title, highlight=False, soft_wrap=True)
    if result.detail:
        console.print(
            f"[bold red]{result.status}:[/] {escape(result.detail)}",
            highlight=False,
            soft_wrap=True,
        )
    if result.warning:
        console.print(f"[yellow]note:[/] {escape(result.warning)}", highlight=False, soft_wrap=True)
    colour = "green" if result.status == "full-marks" else "yellow"
    console.print(
        f"[bold {colour}]Lecture {result.lecture}: {result.points:g} / {result.max_points:g} "
        f"points[/]"
    )


def _checks_folder() -> Path:
    """Create the folder of saved checks before grading; CourseError naming it if it cannot be."""
    from course_lib.quiz.history import checks_dir

    folder = checks_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(
            f"cannot create {folder} ({error.strerror or error}); "
            "set CAMP_HOME to a folder you can write to"
        ) from None
    return folder


def _save_check(result, folder: Path) -> None:
    """Keep the latest check per lecture, so the quiz can bring failed sections forward."""
    from course_lib.student.lectures import file_sha

    if result.status == "missing":
        return  # Nothing was graded: keep the lecture's last real check.
    record = result.to_dict()
    submitted = Path(result.submission)
    record["submission_sha"] = file_sha(submitted) if submitted.is_file() else None
    # The absolute path lets later lectures find the passed file from any folder.
    record["submission_file"] = str(submitted.resolve()) if submitted.is_file() else None
    path = folder / f"{result.lecture}.json"
    try:
        path.write_text(json.dumps(record, indent=1))
    except OSError as error:
        raise CourseError(
            f"cannot save the check result to {path} ({error.strerror or error}); "
            "set CAMP_HOME to a folder you can write to"
        ) from None


def _grade_prerequisites(lecture: str, folder: Path, timeout: float, memory_mb: int) -> None:
    """Grade first the earlier lectures ``lecture`` builds on that were never checked here."""
    from course_lib.student.lectures import grade_prerequisites, unrecorded_prerequisites

    for earlier, path in unrecorded_prerequisites(lecture, folder):
        console.print(
            f"Lecture {lecture} builds on Lecture {earlier}, never checked here (a new machine "
            f"or runtime?): grading {escape(shown(path))} first.",
            highlight=False,
            soft_wrap=True,
        )
    for result in grade_prerequisites(lecture, folder, timeout_s=timeout, memory_mb=memory_mb):
        console.print(
            f"Lecture {result.lecture}: {result.points:g} / {result.max_points:g} points",
            highlight=False,
        )


@command(app)
def check(
    lecture: Annotated[
        str | None, typer.Argument(help="Lecture number, e.g. 01; all lectures when omitted.")
    ] = None,
    submission: Annotated[
        str | None,
        typer.Option(
            help="File, folder or .ipynb to grade; 'solutions' grades the reference solutions. "
            "Default: your NN_*.py or NN_*.ipynb in the current folder (the newest), else the "
            "checkout's exercises/. A file without a lecture number is graded for the lecture "
            "in its notebook metadata or file name."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per lecture.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit per lecture, in MB.")
    ] = DEFAULT_MEMORY_MB,
) -> None:
    """Grade your work on one lecture (or all) and show points and hints per test."""
    from course_lib.grading import judge as grader

    check_limits(timeout, memory_mb, None)
    plan = _check_plan(lecture, submission)
    folder = _checks_folder()
    total = maximum = 0.0
    for number, target in plan:
        if target is None:
            target = _default_submission(number)
        _grade_prerequisites(
            number, target if target.is_dir() else target.parent, timeout, memory_mb
        )
        result = grader.grade_lecture(number, target, timeout_s=timeout, memory_mb=memory_mb)
        _print_result(result)
        _save_check(result, folder)
        total, maximum = total + result.points, maximum + result.max_points
    if len(plan) > 1:
        console.print(f"[bold]Total: {total:g} / {maximum:g} points[/]")
    if total < maximum:
        raise typer.Exit(1)
