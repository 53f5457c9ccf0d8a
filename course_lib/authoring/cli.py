"""The authoring verbs of ``camp``: generate, notebooks, release (introduced with Lecture 01).

Mounted only in the instructor's checkout, never in a student edition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from course_lib.clikit import command, console
from course_lib.errors import CourseError

app = typer.Typer()


@command(app)
def generate(
    check: Annotated[
        bool,
        typer.Option("--check", help="Only report files out of sync; exit 1 if any."),
    ] = False,
) -> None:
    """Write exercises/ from solutions/, and the public tests' expected values from tests/hidden."""
    from course_lib.authoring.expected_data import generate_expected
    from course_lib.authoring.generate import generate as run_generate
    from course_lib.paths import project_root

    root = project_root()
    changed = run_generate(root / "solutions", root / "exercises", check=check)
    data = generate_expected(root, check=check)
    for path in changed + data:
        shown = escape(str(path.relative_to(root)))
        console.print(f"{'out of sync' if check else 'wrote'}: {shown}", highlight=False)
    if check and changed:
        raise CourseError("exercises/ is out of sync with solutions/: run `camp generate`.")
    if check and data:
        raise CourseError(
            "tests/autograder/expected/ is out of sync with tests/hidden/references_NN.py: run "
            "`camp generate`."
        )
    if not changed:
        console.print("exercises/ is up to date.")
    if not data:
        console.print("tests/autograder/expected/ is up to date.")


@command(app)
def notebooks(
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder: student/NN_topic.ipynb, and nbgrader/ as an nbgrader course "
            "folder with source/NN_topic/NN_topic.ipynb."
        ),
    ] = Path("build/notebooks"),
    pip_spec: Annotated[
        str | None,
        typer.Option(
            help="What the notebooks' setup cell pip-installs on Colab, e.g. a wheel URL or "
            "git+https://...; default: image-search-camp."
        ),
    ] = None,
) -> None:
    """Write .ipynb notebooks: student notebooks with self-checks, and nbgrader source notebooks."""
    from course_lib.authoring.notebooks import write_all

    for path in write_all(out, pip_spec=pip_spec):
        console.print(f"wrote {escape(str(path))}", highlight=False, soft_wrap=True)


@command(app)
def release(
    out: Annotated[
        Path,
        typer.Argument(help="Folder to write: new, empty, or an earlier edition to replace."),
    ],
    solutions_through: Annotated[
        str | None,
        typer.Option(help="Also ship the solutions of lectures up to this one, e.g. 02."),
    ] = None,
    pip_spec: Annotated[
        str | None,
        typer.Option(help="What the notebooks' setup cell installs on Colab, e.g. a git URL."),
    ] = None,
) -> None:
    """Write the student edition: exercises, public tests, quizzes, course_lib; no answers."""
    from course_lib.authoring.release import build_edition

    released = build_edition(out, solutions_through, pip_spec)
    shown = ", ".join(released) or "none"
    console.print(
        f"Student edition written to {escape(str(out))} (released solutions: {shown}). "
        f"Students install it with `pip install {escape(str(out))}`.",
        highlight=False,
        soft_wrap=True,
    )
