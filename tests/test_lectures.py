"""Later lectures use the student's own code only after it passed ``camp check`` unchanged."""

import json
import sys

from course_lib.paths import project_root, user_dir
from course_lib.student.lectures import file_sha, lecture_module


def _record(status, sha):
    folder = user_dir() / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "01.json").write_text(json.dumps({"status": status, "submission_sha": sha}))


def test_falls_back_to_solutions_without_a_passing_check(capsys):
    module = lecture_module("01")
    assert module.__file__.endswith("solutions/01_nn_recap.py")
    assert "run `camp check 01`" in capsys.readouterr().err
    _record("graded", file_sha(project_root() / "exercises" / "01_nn_recap.py"))
    assert lecture_module("01", quiet=True).__file__.endswith("solutions/01_nn_recap.py")


def test_uses_the_students_file_after_full_marks_on_that_exact_file():
    exercise = project_root() / "exercises" / "01_nn_recap.py"
    _record("full-marks", file_sha(exercise))
    assert lecture_module("01", quiet=True).__file__.endswith("exercises/01_nn_recap.py")
    _record("full-marks", "0" * 64)  # The file changed since the check.
    assert lecture_module("01", quiet=True).__file__.endswith("solutions/01_nn_recap.py")


def test_the_grader_reads_the_same_home_as_camp_check(tmp_path, monkeypatch):
    from course_lib.grading.judge import grading_env
    from course_lib.paths import user_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMP_HOME", "relative/home")
    assert grading_env()["CAMP_HOME"] == str(tmp_path / "relative" / "home")
    monkeypatch.delenv("CAMP_HOME")
    if sys.platform != "linux":
        return  # platformdirs reads XDG_DATA_HOME on Linux only.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    # The default too: the judge keeps no XDG variable, so it gets the folder itself.
    assert (
        grading_env()["CAMP_HOME"]
        == str(user_home())
        == str(tmp_path / "data" / "image-search-camp")
    )
