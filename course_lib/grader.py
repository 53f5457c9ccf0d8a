"""Grade one lecture of one submission in an isolated subprocess (introduced with Lecture 01).

Student code is untrusted: pytest runs in a child process (via ``course_lib.sandbox``) with a
wall-clock timeout, an address space limit (RLIMIT_AS), no core dumps, and its own process
group so that anything it spawns is killed with it. Whatever goes wrong in the child (an
infinite loop, a segfault, ``sys.exit()``, ``os._exit``, a huge allocation) costs that lecture's
points and is reported by status; the caller never sees an exception for it.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.forkserver import kill_session
from course_lib.paths import project_root
from course_lib.submission import SubmissionError, find_lecture_file

DEFAULT_TIMEOUT_S = 300  # Wall-clock seconds for one lecture's tests.
DEFAULT_MEMORY_MB = 6144  # Address-space limit of a grading process; TensorFlow maps ~3 GB.
SEED = 0  # Seed exported to the tests as CAMP_SEED (tests fix their own seeds as well).


@dataclass
class LectureResult:
    """The outcome of grading one lecture: per-test rows and a status for the whole run.

    ``status`` is one of: ``full-marks``, ``graded``, ``import-error``, ``missing``, ``timeout``,
    ``memory-limit``, ``crashed``, ``exited``.
    """

    lecture: str
    submission: str
    status: str
    points: float
    max_points: float
    detail: str = ""
    tests: list[dict] = field(default_factory=list)

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


def grading_env() -> dict[str, str]:
    """The environment of every grading process: fixed seeds, quiet TensorFlow, no windows."""
    env = dict(os.environ, CAMP_SEED=str(SEED), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    env["PYTHONHASHSEED"] = str(SEED)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def grade_lecture(
    lecture: str,
    submission: Path,
    hidden_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    server=None,
) -> LectureResult:
    """Grade ``lecture`` of ``submission`` (a file, folder or ``.ipynb``) and return the result.

    Args:
        server: a ``course_lib.forkserver.ForkServer`` to fork the grading process from (a
            class at a time: it saves the TensorFlow import); None starts a fresh process.
    """
    files = test_files(lecture) + hidden_test_files(hidden_dir, lecture)
    declared = {name: pts for f in files for name, pts in declared_points(f).items()}
    max_points = sum(declared.values())
    try:
        target = find_lecture_file(Path(submission), lecture)
    except SubmissionError as error:
        return _failed(lecture, submission, "missing", str(error), max_points)

    with tempfile.TemporaryDirectory(prefix="camp-grade-") as scratch:
        report_path = Path(scratch) / "report.json"
        args = [*map(str, files), "-q", "-p", "no:cacheprovider", "-o", "addopts="]
        args += ["--submission", str(target.resolve()), "--camp-report", str(report_path)]
        if hidden_dir is not None:
            args += ["--hidden-tests", str(hidden_dir.resolve())]
        returncode = text = None
        if server is not None:
            output = Path(scratch) / "output.txt"
            job = {"args": args, "cwd": scratch, "output": str(output), "memory_mb": memory_mb}
            try:
                returncode = server.run(job | {"env": {"CAMP_SEED": str(SEED)}}, timeout_s)
                text = output.read_text("utf-8", "replace") if output.exists() else ""
            except (OSError, RuntimeError):  # The warm server died: use a fresh process.
                server = None
        if server is None:
            returncode, text = _run_process(args, scratch, timeout_s, memory_mb)
        if returncode is None:
            detail = f"Timed out after {timeout_s:g} s (an infinite loop or very slow code?)."
            return _failed(lecture, target, "timeout", detail, max_points)
        report = json.loads(report_path.read_text()) if report_path.exists() else None
    return _interpret(lecture, target, returncode, text, report, max_points, memory_mb)


def _run_process(args: list[str], cwd: str, timeout_s: float, memory_mb: int):
    """Run pytest in a fresh, confined process; return (returncode or None on timeout, output)."""
    command = [sys.executable, "-m", "course_lib.sandbox", str(memory_mb), "--"]
    command += [sys.executable, "-m", "pytest", *args]
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
        kill_session(process.pid)  # Anything the grading process left running.
    return process.returncode, output.decode("utf-8", "replace")


def _interpret(lecture, target, returncode, text, report, max_points, memory_mb) -> LectureResult:
    memory_words = re.search(r"MemoryError|std::bad_alloc|Cannot allocate memory|OOM", text)
    if report is None:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            status = "memory-limit" if memory_words else "crashed"
            detail = f"The grading process was killed by {name}"
            if status == "memory-limit":
                detail += f" after exceeding the {memory_mb} MB memory limit"
            return _failed(lecture, target, status, detail + ".", max_points)
        if memory_words:
            detail = f"Ran out of memory (limit {memory_mb} MB) before finishing."
            return _failed(lecture, target, "memory-limit", detail, max_points)
        detail = (
            f"The grading process exited early with code {returncode} (sys.exit() or os._exit() "
            f"in student code?). Last output: {text.strip()[-300:]}"
        )
        return _failed(lecture, target, "exited", detail, max_points)
    tests = report["tests"]
    if report.get("import_error"):
        status = "memory-limit" if "MemoryError" in report["import_error"] else "import-error"
        return _failed(lecture, target, status, report["import_error"], max_points, tests)
    if returncode not in (0, 1):
        detail = f"pytest ended with code {returncode}: {text.strip()[-300:]}"
        return _failed(lecture, target, "crashed", detail, max_points, tests)
    points = sum(t["points"] for t in tests)
    if any(t["memory_error"] for t in tests):
        status, detail = "memory-limit", f"Some tests ran out of memory (limit {memory_mb} MB)."
    elif points == max_points and all(t["passed"] for t in tests):
        status, detail = "full-marks", ""
    else:
        status, detail = "graded", ""
    return LectureResult(lecture, str(target), status, points, max_points, detail, tests)
