"""Notebook versions of every lecture for Jupyter, Colab and nbgrader (introduced with Lecture 01).

- ``student/NN_topic.ipynb``: the student exercise as a notebook, with ``camp_lecture`` in its
  metadata. Its first code cell is the setup cell: on Colab (``google.colab`` imports)
  it pip-installs the course from the instructor's ``--pip-spec`` (keeping Colab's TensorFlow
  when supported), it keeps TensorFlow's log lines out of the cells, and it defines ``check``
  (``course_lib.student.checker``) from the lecture's public tests, embedded in that cell. A code
  cell is split after each graded function or class, and a ``check("name")`` cell follows it; the
  last cell, ``check()``, runs every public test and totals the points.
- ``nbgrader/source/NN_topic/NN_topic.ipynb``: an nbgrader *source* notebook: the same setup cell
  without the checker, solution cells with nbgrader's solution metadata, and one graded, locked
  test cell per pytest test that runs that test against the notebook's own definitions, with the
  same points. The tests are embedded in a read-only cell, so the notebook needs nothing but this
  package. The folder is nbgrader's ``source/``; nbgrader itself writes ``release/``.

Demo cells keep their ``should_run_demo`` guard: in an untouched notebook they stop with the
stub's ``NotImplementedError`` naming the missing function, and ``CAMP_SKIP_DEMOS=1`` skips them.
"""

from __future__ import annotations

import ast
import json
import shlex
import textwrap
import types
from pathlib import Path

import jupytext
import nbformat

from course_lib.errors import CourseError
from course_lib.grading.judge import declared_points
from course_lib.paths import project_root
from course_lib.regions import BEGIN, lecture_files
from course_lib.student.check_map import graded_functions
from course_lib.student.checker import call_test, silenced

SCHEMA_VERSION = 3  # nbgrader's cell-metadata schema.
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


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


def _embedded(test_file: Path) -> str:
    text = test_file.read_text(encoding="utf-8")
    if "'''" in text or text.endswith("\\"):
        raise CourseError(f"{test_file}: expected no ''' and no final backslash (it is embedded).")
    return text


def _nodeps() -> list[str]:
    path = project_root() / "requirements-nodeps.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def supported_tensorflow() -> list[str]:
    """The TensorFlow minor versions the course supports (``"2.20"``...), from pyproject.toml."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((project_root() / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(line) for line in project["project"]["dependencies"]]
    (tensorflow,) = [r for r in requirements if r.name == "tensorflow"]
    return [f"2.{minor}" for minor in range(100) if f"2.{minor}.0" in tensorflow.specifier]


def setup_source(pip_spec: str | None = None) -> str:
    """The first lines of every setup cell: install on Colab, quiet TensorFlow.

    On Colab the cell installs ``pip_spec`` (a git or wheel URL of the student edition) and keeps
    Colab's own TensorFlow when the course supports it, so that pip does not spend minutes
    replacing it. Without ``pip_spec`` it stops there with one line saying what the instructor
    must provide: a bare package name would be looked up on the public index, where anyone could
    publish one.
    """
    lines = [
        "# @title Setup: run this cell first",
        "# On Colab it installs the course; on your own machine it installs nothing. It also keeps",
        "# TensorFlow's start-up log lines out of the notebook.",
        "import importlib",
        "",
        "try:",
        "    import google.colab  # Only Colab has it.",
        "",
        "    on_colab = True",
        "except ImportError:",
        "    on_colab = False",
        "",
        "if on_colab:",
    ]
    if not pip_spec:
        message = (
            "Setup cannot install the course on Colab: this notebook was released without the "
            "edition's address. Your instructor must release it with `camp release --pip-spec "
            "<git or wheel URL of the student edition>`."
        )
        lines += [
            "",
            "    class SetupError(Exception):",
            "        def _render_traceback_(self):  # IPython shows this line, not a traceback.",
            "            return [str(self)]",
            "",
            f"    raise SetupError({json.dumps(message)})",
        ]
    else:
        supported = supported_tensorflow()
        lines += [
            "    from importlib.metadata import PackageNotFoundError, version",
            "",
            f"    COURSE = {json.dumps(shlex.quote(pip_spec))}  # The student edition.",
            "    try:",
            '        colab_tf = version("tensorflow")',
            "    except PackageNotFoundError:",
            '        colab_tf = "none"',
            "    # Colab's TensorFlow stays if the course supports it (a reinstall takes minutes).",
            f'    if ".".join(colab_tf.split(".")[:2]) in {json.dumps(supported)}:',
            '        get_ipython().run_line_magic("pip", f"install --quiet {COURSE} '
            'tensorflow=={colab_tf}")',
            "    else:",
            f'        print(f"Colab has TensorFlow {{colab_tf}}; the course needs '
            f'{" or ".join(supported)}: installing it.")',
            '        get_ipython().run_line_magic("pip", f"install --quiet {COURSE}")',
        ]
        if nodeps := _nodeps():
            spec = "install --quiet --no-deps " + " ".join(shlex.quote(p) for p in nodeps)
            lines.append(f'    get_ipython().run_line_magic("pip", {json.dumps(spec)})')
        lines += ["    importlib.invalidate_caches()  # So that Python sees the new packages."]
    lines += [
        "",
        "from course_lib.student.checker import quiet_tensorflow",
        "",
        "quiet_tensorflow()",
    ]
    return "\n".join(lines)


def _split(source: str, graded: list[str]) -> list[tuple[str, str | None]]:
    """Cut a code cell after each graded definition: ``[(text, graded name or None)]``.

    Column-0 comments and blank lines before the next statement go with that statement.
    """
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return [(source, None)]
    lines = source.splitlines()
    chunks, begin = [], 0
    for index, node in enumerate(body):
        if getattr(node, "name", None) not in graded or not hasattr(node, "body"):
            continue
        end = len(lines)
        if index + 1 < len(body):
            following = body[index + 1]
            decorators = getattr(following, "decorator_list", [])
            end = min([following.lineno, *(d.lineno for d in decorators)]) - 1
            while end > node.end_lineno and (
                not lines[end - 1].strip() or lines[end - 1][0] == "#"
            ):
                end -= 1
        chunks.append(("\n".join(lines[begin:end]).strip("\n"), node.name))
        begin = end
    rest = "\n".join(lines[begin:]).strip("\n")
    return chunks + ([(rest, None)] if rest else [])


def release_notebook(exercise: Path, *, pip_spec: str | None = None) -> nbformat.NotebookNode:
    """Return the student notebook of a lecture file, with setup, check cells and a final check.

    Args:
        exercise: ``exercises/NN_topic.py`` (a solution file gives the same notebook, solved).
        pip_spec: what the setup cell installs on Colab (a git or wheel URL of the student
            edition); without it, the setup cell stops on Colab and says so (``setup_source``).
    """
    test_file = project_root() / "tests" / "autograder" / f"test_{exercise.stem}.py"
    if not test_file.is_file():
        raise CourseError(f"No public tests for {exercise.name}: expected {test_file}.")
    functions = graded_functions(exercise.read_text(encoding="utf-8"))
    listed = textwrap.fill(
        json.dumps(functions)[1:-1], 96, initial_indent=" " * 8, subsequent_indent=" " * 8
    )
    checker = (
        '# `check("name")` runs the public tests of one function here and shows points and\n'
        "# hints; `check()` runs them all. The tests are the text below. This is for you while\n"
        f"# you work: `camp check {exercise.stem[:2]}` or your instructor grades.\n"
        "from course_lib.student.checker import Checker\n\n"
        f"check = Checker(\n    globals(),\n    lecture={json.dumps(exercise.stem[:2])},\n"
        f"    functions=[\n{listed}\n    ],\n    tests=r'''{_embedded(test_file)}''',\n)\n"
    )
    setup = nbformat.v4.new_code_cell(f"{setup_source(pip_spec)}\n\n{checker}")
    setup.metadata.update({"cellView": "form", "jupyter": {"source_hidden": True}})
    notebook = jupytext.read(exercise)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        if not any(c.cell_type == "code" for c in cells):
            cells.append(setup)
        for number, (text, name) in enumerate(_split(cell.source, functions)):
            cells.append(cell if number == 0 else nbformat.v4.new_code_cell())
            cells[-1].source = text
            if name is not None:
                cells.append(nbformat.v4.new_code_cell(f'check("{name}")'))
    cells.append(
        nbformat.v4.new_markdown_cell("## Check everything\n\nAll public tests, total points.")
    )
    cells.append(nbformat.v4.new_code_cell("check()"))
    notebook.cells = cells
    notebook.metadata.setdefault("kernelspec", KERNELSPEC)
    # camp check grades a renamed copy ("Copy of ...", "untitled.ipynb") for this lecture.
    notebook.metadata["camp_lecture"] = exercise.stem[:2]
    return notebook


def source_notebook(
    solution: Path, test_file: Path, *, pip_spec: str | None = None
) -> nbformat.NotebookNode:
    """Return the nbgrader source notebook: solution cells marked, graded test cells appended."""
    notebook = jupytext.read(solution)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.metadata.update(_nbgrader(f"solution-{index:02d}", solution=True))
    first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    setup = nbformat.v4.new_code_cell(setup_source(pip_spec))
    setup.metadata.update(_nbgrader("setup", locked=True))
    notebook.cells.insert(first_code, setup)
    tests = nbformat.v4.new_code_cell(
        "# Autograder setup (read-only): the lecture's tests, run on this notebook's code.\n"
        "from course_lib.authoring.notebooks import load_tests\n\n"
        f"_tests = load_tests(r'''{_embedded(test_file)}''', globals())\n"
    )
    tests.metadata.update(_nbgrader("autograder-setup", locked=True))
    notebook.cells.append(nbformat.v4.new_markdown_cell("## Autograder tests"))
    notebook.cells.append(tests)
    for name, points in declared_points(test_file).items():
        cell = nbformat.v4.new_code_cell(f'_tests.run("{name}")')
        cell.metadata.update(_nbgrader(name, grade=True, locked=True, points=points))
        notebook.cells.append(cell)
    notebook.metadata.setdefault("kernelspec", KERNELSPEC)
    notebook.metadata["camp_lecture"] = solution.stem[:2]
    return notebook


class NotebookTests:
    """The test functions of one autograder file, bound to a notebook's global namespace."""

    def __init__(self, source: str, namespace: dict):
        self.module = types.ModuleType("camp_notebook_tests")
        with silenced():
            exec(compile(source, "autograder_tests.py", "exec"), self.module.__dict__)
        self.namespace = namespace

    def run(self, name: str) -> None:
        """Run test ``name``; an exception (a failed test) makes nbgrader give it zero.

        The test runs silenced: nbgrader also gives zero to a cell that writes to stderr, and a
        warning or a TensorFlow log line is no failure.
        """
        with silenced():
            call_test(getattr(self.module, name), self.namespace)
        print(f"{name}: passed")


def load_tests(source: str, namespace: dict) -> NotebookTests:
    """Build the notebook's test runner (called from the autograder setup cell)."""
    return NotebookTests(source, namespace)


def write_all(out: Path, *, pip_spec: str | None = None) -> list[Path]:
    """Write ``student/`` and ``nbgrader/source/`` notebooks of every lecture under ``out``."""
    root = project_root()
    written = []
    for exercise in lecture_files(root / "exercises"):
        path = out / "student" / f"{exercise.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(release_notebook(exercise, pip_spec=pip_spec), path)
        written.append(path)
    for solution in lecture_files(root / "solutions"):
        tests = sorted((root / "tests" / "autograder").glob(f"test_{solution.stem}.py"))
        if not tests:
            continue
        path = out / "nbgrader" / "source" / solution.stem / f"{solution.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_notebook(solution, tests[0], pip_spec=pip_spec), path)
        written.append(path)
    return written
