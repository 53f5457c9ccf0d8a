"""Grade export: the exact Canvas, Moodle and wide CSV files of a fixed gradebook.

The Canvas header is also checked against the rules of Canvas's own importer
(instructure/canvas-lms app/models/gradebook_importer.rb: ``row[0]`` contains "Student", ``row[1]``
contains "ID", then "SIS User ID" and "SIS Login ID", the last student column is "Section",
assignment columns are "Name (id)" as parsed by ``Assignment.title_and_id``, and a "Points
Possible" row) and the Moodle file against its CSV importer's (one user-identifying column,
grade cells numeric or empty).
"""

import csv
import re
from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.term.course import load_course
from course_lib.term.export import export_table, read_roster, write_export

GRADEBOOK = """student,lecture,points,max_points,status,detail,file,flags,isolation
ann,01,10,10,full-marks,,01_nn_recap.py,,namespaces
ann,02,7.5,12,graded,,02_cnn.py,,namespaces
bob,01,4,10,graded,,01_nn_recap.py,,namespaces
"""
COURSE = """
[lectures.01]
deadline = 2026-02-09T23:59:00+01:00
title = "Lecture 01: NN recap"
canvas_id = 48213

[lectures.02]
deadline = 2026-02-16T23:59:00+01:00
"""
ROSTER = """student,name,canvas_id,sis_user_id,sis_login_id,section,email,username
ann,"Lovelace, Ann",1001,S-17,alovelace,Mon 10:00,ann@example.org,alovelace
bob,"Babbage, Bob",1002,S-18,bbabbage,Tue 14:00,bob@example.org,bbabbage
"""
TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # Canvas's Assignment.title_and_id.


def files(tmp_path: Path, gradebook: str = GRADEBOOK):
    (tmp_path / "grades.csv").write_text(gradebook, encoding="utf-8")
    (tmp_path / "course.toml").write_text(COURSE, encoding="utf-8")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return tmp_path / "grades.csv", load_course(tmp_path / "course.toml"), tmp_path / "roster.csv"


def test_canvas_export_with_roster_and_course_titles(tmp_path):
    gradebook, course, roster = files(tmp_path)
    table, column = export_table(gradebook, "canvas", course, read_roster(roster))
    assert column == "points"
    assert table == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        + ["Lecture 01: NN recap (48213)", "Lecture 02"],
        ["Points Possible", "", "", "", "", "10", "12"],
        ["Lovelace, Ann", "1001", "S-17", "alovelace", "Mon 10:00", "10", "7.5"],
        ["Babbage, Bob", "1002", "S-18", "bbabbage", "Tue 14:00", "4", ""],
    ]


def test_canvas_header_follows_the_canvas_importer_rules(tmp_path):
    gradebook, course, _ = files(tmp_path)
    header, points_row, *rows = export_table(gradebook, "canvas", course)[0]
    assert "Student" in header[0] and "ID" in header[1]
    assert re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3])
    assert "Section" in header[4]
    assert TITLE_AND_ID.match(header[5]).groups() == ("Lecture 01: NN recap", "48213")
    assert TITLE_AND_ID.match(header[6]) is None  # No id: Canvas matches by name or creates it.
    assert "Points Possible" in points_row[0]
    # Without a roster the SIS Login ID is the submission folder, as `camp report`'s wide.csv.
    assert [r[:5] for r in rows] == [["ann", "", "", "ann", ""], ["bob", "", "", "bob", ""]]


def test_moodle_export_has_user_columns_and_one_column_per_lecture(tmp_path):
    gradebook, course, roster = files(tmp_path)
    table, _ = export_table(gradebook, "moodle", course, read_roster(roster))
    assert table == [
        ["Username", "Email address", "Lecture 01: NN recap", "Lecture 02"],
        ["alovelace", "ann@example.org", "10", "7.5"],
        ["bbabbage", "bob@example.org", "4", ""],
    ]
    for line in table[1:]:  # Moodle's importer: numbers, or empty for no grade.
        assert all(cell == "" or float(cell) >= 0 for cell in line[2:])


def test_wide_export_without_course_file(tmp_path):
    gradebook, _, _ = files(tmp_path)
    table, _ = export_table(gradebook, "wide")
    assert table == [
        ["student", "Lecture 01", "Lecture 02", "total"],
        ["ann", "10", "7.5", "17.5"],
        ["bob", "4", "", "4"],
    ]


def test_points_after_policy_are_exported_when_present(tmp_path):
    late = "student,lecture,points,max_points,status,points_after_policy\n"
    late += "ann,01,10,10,full-marks,8\nbob,01,4,10,graded,4\n"
    gradebook, _, _ = files(tmp_path, late)
    out = tmp_path / "wide.csv"
    assert write_export(gradebook, "wide", out) == (2, "points_after_policy")
    with out.open(newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["student", "Lecture 01", "total"],
            ["ann", "8", "8"],
            ["bob", "4", "4"],
        ]


@pytest.mark.parametrize(
    ("roster", "fragment"),
    [
        ("student,name\nann,Ann\n", "no row for bob"),
        ("name,email\nAnn,a@x\n", "expected the columns student"),
        ("student,mail\nann,a@x\n", "received student, mail"),
        ("student,name\nann,A\nann,B\n", "line 3: ann is listed twice"),
    ],
)
def test_bad_roster_is_one_clear_error(tmp_path, roster, fragment):
    gradebook, _, _ = files(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text(roster, encoding="utf-8")
    with pytest.raises(CourseError, match=fragment):
        write_export(gradebook, "moodle", tmp_path / "out.csv", None, path)
