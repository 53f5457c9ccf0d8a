"""What every ``camp`` sub-app shares: the consoles and the command decorator (Lecture 01).

Each wing (``student``, ``authoring``, ``grading``, ``search``, ``data``, ``quiz``,
``competition``, ``term``) defines its verbs on its own ``typer.Typer`` with ``command(app)``;
``course_lib/cli.py`` mounts them. A :class:`~course_lib.errors.CourseError` raised by a command
becomes one red ``error: ...`` line and exit code 1, also under ``typer.testing.CliRunner``.
"""

from __future__ import annotations

import functools

import typer
from rich.console import Console
from rich.markup import escape

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
