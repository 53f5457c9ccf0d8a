"""A whole class through ``camp autograde``: good, half-done and hostile submissions.

Every bad case costs its student that lecture's points, is named in the gradebook, and never
stops the batch.
"""

import csv
import json
import os
import re

import jupytext
import pytest
from typer.testing import CliRunner

from course_lib.authoring.generate import partly_solved, strip_solutions
from course_lib.cli import app
from course_lib.grading import judge
from course_lib.grading.expected import hidden_dir
from course_lib.grading.judge import grade_lecture
from course_lib.paths import project_root

SOLUTION = project_root() / "solutions" / "01_nn_recap.py"
# camp autograde grades the checkout's hidden tests too (tests/hidden), unless told otherwise.
FULL = sum(
    sum(judge.declared_points(path).values())
    for path in judge.test_files("01") + judge.hidden_test_files(hidden_dir(), "01")
)
TIMEOUT = "40"  # Seconds: a good submission needs about 10 on two busy cores.


def write_class(root):
    source = SOLUTION.read_text()
    students = {
        "good": source,
        "half": partly_solved(source, keep=6),
        "loop": source + "\nwhile True:\n    pass\n",
        "bomb": source.replace(
            "    return np.maximum(z, 0.0)", "    return np.ones(20 * 1024**3 // 8) + z"
        ),
        "syntax": source.replace("def relu(z", "def relu(z::", 1),
        "exits": source + "\nimport os\n\nos._exit(0)\n",
        "crash": source + "\nimport ctypes\n\nctypes.string_at(0)\n",
    }
    for name, text in students.items():
        (root / name).mkdir(parents=True)
        (root / name / "01_nn_recap.py").write_text(text)
    (root / "empty").mkdir()
    return students


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    write_class(root / "submissions")
    out = root / "grades.csv"
    args = ["autograde", str(root / "submissions"), "--out", str(out), "--timeout", TIMEOUT]
    args += ["--lecture", "01"]
    previous = os.environ.get("CAMP_HOME")
    os.environ["CAMP_HOME"] = str(root / "camp-home")  # One signing key for the whole module.
    try:
        first = CliRunner().invoke(app, args)
        second = CliRunner().invoke(app, args)
    finally:
        if previous is None:
            del os.environ["CAMP_HOME"]
        else:
            os.environ["CAMP_HOME"] = previous
    return root, out, first, second


def _rows(out):
    with out.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_gradebook_names_each_case(graded_class):
    root, out, first, _ = graded_class
    assert first.exit_code == 0, first.output
    rows = _rows(out)
    assert set(rows) == {"good", "half", "loop", "bomb", "syntax", "exits", "crash", "empty"}
    assert rows["good"]["status"] == "full-marks"
    assert float(rows["good"]["points"]) == float(rows["good"]["max_points"]) == FULL
    assert rows["half"]["status"] == "graded"
    assert 0 < float(rows["half"]["points"]) < FULL
    assert rows["loop"]["status"] == "timeout"  # An endless import: one line that says so.
    assert rows["loop"]["detail"].startswith("Importing 01_nn_recap.py did not finish within")
    assert rows["bomb"]["status"] == "memory-limit"
    assert rows["syntax"]["status"] == "import-error"
    assert re.search(r"01_nn_recap.py has a syntax error on line \d+", rows["syntax"]["detail"])
    assert rows["exits"]["status"] == "exited"
    assert rows["crash"]["status"] == "crashed"
    assert "killed by SIGSEGV" in rows["crash"]["detail"]
    assert rows["empty"]["status"] == "missing"
    assert rows["good"]["isolation"] == "namespaces" and rows["good"]["flags"] == ""
    assert rows["crash"]["flags"] == "imports ctypes" and rows["exits"]["flags"] == "os._exit"
    assert rows["good"]["file"] == "01_nn_recap.py"
    assert "No file for lecture 01" in rows["empty"]["detail"]
    for name in ("loop", "syntax", "exits", "crash", "empty"):
        assert float(rows[name]["points"]) == 0, name


def _stored(root, student):
    return json.loads((root / "results" / student / "01.json").read_text())["record"]


def test_memory_bomb_loses_only_the_tests_that_allocate(graded_class):
    root, _, _, _ = graded_class
    record = _stored(root, "bomb")
    relu_tests = [t for t in record["tests"] if t["memory_error"]]
    assert relu_tests and all(not t["passed"] for t in relu_tests)
    assert 0 < record["points"] < record["max_points"]


def test_results_record_their_provenance_and_gradescope_format(graded_class):
    root, _, _, _ = graded_class
    record = _stored(root, "good")
    assert set(record["provenance"]) >= {
        "submission_sha",
        "tests_sha",
        "package_version",
        "tensorflow_version",
        "seed",
    }
    gradescope = json.loads((root / "results" / "good" / "results.json").read_text())
    assert gradescope["score"] == FULL
    assert sum(t["max_score"] for t in gradescope["tests"]) == FULL
    assert {t["status"] for t in gradescope["tests"]} == {"passed"}


def test_rerun_skips_up_to_date_results(graded_class):
    _, _, first, second = graded_class
    assert second.exit_code == 0, second.output
    assert "(cached)" not in first.output
    assert second.output.count("(cached)") == 8


def test_regrading_one_student_keeps_the_others(graded_class, tmp_path):
    root, out, _, _ = graded_class
    (root / "submissions" / "half" / "01_nn_recap.py").write_text(SOLUTION.read_text())
    result = CliRunner().invoke(
        app,
        [
            "autograde",
            str(root / "submissions"),
            "--out",
            str(out),
            "--student",
            "half",
            "--lecture",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert rows["half"]["status"] == "full-marks"
    assert rows["loop"]["status"] == "timeout" and len(rows) == 8


def test_hidden_tests_show_name_points_and_hint_but_no_code(tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_01_extra.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.points(5, hint='Think about the batch axis.')\n"
        "def test_secret(sub):\n"
        "    secret_value = 41\n"
        "    assert sub.relu(1.0) == secret_value\n"
    )
    result = grade_lecture("01", project_root() / "solutions", hidden_dir=hidden)
    secret = next(t for t in result.tests if t["name"] == "test_secret")
    assert secret["hidden"] and not secret["passed"] and secret["max_points"] == 5
    assert secret["hint"] == "Think about the batch axis."
    assert secret["message"] == "" and "41" not in json.dumps(result.to_dict())
    assert result.max_points == 33 and result.points == 28


def test_notebook_submissions_are_graded_and_broken_ones_named(tmp_path):
    notebook = tmp_path / "01_nn_recap.ipynb"
    jupytext.write(jupytext.read(SOLUTION), notebook)
    result = grade_lecture("01", notebook)
    assert result.status == "full-marks", result.detail
    notebook.write_text('{"cells": [', encoding="utf-8")
    broken = grade_lecture("01", notebook)
    assert broken.status == "import-error" and broken.points == 0
    assert f"{notebook} is not a valid notebook (not valid JSON" in broken.detail


def test_a_tampered_cached_result_is_regraded(graded_class, monkeypatch):
    root, out, _, _ = graded_class
    monkeypatch.setenv("CAMP_HOME", str(root / "camp-home"))
    stored = root / "results" / "loop" / "01.json"
    envelope = json.loads(stored.read_text())
    envelope["record"]["points"] = envelope["record"]["max_points"]
    envelope["record"]["status"] = "full-marks"
    stored.write_text(json.dumps(envelope))
    untouched = {
        name: (root / "results" / name / "01.json").stat().st_mtime_ns
        for name in "good syntax crash".split()
    }
    args = ["autograde", str(root / "submissions"), "--out", str(out), "--timeout", TIMEOUT]
    result = CliRunner().invoke(app, [*args, "--lecture", "01", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert _rows(out)["loop"]["status"] == "timeout"
    assert _stored(root, "loop")["status"] == "timeout"
    for name, mtime in untouched.items():  # Authentic, up-to-date results are not regraded.
        assert (root / "results" / name / "01.json").stat().st_mtime_ns == mtime, name


@pytest.mark.parametrize(
    "option, message",
    [
        (["--jobs", "-1"], "--jobs must be at least 1; received -1."),
        (["--timeout", "0"], "--timeout must be a positive number of seconds; received 0."),
        (["--memory-mb", "0"], "--memory-mb must be at least 512 MB; received 0."),
        (["--out", "."], "--out must name a .csv file to write; received '.'."),
    ],
)
def test_bad_arguments_are_refused_in_one_line(tmp_path, option, message):
    (tmp_path / "alice").mkdir()
    result = CliRunner().invoke(app, ["autograde", str(tmp_path), *option])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {message}"


def test_two_candidate_files_grade_the_newest_and_warn(tmp_path):
    folder = tmp_path / "bob"
    folder.mkdir()
    (folder / "01_nn_recap.py").write_text(strip_solutions(SOLUTION.read_text()))
    final = folder / "01_nn_recap_final.py"
    final.write_text(SOLUTION.read_text())
    os.utime(folder / "01_nn_recap.py", (1_000_000_000, 1_000_000_000))
    result = grade_lecture("01", folder)
    assert result.status == "full-marks" and result.submission == str(final)
    assert result.warning == "Graded 01_nn_recap_final.py; also found 01_nn_recap.py (not graded)."


def test_an_endless_relu_costs_only_the_tests_that_call_it(tmp_path):
    """Issue 20: a loop in relu once cost "Timed out after 300 s" and 0/28, nothing named."""
    (tmp_path / "01_nn_recap.py").write_text(
        SOLUTION.read_text().replace(
            "    return np.maximum(z, 0.0)", "    while True:\n        pass", 1
        )
    )
    result = grade_lecture("01", tmp_path, test_limit_s=5)
    rows = {test["name"]: test for test in result.tests}
    assert result.status == "graded" and len(rows) == 21, result.to_dict()
    relu = rows["test_relu"]
    assert (relu["outcome"], relu["function"]) == ("timeout", "relu")
    assert "relu(...) did not finish within the test's 5 s" in relu["message"]
    late = [test for test in result.tests if not test["passed"]]
    assert {test["outcome"] for test in late} == {"timeout"}  # Nothing else failed...
    assert rows["test_keras_reaches_93_percent_on_digits"]["passed"]  # ...the rest kept points.
    # A function the judge called gets the whole limit once; later tests that call it again
    # wait a few seconds, not the whole limit (mlp_forward and train_sgd reach relu inside).
    seen, repeats = set(), 0
    for test in late:
        again = "it already ran out of time in an earlier test" in test["message"]
        assert again == (test["function"] in seen), test
        seen.add(test["function"])
        repeats += again
    assert repeats >= 3, late
    assert result.points == result.max_points - sum(test["max_points"] for test in late)


def test_installed_pytest_plugins_do_not_reach_the_judge(tmp_path, monkeypatch):
    """A pytest plugin installed beside the course (here one that fails every test and leaves a
    mark) is not loaded by the judge: grades do not depend on the instructor's environment."""
    site = tmp_path / "site"
    (site / "spoiler-1.0.dist-info").mkdir(parents=True)
    (site / "spoiler-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: spoiler\nVersion: 1.0\n"
    )
    (site / "spoiler-1.0.dist-info" / "entry_points.txt").write_text(
        "[pytest11]\nspoiler = spoiler_plugin\n"
    )
    mark = tmp_path / "loaded"
    (site / "spoiler_plugin.py").write_text(
        "import pytest\n\n\n"
        "def pytest_configure(config):\n"
        f"    open({str(mark)!r}, 'w').close()\n\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    pytest.fail('spoiled')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(site))
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / SOLUTION.name).write_text(SOLUTION.read_text())
    public = sum(judge.declared_points(judge.test_files("01")[0]).values())
    result = grade_lecture("01", tmp_path / "student", parts=("public",))
    assert (result.status, result.points) == ("full-marks", public), result.detail
    assert not mark.exists()
