"""The pytest plugin of the judge (introduced with Lecture 01's grader).

Registered through the ``pytest11`` entry point, so it is active in every pytest run of this
environment. With ``--submission`` it grades: before any test file is loaded it forks the zygote
that will fork the sandboxed runners; the ``sub`` fixture is the student's module in a runner (one
runner for the public tests and another for hidden tests, so nothing seen by a hidden test can
surface in a public test's message); the ``points(n, hint=..., section=...)`` marker is read into
a JSON report (``--camp-report``) whose points are clamped to ``[0, n]`` per test. The report is
written by this process only, which student code cannot reach.

Without ``--submission``, ``tests/autograder`` is skipped: grading the untouched exercises there
would fail by design.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from course_lib.grading import sandbox
from course_lib.student.submission import SubmissionError, find_lecture_file

_STATE = pytest.StashKey[dict]()
_LECTURE_FILE = re.compile(r"^test_(\d\d)_\w+\.py$")


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


def pytest_configure(config: pytest.Config) -> None:
    state = {"tests": [], "import_error": None, "runners": {}, "zygote": None, "deaths": []}
    config.stash[_STATE] = state
    if config.getoption("--submission"):
        from course_lib.grading.remote import Zygote

        state["zygote"] = Zygote()  # Forked now: no test module is loaded yet.


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--submission"):
        return None
    if collection_path.name == "autograder" and collection_path.parent.name == "tests":
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


def _runner(config: pytest.Config, lecture: str, hidden: bool):
    state = config.stash[_STATE]
    key = (lecture, hidden)
    if key not in state["runners"]:
        target = find_lecture_file(Path(config.getoption("--submission")), lecture).resolve()
        memory = config.getoption("--camp-memory-mb")
        limits = sandbox.Limits(**({"memory_mb": memory} if memory else {}))
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
        try:
            state["runners"][key] = (state["zygote"].start(job), root)
        except Exception as error:  # A runner that cannot even start is the student's failure.
            state["runners"][key] = (None, root)
            state["import_error"] = f"The student's code could not be started ({error})."
    return state["runners"][key][0]


@pytest.fixture(scope="module")
def sub(request: pytest.FixtureRequest):
    """The student's module for the lecture of the requesting test file, in a runner."""
    config = request.config
    if not config.getoption("--submission"):
        pytest.fail("No submission to grade: pass --submission PATH or set CAMP_SUBMISSION.")
    state = config.stash[_STATE]
    try:
        lecture = _lecture_of(Path(request.path))
        client = _runner(config, lecture, _is_hidden(config, request.path))
    except SubmissionError as error:
        state["import_error"] = str(error)
        pytest.fail(str(error), pytrace=False)
    if client is not None and client.dead is not None:
        pytest.fail(f"The student's code stopped {client.dead}.", pytrace=False)
    if client is None or client.import_error:
        if client is not None:
            state["import_error"] = client.import_error
        pytest.fail(state["import_error"], pytrace=False)
    return client.module


def _short_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[:6])[:800]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" or (report.when == "setup" and not report.passed):
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker and marker.args else 0.0
        points = max(points, 0.0)
        hint = marker.kwargs.get("hint", "") if marker else ""
        hidden = _is_hidden(item.config, item.path)
        message = "" if report.passed or hidden else _short_message(report)
        if not report.passed and "NotImplementedError" in message:
            message = "Not implemented yet (the function still raises NotImplementedError)."
        item.config.stash[_STATE]["tests"].append(
            {
                "name": item.name,
                "file": Path(item.path).name,
                "hidden": hidden,
                "section": marker.kwargs.get("section", "") if marker else "",
                "max_points": points,
                "points": points if report.passed else 0.0,
                "passed": report.passed,
                "hint": "" if report.passed else hint,
                "message": message,
                "memory_error": "MemoryError" in str(report.longrepr or ""),
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
            if code is not None or client.dead is not None:
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
        report = {key: state[key] for key in ("tests", "import_error", "deaths")}
        report["isolation"] = min(isolation, key=sandbox.LEVELS.index) if isolation else None
        Path(path).write_text(json.dumps(report, indent=1))
