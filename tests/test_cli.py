"""The ``camp`` command through Typer's CliRunner: exit codes and messages."""

import json
import os
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.paths import project_root, user_dir

runner = CliRunner()


def test_help_lists_the_verbs():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    verbs = ("check", "autograde", "generate", "notebooks", "data", "quiz", "competition")
    for verb in verbs + ("search", "demo", "classify"):
        assert verb in result.output


def test_check_solutions_prints_full_marks_and_saves_the_result():
    result = runner.invoke(app, ["check", "01", "--submission", "solutions"])
    assert result.exit_code == 0, result.output
    assert "Lecture 01: 28 / 28 points" in result.output
    saved = json.loads((user_dir() / "checks" / "01.json").read_text())
    assert saved["points"] == 28 and {t["section"] for t in saved["tests"]} >= {"softmax"}
    assert len(saved["submission_sha"]) == 64


def test_check_untouched_exercise_scores_zero_in_one_line_per_function(tmp_path, monkeypatch):
    exercise = project_root() / "exercises" / "01_nn_recap.py"
    (tmp_path / exercise.name).write_bytes(exercise.read_bytes())
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "1"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "Lecture 01: grading 01_nn_recap.py"
    assert lines[1] == "  ✗ dense_forward     0/1  not implemented yet"
    assert lines[-1].startswith("Lecture 01: 0 / 28 points. Next: implement dense_forward")
    assert len(lines) <= 40 and max(map(len, lines)) <= 80


def test_a_syntax_error_is_one_line(tmp_path, monkeypatch):
    source = (project_root() / "solutions" / "01_nn_recap.py").read_text()
    broken = source.replace("    return np.maximum(z, 0.0)\n", "    return np.maximum(z, 0.0\n", 1)
    assert broken != source
    (tmp_path / "01_nn_recap.py").write_text(broken)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "01"])
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        "  ✗ 01_nn_recap.py has a syntax error on line 109: '(' was never closed.",
        "Lecture 01: 0 / 28 points. Fix it and run camp check 01 again.",
    ]


def test_unknown_lecture_is_a_clear_error():
    result = runner.invoke(app, ["check", "99", "--submission", "solutions"])
    assert result.exit_code == 1
    assert "Lecture '99' does not exist; available lectures: 01" in result.output


def test_missing_submission_names_the_path(tmp_path):
    result = runner.invoke(app, ["check", "01", "--submission", str(tmp_path / "nope.py")])
    assert result.exit_code == 1
    assert f"Submission not found: {tmp_path / 'nope.py'} does not exist." in result.output


def test_generate_check_reports_in_sync():
    result = runner.invoke(app, ["generate", "--check"])
    assert result.exit_code == 0, result.output
    assert "exercises/ is up to date." in result.output


def test_caption_writes_the_competition_captions_json(tmp_path):
    from course_lib.data import make_split
    from course_lib.models.captioner import caption_images

    make_split(tmp_path / "coco", "val", 2, seed=3, image_size=128)
    out = tmp_path / "captions.json"
    result = runner.invoke(app, ["caption", str(tmp_path / "coco"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    files = sorted((tmp_path / "coco" / "images").glob("*.jpg"))
    assert list(written) == [p.stem for p in files]
    assert [v[0] for v in written.values()] == caption_images(files)


def test_text_table_prints_every_method():
    from course_lib.search.text_retrieval import retrieval_table
    from course_lib.student.lectures import lecture_module

    args = ["text-table", "--num-images", "20", "--no-minilm", "--reference"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = retrieval_table("val", 20, 0, lecture_module("04", prefer_student=False), False)
    for row in rows:
        assert f"| {row['method']} | {row['R@1']:.3f} |" in result.output


@pytest.fixture
def fake_grader(monkeypatch):
    """Replace grading by a stub that records (lecture, submission) and gives full marks."""
    from course_lib.grading import judge
    from course_lib.grading.verdict import LectureResult

    calls = []

    def grade(lecture, submission, **kwargs):
        calls.append((lecture, Path(submission)))
        return LectureResult(lecture, str(submission), "full-marks", 1.0, 1.0)

    monkeypatch.setattr(judge, "grade_lecture", grade)
    return calls


def _notebook(path, metadata=None):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    notebook.metadata.update(metadata or {})
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    return path


def test_check_grades_the_newest_lecture_file_in_the_current_folder(
    tmp_path, monkeypatch, fake_grader
):
    for age, name in enumerate(["02_cnn.py", "01_nn_recap_final.ipynb", "01_nn_recap.py"]):
        (tmp_path / name).write_text("x = 1\n")
        os.utime(tmp_path / name, (1e9 - age, 1e9 - age))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "01"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "Lecture 01: grading 01_nn_recap_final.ipynb",
        "  the newest of its files; not graded: 01_nn_recap.py (1 s older)",
    ]
    assert fake_grader == [("01", tmp_path / "01_nn_recap_final.ipynb")]


def test_check_never_grades_the_course_copy_and_says_what_it_expects(
    tmp_path, monkeypatch, fake_grader
):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "02"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: No file for Lecture 02 in {tmp_path} or its exercises/ folder: expected "
        "02_cnn.py or 02_cnn.ipynb (or a download such as 'Copy of 02_cnn.ipynb'). Run camp "
        "check in the folder that holds it, or pass it: camp check 02 --submission PATH."
    )
    assert fake_grader == []


def test_a_notebook_without_lecture_number_is_graded_for_its_metadata_lecture(
    tmp_path, fake_grader
):
    # The metadata wins over the number in the name; only that lecture is graded.
    notebook = _notebook(tmp_path / "01_copy.ipynb", {"camp_lecture": "3"})
    result = runner.invoke(app, ["check", "--submission", str(notebook)])
    assert result.exit_code == 0, result.output
    assert fake_grader == [("03", notebook)]
    assert "Total" not in result.output


def test_a_notebook_without_metadata_is_graded_for_the_lecture_of_its_name(tmp_path, fake_grader):
    notebook = _notebook(tmp_path / "04_text (1).ipynb")
    result = runner.invoke(app, ["check", "--submission", str(notebook)])
    assert result.exit_code == 0, result.output
    assert fake_grader == [("04", notebook)]


def test_a_file_that_names_no_lecture_asks_for_the_number(tmp_path, fake_grader):
    notebook = _notebook(tmp_path / "my[bold].ipynb")
    result = runner.invoke(app, ["check", "--submission", str(notebook)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: Cannot tell which lecture {notebook} is for (no camp_lecture in its metadata, "
        f"no number at the start of its name): pass it, e.g. `camp check 01 --submission "
        f"'{notebook}'`.\n"  # Quoted for the shell: [ and ] are glob characters.
    )
    assert fake_grader == []


def test_check_with_a_camp_home_that_cannot_be_created_is_one_error_line(
    tmp_path, monkeypatch, fake_grader
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CAMP_HOME", str(blocker / "home"))
    result = runner.invoke(app, ["check", "01", "--submission", "solutions"])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot create the camp data folder {blocker / 'home'}")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert fake_grader == []


def test_check_that_cannot_save_its_result_is_one_error_line(tmp_path, monkeypatch, fake_grader):
    home = tmp_path / "home"
    (home / "checks" / "01.json").mkdir(parents=True)  # A folder where the result file goes.
    monkeypatch.setenv("CAMP_HOME", str(home))
    result = runner.invoke(app, ["check", "01", "--submission", "solutions"])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot save the check result to {home / 'checks' / '01.json'}")
    assert "Traceback" not in result.output


def test_check_of_a_released_notebook_grades_its_own_lecture_only(tmp_path):
    import jupytext

    notebook = jupytext.read(project_root() / "solutions" / "01_nn_recap.py")
    notebook.metadata["camp_lecture"] = "01"
    path = tmp_path / "my.ipynb"
    jupytext.write(notebook, path, fmt="ipynb")
    result = runner.invoke(app, ["check", "--submission", str(path)])
    assert result.exit_code == 0, result.output
    assert "Lecture 01: 28 / 28 points" in result.output
    assert "Lecture 02" not in result.output and "Total" not in result.output


def test_search_results_print_names_as_written_and_wrap_long_ones(tmp_path, capsys):
    from course_lib.search.cli import _print_hits

    name = "holiday[bold]" + "x" * 100 + ".jpg"
    _print_hits("a [red]cat[/red]", [(str(tmp_path / name), 0.5)], tmp_path)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "a [red]cat[/red]"
    rows = [line.split("│") for line in out.splitlines() if line.startswith("│ ")]
    assert "".join(row[2].strip() for row in rows) == name
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out


@pytest.mark.parametrize("query", ["", "   \t"])
def test_an_empty_search_query_is_one_error_line(tmp_path, query):
    result = runner.invoke(app, ["search", query, "--photos", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Expected a text query"), result.output
