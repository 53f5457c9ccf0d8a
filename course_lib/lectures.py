"""Later lectures build on the student's own earlier work (introduced with Lecture 03).

``lecture_module("03")`` returns the student's ``exercises/03_*.py`` when its last ``camp check``
gave full marks for the file as it is now, and otherwise the reference ``solutions/03_*.py``, with
a note saying which one is used and why. ``course_lib`` itself never holds these answers.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import ModuleType

from course_lib.paths import project_root, user_dir
from course_lib.submission import find_lecture_file, import_lecture


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


def lecture_module(lecture: str, prefer_student: bool = True, quiet: bool = False) -> ModuleType:
    """Return the module of ``lecture`` to build on: the student's if it passed, else the reference.

    Args:
        lecture: two-digit lecture number.
        prefer_student: False always returns the reference solutions.
        quiet: True prints no note about the choice.
    """
    root = project_root()
    chosen, reason = root / "solutions", "reference solutions"
    if prefer_student:
        try:
            exercise = find_lecture_file(root / "exercises", lecture)
        except Exception:  # No exercise file: nothing to prefer.
            exercise = None
        record = check_record(lecture)
        if exercise is not None and record is not None:
            same_file = record.get("submission_sha") == file_sha(exercise)
            if record.get("status") == "full-marks" and same_file:
                chosen, reason = root / "exercises", "your own code (full marks in camp check)"
            else:
                reason = "reference solutions (your exercise has not passed `camp check` as is)"
        else:
            reason = f"reference solutions (run `camp check {lecture}` to use your own code)"
    if not quiet:
        print(f"Lecture {lecture}: using {reason}.", file=sys.stderr)
    return import_lecture(chosen, lecture)
