"""Notebook versions of every lecture for Jupyter, Colab and nbgrader (introduced with Lecture 01).

- ``release/NN_topic.ipynb``: the student exercise as a notebook (jupytext conversion).
- ``source/NN_topic/NN_topic.ipynb``: an nbgrader *source* notebook: solution cells carry
  nbgrader's solution metadata, and one graded, locked test cell per pytest test runs that test
  against the notebook's own definitions, with the same points. The tests themselves are embedded
  in a read-only cell, so the notebook needs nothing but this package.
"""

from __future__ import annotations

import inspect
import tempfile
import types
from pathlib import Path

import jupytext
import nbformat

from course_lib.generate import BEGIN, lecture_files
from course_lib.grading.judge import declared_points
from course_lib.paths import project_root

SCHEMA_VERSION = 3  # nbgrader's cell-metadata schema.


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def release_notebook(exercise: Path) -> nbformat.NotebookNode:
    """Return the student notebook of an exercise file."""
    return jupytext.read(exercise)


def source_notebook(solution: Path, test_file: Path) -> nbformat.NotebookNode:
    """Return the nbgrader source notebook: solution cells marked, graded test cells appended."""
    notebook = jupytext.read(solution)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.metadata.update(_nbgrader(f"solution-{index:02d}", solution=True))
    test_source = test_file.read_text(encoding="utf-8")
    if "'''" in test_source:
        raise ValueError(f"Expected no ''' in {test_file}; it is embedded in a '''-string.")
    setup = nbformat.v4.new_code_cell(
        "# Autograder setup (read-only): the lecture's tests, run on this notebook's code.\n"
        "from course_lib.notebooks import load_tests\n\n"
        f"_tests = load_tests(r'''{test_source}''', globals())\n"
    )
    setup.metadata.update(_nbgrader("autograder-setup", locked=True))
    notebook.cells.append(nbformat.v4.new_markdown_cell("## Autograder tests"))
    notebook.cells.append(setup)
    for name, points in declared_points(test_file).items():
        cell = nbformat.v4.new_code_cell(f'_tests.run("{name}")')
        cell.metadata.update(_nbgrader(name, grade=True, locked=True, points=points))
        notebook.cells.append(cell)
    notebook.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    return notebook


class NotebookTests:
    """The test functions of one autograder file, bound to a notebook's global namespace."""

    def __init__(self, source: str, namespace: dict):
        self.module = types.ModuleType("camp_notebook_tests")
        exec(compile(source, "autograder_tests.py", "exec"), self.module.__dict__)
        self.namespace = namespace

    def run(self, name: str) -> None:
        """Run test ``name``; an exception (a failed test) makes nbgrader give it zero."""
        function = getattr(self.module, name)
        sub = types.SimpleNamespace(**self.namespace)
        arguments = {"sub": sub}
        if "tmp_path" in inspect.signature(function).parameters:
            arguments["tmp_path"] = Path(tempfile.mkdtemp(prefix="camp-nb-"))
        function(**arguments)
        print(f"{name}: passed")


def load_tests(source: str, namespace: dict) -> NotebookTests:
    """Build the notebook's test runner (called from the autograder setup cell)."""
    return NotebookTests(source, namespace)


def write_all(out: Path) -> list[Path]:
    """Write release and nbgrader source notebooks of every lecture under ``out``."""
    root = project_root()
    written = []
    for exercise in lecture_files(root / "exercises"):
        path = out / "release" / f"{exercise.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(release_notebook(exercise), path)
        written.append(path)
    for solution in lecture_files(root / "solutions"):
        tests = sorted((root / "tests" / "autograder").glob(f"test_{solution.stem}.py"))
        if not tests:
            continue
        path = out / "source" / solution.stem / f"{solution.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_notebook(solution, tests[0]), path)
        written.append(path)
    return written
