"""The pytest plugin of the judge (introduced with Lecture 01's grader).

Registered through the ``pytest11`` entry point, so it is active in every pytest run of this
environment. With ``--submission`` it grades: before any test file is loaded it forks the zygote
that will fork the sandboxed runners; the ``sub`` fixture is the student's module in a runner (one
runner for the public tests and another for hidden tests, so nothing seen by a hidden test can
surface in a public test's message); the ``points(n, hint=..., section=...)`` marker is read into
a JSON report (``--camp-report``) whose points are clamped to ``[0, n]`` per test. The report is
written by this process only, which student code cannot reach.

Time: each test may wait on the student's code for ``--camp-test-limit`` seconds (30; a test's
``points(..., time_limit=S)`` raises it), and the whole lecture until ``--camp-deadline``. A test
past its limit fails naming the student's function that was running, its runner is replaced by a
fresh one for the next test, and the other tests keep their points; tests that find the lecture's
time spent are reported as not run.

Report rows (one per test): ``name``, ``file``, ``hidden``, ``section``, ``max_points``,
``points``, ``passed``, ``hint``, ``message``, ``memory_error``, ``outcome`` (``passed``,
``failed``, ``timeout`` or ``not-run``) and ``function`` (the student's function that ran out of
time). A failure of the whole lecture (the file cannot be imported, or its import never ends) is
reported once, as ``import_error`` or ``import_timeout``, and its rows are ``not-run`` with no
message. Hidden tests' rows say only passed or failed: no message, file, outcome or function, and
a hidden runner that fails to import is reported as ``hidden_failed``, without its text.

Without ``--submission``, ``tests/autograder`` and ``tests/hidden`` are skipped: grading the
untouched exercises there would fail by design.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from course_lib.grading import sandbox
from course_lib.student.submission import SubmissionError, find_lecture_file

_STATE = pytest.StashKey[dict]()
_LECTURE_FILE = re.compile(r"^test_(\d\d)_\w+\.py$")
TEST_LIMIT_S = 30.0  # Seconds a test may wait on student code; the slowest reference test takes 9.
IMPORT_LIMIT_S = 120.0  # Seconds to import the student's file (TensorFlow included).


class NotRun(BaseException):
    """A test not run because the lecture's time budget was spent before it started."""


class LectureFailed(Exception):
    """The ``sub`` fixture's failure when the whole lecture failed (reported once, not per test)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("camp", "image-search-camp autograder")
    group.addoption(
        "--submission",
        default=os.environ.get("CAMP_SUBMISSION"),
        help="Student file, folder or .ipynb to grade (default: $CAMP_SUBMISSION).",
    )
    group.addoption("--camp-report", default=None, help="Write per-test points as JSON here.")
    group.addoption(
        "--hidden-tests",
        default=os.environ.get("CAMP_HIDDEN_TESTS"),
        help="Folder of instructor tests whose failure details are never shown.",
    )
    group.addoption("--camp-slot", type=int, default=None, help="Grading slot (runner uid).")
    group.addoption(
        "--camp-memory-mb", type=int, default=None, help="Memory limit of a runner, MB."
    )
    group.addoption(
        "--camp-test-limit",
        type=float,
        default=TEST_LIMIT_S,
        help="Seconds a test may wait on the student's code (points(time_limit=) raises it).",
    )
    group.addoption(
        "--camp-deadline",
        type=float,
        default=None,
        help="Time (seconds since the epoch) by which the report must be written.",
    )


def pytest_configure(config: pytest.Config) -> None:
    from course_lib.grading.clock import Clock

    state = {"tests": [], "import_error": None, "runners": {}, "zygote": None, "deaths": []}
    state |= {"import_timeout": None, "hidden_failed": False, "jobs": {}}
    deadline = config.getoption("--camp-deadline")
    state["clock"] = Clock(None if deadline is None else time.monotonic() + deadline - time.time())
    config.stash[_STATE] = state
    if config.getoption("--submission"):
        from course_lib.grading.zygote import Zygote

        state["zygote"] = Zygote()  # Forked now: no test module is loaded yet.


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--submission"):
        return None
    # Public and hidden autograder tests grade a submission; the project's own run skips them.
    if collection_path.name in ("autograder", "hidden") and collection_path.parent.name == "tests":
        return True
    return None


def _lecture_of(path: Path) -> str:
    match = _LECTURE_FILE.match(path.name)
    if match is None:
        raise SubmissionError(
            f"Expected an autograder file named test_NN_topic.py; received {path.name}."
        )
    return match.group(1)


def _is_hidden(config: pytest.Config, path: Path) -> bool:
    hidden = config.getoption("--hidden-tests")
    return bool(hidden) and Path(hidden).resolve() in Path(path).resolve().parents


def _slot(config: pytest.Config) -> int:
    slot = config.getoption("--camp-slot")
    return slot if slot is not None else 1000 + os.getpid() % 3000


def _import_limit(state: dict) -> float:
    left = state["clock"].budget_left()
    return IMPORT_LIMIT_S if left is None else max(min(IMPORT_LIMIT_S, left), 0.0)


def _runner(config: pytest.Config, lecture: str, hidden: bool):
    state = config.stash[_STATE]
    key = (lecture, hidden)
    if key not in state["runners"]:
        target = find_lecture_file(Path(config.getoption("--submission")), lecture).resolve()
        memory = config.getoption("--camp-memory-mb")
        settings = {"memory_mb": memory} if memory else {}
        left = state["clock"].budget_left()
        if left is not None:  # The watchdog's backstop: the whole budget on every core.
            settings["cpu_s"] = max(left, 1.0) * (os.cpu_count() or 1)
        limits = sandbox.Limits(**settings)
        root = tempfile.mkdtemp(prefix="camp-runner-")
        job = {
            "submission": str(target),
            "name": target.name,
            "shown_as": str(target),
            "lecture": lecture,
            "slot": _slot(config),
            "root": root,
            "limits": limits.__dict__,
        }
        state["jobs"][key] = job
        try:
            client = state["zygote"].start(job, _import_limit(state), state["clock"])
            state["runners"][key] = (client, root)
        except Exception as error:  # A runner that cannot even start is the student's failure.
            state["runners"][key] = (None, root)
            if hidden:
                state["hidden_failed"] = True
            else:
                state["import_error"] = f"The student's code could not be started ({error})."
    return state["runners"][key][0]


def _replace_stuck_runners(state: dict) -> None:
    """After a test: a runner that ran out of time is killed and replaced by a fresh one."""
    for key, (client, _) in state["runners"].items():
        if client is not None and client.stuck is not None:
            state["zygote"].finish(client)
            fresh = state["zygote"].start(state["jobs"][key], _import_limit(state))
            client.adopt(fresh)


@pytest.fixture(scope="module")
def sub(request: pytest.FixtureRequest):
    """The student's module for the lecture of the requesting test file, in a runner."""
    config = request.config
    if not config.getoption("--submission"):
        pytest.fail("No submission to grade: pass --submission PATH or set CAMP_SUBMISSION.")
    state = config.stash[_STATE]
    hidden = _is_hidden(config, request.path)
    try:
        lecture = _lecture_of(Path(request.path))
        client = _runner(config, lecture, hidden)
    except SubmissionError as error:
        state["import_error"] = str(error)
        raise LectureFailed(str(error)) from None
    if hidden and (client is None or client.dead is not None or client.import_error):
        if client is not None and not state["import_error"]:
            state["hidden_failed"] = True  # Its text could carry what a hidden test showed.
        raise LectureFailed("The student's code failed in the hidden tests' runner.")
    if client is not None and client.import_timeout is not None:
        state["import_timeout"] = client.import_timeout
        raise LectureFailed(f"Importing the file took over {client.import_timeout:g} s.")
    if client is not None and client.dead is not None:
        raise LectureFailed(f"The student's code stopped {client.dead}.")
    if client is None or client.import_error:
        if client is not None:
            state["import_error"] = client.import_error
        raise LectureFailed(state["import_error"])
    return client.module


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    own = marker.kwargs.get("time_limit") if marker else None
    default = item.config.getoption("--camp-test-limit")
    return max(float(own), default) if own is not None else default


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Run a test under its time limit; afterwards, replace a runner left stuck by it."""
    state = item.config.stash[_STATE]
    if not item.config.getoption("--submission"):
        return (yield)
    left = state["clock"].budget_left()
    if left is not None and left <= 0:
        raise NotRun("Not run: the lecture's time limit was spent by the tests before this one.")
    state["clock"].start_test(_limit(item))
    try:
        return (yield)
    finally:
        state["clock"].end_test()
        _replace_stuck_runners(state)


def _short_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[:6])[:800]


def _outcome(item: pytest.Item, call: pytest.CallInfo, report) -> tuple[str, str, str]:
    """``(outcome, function, message)`` of a test that ran (or was meant to)."""
    from course_lib.grading.clock import TimeLimit
    from course_lib.grading.remote import RunnerGone

    if report.passed:
        return "passed", "", ""
    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, LectureFailed | RunnerGone):
        return "not-run", "", ""  # The lecture's own status and detail say why, once.
    if isinstance(error, NotRun):
        return "not-run", "", str(error)
    if isinstance(error, TimeLimit):
        return "timeout", error.function, str(error)
    message = _short_message(report)
    if "NotImplementedError" in message:
        message = "Not implemented yet (the function still raises NotImplementedError)."
    return "failed", "", message


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" or (report.when == "setup" and not report.passed):
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker and marker.args else 0.0
        points = max(points, 0.0)
        hint = marker.kwargs.get("hint", "") if marker else ""
        hidden = _is_hidden(item.config, item.path)
        outcome, function, message = _outcome(item, call, report)
        if hidden:  # Points and a hint, nothing a hidden input could have shaped.
            outcome = "passed" if report.passed else "failed"
            function = message = ""
        item.config.stash[_STATE]["tests"].append(
            {
                "name": item.name,
                "file": "" if hidden else Path(item.path).name,
                "hidden": hidden,
                "section": marker.kwargs.get("section", "") if marker else "",
                "max_points": points,
                "points": points if report.passed else 0.0,
                "passed": report.passed,
                "hint": "" if report.passed else hint,
                "message": message,
                "memory_error": not hidden and "MemoryError" in str(report.longrepr or ""),
                "outcome": outcome,
                "function": function,
            }
        )
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    isolation = []
    for (_, hidden), (client, root) in state["runners"].items():
        if client is not None:
            code = state["zygote"].finish(client)
            isolation.append(client.isolation or "limits")
            if (code is not None or client.dead is not None) and client.import_timeout is None:
                tail = "" if hidden else client.output.decode("utf-8", "replace")[-300:]
                state["deaths"].append({"code": code, "output": tail, "hidden": hidden})
        try:
            os.rmdir(root)
        except OSError:
            pass
    if state["runners"]:  # After every runner was polled: whatever they left behind.
        sandbox.kill_uid(sandbox.FIRST_UID + _slot(session.config))
    if state["zygote"] is not None:
        state["zygote"].close()
    path = session.config.getoption("--camp-report")
    if path:
        keys = ("tests", "import_error", "import_timeout", "hidden_failed", "deaths")
        report = {key: state[key] for key in keys}
        report["isolation"] = min(isolation, key=sandbox.LEVELS.index) if isolation else None
        Path(path).write_text(json.dumps(report, indent=1))
