"""Late days on a gradebook: ``camp late grades.csv --course course.toml --submissions DIR``.

Course operations, introduced with Lecture 05's class competition. A step over a gradebook of
``camp autograde`` (never a change to it): for each row it finds when the graded file was
submitted, counts whole days late against the lecture's deadline (an override may move it),
spends the student's free late days in lecture order, and writes the gradebook again with the
columns ``submitted_at``, ``submitted_from``, ``deadline``, ``late_days`` (days late),
``late_days_used`` (free days spent), ``points_after_policy`` and ``policy_note``.

When was a file submitted? In a GitHub Classroom clone (the student folder holds ``.git``) it is
the committer time of the last commit touching the file, unless the file differs from that
commit (then its modification time, and ``submitted_from`` says so); otherwise the file's
modification time (copying a folder without keeping times resets it). Both are set on the
student's side: a commit time is what the student's clock said, not when GitHub received the
push. ``submitted_from`` always says which was used.
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.gradebook import read_gradebook
from course_lib.grading.sheet import write_atomic
from course_lib.student.submission import SubmissionError, choose_lecture_file
from course_lib.term.course import Course, Override

COLUMNS = [
    "submitted_at",
    "submitted_from",
    "deadline",
    "late_days",
    "late_days_used",
    "points_after_policy",
    "policy_note",
]
DAY_S = 86400


@dataclass(frozen=True)
class Submitted:
    """When a file was submitted, and where that time comes from."""

    when: datetime | None
    source: str


def _git(folder: Path, *args: str) -> str | None:
    """Run a read-only git command in a student's clone; None when git fails.

    The clone's own config is not trusted: the settings through which ``git log`` or
    ``hash-object`` could run a program (fsmonitor, signature display, clean filters) are
    overridden, and no system or user config is read.
    """
    command = [
        "git",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "log.showSignature=false",
        "-c",
        f"safe.directory={folder.resolve()}",
        "-C",
        str(folder),
        *args,
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _file_time(path: Path, why: str = "") -> Submitted:
    when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return Submitted(when, f"file time{why}")


def submission_time(student_dir: Path, path: Path) -> Submitted:
    """When ``path`` (a file in ``student_dir``) was submitted; see the module docstring."""
    if not (student_dir / ".git").exists():
        return _file_time(path)
    relative = path.resolve().relative_to(student_dir.resolve()).as_posix()
    last = _git(student_dir, "log", "-1", "--format=%H %cI", "--", relative)
    if not last:
        return _file_time(path, ": not committed")
    commit, stamp = last.split(" ", 1)
    committed = _git(student_dir, "rev-parse", f"{commit}:{relative}")
    on_disk = _git(student_dir, "hash-object", "--no-filters", "--", relative)
    if committed is None or committed != on_disk:
        return _file_time(path, f": changed since commit {commit[:7]}")
    return Submitted(datetime.fromisoformat(stamp), f"git commit {commit[:7]}")


def days_late(when: datetime, deadline: datetime) -> int:
    """Whole days after ``deadline`` begun at ``when`` (one second late is one day late)."""
    return max(0, math.ceil((when - deadline).total_seconds() / DAY_S))


def _points(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CourseError(f"{where}: expected a number of points; received {value!r}.") from None


def _shown(value: float) -> str:
    return f"{round(value, 4):g}"


def apply_policy(
    rows: list[dict],
    course: Course,
    times: dict[tuple[str, str], Submitted],
    overrides: dict[str, Override] | None = None,
    source: str = "the gradebook",
) -> list[dict]:
    """Return the rows with the policy's columns, each student's lectures taken in order.

    Args:
        rows: gradebook rows (``student``, ``lecture``, ``points``, ``max_points``...).
        times: ``(student, lecture) -> Submitted``; a missing pair means no file was submitted.
        overrides: per-student exceptions (``course.load_overrides``).
    """
    overrides = overrides or {}
    policy, out = course.policy, []
    unknown = sorted(set(overrides) - {row["student"] for row in rows})
    if unknown:
        raise CourseError(
            f"The override file names {unknown[0]!r}, who has no row in {source}; check the "
            "spelling (names are the submission folders)."
        )
    left = {name: policy.late_days for name in {row["student"] for row in rows}}
    left |= {n: o.late_days for n, o in overrides.items() if o.late_days is not None}
    for row in sorted(rows, key=lambda r: (r["student"], r["lecture"])):
        name, lecture = row["student"], row["lecture"]
        where = f"{source}, {name} lecture {lecture}"
        if lecture not in course.lectures:
            raise CourseError(
                f"{course.path} has no deadline for lecture {lecture}, which {source} grades; "
                f"add [lectures.{lecture}] with a deadline."
            )
        extended = overrides.get(name, Override()).deadlines.get(lecture)
        deadline = extended or course.lectures[lecture].deadline
        points, maximum = _points(row["points"], where), _points(row["max_points"], where)
        submitted = times.get((name, lecture))
        late = days_late(submitted.when, deadline) if submitted and submitted.when else 0
        used, after, notes = 0, points, ["extended deadline"] if extended else []
        if policy.cutoff_days is not None and late > policy.cutoff_days:
            after = 0.0
            notes.append(f"{late} days late, after the {policy.cutoff_days}-day cut-off: 0 points")
        elif late:
            used = min(left[name], late)
            left[name] -= used
            charged = late - used
            after = max(0.0, points - policy.penalty_per_day * charged * maximum)
            if used:
                notes.append(f"{used} free late day{'s' * (used > 1)} spent")
            if charged:
                notes.append(
                    f"{charged} late day{'s' * (charged > 1)} x {policy.penalty_per_day * 100:g} % "
                    f"of {_shown(maximum)} points"
                )
        # Shown in the deadline's zone, so the two columns read side by side.
        shown_when = (
            submitted.when.astimezone(deadline.tzinfo) if submitted and submitted.when else None
        )
        out.append(
            {
                **row,
                "submitted_at": shown_when.isoformat() if shown_when else "",
                "submitted_from": submitted.source if submitted else "no file",
                "deadline": deadline.isoformat(),
                "late_days": late,
                "late_days_used": used,
                "points_after_policy": _shown(after),
                "policy_note": "; ".join(notes),
            }
        )
    return out


def submission_times(rows: list[dict], submissions: Path) -> dict[tuple[str, str], Submitted]:
    """Find the graded file of each row in ``submissions`` and when it was submitted."""
    if not submissions.is_dir():
        raise CourseError(f"Submissions folder not found: {submissions}.")
    times = {}
    for row in rows:
        name, lecture = row["student"], row["lecture"]
        folder = submissions / name
        if not folder.is_dir() and name.startswith("'"):  # The gradebook's formula guard.
            folder = submissions / name[1:]
        if not folder.is_dir():
            raise CourseError(
                f"No folder {name} in {submissions} for a student of the gradebook: give the "
                "submissions folder that was graded."
            )
        try:
            path = choose_lecture_file(folder, lecture)[0]
        except SubmissionError:
            continue
        graded = (row.get("file") or "").lstrip("'")
        if "file" in row and graded != path.name:
            then = f"from {graded}" if graded else "without a file"
            raise CourseError(
                f"{name}'s lecture {lecture} was graded {then} but {path.name} is its newest "
                "file now: regrade (camp autograde) before applying deadlines."
            )
        times[(name, lecture)] = submission_time(folder, path)
    return times


def late_gradebook(
    gradebook: Path, course: Course, submissions: Path, out: Path, overrides=None
) -> list[dict]:
    """Apply the course's deadlines and policy to ``gradebook`` and write ``out``."""
    rows = read_gradebook(gradebook)
    result = apply_policy(rows, course, submission_times(rows, submissions), overrides, gradebook)
    fields = list(rows[0].keys()) if rows else ["student", "lecture", "points", "max_points"]
    fields += [c for c in COLUMNS if c not in fields]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(result)
    write_atomic(out, text.getvalue())
    return result
