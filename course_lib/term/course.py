"""The course file of a term: deadlines, late policy, export titles, per-student overrides.

Course operations, introduced with Lecture 05's class competition. A TOML file (read with the
standard library's ``tomllib``)::

    timezone = "Europe/Berlin"        # deadlines written without an offset are in this zone

    [policy]
    late_days = 3          # free late days per student for the term, spent in lecture order
    penalty_per_day = 0.1  # share of the lecture's max points lost per late day not covered
    cutoff_days = 7        # more days late than this: 0 points (no late days are spent)

    [lectures.01]
    deadline = 2026-02-09T23:59:00    # or with an offset: 2026-02-09T23:59:00+01:00
    title = "Lecture 01: NN recap"    # export column (default "Lecture 01")
    canvas_id = 48213                 # Canvas assignment id: the column "title (48213)"

Every key is optional except a lecture's ``deadline``; an unknown key is an error (a typo must
not silently drop a rule). The override file is a CSV with the columns ``student``, ``lecture``,
``deadline``, ``late_days`` and ``note``: a row with a lecture moves that student's deadline (an
extension); ``late_days`` replaces the student's number of free late days for the term.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from course_lib.errors import CourseError
from course_lib.paths import project_root
from course_lib.regions import lecture_files

POLICY_KEYS = {"late_days", "penalty_per_day", "cutoff_days"}
LECTURE_KEYS = {"deadline", "title", "canvas_id"}
OVERRIDE_COLUMNS = ("student", "lecture", "deadline", "late_days", "note")


@dataclass(frozen=True)
class Policy:
    """The late policy: free late days, the penalty per further day, the cut-off."""

    late_days: int = 0
    penalty_per_day: float = 0.0
    cutoff_days: int | None = None


@dataclass(frozen=True)
class LectureTerms:
    """One lecture's deadline and the names its grade column takes in exports."""

    lecture: str
    deadline: datetime
    title: str
    canvas_id: int | None = None


@dataclass(frozen=True)
class Course:
    """A parsed course file."""

    path: Path
    policy: Policy
    lectures: dict[str, LectureTerms]
    zone: ZoneInfo | None = None


@dataclass
class Override:
    """One student's exceptions: a number of free late days, deadlines per lecture."""

    late_days: int | None = None
    deadlines: dict[str, datetime] = field(default_factory=dict)


def known_lectures() -> list[str]:
    """The course's lecture numbers, from its released exercises (``exercises/NN_topic.py``)."""
    return [p.name[:2] for p in lecture_files(project_root() / "exercises")]


def lecture_number(text: str, where: str = "--lecture") -> str:
    """Return ``text`` as a known two-digit lecture number; CourseError naming ``where``."""
    known = known_lectures()
    if not text.strip().isdigit():
        raise CourseError(f"{where}: expected a lecture number such as 01; received {text!r}.")
    number = f"{int(text):02d}"
    if number not in known:
        raise CourseError(
            f"{where}: unknown lecture {number}; this course has lectures {', '.join(known)}."
        )
    return number


def _when(value, zone: ZoneInfo | None, where: str) -> datetime:
    """A deadline from TOML or CSV text; one without an offset is read in the course's zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CourseError(
                f"{where}: expected a date and time such as 2026-02-09T23:59:00+01:00; "
                f"received {value!r}."
            ) from None
    if isinstance(value, date | time) and not isinstance(value, datetime):
        raise CourseError(
            f"{where}: expected a date and a time such as 2026-02-09T23:59:00; received {value}."
        )
    if not isinstance(value, datetime):
        raise CourseError(f"{where}: expected a date and time; received {value!r}.")
    if value.tzinfo is None:
        if zone is None:
            raise CourseError(
                f"{where}: {value.isoformat()} has no UTC offset; add one (+01:00) or set "
                'timezone = "Region/City" at the top of the course file.'
            )
        value = value.replace(tzinfo=zone)
    return value


def _number(table: dict, key: str, where: str, kind: type, low: float, high: float | None):
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        value = None
    elif kind is int and not float(value).is_integer():
        value = None
    if value is None or value < low or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        noun = "a whole number" if kind is int else "a number"
        raise CourseError(f"{where}: {key} must be {noun} {span}; received {table[key]!r}.")
    return kind(value)


def _unknown(table: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise CourseError(
            f"{where}: unknown key {extra[0]!r}; expected one of {', '.join(sorted(allowed))}."
        )


def load_course(path: Path) -> Course:
    """Read and check a course file; every problem is a CourseError naming the file."""
    if not path.is_file():
        raise CourseError(f"Course file not found: {path}.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CourseError(f"{path} is not valid TOML ({error}).") from None
    _unknown(data, {"timezone", "policy", "lectures"}, str(path))
    zone = None
    if "timezone" in data:
        try:
            zone = ZoneInfo(str(data["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise CourseError(
                f"{path}: unknown timezone {data['timezone']!r}; expected a name such as "
                '"Europe/Berlin" or "UTC".'
            ) from None
    table = data.get("policy", {})
    where = f"{path} [policy]"
    if not isinstance(table, dict):
        raise CourseError(f"{where}: expected a table of {', '.join(sorted(POLICY_KEYS))}.")
    _unknown(table, POLICY_KEYS, where)
    policy = Policy(
        late_days=_number(table, "late_days", where, int, 0, None) if "late_days" in table else 0,
        penalty_per_day=(
            _number(table, "penalty_per_day", where, float, 0, 1)
            if "penalty_per_day" in table
            else 0.0
        ),
        cutoff_days=(
            _number(table, "cutoff_days", where, int, 0, None) if "cutoff_days" in table else None
        ),
    )
    lectures = {}
    raw = data.get("lectures", {})
    if not isinstance(raw, dict) or not raw:
        raise CourseError(f"{path}: no [lectures.NN] table; give each lecture a deadline.")
    for key, entry in raw.items():
        number = lecture_number(key, f"{path} [lectures.{key}]")
        where = f"{path} [lectures.{key}]"
        if not isinstance(entry, dict) or "deadline" not in entry:
            raise CourseError(f"{where}: expected deadline = 2026-02-09T23:59:00+01:00.")
        _unknown(entry, LECTURE_KEYS, where)
        canvas_id = entry.get("canvas_id")
        if canvas_id is not None:
            canvas_id = _number(entry, "canvas_id", where, int, 1, None)
        title = entry.get("title", f"Lecture {number}")
        if not isinstance(title, str) or not title.strip():
            raise CourseError(f"{where}: title must be a non-empty string; received {title!r}.")
        deadline = _when(entry["deadline"], zone, f"{where} deadline")
        lectures[number] = LectureTerms(number, deadline, title.strip(), canvas_id)
    return Course(path, policy, dict(sorted(lectures.items())), zone)


def load_overrides(path: Path, course: Course) -> dict[str, Override]:
    """Read the per-student override CSV; returns ``{student: Override}``."""
    if not path.is_file():
        raise CourseError(f"Override file not found: {path}.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if "student" not in header or not set(header) <= set(OVERRIDE_COLUMNS):
                raise CourseError(
                    f"{path}: expected the columns {', '.join(OVERRIDE_COLUMNS)} (student "
                    f"required); received {', '.join(header) or 'no header'}."
                )
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as error:
        raise CourseError(f"{path} is not a readable CSV file ({error}).") from None
    overrides: dict[str, Override] = {}
    for number, row in enumerate(rows, start=2):
        where = f"{path}, line {number}"
        student = (row.get("student") or "").strip()
        lecture = (row.get("lecture") or "").strip()
        deadline = (row.get("deadline") or "").strip()
        late_days = (row.get("late_days") or "").strip()
        if not student:
            raise CourseError(f"{where}: the student column is empty.")
        entry = overrides.setdefault(student, Override())
        if lecture or deadline:
            if not (lecture and deadline):
                raise CourseError(f"{where}: an extension needs both a lecture and a deadline.")
            lecture = lecture_number(lecture, where)
            if lecture not in course.lectures:
                raise CourseError(f"{where}: lecture {lecture} has no deadline in {course.path}.")
            entry.deadlines[lecture] = _when(deadline, course.zone, where)
        if late_days:
            if not late_days.isdigit():
                raise CourseError(
                    f"{where}: late_days must be a whole number of days; received {late_days!r}."
                )
            if entry.late_days is not None and entry.late_days != int(late_days):
                raise CourseError(f"{where}: a second, different late_days for {student}.")
            entry.late_days = int(late_days)
        if not (lecture or late_days):
            raise CourseError(f"{where}: give a lecture and a deadline, or late_days.")
    return overrides
