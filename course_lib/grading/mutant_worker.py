"""The warm process that grades one lecture's mutants (introduced with Lecture 01's grader).

``camp mutants`` (``course_lib.grading.mutants``) starts ``python -m
course_lib.grading.mutant_worker SCRATCH LOG`` once per lecture and writes one JSON job on its
standard input: the test files (public, then hidden), the solution's file name, and the mutants
(``id``, mutated ``source``, ``tests``). The worker imports the solution's libraries and the test
files once, then forks a fresh child per mutant, at most ``jobs`` at a time, each killed after
``timeout_s``. A child imports its mutated source as a module, seeded as the runner seeds it,
and runs the named test functions on it as a namespace, as nbgrader's local mode does
(``course_lib.authoring.notebooks``).
The worker answers one JSON line per mutant on its standard output: ``{"id", "status": "done" |
"timeout" | "crashed", "detail", "tests": [{"name", "outcome": "passed" | "failed" | "error" |
"skipped", "targeted", "message"}]}``. ``targeted`` is true when the test failed through
``pytest.fail`` (its own advice) rather than a plain assertion."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path

MEMORY_MB = 6144  # Address-space limit of a mutant's child, as for a grading runner.
MESSAGE_CHARS = 400  # Failure messages are cut to this length.


def _preload(source: str, test_files: list[str]) -> dict[str, types.FunctionType]:
    """Import the solution's libraries and the test files, once, before any fork: name → test."""
    for node in ast.parse(source).body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # The child reports the import error with the mutant's result.
                pass
    tests = {}
    for index, test_file in enumerate(test_files):
        name = f"camp_mutant_tests_{os.getpid()}_{index}"
        spec = importlib.util.spec_from_file_location(name, test_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        tests |= {k: v for k, v in vars(module).items() if k.startswith("test_") and callable(v)}
    return tests


def _message(error: BaseException, test_file: str) -> str:
    """The first lines of a failure; a bare ``assert`` is shown by its source line."""
    text = str(error).strip()
    if not text and isinstance(error, AssertionError):
        frames = traceback.extract_tb(error.__traceback__)
        frames = [f for f in frames if Path(f.filename).resolve() == Path(test_file).resolve()]
        text = frames[-1].line if frames and frames[-1].line else "assertion failed"
    elif not isinstance(error, AssertionError | _failed_type()):
        text = f"{type(error).__name__}: {text}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:4])[:MESSAGE_CHARS]


def _failed_type() -> type:
    import pytest

    return pytest.fail.Exception


def _run_tests(tests: dict, names: list[str], sub, scratch: Path, emit) -> None:
    import pytest

    for name in names:
        function = tests[name]
        arguments = {"sub": sub}
        if "tmp_path" in inspect.signature(function).parameters:
            arguments["tmp_path"] = Path(tempfile.mkdtemp(prefix="tmp-", dir=scratch))
        outcome, targeted, message = "passed", False, ""
        try:
            function(**arguments)
        except pytest.skip.Exception as error:
            outcome, message = "skipped", str(error)
        except BaseException as error:  # noqa: B036 - a mutant may raise anything, even SystemExit.
            failed = isinstance(error, AssertionError | pytest.fail.Exception)
            outcome = "failed" if failed else "error"
            targeted = isinstance(error, pytest.fail.Exception)
            message = _message(error, sys.modules[function.__module__].__file__)
        emit({"name": name, "outcome": outcome, "targeted": targeted, "message": message})


def _child(job: dict, mutant: dict, tests: dict, write_fd: int, scratch: Path):
    """In the forked child: import the mutated solution, run its tests, report; never return."""
    from course_lib.grading import sandbox
    from course_lib.grading.runner import _seed

    code = 0
    try:
        for fd in job["close_fds"]:  # The worker's answers and the other children's pipes.
            os.close(fd)
        os.setsid()
        sandbox.die_with_parent()
        output = os.open(scratch / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        limit = MEMORY_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(scratch)
        tempfile.tempdir = str(scratch)
        report = os.fdopen(write_fd, "w", buffering=1)

        def emit(row: dict) -> None:
            report.write(json.dumps(row) + "\n")

        path = scratch / job["name"]
        path.write_text(mutant["source"], encoding="utf-8")
        _seed(0)
        spec = importlib.util.spec_from_file_location(f"camp_mutant_{Path(job['name']).stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as error:  # noqa: B036 - an import error fails every test.
            text = f"importing the mutated solution failed: {type(error).__name__}: {error}"
            for name in mutant["tests"]:
                emit({"name": name, "outcome": "error", "targeted": False, "message": text})
            os._exit(0)
        _seed(0)
        _run_tests(tests, mutant["tests"], types.SimpleNamespace(**vars(module)), scratch, emit)
        report.flush()
    except BaseException:  # noqa: B036 - whatever happens, never return into the worker loop.
        code = 3
    os._exit(code)


def _finish(running: dict, pid: int, status: str, detail: str, emit) -> None:
    """Reap a child and report its mutant."""
    item = running.pop(pid)
    os.close(item["fd"])
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    rows = [json.loads(line) for line in item["buffer"].decode().splitlines() if line]
    if status == "done" and code != 0:
        status = "crashed"
        detail = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    if status == "done" and len(rows) < len(item["mutant"]["tests"]):
        status, detail = "crashed", "the child ended before its tests did"
    if status != "done":
        log = Path(item["scratch"]) / "output.txt"
        tail = log.read_text("utf-8", "replace").strip()[-200:] if log.exists() else ""
        detail = f"{detail}; last output: {tail}" if tail else detail
    emit({"id": item["mutant"]["id"], "status": status, "detail": detail, "tests": rows})


def serve(job: dict, scratch: Path, answers) -> None:
    """Grade every mutant of ``job``, ``job["jobs"]`` children at a time; answer on ``answers``."""
    tests = _preload(job["source"], job["test_files"])
    queue, running = list(job["mutants"]), {}

    def emit(row: dict) -> None:
        answers.write(json.dumps(row) + "\n")

    while queue or running:
        while queue and len(running) < max(1, job["jobs"]):
            mutant = queue.pop(0)
            folder = Path(tempfile.mkdtemp(prefix="mutant-", dir=scratch))
            read_fd, write_fd = os.pipe()
            job["close_fds"] = [answers.fileno(), read_fd, *(i["fd"] for i in running.values())]
            pid = os.fork()
            if pid == 0:
                _child(job, mutant, tests, write_fd, folder)
            os.close(write_fd)
            deadline = time.monotonic() + job["timeout_s"]
            running[pid] = {"mutant": mutant, "fd": read_fd, "deadline": deadline}
            running[pid] |= {"buffer": b"", "scratch": folder}
        now = time.monotonic()
        wait = max(0.0, min(item["deadline"] for item in running.values()) - now)
        ready, _, _ = select.select([item["fd"] for item in running.values()], [], [], wait)
        for pid, item in list(running.items()):
            chunk = os.read(item["fd"], 1 << 16) if item["fd"] in ready else None
            item["buffer"] += chunk or b""
            if chunk == b"":
                _finish(running, pid, "done", "", emit)
            elif time.monotonic() > item["deadline"]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:  # It has just ended by itself.
                    pass
                detail = f"no answer within {job['timeout_s']:g} s"
                _finish(running, pid, "timeout", detail, emit)


def main(argv: list[str]) -> None:
    """``SCRATCH LOG``: read the job on stdin, answer on stdout, everything else to LOG."""
    from course_lib.grading import sandbox

    sandbox.die_with_parent()  # An interrupted camp mutants takes its worker along.
    scratch, log = Path(argv[0]), argv[1]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    job = json.loads(sys.stdin.read())
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    serve(job, scratch, answers)
    answers.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
