"""The pytest plugin behind the autograder (introduced with Lecture 01).

Registered through the ``pytest11`` entry point, so it is active in every pytest run of this
environment. It adds:

- ``--submission PATH``: the file, folder or ``.ipynb`` to grade (or ``$CAMP_SUBMISSION``);
- the ``sub`` fixture: the submission's lecture module, imported once per session;
- the ``points(n, hint=..., section=...)`` marker read into a JSON report (``--camp-report``);
- ``tests/autograder`` is skipped by plain ``pytest`` runs that name no submission, since grading
  the untouched exercises there would fail by design.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from course_lib.submission import SubmissionError, import_lecture

_REPORT_KEY = pytest.StashKey[dict]()
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


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT_KEY] = {"tests": [], "import_error": None}


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


@pytest.fixture(scope="module")
def sub(request: pytest.FixtureRequest):
    """The student's module for the lecture of the requesting test file."""
    submission = request.config.getoption("--submission")
    if not submission:
        pytest.fail("No submission to grade: pass --submission PATH or set CAMP_SUBMISSION.")
    lecture = _lecture_of(Path(request.path))
    try:
        return import_lecture(Path(submission), lecture)
    except SubmissionError as error:
        request.config.stash[_REPORT_KEY]["import_error"] = str(error)
        pytest.fail(str(error), pytrace=False)


def _is_hidden(item: pytest.Item) -> bool:
    hidden = item.config.getoption("--hidden-tests")
    return bool(hidden) and Path(hidden).resolve() in Path(item.path).resolve().parents


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
        hint = marker.kwargs.get("hint", "") if marker else ""
        hidden = _is_hidden(item)
        message = "" if report.passed or hidden else _short_message(report)
        if not report.passed and "NotImplementedError" in message:
            message = "Not implemented yet (the function still raises NotImplementedError)."
        item.config.stash[_REPORT_KEY]["tests"].append(
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
    path = session.config.getoption("--camp-report")
    if path:
        Path(path).write_text(json.dumps(session.config.stash[_REPORT_KEY], indent=1))
