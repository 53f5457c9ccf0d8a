"""Grade a whole class (introduced with Lecture 01): ``camp autograde SUBMISSIONS_DIR``.

One folder per student. Each (student, lecture) pair is graded by ``judge.grade_lecture``: a judge
forked from a warm ``ForkServer`` (one per worker slot, TensorFlow imported once) and sandboxed
runners of that slot's own uid, several slots at a time across cores. Each result is stored with
the fingerprint of what produced it (submission, test files, package and TensorFlow versions,
seed, limits, isolation) and an HMAC under a key kept in the instructor's data folder: a re-run
skips results that are up to date and authentic, and regrades anything edited by hand or by a
student. Results, the CSV gradebook and ``results.json`` are written atomically, so a batch killed
half-way resumes from the results it finished.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import queue
import re
import secrets
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor, as_completed
from importlib.metadata import version
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading import expected, judge, verdict
from course_lib.grading.forkserver import ForkServer
from course_lib.grading.sandbox import claim_slots, release_slots
from course_lib.grading.screening import screen_file
from course_lib.student.submission import SubmissionError, choose_lecture_file

CSV_FIELDS = ["student", "lecture", "points", "max_points", "status", "detail", "file", "flags"]
CSV_FIELDS += ["isolation"]
MAX_CELL_CHARS = 2000  # A gradebook cell is cut here (spreadsheets hold 32,767); results keep all.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")  # OWASP's CSV injection list, and '.
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # Reorders text.


def _digest(paths: list[Path]) -> str:
    """Hash of the files' names and contents; at most the first 64 MB of each (plus its size)."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(os.fsencode(path.name))
        if not path.is_file():
            sha.update(b"<missing>")
            continue
        sha.update(str(path.stat().st_size).encode())
        with path.open("rb") as handle:
            for _ in range(64):
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                sha.update(chunk)
    return sha.hexdigest()[:16]


def signing_key() -> bytes:
    """The instructor's results-signing key (created once, mode 0600, in the user data folder)."""
    from course_lib.paths import user_dir

    path = user_dir() / "grading.key"
    if not path.exists():
        # Shards starting together on a shared home race to create it: the key is written in
        # full under a name of its own, then linked into place, and the first link wins.
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_bytes()


def _signature(record: dict, key: bytes) -> str:
    data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(
        descriptor, "w", newline="", encoding="utf-8", errors="backslashreplace"
    ) as handle:
        handle.write(text)
    os.replace(temporary, path)


def provenance(student_dir: Path, lecture: str, hidden_dir: Path | None, limits: dict) -> dict:
    """Describe everything that determines a grade, so a changed grade can be explained."""
    try:
        submission = [choose_lecture_file(student_dir, lecture)[0]]
    except SubmissionError:
        submission = []
    tests = judge.test_files(lecture) + judge.hidden_test_files(hidden_dir, lecture)
    tests += [expected.data_file(lecture), *expected.support_files(hidden_dir)]
    return {
        "submission_sha": _digest(submission),
        "tests_sha": _digest(tests),
        "package_version": version("image-search-camp"),
        "tensorflow_version": version("tensorflow"),
        "seed": judge.SEED,
        **limits,
    }


def list_students(submissions: Path, student: str | None = None) -> list[Path]:
    """Return the student folders of ``submissions`` (or just ``student``'s)."""
    if not submissions.is_dir():
        raise CourseError(f"Submissions folder not found: {submissions}.")
    folders = sorted(
        p
        for p in submissions.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    if student is not None:
        folders = [p for p in folders if p.name == student]
        if not folders:
            raise CourseError(f"No folder for student {student!r} in {submissions}.")
    return folders


def _load_cached(stored: Path, stamp: dict, key: bytes) -> dict | None:
    try:
        envelope = json.loads(stored.read_text())
        record, signature = envelope["record"], envelope["hmac"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(str(signature), _signature(record, key)):
        return None
    return record if record.get("provenance") == stamp else None


def autograde(
    submissions: Path,
    out_csv: Path,
    lectures: list[str] | None = None,
    student: str | None = None,
    hidden_dir: Path | None = None,
    jobs: int | None = None,
    timeout_s: float = judge.DEFAULT_TIMEOUT_S,
    memory_mb: int = judge.DEFAULT_MEMORY_MB,
    progress=None,
    sandbox_required: bool = True,
    shard: tuple[int, int] | None = None,
) -> list[dict]:
    """Grade every student's lectures; write the CSV gradebook and per-student results.json.

    Args:
        shard: ``(index, count)``: grade only that slice of the students, numbered from 0
            (``course_lib.grading.gradebook.select_shard``); the gradebook holds only them.

    Returns:
        The gradebook rows (dicts with ``CSV_FIELDS`` plus ``cached``).
    """
    from course_lib.grading.sandbox import isolation_label, probe_level

    lectures = lectures or judge.available_lectures()
    for lecture in lectures:
        judge.test_files(lecture)  # Fails early, with the list of lectures, on an unknown one.
    level = probe_level()
    if sandbox_required and level != "namespaces":
        raise CourseError(
            f"Cannot isolate student code on this machine (best level: {level}; Linux namespaces "
            "are needed). Grade on Linux as root or with user namespaces, or pass --no-sandbox "
            "to grade without isolation (the gradebook will show it)."
        )
    if out_csv.resolve().parent.is_relative_to(submissions.resolve()):
        raise CourseError(
            f"--out {out_csv} lies inside the submissions folder {submissions}: students could "
            "plant files there; write the gradebook elsewhere."
        )
    results_dir = out_csv.parent / "results"
    limits = {"timeout_s": timeout_s, "memory_mb": memory_mb, "sandbox": sandbox_required}
    key, jobs = signing_key(), jobs or os.cpu_count() or 1

    students = list_students(submissions, student)
    if shard is not None:
        from course_lib.grading.gradebook import select_shard

        students = select_shard(students, *shard)
    pending, results = [], {}
    for student_dir in students:
        for lecture in lectures:
            stamp = provenance(student_dir, lecture, hidden_dir, limits)
            stored = results_dir / student_dir.name / f"{lecture}.json"
            record = _load_cached(stored, stamp, key) if student is None else None
            if record is not None:
                results[(student_dir.name, lecture)] = (record, True)
            else:
                pending.append((student_dir, lecture, stamp, stored))

    slots: queue.Queue = queue.Queue()
    claimed = claim_slots(jobs)  # Slots (runner uids) no other grading on this machine uses.
    for slot in claimed:
        slots.put([slot, None])

    def grade(job, parts):
        student_dir, lecture, _, _ = job
        slot = slots.get()
        try:
            if slot[1] is None:
                try:
                    slot[1] = ForkServer(judge.grading_env())
                except (OSError, RuntimeError):  # No warm server: fresh judge processes.
                    slot[1] = False
            return judge.grade_lecture(
                lecture,
                student_dir,
                hidden_dir,
                timeout_s,
                memory_mb,
                slot[1] or None,
                slot[0],
                parts,
            )
        finally:
            slots.put(slot)

    def store(job, result):
        student_dir, lecture, stamp, stored = job
        record = {**result.to_dict(), "provenance": stamp}
        graded = Path(result.submission)
        record["file"] = verdict.clean_text(graded.name) if graded.is_file() else ""
        record["submission"] = verdict.clean_text(record["submission"])
        record["flags"] = screen_file(graded) if graded.is_file() else []
        # A judge killed at its time limit reports nothing: its runner had the machine's level.
        record["isolation"] = isolation_label(result.isolation or level)  # What is missing too.
        if not sandbox_required:
            record["isolation"] += " (--no-sandbox)"
        envelope = {"record": record, "hmac": _signature(record, key)}
        try:
            write_atomic(stored, json.dumps(envelope, indent=1))
        except OSError as error:  # Keep grading the class; the gradebook still gets the row.
            record["detail"] = f"{record['detail']} (result not stored: {error})".strip()
        return student_dir.name, lecture, record

    # With hidden tests, every public test of the class is graded before any hidden one: no
    # runner that saw a hidden input is ever alive beside a runner whose messages students read.
    two_passes = [job for job in pending if judge.hidden_test_files(hidden_dir, job[1])]
    passes = [("public",), ("hidden",)] if two_passes else [("public", "hidden")]
    split = {(job[0].name, job[1]) for job in two_passes}  # Graded in both passes.
    total = len(pending) + len(two_passes)
    if progress is not None:
        progress(0, total)
    done, first = 0, {}
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for parts in passes:
                jobs_now = pending if parts != ("hidden",) else two_passes
                futures = {pool.submit(grade, job, parts): job for job in jobs_now}
                for future in as_completed(futures):
                    job, result = futures[future], future.result()
                    done += 1
                    if progress is not None:
                        progress(done, total)
                    key_ = (job[0].name, job[1])
                    if parts == ("public",) and key_ in split:
                        first[key_] = result
                        continue
                    if parts == ("hidden",):
                        result = verdict.merge_parts(first.pop(key_), result)
                    name, lecture, record = store(job, result)
                    results[(name, lecture)] = (record, False)
    finally:
        while not slots.empty():
            server = slots.get()[1]
            if server:
                server.close()
        release_slots(claimed)

    rows = [
        _row(name, lecture, record, cached) for (name, lecture), (record, cached) in results.items()
    ]
    rows.sort(key=lambda r: (r["student"], r["lecture"]))
    _write_csv(out_csv, rows, only_student=student)
    for name in sorted({row["student"] for row in rows}):
        records = [r for (s, _), (r, _) in sorted(results.items()) if s == name]
        _write_gradescope(results_dir / name, records)
    return rows


def cell(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """A gradebook cell a spreadsheet shows as the text it is, on one line, never as a formula.

    Control characters and the bidirectional controls that reorder text on screen are removed
    (tabs and line breaks become spaces), text beyond ``limit`` characters is cut with a note
    (the results files keep it whole), and a cell that starts, after any spaces, with ``=``,
    ``+``, ``-``, ``@`` or ``'`` gets a ``'`` in front, as OWASP recommends against CSV
    injection (the ``'`` of a cell that had one is doubled, so no two texts give one cell).
    """
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    text = BIDI.sub("", re.sub("[\t\n\r]", " ", text))
    text = "".join(c for c in text if unicodedata.category(c) != "Cc")
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit:,} more characters in the results file)"
    return "'" + text if text.lstrip(" ")[:1] in FORMULA_STARTS else text


def student_cell(name: str) -> str:
    """The gradebook's cell for a student folder's name: ``cell``, told apart from every other.

    A name that lost characters to ``cell`` gets a short hash of the name as it is, so that two
    folders never share a row (``--student`` and ``camp gradebook merge`` find rows by it).
    """
    shown = cell(name)
    if shown in (name, "'" + name):
        return shown
    return f"{shown} [{hashlib.sha256(os.fsencode(name)).hexdigest()[:8]}]"


def _row(name: str, lecture: str, record: dict, cached: bool) -> dict:
    late = [
        f"{test['name']} ({test['function']})" if test.get("function") else test["name"]
        for test in record.get("tests", [])
        if test.get("outcome") == "timeout"
    ]
    timeouts = f"Out of time: {', '.join(late)}." if late else ""
    texts = (record.get("detail", ""), timeouts, record.get("warning", ""))
    return {
        "student": student_cell(name),
        "lecture": lecture,
        "cached": cached,
        "points": record["points"],
        "max_points": record["max_points"],
        "status": record["status"],
        "detail": cell(" ".join(x for x in texts if x)),
        "file": cell(record.get("file", "")),
        "flags": cell("; ".join(record.get("flags", []))),
        "isolation": cell(record.get("isolation") or ""),
    }


def _write_csv(out_csv: Path, rows: list[dict], only_student: str | None) -> None:
    """Write the gradebook; regrading one student keeps the other students' existing rows."""
    kept = []
    if only_student is not None and out_csv.is_file():
        shown = student_cell(only_student)  # Rows are found by the cell the raw name gives.
        with out_csv.open(newline="", encoding="utf-8", errors="replace") as handle:
            kept = [r for r in csv.DictReader(handle) if r.get("student") != shown]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, extrasaction="ignore", restval="")
    writer.writeheader()
    for row in sorted(kept + rows, key=lambda r: (r["student"], r["lecture"])):
        writer.writerow(row)
    write_atomic(out_csv, text.getvalue())


def _write_gradescope(folder: Path, records: list[dict]) -> None:
    """Write Gradescope's results.json: overall score plus one entry per test."""
    tests = []
    for record in records:
        if record["points"] == 0 and record["status"] not in ("full-marks", "graded"):
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
                    "visibility": "after_published" if test.get("hidden") else "visible",
                }
            )
    summary = {
        "score": sum(r["points"] for r in records),
        "tests": tests,
        "output": f"Graded lectures: {', '.join(r['lecture'] for r in records)}.",
    }
    write_atomic(folder / "results.json", json.dumps(summary, indent=1))
