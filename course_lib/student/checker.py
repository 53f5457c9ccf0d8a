"""The self-check of a student notebook (introduced with Lecture 01's notebooks).

A release notebook's setup cell quiets TensorFlow (``quiet_tensorflow``) and builds
``check = Checker(...)`` from the lecture's public tests, embedded in that cell so that the
notebook needs nothing but this package (on Colab the tests are not installed). Then
``check("softmax")`` after a graded function runs the public tests that belong to it inside the
student's kernel, against the notebook's own definitions, and shows points and hints, as
otter-grader's ``grader.check("q1")`` does; ``check()`` runs them all and totals the points. This
is feedback while working, not grading: ``camp check`` and nbgrader grade, in their own processes.

Which tests a check runs: ``course_lib.student.check_map`` (a test belongs to the last graded
function, in notebook order, that it calls)."""

from __future__ import annotations

import contextlib
import html
import inspect
import io
import os
import re
import shutil
import sys
import tempfile
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

from course_lib.regions import STUB_INSTRUCTION
from course_lib.student.check_map import owners_of, reached_names

MAX_MESSAGE_LINES = 6  # Lines of a failure message shown, as in ``camp check``.
MAX_MESSAGE_CHARS = 800
STUB = re.compile(rf"^([\w.]+): {STUB_INSTRUCTION}$")  # What generated stubs raise.


@contextlib.contextmanager
def silenced():
    """Send Python's and the C libraries' stdout and stderr, and warnings, nowhere meanwhile.

    TensorFlow's C++ and absl log lines are written straight to file descriptor 2, past
    ``TF_CPP_MIN_LOG_LEVEL`` (absl prints everything before ``absl::InitializeLog()``, which
    TensorFlow never calls), so only redirecting the descriptor keeps them out of a cell.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        for fd in saved:
            os.dup2(null, fd)
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def quiet_tensorflow() -> None:
    """Import TensorFlow and start its devices without a log line reaching the notebook."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with silenced():
        import absl.logging
        import tensorflow as tf

        tf.zeros(()).numpy()  # Starts the devices now: the cuInit line comes from here.
        tf.get_logger().setLevel("ERROR")
        absl.logging.set_verbosity(absl.logging.ERROR)


class NotebookNamespace:
    """A test's ``sub`` in the kernel: the notebook's global names, read when the test asks."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name: str):
        try:
            return self._namespace[name]
        except KeyError:
            raise AttributeError(
                f"{name} is not defined in this notebook yet: run the cell that defines it."
            ) from None


def call_test(function, namespace: dict) -> None:
    """Call one autograder test with ``sub`` (and ``tmp_path``) for the notebook's namespace."""
    arguments = {"sub": NotebookNamespace(namespace)}
    folder = None
    if "tmp_path" in inspect.signature(function).parameters:
        folder = Path(tempfile.mkdtemp(prefix="camp-check-"))
        arguments["tmp_path"] = folder
    try:
        function(**arguments)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Outcome:
    """One test's result in a check."""

    name: str
    function: str | None
    max_points: float
    passed: bool
    hint: str = ""
    message: str = ""
    missing: str | None = None  # The function whose stub raised NotImplementedError.
    seconds: float = 0.0  # How long the test ran (benchmarks/check_speed.py names slow ones).

    @property
    def points(self) -> float:
        return self.max_points if self.passed else 0.0


def _message(error: BaseException) -> str:
    text = str(getattr(error, "msg", None) or error).strip()
    if not isinstance(error, AssertionError | NotImplementedError) and not hasattr(error, "msg"):
        text = f"{type(error).__name__}: {text}"
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:MAX_MESSAGE_LINES])[:MAX_MESSAGE_CHARS]


def run_test(function, namespace: dict, owner: str | None) -> Outcome:
    """Run one test silently and say how it went; KeyboardInterrupt still stops it."""
    marks = [m for m in getattr(function, "pytestmark", []) if m.name == "points"]
    points = float(marks[0].args[0]) if marks and marks[0].args else 0.0
    hint = str(marks[0].kwargs.get("hint", "")) if marks else ""
    outcome = Outcome(function.__name__, owner, points, passed=False, hint=hint)
    start = time.perf_counter()
    try:
        with silenced():
            call_test(function, namespace)
    except NotImplementedError as error:
        stub = STUB.match(str(error))
        outcome.missing = stub.group(1) if stub else (owner or "a function")
        outcome.message = f"not implemented yet: {outcome.missing}"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: B036 - pytest.fail raises a BaseException subclass.
        outcome.message = _message(error)
    else:
        outcome.passed = True
        outcome.hint = ""
    finally:
        outcome.seconds = time.perf_counter() - start
    return outcome


class Report:
    """What a check shows: one row per test, the points, and what to do next."""

    def __init__(self, title: str, outcomes: list[Outcome], advice: str):
        self.title, self.outcomes, self.advice = title, outcomes, advice
        self.points = sum(o.points for o in outcomes)
        self.max_points = sum(o.max_points for o in outcomes)

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (
                "ok" if o.passed else "no",
                o.name,
                f"{o.points:g}/{o.max_points:g}",
                "\n".join(x for x in (o.message, o.hint) if x),
            )
            for o in self.outcomes
        ]

    def headline(self) -> str:
        return f"{self.title}: {self.points:g} / {self.max_points:g} points. {self.advice}".strip()

    def __repr__(self) -> str:
        lines = [self.headline()]
        for mark, name, points, text in self._rows():
            detail = text.replace("\n", "\n" + " " * 8)
            lines.append(
                f"  {mark:3} {points:>7}  {name}" + (f"\n{' ' * 8}{detail}" if text else "")
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.points == self.max_points > 0 else "#b35900"
        cells = "".join(
            f"<tr><td style='color:{'#1a7f37' if mark == 'ok' else '#cf222e'}'>"
            f"{'&#10003;' if mark == 'ok' else '&#10007;'}</td><td><code>{html.escape(name)}"
            f"</code></td><td style='text-align:right'>{html.escape(points)}</td>"
            f"<td style='text-align:left;white-space:pre-wrap'>{html.escape(text)}</td></tr>"
            for mark, name, points, text in self._rows()
        )
        return (
            f"<div><p style='color:{colour}'><b>{html.escape(self.title)}: {self.points:g} / "
            f"{self.max_points:g} points.</b> {html.escape(self.advice)}</p>"
            + (f"<table>{cells}</table>" if cells else "")
            + "</div>"
        )


def _advice(function: str | None, outcomes: list[Outcome]) -> str:
    failing = [o for o in outcomes if not o.passed]
    if not failing:
        return "The test passes." if len(outcomes) == 1 else f"All {len(outcomes)} tests pass."
    cell = "its cell" if function else "their cells"
    if all(o.missing for o in failing):
        missing = ", ".join(dict.fromkeys(o.missing for o in failing))
        return (
            f"Not implemented yet: {missing}. Fill in the region marked YOUR CODE HERE, run "
            f"{cell}, then run this check again."
        )
    return (
        f"{len(failing)} of {len(outcomes)} tests fail: read the hints below, fix "
        f"{function or 'the functions named'}, run {cell}, then run this check again."
    )


class Checker:
    """``check(name)`` runs the public tests of one graded function; ``check()`` runs them all.

    Args:
        namespace: the notebook's ``globals()``, read at each check (so edits count).
        lecture: the lecture number, e.g. ``"01"``.
        functions: the graded functions and classes, in notebook order.
        tests: the text of the lecture's autograder test file.
    """

    def __init__(self, namespace: dict, lecture: str, functions: list[str], tests: str):
        self.namespace, self.lecture, self.functions = namespace, lecture, list(functions)
        self.source = tests
        self.reached = reached_names(tests)
        self.owners = owners_of(self.reached, self.functions)
        self._module: types.ModuleType | None = None

    def _tests(self) -> types.ModuleType:
        if self._module is None:
            module = types.ModuleType(f"camp_check_{self.lecture}")
            with silenced():
                exec(
                    compile(self.source, f"test_{self.lecture}_public.py", "exec"), module.__dict__
                )
            self._module = module
        return self._module

    def __call__(self, function: str | None = None) -> Report | None:
        """Run the tests of ``function`` (all tests when None) and return what to show."""
        if self.namespace.get("__name__") != "__main__":
            return None  # Imported by ``camp check``, which grades the notebook itself.
        if function is not None and function not in self.functions:
            raise ValueError(
                f"check({function!r}): Lecture {self.lecture} has no graded function of that "
                f"name; expected one of {', '.join(self.functions)}."
            )
        names = [t for t, owner in self.owners.items() if function is None or owner == function]
        if not names:
            later = sorted(
                {o for t, o in self.owners.items() if o and function in self.reached[t]},
                key=self.functions.index,
            )
            then = f'; run check("{later[0]}") once that works' if later else ""
            advice = f"No test checks {function} on its own: its tests need later functions{then}."
            return Report(function, [], advice)
        module = self._tests()
        outcomes = [run_test(getattr(module, t), self.namespace, self.owners[t]) for t in names]
        if function is None:
            for outcome in outcomes:
                outcome.name = f"{outcome.function or 'whole notebook'}: {outcome.name}"
        title = function or f"Lecture {self.lecture}"
        return Report(title, outcomes, _advice(function, outcomes))
