"""Sharded grading: ``camp autograde --shard I/N`` slices and ``camp gradebook merge``.

A small class graded as 3 shards and merged gives the gradebook of one ``camp autograde`` run,
point for point; the merge refuses overlapping shards and missing students in one error line.
"""

import csv
import json
import os
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from course_lib.authoring.generate import partly_solved
from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.grading import judge
from course_lib.grading.classroom import signing_key
from course_lib.grading.expected import hidden_dir
from course_lib.grading.gradebook import parse_shard, select_shard
from course_lib.grading.sheet import CSV_FIELDS
from course_lib.paths import project_root

ROOT = project_root()
SCHEMA = json.loads((ROOT / "tests/fixtures/gradescope/results.schema.json").read_text())


def test_shard_index_is_zero_based_and_checked():
    assert parse_shard("0/3") == (0, 3) and parse_shard(" 2 / 3 ") == (2, 3)
    for text, message in (
        ("3/3", "index runs from 0 to 2"),
        ("1/0", "at least 1"),
        ("1", "expects INDEX/COUNT"),
        ("-1/3", "expects INDEX/COUNT"),
        ("a/b", "expects INDEX/COUNT"),
    ):
        with pytest.raises(CourseError, match=message):
            parse_shard(text)


def test_autograde_refuses_a_bad_shard_before_grading(tmp_path):
    (tmp_path / "submissions" / "ada").mkdir(parents=True)
    base = ["autograde", str(tmp_path / "submissions"), "--out", str(tmp_path / "g.csv")]
    for extra, fragment in (
        (["--shard", "2/2"], "index runs from 0 to 1"),
        (["--shard", "0/2", "--student", "ada"], "do not combine"),
    ):
        one_error_line(CliRunner().invoke(app, base + extra), fragment)
    assert not (tmp_path / "g.csv").exists()


def test_shards_are_round_robin_over_sorted_names():
    students = [Path(name) for name in ("gus", "ada", "fay", "bob", "eve", "cy", "dan")]
    shards = [[p.name for p in select_shard(students, i, 3)] for i in range(3)]
    assert shards == [["ada", "dan", "gus"], ["bob", "eve"], ["cy", "fay"]]
    assert select_shard(students, 0, 1) == sorted(students)
    assert select_shard(students[:2], 2, 3) == []


def test_shards_starting_together_share_one_signing_key(monkeypatch):
    first = signing_key()
    # Another shard creates the key between this shard's check and its own creation.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert signing_key() == first and len(first) == 32
    folder = Path(os.environ["CAMP_HOME"])
    assert sorted(p.name for p in folder.iterdir()) == ["grading.key"]  # No draft left behind.


def write_gradebook(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, restval="")
        writer.writeheader()
        for student, lecture, points in rows:
            writer.writerow(
                {"student": student, "lecture": lecture, "points": points, "max_points": 28}
                | {"status": "graded", "isolation": "namespaces"}
            )
    return path


def merge(*args) -> object:
    return CliRunner().invoke(app, ["gradebook", "merge", *map(str, args)])


def one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_merge_refuses_a_student_in_two_shards(tmp_path):
    a = write_gradebook(tmp_path / "a.csv", [("ada", "01", 3), ("bob", "01", 5)])
    b = write_gradebook(tmp_path / "b.csv", [("bob", "01", 5)])
    out = tmp_path / "grades.csv"
    one_error_line(merge(a, b, "--out", out), "'bob' is in two shards", "a.csv", "b.csv")
    assert not out.exists()
    one_error_line(merge(a, a, "--out", out), "a.csv is given twice")


def test_merge_refuses_missing_and_unknown_students(tmp_path):
    for name in ("ada", "bob", "cy"):
        (tmp_path / "submissions" / name).mkdir(parents=True)
    a = write_gradebook(tmp_path / "a.csv", [("ada", "01", 3)])
    b = write_gradebook(tmp_path / "b.csv", [("bob", "01", 5)])
    out = tmp_path / "grades.csv"
    submissions = tmp_path / "submissions"
    one_error_line(
        merge(a, b, "--out", out, "--submissions", submissions), "1 student(s)", "no shard: cy"
    )
    c = write_gradebook(tmp_path / "c.csv", [("cy", "01", 0), ("zed", "01", 1)])
    one_error_line(merge(a, b, c, "--out", out, "--submissions", submissions), "no folder", "zed")
    assert not out.exists()


def test_merge_refuses_files_that_are_not_gradebooks(tmp_path):
    (tmp_path / "other.csv").write_text("name,score\nada,3\n")
    one_error_line(merge(tmp_path / "other.csv"), "not a gradebook", "student")
    one_error_line(merge(tmp_path / "absent.csv"), "Gradebook not found", "absent.csv")
    a = write_gradebook(tmp_path / "a.csv", [("ada", "01", 3)])
    b = write_gradebook(tmp_path / "b.csv", [("bob", "02", 3)])
    one_error_line(merge(a, b, "--out", tmp_path / "g.csv"), "graded different lectures")


def test_merge_without_submissions_sorts_rows(tmp_path):
    a = write_gradebook(tmp_path / "a.csv", [("cy", "01", 1), ("ada", "01", 3)])
    b = write_gradebook(tmp_path / "b.csv", [("bob", "01", 5)])
    result = merge(a, b, tmp_path / "empty.csv", "--out", tmp_path / "g.csv")
    assert result.exit_code == 1  # The third file does not exist.
    write_gradebook(tmp_path / "empty.csv", [])  # A shard with no students.
    result = merge(a, b, tmp_path / "empty.csv", "--out", tmp_path / "g.csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "g.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student"], r["points"]) for r in rows] == [("ada", "3"), ("bob", "5"), ("cy", "1")]


def autograde(submissions: Path, out: Path, *extra: str):
    args = ["autograde", str(submissions), "--out", str(out), "--lecture", "01", *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sharded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    solution = (ROOT / "solutions" / "01_nn_recap.py").read_text()
    students = {
        "solved": solution,
        "half": partly_solved(solution, keep=6),
        "untouched": (ROOT / "exercises" / "01_nn_recap.py").read_text(),
    }
    submissions = root / "submissions"
    for name, text in students.items():
        (submissions / name).mkdir(parents=True)
        (submissions / name / "01_nn_recap.py").write_text(text)
    (submissions / "empty").mkdir()
    previous = os.environ.get("CAMP_HOME")
    os.environ["CAMP_HOME"] = str(root / "camp-home")  # One signing key for the module.
    try:
        single = autograde(submissions, root / "single" / "grades.csv")
        # Separate folders: each shard grades its students afresh, nothing comes from a cache.
        shards = [
            autograde(submissions, root / f"shard{i}" / "grades.csv", "--shard", f"{i}/3")
            for i in range(3)
        ]
    finally:
        if previous is None:
            del os.environ["CAMP_HOME"]
        else:
            os.environ["CAMP_HOME"] = previous
    return root, single, shards


@pytest.mark.slow
def test_three_shards_merge_into_the_single_gradebook(sharded_class):
    root, single, shards = sharded_class
    assert [[row["student"] for row in shard] for shard in shards] == [
        ["empty", "untouched"],
        ["half"],
        ["solved"],
    ]
    paths = [root / f"shard{i}" / "grades.csv" for i in range(3)]
    merged_path = root / "merged.csv"
    result = merge(*paths, "--out", merged_path, "--submissions", root / "submissions")
    assert result.exit_code == 0, result.output
    with merged_path.open() as handle:
        merged = list(csv.DictReader(handle))
    assert merged == single
    statuses = {row["student"]: row["status"] for row in single}
    assert statuses == {
        "empty": "missing",
        "half": "graded",
        "solved": "full-marks",
        "untouched": "graded",
    }
    points = {row["student"]: float(row["points"]) for row in single}
    files = judge.test_files("01") + judge.hidden_test_files(hidden_dir(), "01")
    full = sum(sum(judge.declared_points(path).values()) for path in files)  # With tests/hidden.
    assert points["solved"] == full and 0 < points["half"] < full and points["untouched"] == 0


@pytest.mark.slow
def test_the_class_results_json_follow_gradescope_format(sharded_class):
    root, _, _ = sharded_class
    documents = sorted(root.glob("*/results/*/results.json"))
    assert len(documents) == 8  # Four students, once alone and once in a shard.
    for path in documents:
        jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(path.read_text()))
