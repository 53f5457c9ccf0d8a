"""The real nbgrader round trip: generate_assignment, then autograde the solution and the release.

The nbgrader source notebook of each lecture comes from ``camp notebooks``; the solution notebook
must get full marks and the untouched release notebook zero.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course_lib.grading import judge as grader
from course_lib.notebooks import release_notebook, write_all
from course_lib.paths import project_root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    write_all(out)
    return out


def test_notebooks_are_written_for_every_lecture(built):
    for lecture in grader.available_lectures():
        assert list((built / "release").glob(f"{lecture}_*.ipynb"))
        source = next((built / "source").glob(f"{lecture}_*/{lecture}_*.ipynb"))
        cells = nbformat.read(source, as_version=4).cells
        graded = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        declared = grader.declared_points(grader.test_files(lecture)[0])
        assert {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in graded} == (
            declared
        )
        assert any(c.metadata.get("nbgrader", {}).get("solution") for c in cells)


def test_release_notebook_has_no_solutions():
    for exercise in (project_root() / "exercises").glob("[0-9][0-9]_*.py"):
        text = "".join(cell.source for cell in release_notebook(exercise).cells)
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text


def _nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, CAMP_SKIP_DEMOS="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    completed = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


@pytest.mark.parametrize("lecture", grader.available_lectures())
def test_nbgrader_round_trip(built, tmp_path, lecture):
    source_dir = next((built / "source").glob(f"{lecture}_*"))
    name = source_dir.name
    course = tmp_path / "course"
    shutil.copytree(source_dir, course / "source" / name)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "camp"\n'
        "c.ExecutePreprocessor.timeout = 300\n"
    )
    _nbgrader(course, "generate_assignment", name, "--force")
    released = course / "release" / name / f"{name}.ipynb"
    assert released.is_file()
    for student, notebook in (("good", source_dir / f"{name}.ipynb"), ("blank", released)):
        (course / "submitted" / student / name).mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / student / name / f"{name}.ipynb")
    _nbgrader(course, "autograde", name, "--create", "--force")
    maximum = sum(grader.declared_points(grader.test_files(lecture)[0]).values())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        good = gradebook.find_submission(name, "good")
        blank = gradebook.find_submission(name, "blank")
        assert (good.score, good.max_score) == (maximum, maximum)
        assert (blank.score, blank.max_score) == (0, maximum)
