"""What every ``camp`` sub-app shares: the consoles and the command decorator (Lecture 01).

Each wing (``student``, ``authoring``, ``grading``, ``search``, ``data``, ``quiz``,
``competition``, ``term``) defines its verbs on its own ``typer.Typer`` with ``command(app)``;
``course_lib/cli.py`` mounts them. A :class:`~course_lib.errors.CourseError` raised by a command
becomes one red ``error: ...`` line and exit code 1, also under ``typer.testing.CliRunner``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from course_lib.errors import CourseError

console = Console()
err_console = Console(stderr=True)


def fail(error: CourseError | str) -> None:
    """Print one escaped ``error: ...`` line on stderr and exit with code 1."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def command(app: typer.Typer, *args, **kwargs):
    """Register a command on ``app`` whose CourseError becomes one error line and exit code 1."""

    def register(function):
        @functools.wraps(function)
        def wrapper(*a, **k):
            try:
                return function(*a, **k)
            except CourseError as error:
                fail(error)

        return app.command(*args, **kwargs)(wrapper)

    return register


def lecture_number(lecture: str) -> str:
    """``"1"`` or ``"01"`` as ``"01"``; CourseError for anything that is not a number."""
    if not lecture.isdigit():
        raise CourseError(f"Expected a lecture number such as 01; received {lecture!r}.")
    return f"{int(lecture):02d}"


def check_limits(timeout: float, memory_mb: int, jobs: int | None) -> None:
    """Refuse limits that could only mark every student as failed, before grading anyone."""
    if not timeout > 0:
        raise CourseError(f"--timeout must be a positive number of seconds; received {timeout:g}.")
    if memory_mb < 512:
        raise CourseError(f"--memory-mb must be at least 512 MB; received {memory_mb}.")
    if jobs is not None and jobs < 1:
        raise CourseError(f"--jobs must be at least 1; received {jobs}.")


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies inside it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def wrote(path: Path) -> None:
    """Say which file a command wrote."""
    console.print(f"Wrote {escape(str(path))}", highlight=False, soft_wrap=True)


def wrapping_table(*headers: str) -> Table:
    """A table whose cells wrap (never cut with an ellipsis) in a narrow terminal."""
    table = Table(*headers)
    for column in table.columns:
        column.overflow = "fold"
    return table
