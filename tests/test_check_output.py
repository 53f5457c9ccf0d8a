"""What ``camp check`` prints and which file it grades (fixed results; no grading here).

The judge is replaced by fixed ``LectureResult`` rows of Lecture 01's real tests, so what is
checked is the rendering at 80 columns and the choice of file; ``test_cli.py`` grades for real.
"""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.grading import judge as grading_judge
from course_lib.grading.judge import declared_points
from course_lib.grading.verdict import LectureResult
from course_lib.paths import project_root
from course_lib.student.feedback import function_rows, lecture_line, print_result
from course_lib.student.submission import (
    choose_lecture_file,
    describe_choice,
    lecture_of_file,
    quoted,
)

runner = CliRunner()
STUB = "Not implemented yet (the function still raises NotImplementedError)."


def _rows(lecture="01", failing=(), message=STUB):
    """The judge's rows for ``lecture``: every test passes except those in ``failing``."""
    declared = {
        name: points
        for path in grading_judge.test_files(lecture)
        for name, points in declared_points(path).items()
    }
    return [
        {
            "name": name,
            "passed": name not in failing,
            "points": 0.0 if name in failing else points,
            "max_points": points,
            "hint": f"Hint of {name}." if name in failing else "",
            "message": message if name in failing else "",
        }
        for name, points in declared.items()
    ]


def _result(tests, status="graded", detail=""):
    points = sum(t["points"] for t in tests)
    maximum = sum(t["max_points"] for t in tests)
    if status in ("import-error", "timeout"):
        points = 0.0
    return LectureResult("01", "/x/01_nn_recap.py", status, points, maximum, detail, tests)


def _shown(result, verbose=False):
    out = io.StringIO()
    print_result(Console(file=out, width=80, color_system=None), result, verbose)
    return out.getvalue().splitlines()


def test_an_untouched_lecture_is_one_line_per_function_and_no_hints():
    names = [t["name"] for t in _rows()]
    lines = _shown(_result(_rows(failing=names)))
    functions = [r.name for r in function_rows("01", _rows())]
    assert functions[:3] == ["dense_forward", "relu", "sigmoid"]  # Notebook order.
    assert len(lines) == len(functions) + 1 <= 40
    for line, function in zip(lines, functions, strict=False):
        assert function in line and line.endswith("not implemented yet")
    assert lines[-1] == (
        "Lecture 01: 0 / 28 points. Next: implement dense_forward; -v shows every test."
    )
    assert "Hint of" not in "\n".join(lines)


def test_a_failure_shows_its_hint_and_message_wrapped_at_80_columns():
    message = "AssertionError: \n" + "softmax returned nan for logits of 1000 " * 4 + "\n" * 3
    message += "line 2\nline 3\nline 4\nline 5"
    failing = ["test_softmax_stable_for_large_logits"]
    lines = _shown(_result(_rows(failing=failing, message=message)))
    text = "\n".join(lines)
    assert "  ✗ softmax           2/4  1 of 3 tests fail" in lines
    assert "      test_softmax_stable_for_large_logits: Hint of" in text
    assert "AssertionError" not in text and "line 3" in text and "line 4" not in text
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)
    assert sum("✓" in line for line in lines) == 12
    assert lines[-1].startswith("Lecture 01: 26 / 28 points. Next: fix softmax")


def test_verbose_lists_every_test_and_its_whole_message():
    failing = ["test_relu"]
    message = "\n".join(f"line {i}" for i in range(6))
    lines = _shown(_result(_rows(failing=failing, message=message)), verbose=True)
    for test in _rows():
        assert any(test["name"] in line for line in lines)
    assert "line 5" in "\n".join(lines)


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        ("import-error", "01_nn_recap.py has a syntax error on line 109: '(' was never closed."),
        ("timeout", "Timed out after 300 s (an infinite loop or very slow code?)."),
    ],
)
def test_a_lecture_that_failed_as_a_whole_says_so_once(status, detail):
    names = [t["name"] for t in _rows()]
    lines = _shown(_result(_rows(failing=names, message=detail), status, detail))
    assert lines == [
        f"  ✗ {detail}",
        "Lecture 01: 0 / 28 points. Fix it and run camp check 01 again.",
    ]


def test_plain_camp_check_is_one_line_per_lecture():
    def line(result, label):
        return Text.from_markup(lecture_line(result, label)).plain

    full = _result(_rows(), "full-marks")
    assert line(full, "01_nn_recap.py") == "  ✓ Lecture 01   28/28  01_nn_recap.py"
    partial = _result(_rows(failing=["test_relu", "test_dense_forward"]))
    assert line(partial, "a [b].py").endswith("26/28  a [b].py: 2 of 13 functions to do")
    broken = _result(_rows(), "import-error", "x")
    assert line(broken, "x.py").endswith("0/28  x.py: import error")


def _touch(path: Path, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n")
    os.utime(path, (1e9 - age, 1e9 - age))
    return path


@pytest.mark.parametrize(
    "name",
    ["Copy of 01_nn_recap.ipynb", "01_nn_recap (1).py", "copy of Copy of 01_nn_recap.ipynb"],
)
def test_download_names_are_recognised(tmp_path, name):
    path = _touch(tmp_path / name, 0)
    _touch(tmp_path / "02_cnn.py", 0)
    _touch(tmp_path / "Notes on 01_nn_recap.py", 0)
    assert choose_lecture_file(tmp_path, "01") == (path, [])
    assert lecture_of_file(path) == "01"


def test_a_solved_file_in_exercises_beats_an_older_copy_at_the_top_and_is_named(tmp_path):
    stale = _touch(tmp_path / "01_nn_recap.py", 7200)
    solved = _touch(tmp_path / "exercises" / "01_nn_recap.py", 0)
    assert choose_lecture_file(tmp_path, "01") == (solved, [stale])
    assert describe_choice(solved, [stale], tmp_path) == "01_nn_recap.py (2 h older)"
    assert describe_choice(solved, []) == ""


def test_camp_check_names_the_graded_file_and_the_older_ones(tmp_path, monkeypatch):
    from course_lib.grading import judge

    calls = []

    def grade(lecture, submission, **kwargs):
        calls.append(Path(submission))
        return _result(_rows(), "full-marks")

    monkeypatch.setattr(judge, "grade_lecture", grade)
    _touch(tmp_path / "01_nn_recap.py", 60)
    solved = _touch(tmp_path / "exercises" / "01_nn_recap.py", 0)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "01"])
    assert result.exit_code == 0, result.output
    assert calls == [solved]
    lines = result.output.splitlines()
    assert lines[:2] == [
        "Lecture 01: grading exercises/01_nn_recap.py",
        "  the newest of its files; not graded: 01_nn_recap.py (1 min older)",
    ]


def test_without_a_file_camp_check_grades_nothing_and_says_what_it_expects(tmp_path, monkeypatch):
    from course_lib.grading import judge

    monkeypatch.setattr(judge, "grade_lecture", lambda *a, **k: pytest.fail("graded"))
    monkeypatch.chdir(tmp_path)
    for args in (["check", "01"], ["check"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: No "), result.output
        assert str(tmp_path) in lines[0] and "01_nn_recap.py or 01_nn_recap.ipynb" in lines[0]
        assert "site-packages" not in result.output


def test_suggested_commands_quote_paths_with_spaces(tmp_path):
    path = tmp_path / "my work.ipynb"
    path.write_text("{}")
    assert quoted(path) == f"'{path}'"
    with pytest.raises(Exception, match=rf"--submission '{path}'"):
        lecture_of_file(path)


def test_a_student_edition_mounts_the_students_verbs_only(tmp_path):
    """CAMP_ROOT at an edition's material: instructor verbs are unknown commands, not tracebacks."""
    edition = tmp_path / "edition"
    (edition / "tests" / "autograder").mkdir(parents=True)
    for path in grading_judge.test_files("01"):
        (edition / "tests" / "autograder" / path.name).write_bytes(path.read_bytes())
    (edition / "edition.json").write_text('{"version": "0", "released": []}')
    env = dict(os.environ, CAMP_ROOT=str(edition), COLUMNS="80")
    camp = [sys.executable, "-c", "from course_lib.cli import main; main()"]

    def run(*args):
        return subprocess.run([*camp, *args], env=env, capture_output=True, text=True)

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    panels = [line for line in shown.stdout.splitlines() if line.startswith("╭─ ")]
    assert [p.split("─ ")[1].split(" ─")[0] for p in panels] == [
        "Options",
        "Your work",
        "Search photos",
        "Data and competition",
    ]
    for verb in ("gradescope", "autograde", "generate", "release", "mutants", "similarity"):
        assert f" {verb} " not in shown.stdout
        refused = run(verb, "01")
        assert refused.returncode == 2 and f"No such command '{verb}'" in refused.stderr
        assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) <= 5
    assert project_root() != edition  # This process still sees the checkout.


def test_tests_out_of_time_in_one_function_are_named_once_without_hints():
    def late(function, probe=""):
        run_by = f", run by course_lib.grading.probes.lecture_01.{probe}," if probe else ""
        return (
            f"{function}(...){run_by} did not finish within the test's 30 s (an infinite loop, "
            "or much slower code than needed?)."
        )

    slow = {
        "test_relu": ("relu", late("relu", "arguments_after")),
        "test_train_sgd_learns_separable_data": ("train_sgd", late("train_sgd")),
        "test_train_sgd_shuffles_minibatches": ("train_sgd", late("train_sgd", "record_calls")),
        "test_train_sgd_follows_sgd": ("train_sgd", late("train_sgd", "record_calls")),
    }
    tests = _rows(failing=list(slow))
    for test in tests:
        if test["name"] in slow:
            test |= {"outcome": "timeout", "function": slow[test["name"]][0]}
            test["message"] = slow[test["name"]][1]
    lines = _shown(_result(tests))
    text = "\n".join(lines)
    assert "  ✗ relu              0/1  did not finish in time" in lines
    assert "Hint of" not in text and "course_lib.grading" not in text
    assert text.count("train_sgd(...) did not finish") == 1
    assert (
        "      test_train_sgd_learns_separable_data, test_train_sgd_shuffles_minibatches," in lines
    )
    assert lines[-1].startswith("Lecture 01: 24 / 28 points. Next: fix relu")
    assert all(len(line) <= 80 for line in lines)
    verbose = "\n".join(_shown(_result(tests), verbose=True))
    assert verbose.count("train_sgd(...)") == 3
