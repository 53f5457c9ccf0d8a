"""Grade a class of Lecture 01 solutions with ``camp autograde`` and with nbgrader, same run.

Usage: ``python benchmarks/autograde.py [--students 40] [--lecture 01]``

Both graders get the same submissions (the reference solution, once as ``.py`` for camp and once
as the nbgrader source notebook for nbgrader) and the same environment (``CAMP_SKIP_DEMOS=1``, so
neither runs the lecture's demo cells). Prints seconds per submission for each and the ratio.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="Submissions in the class.")
    parser.add_argument("--lecture", default="01", help="Lecture number to grade.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="camp-bench-"))
    solution = next((ROOT / "solutions").glob(f"{args.lecture}_*.py"))
    name = solution.stem
    run([str(BIN / "camp"), "notebooks", "--out", str(work / "notebooks")], ROOT)

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

    per_camp = camp_seconds / args.students
    per_nbgrader = nbgrader_seconds / args.students
    print(f"cores: {os.cpu_count()}, submissions: {args.students}, lecture {args.lecture}")
    print(f"camp autograde : {camp_seconds:8.1f} s total, {per_camp:6.2f} s per submission")
    print(f"nbgrader       : {nbgrader_seconds:8.1f} s total, {per_nbgrader:6.2f} s per submission")
    print(f"ratio (nbgrader / camp per submission): {per_nbgrader / per_camp:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
