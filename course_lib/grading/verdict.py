"""The verdict on one lecture of one submission: its result and how the judge's report reads.

Introduced with Lecture 01's grader; split from ``course_lib.grading.judge``, which runs the judge
process and hands its report here. ``interpret`` clamps every test's points to what the test file
declares, recomputes the total and names what went wrong (an infinite loop, a crash,
``sys.exit()``, ``os._exit``, a huge allocation, a broken channel), each a ``status`` that costs
the lecture's points; ``merge_parts`` joins a class's public and hidden passes.
"""

from __future__ import annotations

import re
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.grading.sandbox import CPU_LIMIT_EXIT, LEVELS

HIDDEN_FAILURE = "The student's code failed during the hidden tests (hidden tests show no details)."


@dataclass
class LectureResult:
    """The outcome of grading one lecture: per-test rows and a status for the whole run.

    ``status`` is one of: ``full-marks``, ``graded``, ``import-error``, ``missing``, ``timeout``,
    ``memory-limit``, ``crashed``, ``exited``, ``protocol-error``. ``isolation`` is the sandbox
    level the student code ran under (``course_lib.grading.sandbox.LEVELS``); ``warning`` names
    other candidate files for the lecture that were not graded.
    """

    lecture: str
    submission: str
    status: str
    points: float
    max_points: float
    detail: str = ""
    tests: list[dict] = field(default_factory=list)
    isolation: str | None = None
    warning: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def failed(lecture, submission, status, detail, max_points, tests=()) -> LectureResult:
    return LectureResult(lecture, str(submission), status, 0.0, max_points, detail, list(tests))


_MEMORY_WORDS = re.compile(r"MemoryError|std::bad_alloc|Cannot allocate memory|OOM")


def clean_text(text: str) -> str:
    """Student-controlled text made safe to store and show: valid UTF-8, no control codes."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _death(death: dict, memory_mb: int) -> tuple[str, str]:
    """Status and detail of a runner that ended or broke its channel before grading ended."""
    if death.get("hidden"):  # Nothing about a hidden-test runner's end reaches the student.
        return "crashed", HIDDEN_FAILURE
    code, output = death.get("code"), str(death.get("output", ""))
    tail = f" Last output: {output.strip()[-300:]}" if output.strip() else ""
    if code is None:
        return "protocol-error", "The student's code broke the grading channel." + tail
    if code == CPU_LIMIT_EXIT and "CPU-time limit" in output:
        return "timeout", "The student's code used up its CPU-time limit." + tail
    number = code - 128 if code > 128 else -code if code < 0 else 0
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if _MEMORY_WORDS.search(output):
            return "memory-limit", f"The student's code was killed by {name} (memory limit " + (
                f"{memory_mb} MB?).{tail}"
            )
        return "crashed", f"The student's code was killed by {name}.{tail}"
    return "exited", (
        f"The student's code exited early with code {code} (sys.exit() or os._exit()?).{tail}"
    )


def _clamp(tests: list[dict], declared: dict[str, float]) -> list[dict]:
    """Keep one row per declared test with its points clamped to [0, declared]."""
    rows, seen = [], set()
    for test in tests:
        name = test.get("name")
        if name not in declared or name in seen:
            continue
        seen.add(name)
        passed = test.get("passed") is True
        outcome = test.get("outcome", "passed" if passed else "failed")
        rows.append(test | {"max_points": declared[name], "passed": passed, "outcome": outcome})
        rows[-1]["points"] = declared[name] if passed else 0.0
        rows[-1].setdefault("function", "")
    return rows


def interpret(lecture, target, returncode, text, report, declared, memory_mb) -> LectureResult:
    max_points = sum(declared.values())
    if report is None:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            status = "memory-limit" if _MEMORY_WORDS.search(text) else "crashed"
            return failed(lecture, target, status, f"The judge was killed by {name}.", max_points)
        detail = f"The judge ended with code {returncode} and no report: {text.strip()[-300:]}"
        return failed(lecture, target, "crashed", detail, max_points)
    tests = _clamp(report.get("tests", []), declared)
    for test in tests:
        test["message"] = clean_text(test.get("message", ""))
    isolation = report.get("isolation")
    if report.get("import_timeout") is not None and not report.get("import_error"):
        seconds = float(report["import_timeout"])
        detail = (
            f"Importing {Path(target).name} did not finish within {seconds:.0f} s (an infinite "
            "loop, or slow code such as a training, at the top level outside the functions?)."
        )
        result = failed(lecture, target, "timeout", detail, max_points, tests)
        result.isolation = isolation
        return result
    if report.get("import_error"):
        error = clean_text(report["import_error"])
        status = "memory-limit" if "MemoryError" in error else "import-error"
        result = failed(lecture, target, status, error, max_points, tests)
        result.isolation = isolation
        return result
    public_deaths = [d for d in report.get("deaths", []) if not d.get("hidden")]
    deaths = public_deaths or report.get("deaths", [])
    if deaths:
        status, detail = _death(deaths[0], memory_mb)
        detail = clean_text(detail)
        result = failed(lecture, target, status, detail, max_points, tests)
        result.isolation = isolation
        return result
    if returncode not in (0, 1):
        detail = f"pytest ended with code {returncode}: {text.strip()[-300:]}"
        return failed(lecture, target, "crashed", detail, max_points, tests)
    if report.get("hidden_failed"):
        result = failed(lecture, target, "crashed", HIDDEN_FAILURE, max_points, tests)
        result.isolation = isolation
        return result
    points = sum(t["points"] for t in tests)
    if any(t.get("memory_error") for t in tests):
        status, detail = "memory-limit", f"Some tests ran out of memory (limit {memory_mb} MB)."
    elif points == max_points and len(tests) == len(declared):
        status, detail = "full-marks", ""
    else:
        status, detail = "graded", ""
    return LectureResult(lecture, str(target), status, points, max_points, detail, tests, isolation)


FAILED_AS_A_WHOLE = ("missing", "timeout", "import-error", "crashed", "exited", "protocol-error")


def merge_parts(public: LectureResult, hidden: LectureResult) -> LectureResult:
    """One lecture's result from its public and its hidden pass (graded at different times).

    A pass that failed as a whole (a timeout, a crash...) costs the lecture its points, as in one
    pass; the public pass's status and detail come first, since the hidden one says little.
    """
    tests = public.tests + hidden.tests
    maximum = public.max_points + hidden.max_points
    levels = [r.isolation for r in (public, hidden) if r.isolation]
    isolation = min(levels, key=LEVELS.index) if levels else None
    for part in (public, hidden):
        if part.status in FAILED_AS_A_WHOLE:
            # A hidden runner's end says little; a memory limit the public pass met says more.
            shown = public if public.status == "memory-limit" else part
            return LectureResult(
                public.lecture,
                public.submission,
                shown.status,
                0.0,
                maximum,
                shown.detail,
                tests,
                isolation,
                public.warning,
            )
    points = public.points + hidden.points
    statuses = {public.status, hidden.status}
    status = "full-marks" if statuses == {"full-marks"} else "graded"
    status = "memory-limit" if "memory-limit" in statuses else status
    detail = " ".join(r.detail for r in (public, hidden) if r.detail)
    return LectureResult(
        public.lecture,
        public.submission,
        status,
        points,
        maximum,
        detail,
        tests,
        isolation,
        public.warning,
    )
