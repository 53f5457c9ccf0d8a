"""The ``camp`` command: one Typer app, one sub-app per wing (introduced with Lecture 01).

Students' verbs come from ``student/`` (check), ``search/``, ``quiz/``, ``data/`` and
``competition/``; the instructor's from ``authoring/`` (generate, notebooks, release),
``grading/`` (autograde, gradebook, gradescope, mutants, report) and ``term/``. A student
edition (``camp release``) mounts the students' verbs only. TensorFlow is never imported here at
module level, so ``camp --help`` answers at once.
"""

from __future__ import annotations

import typer

from course_lib.clikit import fail
from course_lib.errors import CourseError

app = typer.Typer(
    help="Building an Image Search Engine: exercises, grading, data, quizzes.",
    no_args_is_help=True,
    add_completion=False,
)


def _is_edition() -> bool:
    """True in an installed student edition, whose course material ships inside the package."""
    from course_lib.paths import edition_info

    try:
        return edition_info() is not None
    except CourseError:
        return False


def _in_panel(wing: typer.Typer, panel: str) -> typer.Typer:
    """Show the verbs of ``wing`` under the heading ``panel`` of ``camp --help``."""
    for info in [*wing.registered_commands, *wing.registered_groups]:
        info.rich_help_panel = info.rich_help_panel or panel
    return wing


def _mount_subcommands() -> None:
    """Mount every wing's verbs; the instructor's only outside a student edition.

    ``camp --help`` shows them in panels, the students' first: "Your work" (check, quiz),
    "Search photos", "Data and competition", then "Instructor".
    """
    from course_lib.competition.cli import app as competition_app
    from course_lib.data.cli import app as data_app
    from course_lib.quiz.cli import app as quiz_app
    from course_lib.search.cli import app as search_app
    from course_lib.student.cli import app as student_app

    app.add_typer(_in_panel(student_app, "Your work"))
    app.add_typer(quiz_app, name="quiz", rich_help_panel="Your work")
    app.add_typer(_in_panel(search_app, "Search photos"))
    app.add_typer(data_app, name="data", rich_help_panel="Data and competition")
    app.add_typer(competition_app, name="competition", rich_help_panel="Data and competition")
    if _is_edition():
        return
    from course_lib.authoring.cli import app as authoring_app
    from course_lib.grading.cli import app as grading_app
    from course_lib.term.cli import app as term_app

    for wing in (authoring_app, grading_app, term_app):
        app.add_typer(_in_panel(wing, "Instructor"))


_mount_subcommands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CourseError as error:
        try:
            fail(error)
        except typer.Exit:
            raise SystemExit(1) from None
