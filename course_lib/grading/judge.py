"""Grade one lecture of one submission: the judge process and its verdict (Lecture 01's grader).

The judge is a pytest process (``course_lib.grading.plugin``) with a wall-clock timeout, its own
session and an address-space limit; it never imports student code, which runs in sandboxed
runners it forks (``course_lib.grading.runner``). This module starts the judge, reads its report,
clamps every test's points to what the test file declares, recomputes the total, and names what
went wrong: an infinite loop, a crash, ``sys.exit()``, ``os._exit``, a huge allocation, a broken
channel each cost that lecture's points and get a status; the caller never sees an exception.

Time: the judge must report before ``timeout_s`` (else it is killed: status ``timeout``); inside
that, each test waits at most its own limit on the student's code (``plugin.TEST_LIMIT_S``), so
a slow or looping function costs the tests that call it (rows with ``outcome`` ``timeout`` naming
the function) and the other tests keep their points.

Hidden tests: what students see of them is points and, when their pass fails as a whole, one
generic line (``HIDDEN_FAILURE``); never their paths, inputs, exception text or output.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.forkserver import kill_session
from course_lib.grading.sandbox import (
    CPU_LIMIT_EXIT,
    FIRST_UID,
    LEVELS,
    claim_slots,
    kill_uid,
    release_slots,
)
from course_lib.paths import project_root, user_home
from course_lib.student.submission import SubmissionError, choose_lecture_file

DEFAULT_TIMEOUT_S = 300  # Wall-clock seconds for one lecture's tests.
DEFAULT_MEMORY_MB = 6144  # Address-space limit of a runner; TensorFlow maps ~3 GB.
JUDGE_MEMORY_MB = 8192  # Address-space limit of the judge, which also holds TensorFlow.
SEED = 0  # Seed exported to the tests as CAMP_SEED (tests fix their own seeds as well).
REPORT_RESERVE_S = 20.0  # Seconds kept, at most, after the tests to end the runners and report.
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


def test_files(lecture: str, root: Path | None = None) -> list[Path]:
    """Return the autograder file of ``lecture``; CourseError when the lecture does not exist."""
    root = root or project_root()
    files = sorted((root / "tests" / "autograder").glob(f"test_{lecture}_*.py"))
    if not files:
        known = ", ".join(available_lectures(root)) or "none"
        raise CourseError(f"Lecture {lecture!r} does not exist; available lectures: {known}.")
    return files


def available_lectures(root: Path | None = None) -> list[str]:
    """Return the lecture numbers that have autograder tests, e.g. ``["01", "02"]``."""
    root = root or project_root()
    names = (root / "tests" / "autograder").glob("test_[0-9][0-9]_*.py")
    return sorted({p.name[5:7] for p in names})


def hidden_test_files(hidden_dir: Path | None, lecture: str) -> list[Path]:
    """Return the instructor's hidden test files for ``lecture`` (``test_NN_*.py``)."""
    if hidden_dir is None:
        return []
    if not hidden_dir.is_dir():
        raise CourseError(f"Hidden tests folder not found: {hidden_dir}.")
    if (hidden_dir / "conftest.py").exists():
        raise CourseError(
            f"{hidden_dir / 'conftest.py'}: a hidden tests folder cannot hold a conftest.py "
            "(pytest loads it before the runners start, so student code could read it); move "
            "its fixtures or helpers into the test files."
        )
    return sorted(hidden_dir.glob(f"test_{lecture}_*.py"))


def declared_points(path: Path) -> dict[str, float]:
    """Read ``@pytest.mark.points(N)`` from a test file without running it: name → points."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    points = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and getattr(decorator.func, "attr", "") == "points"
                    and decorator.args
                ):
                    points[node.name] = float(ast.literal_eval(decorator.args[0]))
    return points


def _failed(lecture, submission, status, detail, max_points, tests=()) -> LectureResult:
    return LectureResult(lecture, str(submission), status, 0.0, max_points, detail, list(tests))


KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
KEPT_ENV += ("CAMP_ROOT", "CAMP_SHARED", "CAMP_SKIP_DEMOS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def grading_env() -> dict[str, str]:
    """The environment of every grading process: fixed seeds, quiet TensorFlow, no windows.

    Only the variables in ``KEPT_ENV`` pass: the judge's memory, which its runners inherit, must
    not hold the instructor's tokens or keys.
    """
    env = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    env.update(CAMP_SEED=str(SEED), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    # Tests of later lectures read the student's check records (student.lectures): the judge
    # runs in a scratch folder, so it gets the user's data folder as an absolute path.
    env["CAMP_HOME"] = str(user_home())
    env["PYTHONHASHSEED"] = str(SEED)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # The judge names its one plugin (-p).
    return env


def grade_lecture(
    lecture: str,
    submission: Path,
    hidden_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    server=None,
    slot: int | None = None,
    parts: tuple[str, ...] = ("public", "hidden"),
    test_limit_s: float | None = None,
) -> LectureResult:
    """Grade ``lecture`` of ``submission`` (a file, folder or ``.ipynb``) and return the result.

    Args:
        server: a ``course_lib.grading.forkserver.ForkServer`` to fork the judge from (a class
            at a time: it saves the TensorFlow import); None starts a fresh process.
        slot: the grading slot, which picks the runner's uid (distinct per parallel slot).
        parts: which tests to run, ``"public"`` and/or ``"hidden"`` (a class grades them in
            two passes; see ``merge_parts``).
        test_limit_s: seconds each test may wait on the student's code (default
            ``plugin.TEST_LIMIT_S``; a test's ``points(time_limit=)`` raises it).
    """
    if slot is None:
        claimed = claim_slots(1)
        try:
            return grade_lecture(
                lecture,
                submission,
                hidden_dir,
                timeout_s,
                memory_mb,
                server,
                claimed[0],
                parts,
                test_limit_s,
            )
        finally:
            release_slots(claimed)
    files = test_files(lecture) if "public" in parts else []
    hidden_files = hidden_test_files(hidden_dir, lecture) if "hidden" in parts else []
    files += hidden_files
    declared = {name: pts for f in files for name, pts in declared_points(f).items()}
    max_points = sum(declared.values())
    try:
        target, others = choose_lecture_file(Path(submission), lecture)
    except SubmissionError as error:
        return _failed(lecture, submission, "missing", clean_text(str(error)), max_points)

    with tempfile.TemporaryDirectory(prefix="camp-grade-") as scratch:
        os.chmod(scratch, 0o700)
        report_path = Path(scratch) / "report.json"
        args = [str(f.resolve()) for f in files]  # The judge runs in the scratch folder.
        # Only the judge's plugin: an instructor's installed plugins (a test shuffler, a coverage
        # tool) must not change grades, and the judge need not import them for every student.
        args += [
            "-q",
            "-p",
            "course_lib.grading.plugin",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
        ]
        args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]  # The server preloads it.
        args += ["--submission", str(target.resolve()), "--camp-report", str(report_path)]
        args += ["--camp-memory-mb", str(memory_mb)]
        reserve = min(REPORT_RESERVE_S, 0.25 * timeout_s)
        args += ["--camp-deadline", repr(time.time() + timeout_s - reserve)]
        if test_limit_s is not None:
            args += ["--camp-test-limit", repr(float(test_limit_s))]
        if slot is not None:
            args += ["--camp-slot", str(slot)]
        if hidden_dir is not None:
            args += ["--hidden-tests", str(hidden_dir.resolve())]
        returncode = text = None
        if server is not None:
            output = Path(scratch) / "output.txt"
            job = {
                "args": args,
                "cwd": scratch,
                "output": str(output),
                "memory_mb": JUDGE_MEMORY_MB,
            }
            try:
                returncode = server.run(job | {"env": {"CAMP_SEED": str(SEED)}}, timeout_s)
                text = output.read_text("utf-8", "replace") if output.exists() else ""
            except (OSError, RuntimeError, ValueError):  # The warm server died: use a fresh one.
                server = None
        if server is None:
            returncode, text = _run_process(args, scratch, timeout_s)
        if slot is not None:
            kill_uid(FIRST_UID + slot)  # Whatever student code of this slot left running.
        if returncode is None and parts == ("hidden",):
            return _failed(lecture, target, "crashed", HIDDEN_FAILURE, max_points)
        if returncode is None:
            detail = f"Timed out after {timeout_s:g} s (an infinite loop or very slow code?)."
            return _failed(lecture, target, "timeout", detail, max_points)
        try:
            report = json.loads(report_path.read_text()) if report_path.exists() else None
        except ValueError:
            report = None
    if hidden_files:  # pytest's own output may quote a hidden test's assertion.
        text = "(not shown: hidden tests ran)"
    result = _interpret(lecture, target, returncode, text, report, declared, memory_mb)
    if parts == ("hidden",) and result.status in FAILED_AS_A_WHOLE:
        result.status, result.detail = "crashed", HIDDEN_FAILURE
    if others:
        names = ", ".join(p.name for p in others)
        result.warning = f"Graded {target.name}; also found {names} (not graded)."
    return result


def _run_process(args: list[str], cwd: str, timeout_s: float):
    """Run the judge in a fresh, confined process; return (returncode or None, output)."""
    command = [sys.executable, "-m", "course_lib.grading.forkserver", "--limit"]
    command += [str(JUDGE_MEMORY_MB), "--", sys.executable, "-m", "pytest", *args]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=grading_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_session(process.pid)
        process.communicate()
        return None, ""
    finally:
        kill_session(process.pid)  # Anything the judge left running.
    return process.returncode, output.decode("utf-8", "replace")


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


def _interpret(lecture, target, returncode, text, report, declared, memory_mb) -> LectureResult:
    max_points = sum(declared.values())
    if report is None:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            status = "memory-limit" if _MEMORY_WORDS.search(text) else "crashed"
            return _failed(lecture, target, status, f"The judge was killed by {name}.", max_points)
        detail = f"The judge ended with code {returncode} and no report: {text.strip()[-300:]}"
        return _failed(lecture, target, "crashed", detail, max_points)
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
        result = _failed(lecture, target, "timeout", detail, max_points, tests)
        result.isolation = isolation
        return result
    if report.get("import_error"):
        error = clean_text(report["import_error"])
        status = "memory-limit" if "MemoryError" in error else "import-error"
        result = _failed(lecture, target, status, error, max_points, tests)
        result.isolation = isolation
        return result
    public_deaths = [d for d in report.get("deaths", []) if not d.get("hidden")]
    deaths = public_deaths or report.get("deaths", [])
    if deaths:
        status, detail = _death(deaths[0], memory_mb)
        detail = clean_text(detail)
        result = _failed(lecture, target, status, detail, max_points, tests)
        result.isolation = isolation
        return result
    if returncode not in (0, 1):
        detail = f"pytest ended with code {returncode}: {text.strip()[-300:]}"
        return _failed(lecture, target, "crashed", detail, max_points, tests)
    if report.get("hidden_failed"):
        result = _failed(lecture, target, "crashed", HIDDEN_FAILURE, max_points, tests)
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
