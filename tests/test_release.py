"""The student edition (``camp release``): what it holds, what it never holds, how it behaves."""

import filecmp
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest
from typer.testing import CliRunner

from course_lib.authoring import release
from course_lib.authoring.generate import strip_solutions
from course_lib.authoring.leaks import find_leaks, graded_regions, secret_fragments
from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.paths import project_root, user_dir
from course_lib.regions import lecture_files
from course_lib.student import lectures
from course_lib.student.lectures import file_sha, lecture_module

ROOT = project_root()
SOLUTIONS = lecture_files(ROOT / "solutions")
LECTURES = [p.name[:2] for p in SOLUTIONS]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """An edition without solutions."""
    out = tmp_path_factory.mktemp("edition") / "student"
    assert release.build_edition(out) == []
    return out


@pytest.fixture(scope="module")
def edition_02(tmp_path_factory):
    """An edition that releases the solutions of Lectures 01 and 02."""
    out = tmp_path_factory.mktemp("edition") / "student"
    assert release.build_edition(out, solutions_through="2") == ["01", "02"]
    return out


def test_edition_holds_exercises_public_tests_quizzes_and_no_instructor_material(edition):
    assert sorted(p.name for p in edition.iterdir()) == [
        ".github",  # The GitHub Classroom workflow (course_lib.grading.classroom_ci).
        ".gitignore",
        "README.md",
        "course_lib",
        "exercises",
        "pyproject.toml",
        "requirements-nodeps.txt",
    ]
    data = edition / "course_lib" / "edition"
    for solution in SOLUTIONS:
        expected = strip_solutions(solution.read_text(encoding="utf-8"))
        for folder in (edition / "exercises", data / "exercises"):
            assert (folder / solution.name).read_text(encoding="utf-8") == expected
        notebook = jupytext.read(edition / "exercises" / f"{solution.stem}.ipynb")
        assert any("# YOUR CODE HERE" in cell.source for cell in notebook.cells)
    shipped = (("tests/autograder", "*.py"), ("tests/autograder/expected", "*.json"))
    for folder, pattern in (*shipped, ("quizzes", "*.yaml")):
        names = sorted(p.name for p in (ROOT / folder).glob(pattern))
        assert sorted(p.name for p in (data / folder).iterdir() if p.is_file()) == names
        assert filecmp.cmpfiles(ROOT / folder, data / folder, names, shallow=False)[0] == names
    assert list((data / "solutions").iterdir()) == []
    assert json.loads((data / "edition.json").read_text())["released"] == []
    names = {p.name for p in edition.rglob("*")}
    assert not names & {"docs", "scripts", "benchmarks", ".ci", "solutions.py", "hidden"}
    assert not list(edition.rglob("__pycache__"))
    readme = (edition / "README.md").read_text()
    assert "camp check 01" in readme and "camp quiz --due" in readme
    # The install section starts with the virtual environment that Debian, Ubuntu and
    # Homebrew Pythons require before pip installs anything.
    install = readme.split("## Install", 1)[1]
    assert install.index("python3 -m venv .venv") < install.index('pip install ".[jupyter]"')
    assert "--submission solutions" not in readme and "autograde" not in readme


def test_every_released_notebook_says_its_lecture_and_installs_nothing_by_name(edition):
    notebooks = sorted((edition / "exercises").glob("*.ipynb"))
    assert [p.stem for p in notebooks] == [p.stem for p in SOLUTIONS]
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        assert notebook["metadata"]["camp_lecture"] == path.name[:2]
        setup = "".join(
            notebook["cells"][
                next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
            ]["source"]
        )
        # Released without --pip-spec: on Colab the cell stops and says what is missing.
        assert "raise SetupError(" in setup and "camp release --pip-spec" in setup
        assert "%pip" not in setup and '"pip"' not in setup


def test_a_pip_spec_goes_into_every_setup_cell(tmp_path):
    spec = "git+https://example.org/course/edition.git"
    release.build_edition(tmp_path / "student", pip_spec=spec)
    for path in (tmp_path / "student" / "exercises").glob("*.ipynb"):
        source = json.dumps(json.loads(path.read_text(encoding="utf-8"))["cells"][:3])
        assert spec in source and "SetupError" not in source, path.name


def test_no_graded_regions_text_anywhere_in_the_edition(edition):
    secret = secret_fragments(ROOT, set())
    # Every graded region of every lecture is searched for, not only the easy ones.
    for solution in SOLUTIONS:
        for region in graded_regions(solution):
            pairs = {tuple(region[i : i + 2]) for i in range(max(len(region) - 1, 1))}
            assert pairs & secret.keys(), f"{solution.name}: a region with nothing to search for"
    assert find_leaks(edition, secret) == []


def test_released_solutions_ship_and_are_the_only_solution_text(edition_02):
    data = edition_02 / "course_lib" / "edition"
    assert sorted(p.name for p in (data / "solutions").iterdir()) == [p.name for p in SOLUTIONS[:2]]
    assert json.loads((data / "edition.json").read_text())["solutions_through"] == "02"
    leaks = find_leaks(edition_02, secret_fragments(ROOT, set()))
    # The scanner finds the released lectures' answers, and only in their solution files (a
    # fragment that a later lecture shares with them counts as theirs).
    assert {"01", "02"} <= {lecture for _, lecture, _ in leaks}
    released_lines = {
        line for p in SOLUTIONS[:2] for region in graded_regions(p) for line in region
    }
    assert {line for _, _, line in leaks} <= released_lines
    assert {file for file, _, _ in leaks} == {
        f"course_lib/edition/solutions/{p.name}" for p in SOLUTIONS[:2]
    }
    assert find_leaks(edition_02, secret_fragments(ROOT, {"01", "02"})) == []
    assert "camp check 02 --submission solutions" in (edition_02 / "README.md").read_text()


def test_a_notebook_carrying_an_answer_is_refused_and_nothing_is_left(tmp_path, monkeypatch):
    solved = {p.name: p for p in SOLUTIONS}

    def solved_notebook(exercise, pip_spec):
        return jupytext.read(solved[exercise.name])

    monkeypatch.setattr(release, "_notebook", solved_notebook)
    out = tmp_path / "student"
    with pytest.raises(CourseError, match=r"Refusing to release answers: exercises/01_nn_recap"):
        release.build_edition(out)
    assert list(out.iterdir()) == []


def test_edition_pyproject_installs_the_course_without_instructor_tools(edition):
    project = tomllib.loads((edition / "pyproject.toml").read_text())
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["project"]["name"] == source["name"]
    assert project["project"]["scripts"] == {"camp": "course_lib.cli:main"}
    assert project["project"]["entry-points"]["pytest11"] == source["entry-points"]["pytest11"]
    assert "edition/**/*" in project["tool"]["setuptools"]["package-data"]["course_lib"]
    dependencies = project["project"]["dependencies"]
    assert not any(d.startswith(("nbgrader", "copydetect")) for d in dependencies)
    left_out = {d for d in source["dependencies"] if d.startswith(("nbgrader", "copydetect"))}
    assert set(source["dependencies"]) - set(dependencies) == left_out
    # Students install on 3.11-3.13 and may ask for JupyterLab; tensorflow_hub needs
    # pkg_resources, which setuptools 81 removed.
    assert project["project"]["requires-python"] == ">=3.11,<3.14"
    assert project["project"]["optional-dependencies"] == {
        "jupyter": source["optional-dependencies"]["jupyter"]
    }
    assert any(d.startswith("jupyterlab") for d in source["optional-dependencies"]["jupyter"])
    assert "setuptools<80.9" in dependencies
    for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            own = importlib.metadata.requires(line.split("==")[0])
            assert (line in dependencies) == (not own), line


def test_installed_edition_finds_its_course_material_without_a_checkout(edition, tmp_path):
    code = (
        "from course_lib.paths import project_root, edition_info; "
        "from course_lib.quiz.bank import bank_dir; "
        "print(project_root()); print(bank_dir()); print(edition_info()['released'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "CAMP_ROOT"}
    env["PYTHONPATH"] = str(edition)
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    data = edition / "course_lib" / "edition"
    assert output.stdout.splitlines() == [str(data), str(data / "quizzes"), "[]"], output.stderr


def _record(lecture, status, path, sha=None):
    folder = user_dir() / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "points": 3.0, "max_points": 28.0, "submission_file": str(path)}
    record["submission_sha"] = sha or file_sha(path)
    (folder / f"{lecture}.json").write_text(json.dumps(record))


@pytest.fixture
def chosen(monkeypatch):
    """``lecture_module`` returning the path it would import, not the module."""
    monkeypatch.setattr(lectures, "import_lecture", lambda path, lecture: path)


def test_edition_uses_passed_code_then_released_solutions_else_says_what_to_finish(
    edition_02, tmp_path, monkeypatch, chosen
):
    data = edition_02 / "course_lib" / "edition"
    monkeypatch.setenv("CAMP_ROOT", str(data))
    monkeypatch.chdir(tmp_path)  # No file of the lectures here yet: nothing is graded.
    assert lecture_module("02", quiet=True) == data / "solutions" / SOLUTIONS[1].name
    with pytest.raises(CourseError, match=r"Finish Lecture 03 first.*camp check 03"):
        lecture_module("03", quiet=True)
    with pytest.raises(CourseError, match="Finish Lecture 04 first"):
        lecture_module("04", prefer_student=False, quiet=True)

    mine = tmp_path / "03_cnn_architectures.py"
    mine.write_text("# my Lecture 03\n")
    _record("03", "graded", mine)
    with pytest.raises(CourseError, match=r"gave 3 of 28 points\. Finish Lecture 03 first"):
        lecture_module("03", quiet=True)
    _record("03", "full-marks", mine)
    assert lecture_module("03", quiet=True) == mine
    assert lecture_module("03", prefer_student=False, quiet=True) == mine
    mine.write_text("# my Lecture 03, changed after the check\n")
    with pytest.raises(CourseError, match="changed since it got full marks"):
        lecture_module("03", quiet=True)

    own_01 = tmp_path / "01_nn_recap.py"
    own_01.write_text("# my Lecture 01\n")
    _record("01", "full-marks", own_01)
    assert lecture_module("01", quiet=True) == own_01
    assert (
        lecture_module("01", prefer_student=False, quiet=True)
        == data / "solutions" / SOLUTIONS[0].name
    )


def test_checkout_still_falls_back_to_the_solutions(tmp_path, monkeypatch, chosen, capsys):
    monkeypatch.delenv("CAMP_ROOT", raising=False)
    assert lecture_module("03") == ROOT / "solutions"
    assert "run `camp check 03`" in capsys.readouterr().err
    mine = tmp_path / "03_cnn_architectures.py"
    mine.write_text("# my Lecture 03\n")
    _record("03", "full-marks", mine)
    assert lecture_module("03", quiet=True) == mine
    assert lecture_module("03", prefer_student=False, quiet=True) == ROOT / "solutions"
    _record("03", "full-marks", mine, sha="0" * 64)
    assert lecture_module("03", quiet=True) == ROOT / "solutions"


def _error_line(result):
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_cli_refuses_a_file_a_foreign_folder_and_an_unknown_lecture(tmp_path):
    runner = CliRunner()
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    output = _error_line(runner.invoke(app, ["release", str(existing)]))
    assert f"error: {existing} is a file" in output
    assert existing.read_text() == "mine"
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    output = _error_line(runner.invoke(app, ["release", str(folder)]))
    assert "holds other files" in output and (folder / "thesis.tex").exists()
    output = _error_line(
        runner.invoke(app, ["release", str(tmp_path / "new"), "--solutions-through", "9"])
    )
    assert "--solutions-through 09: no such lecture; lectures: " + ", ".join(LECTURES) in output
    output = _error_line(
        runner.invoke(app, ["release", str(tmp_path / "new"), "--solutions-through", "x"])
    )
    assert "expects a lecture number such as 02; received 'x'" in output
    assert not (tmp_path / "new").exists()


def test_cli_replaces_an_earlier_edition_and_keeps_its_git_folder(edition, tmp_path):
    out = tmp_path / "published"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    result = CliRunner().invoke(app, ["release", str(out), "--solutions-through", "01"])
    assert result.exit_code == 0, result.output
    (out / "course_lib" / "stale.py").write_text("# left over\n")
    result = CliRunner().invoke(app, ["release", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (out / "course_lib" / "stale.py").exists()
    assert list((out / "course_lib" / "edition" / "solutions").iterdir()) == []
    assert (out / "exercises" / "01_nn_recap.py").read_bytes() == (
        edition / "exercises" / "01_nn_recap.py"
    ).read_bytes()


def _fake_grader(monkeypatch, status="full-marks"):
    """``grade_lecture`` replaced by a stub that gives ``status``; returns the graded calls."""
    from course_lib.grading import judge, verdict

    graded = []

    def grade_lecture(lecture, submission, **limits):
        graded.append((lecture, Path(submission)))
        points = 10.0 if status == "full-marks" else 0.0
        return verdict.LectureResult(lecture, str(submission), status, points, 10.0)

    monkeypatch.setattr(judge, "grade_lecture", grade_lecture)
    return graded


def test_prerequisites_come_from_the_tests_that_load_earlier_lectures():
    assert lectures.prerequisites("05") == ["04"]
    assert lectures.prerequisites("08") == ["05"]
    assert lectures.prerequisites("01") == []


def test_a_new_machine_grades_the_earlier_files_first_then_uses_them(
    edition, tmp_path, monkeypatch, chosen
):
    monkeypatch.setenv("CAMP_ROOT", str(edition / "course_lib" / "edition"))
    folder = tmp_path / "mine"
    folder.mkdir()
    for lecture in ("04", "05", "08"):
        (folder / SOLUTIONS[int(lecture) - 1].name).write_text(f"# my Lecture {lecture}\n")
    mine = {p.name[:2]: p for p in folder.iterdir()}
    # Lecture 08 builds on 05, which builds on 04: the earliest is graded first.
    assert lectures.unrecorded_prerequisites("08", folder) == [
        ("04", mine["04"]),
        ("05", mine["05"]),
    ]
    graded = _fake_grader(monkeypatch)
    results = lectures.grade_prerequisites("08", folder, timeout_s=60)
    assert [r.lecture for r in results] == ["04", "05"] and graded == [
        ("04", mine["04"]),
        ("05", mine["05"]),
    ]
    assert lectures.check_record("05")["submission_file"] == str(mine["05"].resolve())
    assert lecture_module("05", quiet=True) == mine["05"].resolve()
    assert lectures.unrecorded_prerequisites("08", folder) == []  # Recorded now.
    monkeypatch.delenv("CAMP_ROOT")
    assert lectures.unrecorded_prerequisites("08", folder) == []  # The checkout never needs it.


def test_a_notebook_without_a_record_grades_the_file_in_its_folder(
    edition, tmp_path, monkeypatch, chosen, capsys
):
    monkeypatch.setenv("CAMP_ROOT", str(edition / "course_lib" / "edition"))
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / SOLUTIONS[3].name
    mine.write_text("# my Lecture 04\n")
    monkeypatch.setenv("CAMP_SEED", "0")  # Inside a grader: never grade from there.
    graded = _fake_grader(monkeypatch, status="graded")
    with pytest.raises(CourseError, match="no `camp check 04` record is in .*checks"):
        lecture_module("04", quiet=True)
    assert graded == []
    monkeypatch.delenv("CAMP_SEED")
    with pytest.raises(CourseError, match=r"gave 0 of 10 points\. Finish Lecture 04 first"):
        lecture_module("04", quiet=True)
    assert graded == [("04", mine)]
    assert "no `camp check 04` record here" in capsys.readouterr().err
    graded = _fake_grader(monkeypatch)
    (lectures.user_dir() / "checks" / "04.json").unlink()
    assert lecture_module("04", quiet=True) == mine.resolve()


def test_camp_check_grades_an_unrecorded_earlier_lecture_first(edition, tmp_path, monkeypatch):
    monkeypatch.setenv("CAMP_ROOT", str(edition / "course_lib" / "edition"))
    monkeypatch.chdir(tmp_path)
    for solution in SOLUTIONS[3:5]:
        (tmp_path / solution.name).write_text(f"# my {solution.name}\n")
    graded = _fake_grader(monkeypatch)
    result = CliRunner().invoke(app, ["check", "05"])
    assert result.exit_code == 0, result.output
    assert [lecture for lecture, _ in graded] == ["04", "05"]
    assert "Lecture 05 builds on Lecture 04, never checked here" in " ".join(result.output.split())
    assert lectures.check_record("04")["status"] == "full-marks"
