"""Grade one lecture of one submission: the judge process (Lecture 01's grader).

The judge is a pytest process (``course_lib.grading.plugin``) with a wall-clock timeout, its own
session and an address-space limit; it never imports student code, which runs in sandboxed
runners it forks (``course_lib.grading.runner``). This module starts the judge and hands its
report to ``course_lib.grading.verdict``, which clamps the points and names what went wrong; the
caller never sees an exception.

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.forkserver import kill_session
from course_lib.grading.sandbox import (
    FIRST_UID,
    claim_slots,
    kill_uid,
    release_slots,
)
from course_lib.grading.verdict import (
    FAILED_AS_A_WHOLE,
    HIDDEN_FAILURE,
    LectureResult,
    clean_text,
    failed,
    interpret,
)
from course_lib.paths import project_root, user_home
from course_lib.student.submission import SubmissionError, choose_lecture_file

DEFAULT_TIMEOUT_S = 300  # Wall-clock seconds for one lecture's tests.
DEFAULT_MEMORY_MB = 6144  # Address-space limit of a runner; TensorFlow maps ~3 GB.
JUDGE_MEMORY_MB = 8192  # Address-space limit of the judge, which also holds TensorFlow.
SEED = 0  # Seed exported to the tests as CAMP_SEED (tests fix their own seeds as well).
REPORT_RESERVE_S = 20.0  # Seconds kept, at most, after the tests to end the runners and report.


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
            two passes; see ``verdict.merge_parts``).
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
        return failed(lecture, submission, "missing", clean_text(str(error)), max_points)

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
            return failed(lecture, target, "crashed", HIDDEN_FAILURE, max_points)
        if returncode is None:
            detail = f"Timed out after {timeout_s:g} s (an infinite loop or very slow code?)."
            return failed(lecture, target, "timeout", detail, max_points)
        try:
            report = json.loads(report_path.read_text()) if report_path.exists() else None
        except ValueError:
            report = None
    if hidden_files:  # pytest's own output may quote a hidden test's assertion.
        text = "(not shown: hidden tests ran)"
    result = interpret(lecture, target, returncode, text, report, declared, memory_mb)
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
