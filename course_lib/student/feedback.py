"""What ``camp check`` prints: one line per graded function, hints for failures (Lecture 01).

The judge grades tests; a beginner fixes functions. So the default output has one line per
graded function of the lecture (the course exercise's functions in notebook order, each test
belonging to the last of them it calls, as the notebook's ``check("name")`` cells do:
``course_lib.student.check_map``), with the hint and the first lines of the message of each
failed test under it. A function whose tests all still raise ``NotImplementedError`` is one line.
``--verbose`` lists every test. A lecture that failed as a whole (a syntax error, a timeout, a
crash) is one line with the reason. Plain ``camp check`` prints one line per lecture
(:func:`lecture_line`). Everything fits 80 columns: long text wraps at word boundaries.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape

from course_lib.grading.verdict import FAILED_AS_A_WHOLE

NOT_IMPLEMENTED = "Not implemented yet"  # How the judge's messages for stubs begin.
SHORT_MESSAGE_LINES = 3  # Lines of a failure message shown without --verbose.


@dataclass
class FunctionRow:
    """The tests of one graded function (or of none: ``name`` is then the test's own name)."""

    name: str
    tests: list[dict] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(t["points"] for t in self.tests)

    @property
    def max_points(self) -> float:
        return sum(t["max_points"] for t in self.tests)

    @property
    def failed(self) -> list[dict]:
        return [t for t in self.tests if not t["passed"]]

    @property
    def not_implemented(self) -> bool:
        return bool(self.failed) and all(_is_stub(t) for t in self.failed)


def _is_stub(test: dict) -> bool:
    return str(test.get("message", "")).startswith(NOT_IMPLEMENTED)


def graded_order(lecture: str) -> tuple[list[str], dict[str, str | None]]:
    """The course exercise's graded functions and each public test's owner; empty if unknown."""
    from course_lib.errors import CourseError
    from course_lib.grading.judge import test_files
    from course_lib.paths import project_root
    from course_lib.student.check_map import graded_functions, owners_by_test
    from course_lib.student.submission import find_lecture_file

    try:
        exercise = find_lecture_file(project_root() / "exercises", lecture)
        functions = graded_functions(exercise.read_text(encoding="utf-8"))
        owners: dict[str, str | None] = {}
        for path in test_files(lecture):
            owners |= owners_by_test(path.read_text(encoding="utf-8"), functions)
    except (CourseError, OSError, SyntaxError, UnicodeDecodeError):
        return [], {}  # The rows fall back to one per test.
    return functions, owners


def function_rows(lecture: str, tests: list[dict]) -> list[FunctionRow]:
    """Group ``tests`` (the judge's rows) by graded function, in notebook order."""
    functions, owners = graded_order(lecture)
    rows: dict[str, FunctionRow] = {}
    for test in tests:
        owner = owners.get(test["name"]) or test["name"]
        rows.setdefault(owner, FunctionRow(owner)).tests.append(test)
    order = {name: index for index, name in enumerate(functions)}
    return sorted(rows.values(), key=lambda r: order.get(r.name, len(order)))


def _mark(passed: bool) -> str:
    return "[green]✓[/]" if passed else "[red]✗[/]"


def _points(points: float, maximum: float) -> str:
    return f"{points:g}/{maximum:g}"


def _message_lines(test: dict) -> list[str]:
    """The failure message without pytest's bare prefixes (``AssertionError:``, ``Failed:``)."""
    lines = []
    for line in str(test.get("message") or "").splitlines():
        line = line.rstrip()
        if line.startswith("Failed: "):
            line = line[len("Failed: ") :]
        if line.strip() and line.strip() != "AssertionError:":
            lines.append(line)
    return lines


def _detail(console: Console, test: dict, lines: int | None, indent: int, label: str) -> None:
    """``label``, the hint and the message of a failed test, indented and wrapped by words.

    Wrapped with ``textwrap`` rather than rich's ``Padding``, which pads every line with spaces.
    The message is dim; without a hint, its first line follows the label.
    """
    width = max(console.width - indent, 30)
    message = _message_lines(test)
    if lines is not None and len(message) > lines:
        message = message[:lines] + ["..."]
    hint = str(test.get("hint") or "").strip()
    paragraphs = [(hint, "")] if hint else []
    paragraphs += [(line, "dim") for line in message]
    if not paragraphs:
        paragraphs = [("", "")]
    for number, (text, style) in enumerate(paragraphs):
        prefix = label if number == 0 else ""
        lead = "" if prefix else text[: len(text) - len(text.lstrip())]  # Kept: numpy aligns.
        wrapped = textwrap.wrap(
            prefix + text.strip(), width, initial_indent=lead, subsequent_indent=lead
        ) or [prefix]
        for index, line in enumerate(wrapped):
            line = line.rstrip()
            head = len(prefix) if index == 0 and line.startswith(prefix) else 0
            body = escape(line[head:])
            body = f"[{style}]{body}[/]" if style and body else body
            bold = f"[bold]{escape(line[:head])}[/]" if head else ""
            console.print(" " * indent + bold + body, highlight=False)


def _timed_out(test: dict) -> bool:
    return test.get("outcome") == "timeout"


def _row_line(row: FunctionRow, width: int) -> str:
    failed = row.failed
    if not failed:
        note = ""
    elif row.not_implemented:
        note = "not implemented yet"
    elif all(_timed_out(t) for t in failed):
        note = "did not finish in time"
    elif len(row.tests) == 1:
        note = "fails"
    else:
        note = f"{len(failed)} of {len(row.tests)} tests fail"
    return (
        f"  {_mark(not failed)} {escape(row.name):{width}} "
        f"{_points(row.points, row.max_points):>5}  {note}".rstrip()
    )


_RUN_BY = re.compile(r", run by [\w.]+,")  # The judge's probe that called the function.


def _print_failures(console: Console, row: FunctionRow) -> None:
    """Without ``--verbose``: each failed test's hint and message; tests that ran out of time
    in the same function once, without hints (they are about results, not time)."""
    timeouts: dict[str, list[dict]] = {}
    for test in row.failed:
        if _timed_out(test):
            timeouts.setdefault(test.get("function") or test["name"], []).append(test)
        else:
            _detail(console, test, SHORT_MESSAGE_LINES, 6, f"{test['name']}: ")
    for tests in timeouts.values():
        names = ", ".join(t["name"] for t in tests)
        message = _RUN_BY.sub("", str(tests[0].get("message") or ""))
        _detail(console, {"message": message}, SHORT_MESSAGE_LINES, 6, f"{names}: ")


def print_functions(console: Console, lecture: str, tests: list[dict], verbose: bool) -> None:
    """One line per graded function; under it, what failed (every test with ``verbose``)."""
    rows = function_rows(lecture, tests)
    width = min(max((len(r.name) for r in rows), default=0), 32)
    for row in rows:
        console.print(_row_line(row, width), highlight=False)
        if not verbose:
            if not row.not_implemented:
                _print_failures(console, row)
            continue
        for test in row.tests:
            points = _points(test["points"], test["max_points"])
            console.print(
                f"      {_mark(test['passed'])} {escape(test['name'])} ({points})",
                highlight=False,
            )
            if not test["passed"]:
                _detail(console, test, None, 10, "")


def next_step(lecture: str, result, rows: list[FunctionRow]) -> str:
    """One sentence: what to do next."""
    if result.status == "full-marks":
        return "Full marks."
    todo = [r for r in rows if r.failed]
    if not todo:
        return ""
    first = todo[0]
    verb = "implement" if first.not_implemented else "fix"
    return f"Next: {verb} {first.name}; -v shows every test."


def print_result(console: Console, result, verbose: bool = False) -> None:
    """Everything ``camp check NN`` says about one graded lecture, after its header line."""
    lecture = result.lecture
    total = f"Lecture {lecture}: {result.points:g} / {result.max_points:g} points."
    if result.status in FAILED_AS_A_WHOLE:
        console.print(f"  [red]✗[/] {escape(result.detail)}", highlight=False)
        if verbose and result.tests:
            print_functions(console, lecture, result.tests, verbose)
        again = f"Fix it and run camp check {lecture} again."
        console.print(f"[bold red]{escape(total)}[/] {again}", highlight=False)
        return
    rows = function_rows(lecture, result.tests)
    print_functions(console, lecture, result.tests, verbose)
    if result.detail:
        console.print(f"[yellow]note:[/] {escape(result.detail)}", highlight=False)
    if result.warning:
        console.print(f"[yellow]note:[/] {escape(result.warning)}", highlight=False)
    colour = "green" if result.status == "full-marks" else "yellow"
    advice = next_step(lecture, result, rows)
    console.print(f"[bold {colour}]{escape(total)}[/] {escape(advice)}".rstrip(), highlight=False)


def lecture_line(result, label: str) -> str:
    """One line for plain ``camp check``: the lecture's mark, points and what is left."""
    full = result.status == "full-marks"
    points = f"{_points(result.points, result.max_points):>7}"
    if result.status in FAILED_AS_A_WHOLE:
        note = result.status.replace("-", " ")
    elif full:
        note = ""
    else:
        rows = function_rows(result.lecture, result.tests)
        todo = sum(1 for r in rows if r.failed)
        note = f"{todo} of {len(rows)} functions to do"
    return f"  {_mark(full)} Lecture {result.lecture} {points}  {escape(label)}" + (
        f": {escape(note)}" if note else ""
    )
