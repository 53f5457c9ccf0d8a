"""``camp similarity``, ``camp late`` and ``camp export`` as a user runs them.

Each works on a small class; each bad input (missing folder, unknown lecture, malformed policy,
deadline, override or roster file) is one ``error: ...`` line naming the file, exit code 1.
"""

import csv
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.grading.sheet import CSV_FIELDS
from course_lib.paths import project_root

ROOT = project_root()
CET = timezone(timedelta(hours=1))
COURSE = """
[policy]
late_days = 1
penalty_per_day = 0.25

[lectures.01]
deadline = 2026-02-09T23:59:00+01:00
title = "NN recap"
canvas_id = 7
"""


def camp(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


@pytest.fixture
def term(tmp_path: Path) -> Path:
    """A class of three (two copies of the solution, one untouched exercise) and its gradebook."""
    deadline = datetime(2026, 2, 9, 23, 59, tzinfo=CET).timestamp()
    source = {"sol": ROOT / "solutions/01_nn_recap.py", "ex": ROOT / "exercises/01_nn_recap.py"}
    rows = []
    for name, kind, delay, points in (
        ("ann", "sol", -60, 10),
        ("bob", "sol", 2 * 86400, 10),
        ("cy", "ex", 0, 0),
    ):
        path = tmp_path / "subs" / name / "01_nn_recap.py"
        path.parent.mkdir(parents=True)
        path.write_text(source[kind].read_text(encoding="utf-8"), encoding="utf-8")
        os.utime(path, (deadline + delay, deadline + delay))
        rows.append(
            {
                "student": name,
                "lecture": "01",
                "points": points,
                "max_points": 10,
                "status": "graded",
                "file": path.name,
            }
        )
    with (tmp_path / "grades.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "course.toml").write_text(COURSE, encoding="utf-8")
    return tmp_path


def test_similarity_writes_the_report_and_ranks_the_copies_first(term):
    result = camp("similarity", term / "subs", "--lecture", "1", "--out", term / "sim")
    assert result.exit_code == 0, result.output
    assert "3 submissions of lecture 01 compared" in result.output
    with (term / "sim" / "pairs.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student_a"], r["student_b"], r["similarity_a"]) for r in rows] == [
        ("ann", "bob", "1.0000")
    ]
    assert "<mark>" in (term / "sim" / "index.html").read_text(encoding="utf-8")


def test_late_then_export_as_a_user_chains_them(term):
    result = camp(
        "late", term / "grades.csv", "--course", term / "course.toml", "--submissions",
        term / "subs", "--out", term / "late.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 of 3 submissions late" in result.output
    with (term / "late.csv").open(newline="") as handle:
        late = {r["student"]: r for r in csv.DictReader(handle)}
    assert (late["bob"]["late_days"], late["bob"]["points_after_policy"]) == ("2", "7.5")
    result = camp(
        "export", term / "late.csv", "--format", "canvas", "--course", term / "course.toml",
        "--out", term / "canvas.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(points_after_policy)" in result.output
    with (term / "canvas.csv").open(newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][5:] == ["NN recap (7)"] and table[1][5:] == ["10"]
    assert [(r[0], r[5]) for r in table[2:]] == [("ann", "10"), ("bob", "7.5"), ("cy", "0")]


def test_similarity_bad_input_is_one_error_line(term):
    one_error_line(camp("similarity", term / "nowhere", "--lecture", "01"), "not found", "nowhere")
    one_error_line(camp("similarity", term / "subs", "--lecture", "09"), "unknown lecture 09")
    one_error_line(camp("similarity", term / "subs", "--lecture", "one"), "lecture number")


@pytest.mark.parametrize(
    ("course", "fragment"),
    [
        (COURSE.replace("penalty_per_day = 0.25", "penalty_per_day = 25"), "from 0 to 1"),
        (COURSE.replace("late_days = 1", "late_dayz = 1"), "unknown key 'late_dayz'"),
        (COURSE.replace("2026-02-09T23:59:00+01:00", '"9 Feb"'), "'9 Feb'"),
        (COURSE.replace("+01:00", ""), "has no UTC offset"),
        (COURSE.replace("[lectures.01]", "[lectures.42]"), "unknown lecture 42"),
        (COURSE.replace("[policy]", "policy]"), "is not valid TOML"),
    ],
)
def test_late_with_a_malformed_course_file_is_one_error_line(term, course, fragment):
    (term / "course.toml").write_text(course, encoding="utf-8")
    result = camp(
        "late", term / "grades.csv", "--course", term / "course.toml", "--submissions",
        term / "subs", "--out", term / "late.csv",
    )  # fmt: skip
    one_error_line(result, "course.toml", fragment)
    assert not (term / "late.csv").exists()


def test_late_bad_paths_and_overrides_are_one_error_line(term):
    base = ["late", term / "grades.csv", "--course", term / "course.toml"]
    out = ["--out", term / "late.csv"]
    one_error_line(camp(*base, "--submissions", term / "gone", *out), "gone")
    one_error_line(
        camp("late", term / "nope.csv", "--course", term / "course.toml", "--submissions",
             term / "subs", *out),
        "Gradebook not found", "nope.csv",
    )  # fmt: skip
    one_error_line(
        camp(*base[:3], term / "missing.toml", "--submissions", term / "subs", *out),
        "Course file not found",
        "missing.toml",
    )
    (term / "o.csv").write_text("student,lecture,deadline\nbob,01,tomorrow\n", encoding="utf-8")
    one_error_line(
        camp(*base, "--submissions", term / "subs", "--overrides", term / "o.csv", *out),
        "o.csv, line 2",
        "'tomorrow'",
    )
    one_error_line(
        camp(*base, "--submissions", term / "subs", "--out", term / "grades.csv"),
        "is the gradebook itself",
    )


def test_export_bad_input_is_one_error_line(term):
    gradebook, out = term / "grades.csv", ["--out", term / "x.csv"]
    one_error_line(camp("export", gradebook, "--format", "blackboard", *out), "'blackboard'")
    one_error_line(camp("export", term / "no.csv", "--format", "wide", *out), "no.csv")
    (term / "roster.csv").write_text("login\nann\n", encoding="utf-8")
    one_error_line(
        camp("export", gradebook, "--format", "moodle", "--roster", term / "roster.csv", *out),
        "roster.csv",
        "expected the columns student",
    )
    one_error_line(camp("export", gradebook, "--format", "wide", "--out", term / "x.txt"), "x.txt")
