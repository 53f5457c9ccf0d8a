"""Later lectures build on the student's own earlier work (introduced with Lecture 03).

``lecture_module("03")`` returns the student's Lecture 03 file when its last ``camp check`` gave
full marks for the file as it is now, and otherwise the reference ``solutions/03_*.py``, with a
note saying which one is used and why. ``course_lib`` itself never holds these answers.

In the student edition (``camp release``) only the solutions released so far ship: there the
order is the student's passed code, then a released solution, and otherwise a CourseError that
names the lecture to finish first. No answer that was not released is ever used.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import ModuleType

from course_lib.errors import CourseError
from course_lib.paths import edition_info, project_root, user_dir
from course_lib.student.submission import find_lecture_file, import_lecture


def file_sha(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (recorded by ``camp check``)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_record(lecture: str) -> dict | None:
    """Return the last ``camp check`` result of ``lecture``, or None."""
    path = user_dir() / "checks" / f"{lecture}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def passed_file(lecture: str, root: Path) -> Path | None:
    """Return the student's file of ``lecture`` that got full marks in ``camp check`` as it is now.

    Candidates: the file the last check graded (``camp check`` records its absolute path, so the
    student may work in any folder), then ``exercises/`` of a checkout.
    """
    record = check_record(lecture)
    if record is None or record.get("status") != "full-marks":
        return None
    candidates = [record.get("submission_file"), record.get("submission")]
    paths = [Path(c) for c in candidates if isinstance(c, str) and Path(c).is_absolute()]
    if edition_info(root) is None:
        try:
            paths.append(find_lecture_file(root / "exercises", lecture))
        except CourseError:  # No exercise file: nothing to prefer.
            pass
    for path in paths:
        if path.is_file() and record.get("submission_sha") == file_sha(path):
            return path
    return None


def _checkout_choice(root: Path, lecture: str, prefer_student: bool) -> tuple[Path, str]:
    """The instructor checkout: the student's passed file, else the reference solutions."""
    if not prefer_student:
        return root / "solutions", "reference solutions"
    own = passed_file(lecture, root)
    if own is not None:
        return own, "your own code (full marks in camp check)"
    if check_record(lecture) is not None:
        return root / "solutions", (
            "reference solutions (your exercise has not passed `camp check` as is)"
        )
    return (
        root / "solutions",
        f"reference solutions (run `camp check {lecture}` to use your own code)",
    )


def _edition_choice(root: Path, lecture: str, prefer_student: bool) -> tuple[Path, str]:
    """The student edition: the student's passed file or a released solution, never another."""
    own = passed_file(lecture, root)
    try:
        released = find_lecture_file(root / "solutions", lecture)
    except CourseError:
        released = None
    choices = [
        (own, "your own code (full marks in camp check)"),
        (released, "the released solutions"),
    ]
    for path, reason in choices if prefer_student else choices[::-1]:
        if path is not None:
            return path, reason
    record = check_record(lecture)
    if record is None:
        state = f"you have not run `camp check {lecture}` yet"
    elif record.get("status") != "full-marks":
        state = f"your last `camp check {lecture}` gave {record.get('points', 0):g} of " + (
            f"{record.get('max_points', 0):g} points"
        )
    else:
        state = f"your file changed since it got full marks in `camp check {lecture}`"
    raise CourseError(
        f"This needs your Lecture {lecture} code, and {state}. Finish Lecture {lecture} first: "
        f"fill in its exercise and run `camp check {lecture}` until it gives full marks (its "
        "solutions are not released yet)."
    )


def lecture_module(lecture: str, prefer_student: bool = True, quiet: bool = False) -> ModuleType:
    """Return the module of ``lecture`` to build on: the student's if it passed, else a reference.

    Args:
        lecture: two-digit lecture number.
        prefer_student: False prefers the reference solutions (in the student edition: when
            they are released; otherwise the student's passed code).
        quiet: True prints no note about the choice.

    Raises:
        CourseError: in the student edition, when the student's code has not passed
            ``camp check`` and the lecture's solutions are not released.
    """
    root = project_root()
    if edition_info(root) is None:
        chosen, reason = _checkout_choice(root, lecture, prefer_student)
    else:
        chosen, reason = _edition_choice(root, lecture, prefer_student)
    if not quiet:
        print(f"Lecture {lecture}: using {reason}.", file=sys.stderr)
    return import_lecture(chosen, lecture)
