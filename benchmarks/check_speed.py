"""How fast a student gets feedback: a notebook check cell, and ``camp check`` in a fresh shell.

Usage: ``python benchmarks/check_speed.py [--lectures 05 01] [--repeats 5] [--cores 0,1]``

1. Lecture 01's student notebook with the solutions pasted in runs in a kernel (demos skipped);
   then ``check("softmax")`` (a numpy function) runs ``--repeats`` times in that warm kernel,
   against an empty cell as the baseline of the kernel's own round trip. The first check cell of
   the notebook (``check("dense_forward")``) is also timed: it compiles the embedded tests.
2. ``camp check NN --submission solutions`` runs in a fresh process pinned to ``--cores`` for each
   lecture, against ``python -c "import tensorflow"``, the floor every fresh process pays.

The targets: a check cell under 2 s warm, ``camp check`` under 30 s on 2 cores for a lecture
without training (Lecture 05). The load average is printed: other work on the cores slows both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _solved_notebook() -> nbformat.NotebookNode:
    from course_lib.authoring.notebooks import release_notebook

    notebook = release_notebook(next((ROOT / "exercises").glob("01_*.py")))
    solution = release_notebook(next((ROOT / "solutions").glob("01_*.py")))
    for mine, reference in zip(notebook.cells, solution.cells, strict=True):
        if "# YOUR CODE HERE" in mine.source:
            mine.source = reference.source
    return notebook


def _timed_cell(client: NotebookClient, notebook, source: str) -> float:
    cell = nbformat.v4.new_code_cell(source)
    notebook.cells.append(cell)
    start = time.perf_counter()
    client.execute_cell(cell, len(notebook.cells) - 1)
    elapsed = time.perf_counter() - start
    errors = [o for o in cell.outputs if o.output_type == "error"]
    if errors:
        sys.exit(f"{source} failed: {errors[0].ename}: {errors[0].evalue}")
    return elapsed


def kernel_checks(repeats: int) -> None:
    notebook = _solved_notebook()
    env = dict(os.environ, CAMP_SKIP_DEMOS="1", MPLBACKEND="Agg")
    client = NotebookClient(notebook, timeout=600, kernel_name="python3")
    with client.setup_kernel(env=env):
        cells = list(notebook.cells)
        first = None
        for index, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            start = time.perf_counter()
            client.execute_cell(cell, index)
            if first is None and cell.source.startswith("check("):
                first = time.perf_counter() - start
        empty = [_timed_cell(client, notebook, "pass") for _ in range(repeats)]
        softmax = [_timed_cell(client, notebook, 'check("softmax")') for _ in range(repeats)]
    warm = statistics.median(softmax)
    rows = [
        ("kernel round trip of an empty cell", statistics.median(empty), "(median)"),
        ("first check cell (compiles the tests)", first, ""),
        ('check("softmax") in a warm kernel', warm, f"(median of {repeats})"),
    ]
    for label, seconds, note in rows:
        print(f"{label:39}: {seconds:7.3f} s {note}")


def _fresh(command: list[str], cores: str) -> float:
    pinned = ["taskset", "-c", cores, *command] if cores else command
    start = time.perf_counter()
    completed = subprocess.run(pinned, cwd="/tmp", capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(
            f"{' '.join(command)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return elapsed


def camp_checks(lectures: list[str], cores: str) -> None:
    floor = _fresh([sys.executable, "-c", "import tensorflow"], cores)
    print(f"{'python -c import tensorflow (fresh)':39}: {floor:7.1f} s")
    for lecture in lectures:
        command = [str(BIN / "camp"), "check", lecture, "--submission", "solutions"]
        seconds = _fresh(command, cores)
        label = f"camp check {lecture} (fresh)"
        print(f"{label:39}: {seconds:7.1f} s, {seconds / floor:.1f}x the import")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lectures", nargs="+", default=["05", "01"], help="For camp check.")
    parser.add_argument("--repeats", type=int, default=5, help="Timed check cells.")
    parser.add_argument("--cores", default="0,1", help="CPU list for taskset; '' for none.")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (1 min)")
    kernel_checks(args.repeats)
    camp_checks(args.lectures, args.cores)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
