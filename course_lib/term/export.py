"""Grade export for an LMS: ``camp export GRADEBOOK --format canvas|moodle|wide --out FILE``.

Course operations, introduced with Lecture 05's class competition. One row per student, one
column per lecture, named by the course file (``title``, and for Canvas ``title (canvas_id)``)
or ``Lecture NN``. The points are ``points_after_policy`` when the gradebook went through
``camp late``, else ``points``. A lecture not graded for a student is an empty cell, never a
zero: Moodle reads it as no grade; Canvas would clear a grade entered by hand, which its import
confirmation page shows before anything changes.

Canvas (Grades > Import), as its importer reads a file (instructure/canvas-lms,
``app/models/gradebook_importer.rb``): the header's first cell must contain ``Student`` and
its second ``ID``; then ``SIS User ID`` and ``SIS Login ID``; the last student column must be
``Section``; every later column is an assignment, matched by the id in ``Name (id)``
(``Assignment.title_and_id``), else by name, else created. A row whose first cell contains
``Points Possible`` gives the points of new assignments. A student is matched by ``ID`` (the
Canvas user id), else ``SIS User ID``, else ``SIS Login ID``, else by name.

Moodle (Grades > Import > CSV file, ``grade/import/csv/classes/load_data.php``): a header row,
one column identifying the user, which the import page maps ("Identify user by", "Map from" /
"Map to") onto the user's id, idnumber, email or username, and the grade columns, each mapped
onto a grade item (or "new grade item"). An empty cell or ``-`` is no grade; a row whose user is
not found stops the whole import, so with a roster every student must be in it. We write
``Username`` and ``Email address``: map whichever the roster fills for every student.

Wide: ``student``, one column per lecture and ``total``, for a spreadsheet or another LMS.

The roster (``--roster``, optional) is a CSV with ``student`` (the submission folder) and any of
``name``, ``canvas_id``, ``sis_user_id``, ``sis_login_id``, ``section``, ``email``,
``username``. Without it a student's name, SIS Login ID and username are the folder name.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.gradebook import read_gradebook
from course_lib.grading.sheet import write_atomic
from course_lib.term.course import Course

FORMATS = ("canvas", "moodle", "wide")
ROSTER_COLUMNS = (
    "student",
    "name",
    "canvas_id",
    "sis_user_id",
    "sis_login_id",
    "section",
    "email",
    "username",
)
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_USER_COLUMNS = ["Username", "Email address"]


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """Return ``{student: {column: value}}`` from a roster CSV; CourseError naming the file."""
    if not path.is_file():
        raise CourseError(f"Roster not found: {path}.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            extra = [name for name in header if name not in ROSTER_COLUMNS]
            if "student" not in header or extra:
                raise CourseError(
                    f"{path}: expected the columns student and any of "
                    f"{', '.join(ROSTER_COLUMNS[1:])}; received {', '.join(header) or 'none'}."
                )
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as error:
        raise CourseError(f"{path} is not a readable CSV file ({error}).") from None
    roster: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        name = (row.get("student") or "").strip()
        if not name:
            raise CourseError(f"{path}, line {number}: the student column is empty.")
        if name in roster:
            raise CourseError(f"{path}, line {number}: {name} is listed twice.")
        roster[name] = {key: (value or "").strip() for key, value in row.items() if key}
    return roster


def _titles(lectures: list[str], course: Course | None, canvas: bool) -> list[str]:
    titles = []
    for lecture in lectures:
        terms = course.lectures.get(lecture) if course else None
        title = terms.title if terms else f"Lecture {lecture}"
        if canvas and terms and terms.canvas_id:
            title = f"{title} ({terms.canvas_id})"
        titles.append(title)
    return titles


def grade_table(rows: list[dict], source: Path) -> tuple[list[str], list[str], dict, dict, str]:
    """Students, lectures, points and max points per lecture, and which column gave the points."""
    column = "points_after_policy" if all("points_after_policy" in r for r in rows) else "points"
    points: dict[tuple[str, str], float] = {}
    maximum: dict[str, float] = {}
    for number, row in enumerate(rows, start=2):
        try:
            value, top = float(row[column]), float(row["max_points"])
        except (TypeError, ValueError):
            raise CourseError(
                f"{source}, line {number}: expected numbers in {column} and max_points; "
                f"received {row.get(column)!r} and {row.get('max_points')!r}."
            ) from None
        key = (row["student"], row["lecture"])
        if key in points:
            raise CourseError(f"{source}, line {number}: a second row for {key[0]} {key[1]}.")
        points[key] = value
        maximum[row["lecture"]] = max(maximum.get(row["lecture"], 0.0), top)
    students = sorted({row["student"] for row in rows})
    return students, sorted(maximum), points, maximum, column


def _number(value: float | None) -> str:
    return "" if value is None else f"{round(value, 4):g}"


def export_table(
    gradebook: Path,
    fmt: str,
    course: Course | None = None,
    roster: dict[str, dict[str, str]] | None = None,
) -> tuple[list[list[str]], str]:
    """The CSV rows (header first) of ``gradebook`` in format ``fmt``, and the points column."""
    if fmt not in FORMATS:
        raise CourseError(f"--format: expected one of {', '.join(FORMATS)}; received {fmt!r}.")
    rows = read_gradebook(gradebook)
    if not rows:
        raise CourseError(f"{gradebook} has no rows to export.")
    students, lectures, points, maximum, column = grade_table(rows, gradebook)
    if roster is not None:
        missing = [name for name in students if name not in roster]
        if missing:
            raise CourseError(
                f"The roster has no row for {missing[0]} ({len(missing)} student(s) of "
                f"{gradebook} in all); every graded student needs one."
            )
    roster = roster or {}

    def cells(name: str) -> list[str]:
        return [_number(points.get((name, lecture))) for lecture in lectures]

    if fmt == "canvas":
        header = CANVAS_STUDENT_COLUMNS + _titles(lectures, course, canvas=True)
        table = [
            header,
            ["Points Possible", "", "", "", ""] + [_number(maximum[x]) for x in lectures],
        ]
        for name in students:
            info = roster.get(name, {})
            table.append(
                [
                    info.get("name") or name,
                    info.get("canvas_id", ""),
                    info.get("sis_user_id", ""),
                    info.get("sis_login_id") or name,
                    info.get("section", ""),
                    *cells(name),
                ]
            )
    elif fmt == "moodle":
        table = [MOODLE_USER_COLUMNS + _titles(lectures, course, canvas=False)]
        for name in students:
            info = roster.get(name, {})
            table.append([info.get("username") or name, info.get("email", ""), *cells(name)])
    else:
        table = [["student", *_titles(lectures, course, canvas=False), "total"]]
        for name in students:
            total = sum(points.get((name, lecture), 0.0) for lecture in lectures)
            table.append([name, *cells(name), _number(total)])
    return table, column


def write_export(
    gradebook: Path,
    fmt: str,
    out: Path,
    course: Course | None = None,
    roster_path: Path | None = None,
) -> tuple[int, str]:
    """Write the export to ``out``; returns the number of students and the points column."""
    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")
    roster = read_roster(roster_path) if roster_path is not None else None
    table, column = export_table(gradebook, fmt, course, roster)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(table)
    write_atomic(out, text.getvalue())
    return len(table) - (2 if fmt == "canvas" else 1), column
