"""``camp quiz``: the terminal quiz, spaced repetition and exports (all lectures).

Usage (mounted as ``camp quiz`` in ``course_lib/cli.py``)::

    camp quiz 02 --questions 5 --seed 1   # quiz on lecture 02 (same as: camp quiz ask 02 ...)
    camp quiz --due                       # due questions of started lectures, 20 at most
    camp quiz --stats                     # recall per lecture and what is due next
    camp quiz export --format gift OUT    # moodle-xml, gift or anki (.apkg)

A first word that is not a subcommand is read as a lecture number, so ``camp quiz 02`` runs
``ask 02``; this avoids the clash between an optional positional argument and subcommands.

``--due`` only asks about lectures the student has started (answered quiz questions of, or saved
a ``camp check`` result for), at most 20 questions a session (``--questions`` changes it), and
says how many remain due. Errors are one line ``error: ...`` and exit code 1.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from course_lib.errors import CourseError

if TYPE_CHECKING:
    from course_lib.quiz.history import History

_DEFAULT_QUESTIONS = 10


class _QuizGroup(TyperGroup):
    """A group that reads an unknown first word (``02``) as the lecture of ``ask``."""

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "ask", self.commands["ask"], list(args)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_QuizGroup,
    invoke_without_command=True,
    help=(
        "Quiz yourself. `camp quiz 02 -n 5 --seed 1` asks five questions of lecture 02; `--due` "
        "asks what spaced repetition (and failed `camp check` tests) made due in the lectures "
        "you have started, 20 at most; `--stats` shows recall per lecture; `export` writes "
        "Moodle XML, GIFT or an Anki deck."
    ),
    short_help="Quiz yourself on a lecture, or on what is due (--due).",
    add_completion=False,
)


class ExportFormat(StrEnum):
    moodle_xml = "moodle-xml"
    gift = "gift"
    anki = "anki"


@contextmanager
def _course_errors() -> Iterator[None]:
    try:
        yield
    except CourseError as exc:
        _fail(str(exc))


def _fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _open_history() -> History:
    from course_lib.quiz.history import History

    history = History()
    if history.notice:
        typer.echo(f"warning: {history.notice}", err=True)
    return history


def _seed(seed: int | None, console: Console) -> int:
    if seed is None:
        seed = random.SystemRandom().randrange(1_000_000)
        console.print(f"[dim]Seed {seed} (repeat this quiz with --seed {seed}).[/]")
    return seed


@app.callback()
def main(
    ctx: typer.Context,
    due: Annotated[bool, typer.Option("--due", help="Ask the questions due now, all lectures.")] = (
        False
    ),
    stats: Annotated[
        bool, typer.Option("--stats", help="Show recall per lecture and what is due next.")
    ] = False,
    questions: Annotated[
        int | None,
        typer.Option(
            "--questions", "-n", min=1, help="How many questions (default 10; --due: 20)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for choosing and drawing the questions.")
    ] = None,
) -> None:
    """Quiz yourself on a lecture (`camp quiz 02`), on what is due, or export the bank."""
    if ctx.invoked_subcommand is not None:
        if due or stats:
            _fail("--due and --stats take no lecture or subcommand.")
        return
    if due and stats:
        _fail("choose one of --due and --stats.")
    with _course_errors():
        if due:
            _run_due(questions, seed)
        elif stats:
            _show_stats()
        else:
            typer.echo(ctx.get_help())


@app.command("ask")
def ask(
    ctx: typer.Context,
    lecture: Annotated[str, typer.Argument(help="Lecture number, e.g. 02.")],
    questions: Annotated[
        int | None,
        typer.Option("--questions", "-n", min=1, help="How many questions to ask (default 10)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for choosing and drawing the questions.")
    ] = None,
) -> None:
    """Quiz yourself on one lecture (shortcut: `camp quiz NN`)."""
    from course_lib.quiz.bank import load_bank
    from course_lib.quiz.session import pick_questions, run_quiz

    parent = ctx.parent.params if ctx.parent is not None else {}
    questions = questions or parent.get("questions") or _DEFAULT_QUESTIONS
    seed = seed if seed is not None else parent.get("seed")
    console = Console()
    with _course_errors():
        bank = load_bank()
        number = bank.lecture(lecture).number
        seed = _seed(seed, console)
        history = _open_history()
        with history:
            chosen = pick_questions(bank, number, questions, seed, history)
            title = escape(bank.lectures[number].title)
            console.print(f"[bold]Lecture {number}: {title}[/]", highlight=False)
            run_quiz(chosen, history, seed=seed, console=console)


def _run_due(questions: int | None, seed: int | None) -> None:
    from course_lib.quiz.bank import load_bank
    from course_lib.quiz.history import sync_checks
    from course_lib.quiz.session import DUE_LIMIT, due_questions, pick_due, run_quiz

    console = Console()
    bank = load_bank()
    limit = questions or DUE_LIMIT
    with _open_history() as history:
        for message in sync_checks(bank, history):
            console.print(f"[cyan]{escape(message)}[/]")
        plan = pick_due(bank, history, limit)
        later = (
            f" {plan.skipped} due question(s) of lectures you have not started wait until you "
            "start them (`camp quiz NN` or `camp check NN`)."
            if plan.skipped
            else ""
        )
        if not plan.chosen:
            upcoming = [row["next_due"] for row in history.stats(bank) if row["next_due"]]
            when = f" The next one is due {_when(min(upcoming))}." if upcoming else ""
            console.print(
                f"Nothing is due now.{when}{escape(later)}", highlight=False, soft_wrap=True
            )
            return
        console.print(
            f"[bold]{len(plan.due)} question(s) due now.[/] This session asks "
            f"{len(plan.chosen)} (at most {limit}; change with --questions); "
            f"{plan.remaining} remain due after it.{escape(later)}",
            highlight=False,
            soft_wrap=True,
        )
        run_quiz(plan.chosen, history, seed=_seed(seed, console), console=console)
        left = len(due_questions(bank, history).due)
        console.print(
            f"{left} question(s) remain due: run [bold]camp quiz --due[/] again."
            if left
            else "Nothing else is due now.",
            highlight=False,
            soft_wrap=True,
        )


def _when(moment: datetime) -> str:
    from course_lib.quiz.history import utcnow

    seconds = (moment - utcnow()).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"in {round(seconds / size)} {unit}"
    return "now" if seconds <= 0 else "in < 1 min"


def _show_stats() -> None:
    """Recall per lecture; "Due" counts exactly what ``camp quiz --due`` would ask now."""
    from collections import Counter

    from course_lib.quiz.bank import load_bank
    from course_lib.quiz.history import sync_checks
    from course_lib.quiz.session import due_questions

    bank = load_bank()
    console = Console()
    with _open_history() as history:
        for message in sync_checks(bank, history):  # As --due does, so both count the same.
            console.print(f"[cyan]{escape(message)}[/]")
        rows = history.stats(bank)
        plan = due_questions(bank, history)
        upcoming = [(qid, due) for qid, due in history.upcoming(10) if qid in bank.by_id()]
    due_by_lecture = Counter(q.lecture for q in plan.due)
    for row in rows:
        row["due_now"] = due_by_lecture[row["lecture"]]
    table = Table(title="Quiz history", caption="Recall: fraction of answers that were right.")
    table.add_column("Lecture", no_wrap=True)
    table.add_column("Title", min_width=16, overflow="fold")
    for column in ("Questions", "Seen", "Recall", "Due", "Next due"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        recall = "-" if row["recall"] is None else f"{row['recall']:.0%} ({row['answers']})"
        table.add_row(
            row["lecture"],
            escape(row["title"]),
            str(row["questions"]),
            str(row["answered"]),
            recall,
            str(row["due_now"]),
            _when(row["next_due"]) if row["next_due"] else "-",
        )
    console.print(table)
    if plan.due:
        console.print(f"{len(plan.due)} question(s) due now: run [bold]camp quiz --due[/].")
    if plan.skipped:
        console.print(
            f"{plan.skipped} more are due in lectures you have not started (`camp quiz NN`)."
        )
    if upcoming:
        console.print("Next up: " + ", ".join(f"{qid} ({_when(due)})" for qid, due in upcoming[:5]))


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="File to write (.xml, .gift.txt or .apkg).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="moodle-xml, gift or anki.")],
    variants: Annotated[
        int, typer.Option("--variants", min=1, help="Rendered instances per parametrised question.")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first rendered instance.")] = 0,
) -> None:
    """Export the whole bank for Moodle (XML or GIFT) or Anki (.apkg)."""
    from course_lib.quiz.bank import load_bank
    from course_lib.quiz.export import export

    with _course_errors():
        try:
            count = export(load_bank(), fmt.value, out, variants=variants, seed=seed)
        except OSError as exc:
            raise CourseError(f"cannot write {out} ({exc.strerror or exc})") from None
    typer.echo(f"Wrote {count} questions to {out} ({fmt.value}).")
