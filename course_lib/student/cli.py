"""The student's verbs of ``camp``: ``camp check`` (introduced with Lecture 01).

TensorFlow is imported inside the commands, never at module level, so ``camp --help`` is fast.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from course_lib.clikit import check_limits, command, console, lecture_number, shown
from course_lib.errors import CourseError
from course_lib.grading.judge import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S
from course_lib.student.feedback import lecture_line, print_result
from course_lib.student.submission import SubmissionError, describe_choice

app = typer.Typer()


def _resolve_submission(submission: str) -> Path:
    """Map ``--submission`` to a path; ``solutions``/``exercises`` name the course's folders.

    ``exercises`` names the course's copy only in a checkout: in an installed edition that copy
    lies inside site-packages and is never the student's work.
    """
    from course_lib.paths import edition_info, project_root

    path = Path(submission)
    if not path.exists() and submission in ("solutions", "exercises"):
        root = project_root()
        if submission == "solutions" or edition_info(root) is None:
            return root / submission
        raise CourseError(
            f"No exercises/ folder in {Path.cwd()}: run camp check in your copy of the course "
            "(the folder holding exercises/), or pass your file with --submission PATH."
        )
    return path


def _expected(lecture: str) -> str:
    """The names ``camp check`` looks for, from the course's own exercise (e.g. 01_nn_recap)."""
    from course_lib.paths import project_root

    stems = sorted(p.stem for p in (project_root() / "exercises").glob(f"{lecture}_*.py"))
    stem = stems[0] if stems else f"{lecture}_<topic>"
    return f"{stem}.py or {stem}.ipynb (or a download such as 'Copy of {stem}.ipynb')"


def _find(folder: Path | None, lecture: str) -> tuple[Path, list[Path]]:
    """The file to grade for ``lecture`` and the older candidates; CourseError naming the places.

    ``folder`` None is the current folder. The course's own copy (inside site-packages in an
    installed edition) is never a fallback: grading it would only ever give zero.
    """
    from course_lib.student.submission import choose_lecture_file

    place = folder if folder is not None else Path.cwd()
    if not place.is_dir():
        return choose_lecture_file(place, lecture)  # A file; SubmissionError if it is none.
    try:
        chosen, others = choose_lecture_file(place, lecture)
    except SubmissionError:
        raise CourseError(
            f"No file for Lecture {lecture} in {place} or its exercises/ folder: expected "
            f"{_expected(lecture)}. Run camp check in the folder that holds it, or pass it: "
            f"camp check {lecture} --submission PATH."
        ) from None
    return chosen, others


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
        elif not target.exists():
            raise CourseError(f"Submission not found: {target} does not exist.")
        else:
            plan = [(number, target) for number in available_lectures()]
    for number, _ in plan:
        test_files(number)  # An unknown lecture is an error before anything is graded.
    return plan


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
            "Default: your NN_*.py or NN_*.ipynb (or 'Copy of NN_*.ipynb') in the current "
            "folder or its exercises/ folder, the newest when there are several. A file without "
            "a lecture number is graded for the lecture in its notebook metadata or file name."
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show every test with its points, hint and full message."
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per lecture.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit per lecture, in MB.")
    ] = DEFAULT_MEMORY_MB,
) -> None:
    """Grade your work: points per function, and hints for what fails."""
    from course_lib.grading import judge as grader

    check_limits(timeout, memory_mb, None)
    plan = _check_plan(lecture, submission)
    if len(plan) == 1:
        files = {plan[0][0]: _find(plan[0][1], plan[0][0])}  # CourseError: nothing to grade.
    else:
        files = {}
        for number, target in plan:
            with contextlib.suppress(CourseError):
                files[number] = _find(target, number)
        if not files:
            raise CourseError(
                f"No lecture file in {plan[0][1] or Path.cwd()} or its exercises/ folder: "
                f"expected NN_topic.py or NN_topic.ipynb, e.g. {_expected(plan[0][0])}. Run "
                "camp check in the folder that holds your work."
            )
    folder = _checks_folder()
    detailed = len(plan) == 1 or verbose
    total = maximum = 0.0
    for number, _ in plan:
        if number not in files:
            console.print(
                f"  · Lecture {number} {'-':>7}  no {number}_* file here", highlight=False
            )
            continue
        chosen, others = files[number]
        _grade_prerequisites(number, chosen.parent, timeout, memory_mb)
        if detailed:
            console.print(f"Lecture {number}: grading {escape(shown(chosen))}", highlight=False)
            if others:
                older = describe_choice(chosen, others, Path.cwd())
                console.print(f"  the newest of its files; not graded: {escape(older)}")
        with console.status(f"Grading Lecture {number}..."):
            result = grader.grade_lecture(number, chosen, timeout_s=timeout, memory_mb=memory_mb)
        if detailed:
            print_result(console, result, verbose)
        else:
            newest = f" (newest of {len(others) + 1})" if others else ""
            console.print(lecture_line(result, shown(chosen) + newest), highlight=False)
        _save_check(result, folder)
        total, maximum = total + result.points, maximum + result.max_points
    if len(plan) > 1:
        console.print(
            f"[bold]Total: {total:g} / {maximum:g} points[/] in {len(files)} lecture(s); "
            "camp check NN shows one in detail.",
            highlight=False,
        )
    if total < maximum:
        raise typer.Exit(1)
