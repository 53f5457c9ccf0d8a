"""How fast a student gets feedback: notebook check cells, and ``camp check`` in a fresh shell.

Usage: ``python benchmarks/check_speed.py [--lectures 01 05] [--cores 0,1] [--skip-kernel]
[--skip-camp] [--durations 8]``

1. For each lecture, its student notebook (``release_notebook``) runs in a kernel with demos
   skipped, once solved (from ``solutions/``) and once untouched (from ``exercises/``). Every
   ``check("name")`` cell and the final ``check()`` cell is timed, against an empty cell as the
   baseline of the kernel's own round trip.
2. ``camp check NN --submission solutions`` and ``--submission exercises`` run in a fresh process
   pinned to ``--cores``, against ``python -c "import tensorflow"``, the floor every fresh process
   pays. For a lecture over the target, the judge's pytest run is repeated with ``--durations``
   to name its slowest tests (what to tell the tests' owners; the tests are not changed here).

Targets on 2 cores: a check cell within 2 s, ``camp check NN`` within 20 s, every lecture. Rows
over a target are marked ``OVER``. The load average is printed: other work on the cores slows
everything, so run it on a quiet machine (``flock /tmp/camp-cpu.lock``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CELL_TARGET_S = 2.0
CAMP_TARGET_S = 20.0


def _over(seconds: float, target: float) -> str:
    return "OVER" if seconds > target else ""


def _lecture_file(folder: str, lecture: str) -> Path:
    return next((ROOT / folder).glob(f"{lecture}_*.py"))


def kernel_checks(lecture: str, folder: str, env: dict) -> dict:
    """Run a lecture's notebook from ``folder``; return the seconds of its check cells."""
    from course_lib.authoring.notebooks import release_notebook

    notebook = release_notebook(_lecture_file(folder, lecture))
    client = NotebookClient(notebook, timeout=900, kernel_name="python3")
    timings = {"cells": [], "final": None, "empty": None}
    with client.setup_kernel(env=env):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            start = time.perf_counter()
            client.execute_cell(cell, index)
            elapsed = time.perf_counter() - start
            source = cell.source.strip()
            if source == "check()":
                timings["final"] = elapsed
            elif source.startswith("check("):
                timings["cells"].append((source, elapsed))
        empty = nbformat.v4.new_code_cell("pass")
        notebook.cells.append(empty)
        start = time.perf_counter()
        client.execute_cell(empty, len(notebook.cells) - 1)
        timings["empty"] = time.perf_counter() - start
        timings["tests"] = _test_seconds(client, notebook)
    return timings


def _test_seconds(client: NotebookClient, notebook) -> list[tuple[str, float]]:
    """Each public test's seconds in one more ``check()``, slowest first."""
    cell = nbformat.v4.new_code_cell(
        "import json as _json\n_report = check()\n"
        "print(_json.dumps([[o.name, o.seconds] for o in _report.outcomes]))"
    )
    notebook.cells.append(cell)
    client.execute_cell(cell, len(notebook.cells) - 1)
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return sorted(((n, s) for n, s in json.loads(text)), key=lambda x: -x[1])


def report_kernel(lectures: list[str]) -> None:
    env = dict(os.environ, CAMP_SKIP_DEMOS="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    print(f"{'notebook':22} {'cells':>5} {'median':>7} {'slowest':>8} {'check()':>8}  slowest cell")
    for lecture in lectures:
        for folder in ("solutions", "exercises"):
            timings = kernel_checks(lecture, folder, env)
            seconds = [s for _, s in timings["cells"]]
            slowest = max(timings["cells"], key=lambda x: x[1], default=("-", 0.0))
            final = timings["final"] or 0.0
            over = _over(max([final, *seconds]), CELL_TARGET_S)
            print(
                f"{lecture} {folder:19} {len(seconds):5d} {statistics.median(seconds or [0]):6.2f}s"
                f" {slowest[1]:7.2f}s {final:7.2f}s  {slowest[0]} {over}"
            )
            if over:
                slow = [f"{name} {s:.1f} s" for name, s in timings["tests"][:4] if s > 0.3]
                print(f"   slowest tests in the kernel: {'; '.join(slow)}")
    print(f"(an empty cell's round trip: {timings['empty']:.3f} s)")


def _fresh(command: list[str], cores: str, env: dict) -> tuple[float, int, str]:
    pinned = ["taskset", "-c", cores, *command] if cores else command
    start = time.perf_counter()
    completed = subprocess.run(pinned, cwd="/tmp", capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    return elapsed, completed.returncode, completed.stdout + completed.stderr


def slowest_tests(lecture: str, folder: str, cores: str, env: dict, count: int) -> list[str]:
    """The judge's pytest run of one lecture with ``--durations``: its slowest test phases."""
    submission = _lecture_file(folder, lecture)
    tests = next((ROOT / "tests" / "autograder").glob(f"test_{lecture}_*.py"))
    command = [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"]
    command += ["-o", "addopts=", "--submission", str(submission), f"--durations={count}"]
    _, _, output = _fresh(command, cores, env)
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest" in line), None)
    if start is None:
        return ["(no durations in the output)"]
    return [line for line in lines[start + 1 : start + 1 + count] if line.strip()]


def report_camp(lectures: list[str], cores: str, durations: int) -> None:
    home = tempfile.mkdtemp(prefix="camp-bench-home-")
    env = dict(os.environ, CAMP_HOME=home, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="80")
    floor, _, _ = _fresh([sys.executable, "-c", "import tensorflow"], cores, env)
    print(f"{'python -c import tensorflow (fresh)':44}: {floor:6.1f} s")
    slow = []
    for lecture in lectures:
        for folder in ("solutions", "exercises"):
            command = [str(BIN / "camp"), "check", lecture, "--submission", folder]
            seconds, code, output = _fresh(command, cores, env)
            expected = 0 if folder == "solutions" else 1
            if code != expected:
                sys.exit(f"{' '.join(command)} exited {code}, expected {expected}:\n{output}")
            label = f"camp check {lecture} --submission {folder}"
            over = _over(seconds, CAMP_TARGET_S)
            print(f"{label:44}: {seconds:6.1f} s, {seconds / floor:4.1f}x the import {over}")
            if over:
                slow.append((lecture, folder))
    for lecture, folder in slow if durations else []:
        print(f"\nSlowest test phases of Lecture {lecture} ({folder}), one pytest run:")
        for line in slowest_tests(lecture, folder, cores, env, durations):
            print(f"  {line}")


def main() -> None:
    from course_lib.grading.judge import available_lectures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lectures", nargs="+", default=available_lectures(), help="Lectures.")
    parser.add_argument("--cores", default="0,1", help="CPU list for taskset; '' for none.")
    parser.add_argument("--skip-kernel", action="store_true", help="No notebook check cells.")
    parser.add_argument("--skip-camp", action="store_true", help="No camp check runs.")
    parser.add_argument(
        "--durations", type=int, default=8, help="Slowest tests to name per slow lecture; 0: none."
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (1 min)")
    if not args.skip_kernel:
        report_kernel(args.lectures)
    if not args.skip_camp:
        report_camp(args.lectures, args.cores, args.durations)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
