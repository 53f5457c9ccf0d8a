"""The ``camp`` command through Typer's CliRunner: exit codes and messages."""

import json

from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.paths import user_dir

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


def test_check_untouched_exercises_scores_zero_and_exits_1():
    result = runner.invoke(app, ["check", "1"])
    assert result.exit_code == 1
    assert "Lecture 01: 0 / 28 points" in result.output
    assert "Not implemented yet" in result.output


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
    from course_lib.captioner import caption_images
    from course_lib.data import make_split

    make_split(tmp_path / "coco", "val", 2, seed=3, image_size=128)
    out = tmp_path / "captions.json"
    result = runner.invoke(app, ["caption", str(tmp_path / "coco"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    files = sorted((tmp_path / "coco" / "images").glob("*.jpg"))
    assert list(written) == [p.stem for p in files]
    assert [v[0] for v in written.values()] == caption_images(files)


def test_text_table_prints_every_method():
    from course_lib.lectures import lecture_module
    from course_lib.text_retrieval import retrieval_table

    args = ["text-table", "--num-images", "20", "--no-minilm", "--reference"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = retrieval_table("val", 20, 0, lecture_module("04", prefer_student=False), False)
    for row in rows:
        assert f"| {row['method']} | {row['R@1']:.3f} |" in result.output
