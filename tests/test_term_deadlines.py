"""Deadlines and late days: the course file, submission times, the policy on a gradebook.

Fixed inputs with hand-computed outputs: free late days spent in lecture order, the penalty per
further day, the cut-off, per-student extensions; commit times from real git repositories (times
set with GIT_COMMITTER_DATE) and file times set with os.utime.
"""

import csv
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.grading.sheet import CSV_FIELDS
from course_lib.term.course import load_course, load_overrides
from course_lib.term.deadlines import (
    Submitted,
    apply_policy,
    days_late,
    late_gradebook,
    submission_time,
)

CET = timezone(timedelta(hours=1))
COURSE = """
timezone = "Europe/Berlin"

[policy]
late_days = 2
penalty_per_day = 0.1
cutoff_days = 5

[lectures.01]
deadline = 2026-02-09T23:59:00
title = "Lecture 01: NN recap"
canvas_id = 48213

[lectures.02]
deadline = 2026-02-16T23:59:00+01:00
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def row(student, lecture, points, maximum=10, file=""):
    return {
        "student": student,
        "lecture": lecture,
        "points": str(points),
        "max_points": str(maximum),
        "status": "graded",
        "file": file,
    }


def at(day: int, hour: int = 12, month: int = 2) -> Submitted:
    return Submitted(datetime(2026, month, day, hour, 0, tzinfo=CET), "file time")


def test_course_file_reads_deadlines_in_its_timezone(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    first = course.lectures["01"]
    assert first.deadline == datetime(2026, 2, 9, 23, 59, tzinfo=CET)
    assert first.deadline.utcoffset() == timedelta(hours=1)  # Berlin in February.
    assert (first.title, first.canvas_id) == ("Lecture 01: NN recap", 48213)
    assert course.lectures["02"].title == "Lecture 02"
    assert (course.policy.late_days, course.policy.penalty_per_day) == (2, 0.1)
    assert course.policy.cutoff_days == 5


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda t: t.replace("penalty_per_day = 0.1", "penalty_per_day = 1.5"), "from 0 to 1"),
        (lambda t: t.replace("penalty_per_day = 0.1", 'penalty_per_day = "10%"'), "'10%'"),
        (lambda t: t.replace("late_days = 2", "late_days = 1.5"), "a whole number"),
        (lambda t: t.replace("cutoff_days", "cut_off_days"), "unknown key 'cut_off_days'"),
        (lambda t: t.replace('timezone = "Europe/Berlin"', ""), "has no UTC offset"),
        (lambda t: t.replace("Europe/Berlin", "Mars/Olympus"), "unknown timezone"),
        (lambda t: t.replace("[lectures.02]", "[lectures.09]"), "unknown lecture 09"),
        (lambda t: t.replace("2026-02-16T23:59:00+01:00", '"next monday"'), "next monday"),
        (lambda t: t.replace("2026-02-16T23:59:00+01:00", "2026-02-16"), "a date and a time"),
        (lambda t: t.replace("deadline = 2026-02-16T23:59:00+01:00", ""), "expected deadline"),
        (lambda t: t.replace("[policy]", "[policy"), "is not valid TOML"),
    ],
)
def test_malformed_course_file_names_the_file_and_problem(tmp_path, edit, fragment):
    path = write(tmp_path / "course.toml", edit(COURSE))
    with pytest.raises(CourseError) as error:
        load_course(path)
    assert str(path) in str(error.value) and fragment in str(error.value)


def test_days_late_counts_every_begun_day():
    deadline = datetime(2026, 2, 9, 23, 59, tzinfo=CET)
    assert days_late(deadline, deadline) == 0
    assert days_late(deadline - timedelta(hours=5), deadline) == 0
    assert days_late(deadline + timedelta(seconds=1), deadline) == 1
    assert days_late(deadline + timedelta(days=1), deadline) == 1
    assert days_late(deadline + timedelta(days=1, seconds=1), deadline) == 2
    # The same instant in another zone is the same lateness.
    assert days_late(datetime(2026, 2, 10, 23, 0, tzinfo=UTC), deadline) == 2


def test_policy_spends_free_days_in_lecture_order_then_penalises(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    rows = [row("ann", "01", 8), row("ann", "02", 10), row("bob", "01", 10), row("bob", "02", 6)]
    times = {
        ("ann", "01"): at(10),  # 1 day late: a free day.
        ("ann", "02"): at(19),  # 3 days late: the last free day, then 2 x 10 % of 10 points.
        ("bob", "01"): at(9),  # On time.
        ("bob", "02"): at(23),  # 7 days late: after the 5-day cut-off, 0 points.
    }
    out = {(r["student"], r["lecture"]): r for r in apply_policy(rows, course, times)}
    expected = {
        ("ann", "01"): (1, 1, "8"),
        ("ann", "02"): (3, 1, "8"),
        ("bob", "01"): (0, 0, "10"),
        ("bob", "02"): (7, 0, "0"),
    }
    for key, (late, used, after) in expected.items():
        got = out[key]
        assert (got["late_days"], got["late_days_used"], got["points_after_policy"]) == (
            late,
            used,
            after,
        ), key
    assert "after the 5-day cut-off" in out[("bob", "02")]["policy_note"]
    assert out[("ann", "02")]["policy_note"] == (
        "1 free late day spent; 2 late days x 10 % of 10 points"
    )
    assert out[("ann", "01")]["submitted_from"] == "file time"
    assert out[("ann", "01")]["deadline"] == "2026-02-09T23:59:00+01:00"


def test_penalty_never_goes_below_zero_and_missing_files_are_not_late(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE.replace("late_days = 2", "")))
    rows = [row("cy", "01", 0.5), row("cy", "02", 0)]
    out = apply_policy(rows, course, {("cy", "01"): at(12)})  # 3 days late: -3 points.
    assert [r["points_after_policy"] for r in out] == ["0", "0"]
    assert (out[1]["late_days"], out[1]["submitted_from"], out[1]["submitted_at"]) == (
        0,
        "no file",
        "",
    )


def test_overrides_extend_a_deadline_and_change_free_days(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    overrides_csv = write(
        tmp_path / "overrides.csv",
        "student,lecture,deadline,late_days,note\n"
        "ann,02,2026-02-20T12:00:00,,medical certificate\n"
        "bob,,,0,no free days (agreed)\n",
    )
    overrides = load_overrides(overrides_csv, course)
    rows = [row("ann", "02", 10), row("bob", "01", 10)]
    times = {("ann", "02"): at(19), ("bob", "01"): at(10)}
    out = {r["student"]: r for r in apply_policy(rows, course, times, overrides)}
    assert out["ann"]["late_days"] == 0 and out["ann"]["policy_note"] == "extended deadline"
    assert out["ann"]["deadline"] == "2026-02-20T12:00:00+01:00"
    assert (out["bob"]["late_days"], out["bob"]["late_days_used"]) == (1, 0)
    assert out["bob"]["points_after_policy"] == "9"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("ann,02,,,", "needs both a lecture and a deadline"),
        ("ann,02,soon,,", "'soon'"),
        ("ann,09,2026-02-20T12:00:00,,", "unknown lecture 09"),
        (",,,3,", "the student column is empty"),
        ("ann,,,three,", "late_days must be a whole number"),
        ("ann,,,,just a note", "give a lecture and a deadline, or late_days"),
    ],
)
def test_malformed_override_file_names_the_file_and_line(tmp_path, line, fragment):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    path = write(tmp_path / "overrides.csv", f"student,lecture,deadline,late_days,note\n{line}\n")
    with pytest.raises(CourseError) as error:
        load_overrides(path, course)
    assert f"{path}, line 2" in str(error.value) and fragment in str(error.value)


def test_override_for_a_student_without_a_row_is_refused(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    path = write(tmp_path / "o.csv", "student,late_days\nanne,4\n")
    with pytest.raises(CourseError, match="'anne', who has no row"):
        apply_policy([row("ann", "01", 1)], course, {}, load_overrides(path, course))


def git(folder: Path, *args: str, when: str | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@example.org"}
    env |= {"GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@example.org"}
    if when:
        env |= {"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    subprocess.run(["git", "-C", str(folder), *args], check=True, env=env, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_submission_time_is_the_commit_time_in_a_classroom_clone(tmp_path):
    folder = tmp_path / "ann"
    path = write(folder / "01_nn_recap.py", "x = 1\n")
    write(folder / "notes.txt", "n\n")
    git(folder, "init", "-q")
    git(folder, "add", "01_nn_recap.py")
    git(folder, "commit", "-qm", "work", when="2026-02-10T09:30:00+01:00")
    git(folder, "add", "notes.txt")
    git(folder, "commit", "-qm", "notes", when="2026-03-01T09:30:00+01:00")  # Not the file.
    got = submission_time(folder, path)
    assert got.when == datetime(2026, 2, 10, 9, 30, tzinfo=CET)
    assert got.source.startswith("git commit ") and len(got.source) == len("git commit ") + 7

    os.utime(path, (1_770_000_000, 1_770_000_000))
    path.write_text("x = 2\n", encoding="utf-8")  # Edited after the commit: the file's time.
    os.utime(path, (1_770_000_000, 1_770_000_000))
    got = submission_time(folder, path)
    assert got.when == datetime.fromtimestamp(1_770_000_000, tz=UTC)
    assert got.source.startswith("file time: changed since commit ")

    extra = write(folder / "02_cnn.py", "y = 1\n")
    assert submission_time(folder, extra).source == "file time: not committed"


def test_submission_time_without_git_is_the_file_time(tmp_path):
    path = write(tmp_path / "ann" / "01_nn_recap.py", "x = 1\n")
    os.utime(path, (1_770_681_600, 1_770_681_600))
    got = submission_time(tmp_path / "ann", path)
    assert got == Submitted(datetime.fromtimestamp(1_770_681_600, tz=UTC), "file time")


def test_late_gradebook_keeps_every_column_and_adds_the_policy(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    deadline = datetime(2026, 2, 9, 23, 59, tzinfo=CET).timestamp()
    for name, delay in (("ann", -3600), ("bob", 26 * 3600)):
        path = write(tmp_path / "subs" / name / "01_nn_recap.py", "x = 1\n")
        os.utime(path, (deadline + delay, deadline + delay))
    gradebook = tmp_path / "grades.csv"
    with gradebook.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for name in ("ann", "bob"):
            writer.writerow(
                {**row(name, "01", 10, 10, "01_nn_recap.py"), "flags": "", "isolation": "x"}
            )
    out = tmp_path / "late.csv"
    late_gradebook(gradebook, course, tmp_path / "subs", out)
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        written = list(reader)
    assert reader.fieldnames[: len(CSV_FIELDS)] == CSV_FIELDS
    assert "late_days" in reader.fieldnames and "points_after_policy" in reader.fieldnames
    assert [(r["student"], r["late_days"], r["late_days_used"]) for r in written] == [
        ("ann", "0", "0"),
        ("bob", "2", "2"),
    ]
    assert [r["points_after_policy"] for r in written] == ["10", "10"]
    # Submission times are shown in the deadline's zone: 26 hours after 23:59 Berlin time.
    assert written[1]["submitted_at"] == "2026-02-11T01:59:00+01:00"
    assert written[1]["deadline"] == "2026-02-09T23:59:00+01:00"
    assert written[1]["isolation"] == "x"


def test_late_gradebook_refuses_a_file_other_than_the_graded_one(tmp_path):
    course = load_course(write(tmp_path / "course.toml", COURSE))
    write(tmp_path / "subs" / "ann" / "01_nn_recap_final.py", "x = 1\n")
    gradebook = write(
        tmp_path / "grades.csv",
        ",".join(CSV_FIELDS) + "\nann,01,10,10,graded,,01_nn_recap.py,,x\n",
    )
    with pytest.raises(CourseError, match="graded from 01_nn_recap.py but 01_nn_recap_final.py"):
        late_gradebook(gradebook, course, tmp_path / "subs", tmp_path / "late.csv")
