"""Grade a whole class (introduced with Lecture 01): ``camp autograde SUBMISSIONS_DIR``.

One folder per student. Each (student, lecture) pair is graded by ``grader.grade_lecture`` in its
own process, forked from a warm ``ForkServer`` (one per worker thread, TensorFlow imported once),
several at a time across cores. Each result is stored with the fingerprint of
what produced it (submission, test files, package and TensorFlow versions, seed, limits), so a
re-run skips results that are up to date and a regrade can be explained.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from importlib.metadata import version
from pathlib import Path

from course_lib import grader
from course_lib.errors import CourseError
from course_lib.forkserver import ForkServer
from course_lib.submission import SubmissionError, find_lecture_file

CSV_FIELDS = ["student", "lecture", "points", "max_points", "status", "detail"]


def _digest(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode())
        sha.update(path.read_bytes() if path.is_file() else b"<missing>")
    return sha.hexdigest()[:16]


def provenance(student_dir: Path, lecture: str, hidden_dir: Path | None, limits: dict) -> dict:
    """Describe everything that determines a grade, so a changed grade can be explained."""
    try:
        submission = [find_lecture_file(student_dir, lecture)]
    except SubmissionError:
        submission = []
    tests = grader.test_files(lecture) + grader.hidden_test_files(hidden_dir, lecture)
    return {
        "submission_sha": _digest(submission),
        "tests_sha": _digest(tests),
        "package_version": version("image-search-camp"),
        "tensorflow_version": version("tensorflow"),
        "seed": grader.SEED,
        **limits,
    }


def list_students(submissions: Path, student: str | None = None) -> list[Path]:
    """Return the student folders of ``submissions`` (or just ``student``'s)."""
    if not submissions.is_dir():
        raise CourseError(f"Submissions folder not found: {submissions}.")
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if student is not None:
        folders = [p for p in folders if p.name == student]
        if not folders:
            raise CourseError(f"No folder for student {student!r} in {submissions}.")
    return folders


def autograde(
    submissions: Path,
    out_csv: Path,
    lectures: list[str] | None = None,
    student: str | None = None,
    hidden_dir: Path | None = None,
    jobs: int | None = None,
    timeout_s: float = grader.DEFAULT_TIMEOUT_S,
    memory_mb: int = grader.DEFAULT_MEMORY_MB,
    progress=None,
) -> list[dict]:
    """Grade every student's lectures; write the CSV gradebook and per-student results.json.

    Returns:
        The gradebook rows (dicts with ``CSV_FIELDS`` plus ``cached``).
    """
    lectures = lectures or grader.available_lectures()
    for lecture in lectures:
        grader.test_files(lecture)  # Fails early, with the list of lectures, on an unknown one.
    results_dir = out_csv.parent / "results"
    limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
    jobs = jobs or os.cpu_count() or 1

    pending, results = [], {}
    for student_dir in list_students(submissions, student):
        for lecture in lectures:
            stamp = provenance(student_dir, lecture, hidden_dir, limits)
            stored = results_dir / student_dir.name / f"{lecture}.json"
            if student is None and stored.exists():
                previous = json.loads(stored.read_text())
                if previous.get("provenance") == stamp:
                    results[(student_dir.name, lecture)] = (previous, True)
                    continue
            pending.append((student_dir, lecture, stamp, stored))

    servers, local = [], threading.local()

    def run(job):
        student_dir, lecture, stamp, stored = job
        if not hasattr(local, "server"):
            try:
                local.server = ForkServer(grader.grading_env())
                servers.append(local.server)
            except (OSError, RuntimeError):  # No warm server: grade in fresh processes instead.
                local.server = None
        result = grader.grade_lecture(
            lecture, student_dir, hidden_dir, timeout_s, memory_mb, server=local.server
        )
        record = {**result.to_dict(), "provenance": stamp}
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(record, indent=1))
        return student_dir.name, lecture, record

    if progress is not None:
        progress(0, len(pending))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run, job) for job in pending]
            for done, future in enumerate(as_completed(futures), start=1):
                name, lecture, record = future.result()
                results[(name, lecture)] = (record, False)
                if progress is not None:
                    progress(done, len(pending))
    finally:
        for server in servers:
            server.close()

    rows = []
    for (name, lecture), (record, cached) in sorted(results.items()):
        rows.append(
            {"student": name, "lecture": lecture, "cached": cached}
            | {k: record[k] for k in ("points", "max_points", "status", "detail")}
        )
    _write_csv(out_csv, rows, only_student=student)
    for name in sorted({row["student"] for row in rows}):
        _write_gradescope(
            results_dir / name, [r for (s, _), (r, _) in sorted(results.items()) if s == name]
        )
    return rows


def _write_csv(out_csv: Path, rows: list[dict], only_student: str | None) -> None:
    """Write the gradebook; regrading one student keeps the other students' existing rows."""
    kept = []
    if only_student is not None and out_csv.exists():
        with out_csv.open(newline="") as handle:
            kept = [r for r in csv.DictReader(handle) if r["student"] != only_student]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(kept + rows, key=lambda r: (r["student"], r["lecture"])):
            writer.writerow(row)


def _write_gradescope(folder: Path, records: list[dict]) -> None:
    """Write Gradescope's results.json: overall score plus one entry per test."""
    tests = []
    for record in records:
        if record["status"] not in ("full-marks", "graded"):
            tests.append(
                {
                    "name": f"Lecture {record['lecture']}",
                    "score": 0,
                    "max_score": record["max_points"],
                    "status": "failed",
                    "output": f"{record['status']}: {record['detail']}",
                }
            )
            continue
        for test in record["tests"]:
            output = "\n".join(x for x in (test["hint"], test["message"]) if x)
            tests.append(
                {
                    "name": f"Lecture {record['lecture']}: {test['name']}",
                    "score": test["points"],
                    "max_score": test["max_points"],
                    "status": "passed" if test["passed"] else "failed",
                    "output": output,
                }
            )
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "score": sum(r["points"] for r in records),
        "tests": tests,
        "output": f"Graded lectures: {', '.join(r['lecture'] for r in records)}.",
    }
    (folder / "results.json").write_text(json.dumps(summary, indent=1))
