"""GitHub Classroom's workflow for the student edition: its shape, and its Lecture 01 step run here.

The step's command runs as GitHub Classroom's command grader runs it: through a shell, in the
repository, with only PATH, HOME and FORCE_COLOR in its environment; exit code 0 earns the
step's ``max-score``.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from course_lib.authoring import release
from course_lib.grading import classroom_ci, judge
from course_lib.paths import project_root
from course_lib.student.submission import choose_lecture_file

ROOT = project_root()
# The reporter's own check of its ``runners`` input (autograding-grading-reporter, src/main.js).
RUNNERS = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")


def grader_steps(document: dict) -> list[dict]:
    steps = document["jobs"]["run-autograding-tests"]["steps"]
    return [step for step in steps if step.get("uses") == classroom_ci.GRADER]


def test_workflow_has_one_graded_step_per_lecture_and_a_reporter():
    document = yaml.safe_load(classroom_ci.workflow())
    assert set(document) == {"name", "on", "permissions", "jobs"}  # "on", not YAML's True.
    assert "push" in document["on"]
    steps = document["jobs"]["run-autograding-tests"]["steps"]
    graders = grader_steps(document)
    lectures = judge.available_lectures()
    assert [step["with"]["test-name"] for step in graders] == [f"Lecture {n}" for n in lectures]
    for lecture, step in zip(lectures, graders, strict=True):
        inputs = step["with"]
        assert set(inputs) == {"test-name", "command", "timeout", "max-score"}
        assert inputs["command"] == f"camp check {lecture} --submission exercises"
        points = sum(judge.declared_points(judge.test_files(lecture)[0]).values())
        assert isinstance(inputs["max-score"], int) and inputs["max-score"] == points
        assert isinstance(inputs["timeout"], int) and 1 <= inputs["timeout"] <= 360
    reporter = steps[-1]
    assert reporter["uses"] == classroom_ci.REPORTER
    runners = reporter["with"]["runners"]
    assert RUNNERS.match(runners) and runners.split(",") == [step["id"] for step in graders]
    assert reporter["env"] == {
        f"{step['id'].upper()}_RESULTS": f"${{{{steps.{step['id']}.outputs.result}}}}"
        for step in graders
    }
    names = [step.get("uses", step.get("run", "")) for step in steps]
    assert names.index("actions/setup-python@v5") < steps.index(graders[0])


def test_whole_points_only(tmp_path):
    (tmp_path / "tests" / "autograder").mkdir(parents=True)
    (tmp_path / "tests" / "autograder" / "test_07_x.py").write_text(
        "import pytest\n\n\n@pytest.mark.points(1.5)\ndef test_a(sub):\n    sub.f()\n"
    )
    with pytest.raises(ValueError, match="Lecture 07 has 1.5 points"):
        classroom_ci.lecture_points("07", tmp_path)


def _git(repo: Path, *args: str, date: str | None = None) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="s", GIT_AUTHOR_EMAIL="s@example.org")
    env |= {"GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@example.org"}
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_exercises_are_dated_by_their_last_commit(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    document = yaml.safe_load(classroom_ci.workflow())
    steps = document["jobs"]["run-autograding-tests"]["steps"]
    script = next(s["run"] for s in steps if "git log" in s.get("run", ""))
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    (exercises / "01_nn_recap.py").write_text("# released\n")
    (exercises / "01_nn_recap.ipynb").write_text("{}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "release", date="2024-01-01T10:00:00+00:00")
    (exercises / "01_nn_recap.py").write_text("# my work\n")
    _git(tmp_path, "commit", "-q", "-am", "work", date="2024-01-02T10:00:00+00:00")
    os.utime(exercises / "01_nn_recap.ipynb")  # A fresh checkout: the untouched file looks newer.
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, check=True)
    assert choose_lecture_file(exercises, "01")[0].name == "01_nn_recap.py"
    assert (exercises / "01_nn_recap.ipynb").stat().st_mtime == 1704103200


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "student"
    release.build_edition(out)
    return out


@pytest.mark.slow
def test_camp_release_writes_the_workflow_for_what_the_edition_holds(edition):
    text = (edition / ".github" / "workflows" / "classroom.yml").read_text()
    assert text == classroom_ci.workflow()
    install = next(
        s["run"]
        for s in yaml.safe_load(text)["jobs"]["run-autograding-tests"]["steps"]
        if s.get("name") == "Install the course"
    )
    assert "pip install .\n" in install and "-r requirements-nodeps.txt" in install
    assert (edition / "pyproject.toml").is_file() and (
        edition / "requirements-nodeps.txt"
    ).is_file()
    for lecture in judge.available_lectures():
        assert choose_lecture_file(edition / "exercises", lecture)[0].parent.name == "exercises"


@pytest.mark.slow
def test_lecture_01_step_earns_its_points_on_a_solved_copy(edition, tmp_path):
    """The step runs in the student's repository: the edition with Lecture 01 solved."""
    step = grader_steps(yaml.safe_load(classroom_ci.workflow()))[0]
    assert step["id"] == "lecture01"
    shutil.copy(ROOT / "solutions" / "01_nn_recap.py", edition / "exercises")  # Now the newest.
    (tmp_path / "home").mkdir()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {"PATH": path, "HOME": str(tmp_path / "home"), "FORCE_COLOR": "true"}
    done = subprocess.run(
        step["with"]["command"], shell=True, cwd=edition, env=env, capture_output=True, text=True
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert done.returncode == 0, output + done.stderr
    points = re.search(r"Lecture 01: (\S+) / (\S+) points", output)
    max_score = step["with"]["max-score"]
    assert float(points.group(1)) == float(points.group(2)) == max_score
