"""The terminal quiz: choose questions, ask them with rich, check and record the answers.

Introduced with the quiz bank (all lectures). Answers are read line by line, so a quiz also runs
without a terminal when the answers are piped in; the end of input ends the quiz and the questions
not reached count as not reached. An empty answer (Enter) skips a question: it is neither right
nor wrong, and it is not recorded, so its place in the schedule does not change.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from course_lib.quiz.bank import Bank, Question
from course_lib.quiz.history import History, started_lectures
from course_lib.quiz.render import LETTERS, Rendered, is_correct, parse_response, render

_HINTS = {
    "single": "one letter, e.g. b",
    "multiple": "every correct letter, e.g. a,c",
    "numeric": "a number, e.g. 42 or 0.25",
    "text": "a word or short phrase",
}


DUE_LIMIT = 20  # Questions per `camp quiz --due` session unless --questions says otherwise.


@dataclass
class Score:
    total: int
    right: int = 0
    wrong: int = 0
    skipped: int = 0  # Enter pressed without an answer.
    results: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def not_reached(self) -> int:
        """Questions the quiz never showed (the input ended first)."""
        return self.total - self.right - self.wrong - self.skipped

    @property
    def unanswered(self) -> int:
        return self.skipped + self.not_reached


def pick_questions(
    bank: Bank, lecture: str, count: int, seed: int, history: History, now: datetime | None = None
) -> list[Question]:
    """Choose ``count`` questions of a lecture: due ones first, then new ones, then the rest.

    Each group is shuffled with ``random.Random(seed)``, so a seed and a history fix the quiz.
    """
    questions = bank.questions(lecture)
    due = set(history.due(now))
    rng = random.Random(seed)
    groups: list[list[Question]] = [[], [], []]
    for q in questions:
        groups[0 if q.id in due else 1 if history.card(q.id) is None else 2].append(q)
    chosen: list[Question] = []
    for group in groups:
        rng.shuffle(group)
        chosen.extend(group)
    return chosen[: max(count, 0)]


@dataclass
class DuePlan:
    """What ``camp quiz --due`` asks: ``chosen`` out of the ``due`` questions of started lectures.

    ``skipped`` counts the due questions of lectures the student has not started.
    """

    chosen: list[Question]
    due: list[Question]
    skipped: int

    @property
    def remaining(self) -> int:
        """Due questions this session leaves for later."""
        return len(self.due) - len(self.chosen)


def due_questions(bank: Bank, history: History, now: datetime | None = None) -> DuePlan:
    """The questions due at ``now`` in the lectures the student has started, most overdue first."""
    by_id = bank.by_id()
    started = started_lectures(history)
    due = [by_id[qid] for qid in history.due(now) if qid in by_id]
    kept = [q for q in due if q.lecture in started]
    return DuePlan(chosen=kept, due=kept, skipped=len(due) - len(kept))


def pick_due(
    bank: Bank, history: History, limit: int = DUE_LIMIT, now: datetime | None = None
) -> DuePlan:
    """At most ``limit`` of the :func:`due_questions`, the most overdue first."""
    if limit < 1:
        raise ValueError(f"expected a limit of at least 1 question; received {limit}")
    plan = due_questions(bank, history, now)
    return DuePlan(chosen=plan.due[:limit], due=plan.due, skipped=plan.skipped)


def show_question(console: Console, r: Rendered, position: int, total: int) -> None:
    lines = [escape(r.text.strip())]
    if r.choices:
        lines.append("")
        lines.extend(f"  [bold]{LETTERS[i]})[/] {escape(c)}" for i, c in enumerate(r.choices))
    title = f"Question {position}/{total} · {r.id} · {r.kind}"
    console.print(Panel("\n".join(lines), title=title, title_align="left", expand=False))


def run_quiz(
    questions: list[Question],
    history: History,
    *,
    seed: int,
    console: Console,
    read_line: Callable[[], str] | None = None,
    echo: bool | None = None,
) -> Score:
    """Ask ``questions`` one by one, record each answer in ``history``; return the score.

    ``read_line`` returns one line with its newline, or "" at the end of input (default: stdin).
    An empty answer skips the question (not recorded); an unreadable one is asked again.
    """
    read_line = read_line or sys.stdin.readline
    if echo is None:
        echo = not sys.stdin.isatty()
    score = Score(total=len(questions))
    for position, q in enumerate(questions, start=1):
        r = render(q, seed, shuffle=True)
        show_question(console, r, position, len(questions))
        response = _ask(console, r, read_line, echo)
        if response is None:
            console.print("[yellow]End of input: the quiz stops here.[/]")
            break
        raw, parsed = response
        if parsed is None:
            score.skipped += 1
            console.print(f"[yellow]Skipped.[/] The answer: [bold]{escape(r.answer_text())}[/]")
            console.print(f"[dim]{escape(r.explanation.strip())}[/]\n", highlight=False)
            continue
        correct = is_correct(r, parsed)
        history.record(q, correct, raw)
        score.results.append((q.id, correct))
        if correct:
            score.right += 1
            console.print("[bold green]Right.[/]")
        else:
            score.wrong += 1
            console.print(f"[bold red]Wrong.[/] The answer: [bold]{escape(r.answer_text())}[/]")
        console.print(f"[dim]{escape(r.explanation.strip())}[/]\n", highlight=False)
    show_score(console, score)
    return score


def _ask(
    console: Console, r: Rendered, read_line: Callable[[], str], echo: bool
) -> tuple[str, object] | None:
    while True:
        console.print(f"Your answer ({_HINTS[r.kind]}; Enter skips): ", end="")
        console.file.flush()
        line = read_line()
        if line == "":
            console.print()
            return None
        raw = line.rstrip("\r\n")
        if echo:
            console.print(raw, markup=False, highlight=False)
        if not raw.strip():
            return raw, None
        try:
            return raw, parse_response(r, raw)
        except ValueError as exc:
            console.print(f"[yellow]{escape(str(exc))}. Try again (or press Enter to skip).[/]")


def show_score(console: Console, score: Score) -> None:
    pct = 100 * score.right / score.total if score.total else 0
    missed = f", {score.not_reached} not reached" if score.not_reached else ""
    console.print(
        f"[bold]Score: {score.right}/{score.total}[/] ({pct:.0f}%): {score.right} right, "
        f"{score.wrong} wrong, {score.skipped} skipped{missed}."
    )
