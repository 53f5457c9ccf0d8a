"""Later lectures build on the student's own earlier work (introduced with Lecture 03).

``lecture_module("03")`` returns the student's Lecture 03 file when its last ``camp check`` gave
full marks for the file as it is now, and otherwise the reference ``solutions/03_*.py``, with a
note saying which one is used and why. ``course_lib`` itself never holds these answers.

In the student edition (``camp release``) only the solutions released so far ship: there the
order is the student's passed code, then a released solution, and otherwise a CourseError that
names the lecture to finish first. No answer that was not released is ever used.

The records live in ``user_dir()/checks`` (``$CAMP_HOME`` or the OS's data folder; the grader
passes the same folder to its processes). A machine without a record (a new Colab runtime, a
second computer) does not block: ``camp check 05`` first grades the student's Lecture 04 file
found beside the Lecture 05 one (``grade_prerequisites``), and a notebook that needs Lecture 04
grades the ``04_*`` file in its working folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from course_lib.errors import CourseError
from course_lib.paths import edition_info, project_root, user_dir
from course_lib.student.submission import find_lecture_file, import_lecture

# How a test file loads an earlier lecture's module: its prerequisites.
_LOADS = re.compile(r"""lecture_module\(\s*["'](\d\d)["']""")


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


def save_record(result) -> Path:
    """Save a grading result as the last ``camp check`` of its lecture; return the file.

    The file's SHA-256 and absolute path let later lectures find the passed file from any folder.
    """
    record = result.to_dict()
    submitted = Path(result.submission)
    record["submission_sha"] = file_sha(submitted) if submitted.is_file() else None
    record["submission_file"] = str(submitted.resolve()) if submitted.is_file() else None
    path = user_dir() / "checks" / f"{result.lecture}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return path


def prerequisites(lecture: str, root: Path | None = None) -> list[str]:
    """Return the earlier lectures whose code the public tests of ``lecture`` build on."""
    from course_lib.grading.judge import test_files

    text = "".join(p.read_text(encoding="utf-8") for p in test_files(lecture, root))
    return sorted({n for n in _LOADS.findall(text) if n < lecture})


def _released(root: Path, lecture: str) -> Path | None:
    try:
        return find_lecture_file(root / "solutions", lecture)
    except CourseError:
        return None


def unrecorded_prerequisites(lecture: str, folder: Path) -> list[tuple[str, Path]]:
    """Return ``(lecture, file)`` to grade before ``lecture`` can be, earliest first.

    In the student edition, each earlier lecture that ``lecture`` builds on (and those that one
    builds on) whose solutions are not released and which has no check record here, when the
    student's file for it is in ``folder``. Empty in the instructor checkout.
    """
    root = project_root()
    if edition_info(root) is None:
        return []
    found: dict[str, Path] = {}

    def visit(number: str) -> None:
        for earlier in prerequisites(number, root):
            visit(earlier)
            if earlier in found or _released(root, earlier) or check_record(earlier):
                continue
            try:
                found[earlier] = find_lecture_file(folder, earlier)
            except CourseError:
                pass  # Nothing to grade: the gate says what to do.

    visit(lecture)
    return list(found.items())


def grade_prerequisites(lecture: str, folder: Path, **limits) -> list:
    """Grade and record each of ``unrecorded_prerequisites``; return their results.

    ``limits`` go to ``course_lib.grading.judge.grade_lecture`` (``timeout_s``, ``memory_mb``).
    """
    from course_lib.grading.judge import grade_lecture

    results = []
    for earlier, path in unrecorded_prerequisites(lecture, folder):
        results.append(grade_lecture(earlier, path, **limits))
        save_record(results[-1])
    return results


def _grade_here(lecture: str) -> None:
    """No record of ``lecture`` (a new runtime): grade the student's file in the working folder.

    Never inside a grading process (the judge and its runners set ``CAMP_SEED``), which must not
    start another grader.
    """
    if os.environ.get("CAMP_SEED") is not None:
        return
    try:
        path = find_lecture_file(Path.cwd(), lecture)
    except CourseError:
        return
    print(
        f"Lecture {lecture}: no `camp check {lecture}` record here (a new machine or runtime?); "
        f"grading {path} first.",
        file=sys.stderr,
    )
    from course_lib.grading.judge import grade_lecture

    grade_prerequisites(lecture, path.parent)
    result = grade_lecture(lecture, path)
    save_record(result)
    print(f"Lecture {lecture}: {result.points:g} / {result.max_points:g} points.", file=sys.stderr)


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
    released = _released(root, lecture)
    if released is None and check_record(lecture) is None:
        _grade_here(lecture)
    own = passed_file(lecture, root)
    choices = [
        (own, "your own code (full marks in camp check)"),
        (released, "the released solutions"),
    ]
    for path, reason in choices if prefer_student else choices[::-1]:
        if path is not None:
            return path, reason
    record = check_record(lecture)
    if record is None:
        where = user_dir() / "checks"
        state = f"no `camp check {lecture}` record is in {where} (CAMP_HOME)"
    elif record.get("status") != "full-marks":
        state = f"your last `camp check {lecture}` gave {record.get('points', 0):g} of " + (
            f"{record.get('max_points', 0):g} points"
        )
    else:
        state = f"your file changed since it got full marks in `camp check {lecture}`"
    raise CourseError(
        f"This needs your Lecture {lecture} code, and {state}. Finish Lecture {lecture} first: "
        f"fill in its exercise and run `camp check {lecture}` until it gives full marks (its "
        "solutions are not released yet); a file of it in the folder where you check this "
        "lecture, or in a notebook's folder, is graded by itself when there is no record."
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
