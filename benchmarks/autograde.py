"""Grade a class of Lecture 01 solutions with ``camp autograde`` and with nbgrader, same run.

Usage: ``python benchmarks/autograde.py [--students 40] [--lecture 01] [--fairness]``

Both graders get the same submissions (the reference solution, once as ``.py`` for camp and once
as the nbgrader source notebook for nbgrader), the same tests (the public ones: the notebook holds
no hidden test, so camp gets an empty ``--hidden-tests`` folder) and the same environment
(``CAMP_SKIP_DEMOS=1``, so neither runs the lecture's demo cells). Prints seconds per submission
for each and the ratio, and the isolation the gradebook recorded (every safeguard of the sandbox
on, or what was missing).

``--fairness`` instead grades the solution alone, then again while a classmate's runner keeps 64
processes busy (each in a session of its own), and prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(command: list[str], cwd: Path) -> float:
    env = dict(os.environ, CAMP_SKIP_DEMOS="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return elapsed


STORM = """
import os, time
for _ in range(64):
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
time.sleep(100)
"""


def fairness(lecture: str) -> None:
    """Time the solution's grading alone, then beside a classmate's process storm."""
    import threading

    from course_lib.grading.judge import grade_lecture

    os.environ.update(CAMP_SKIP_DEMOS="1", TF_CPP_MIN_LOG_LEVEL="3")
    work = Path(tempfile.mkdtemp(prefix="camp-fair-"))
    solution = next((ROOT / "solutions").glob(f"{lecture}_*.py"))
    exercise = ROOT / "exercises" / solution.name
    (work / "honest").mkdir()
    shutil.copy(solution, work / "honest" / solution.name)
    (work / "storm").mkdir()
    (work / "storm" / solution.name).write_text(exercise.read_text() + STORM)

    def timed() -> tuple[float, str]:
        start = time.perf_counter()
        result = grade_lecture(lecture, work / "honest")
        return (
            time.perf_counter() - start,
            f"{result.status} {result.points:g}/{result.max_points:g}",
        )

    grade_lecture(lecture, work / "honest")  # Warm the page cache.
    alone, outcome_alone = timed()
    storm = threading.Thread(target=grade_lecture, args=(lecture, work / "storm"), daemon=True)
    storm.start()
    time.sleep(15)  # The storm's runner has imported TensorFlow and started its processes.
    loaded, outcome_loaded = timed()
    storm.join()
    print(f"cores: {os.cpu_count()}, lecture {lecture}")
    print(f"solution alone          : {alone:6.1f} s ({outcome_alone})")
    print(f"beside a process storm  : {loaded:6.1f} s ({outcome_loaded})")
    print(f"ratio (storm / alone): {loaded / alone:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="Submissions in the class.")
    parser.add_argument("--lecture", default="01", help="Lecture number to grade.")
    parser.add_argument(
        "--fairness", action="store_true", help="Time a solution beside a process storm instead."
    )
    args = parser.parse_args()
    if args.fairness:
        fairness(args.lecture)
        return

    work = Path(tempfile.mkdtemp(prefix="camp-bench-"))
    solution = next((ROOT / "solutions").glob(f"{args.lecture}_*.py"))
    name = solution.stem
    run([str(BIN / "camp"), "notebooks", "--out", str(work / "notebooks")], ROOT)

    (work / "no-hidden-tests").mkdir()
    for i in range(args.students):
        folder = work / "camp" / f"student{i:03d}"
        folder.mkdir(parents=True)
        shutil.copy(solution, folder / solution.name)
    camp_seconds = run(
        [
            str(BIN / "camp"),
            "autograde",
            str(work / "camp"),
            "--out",
            str(work / "grades.csv"),
            "--lecture",
            args.lecture,
            "--hidden-tests",
            str(work / "no-hidden-tests"),
        ],
        ROOT,
    )

    course = work / "course"
    # The nbgrader source notebook of `camp notebooks`, wherever its layout puts source/NAME/.
    source = next((work / "notebooks").rglob(f"source/{name}/{name}.ipynb")).parent
    shutil.copytree(source, course / "source" / name)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "bench"\n'
    )
    run([str(BIN / "nbgrader"), "generate_assignment", name, "--force"], course)
    notebook = course / "source" / name / f"{name}.ipynb"
    for i in range(args.students):
        target = course / "submitted" / f"student{i:03d}" / name
        target.mkdir(parents=True)
        shutil.copy(notebook, target / notebook.name)
    nbgrader_seconds = run(
        [str(BIN / "nbgrader"), "autograde", name, "--create", "--force"], course
    )

    with (work / "grades.csv").open(newline="") as handle:
        isolation = sorted({row["isolation"] for row in csv.DictReader(handle)})

    per_camp = camp_seconds / args.students
    per_nbgrader = nbgrader_seconds / args.students
    print(f"cores: {os.cpu_count()}, submissions: {args.students}, lecture {args.lecture}")
    print(f"camp autograde : {camp_seconds:8.1f} s total, {per_camp:6.2f} s per submission")
    print(f"nbgrader       : {nbgrader_seconds:8.1f} s total, {per_nbgrader:6.2f} s per submission")
    print(f"ratio (nbgrader / camp per submission): {per_nbgrader / per_camp:.2f}x")
    print(f"isolation recorded by camp: {', '.join(isolation)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
