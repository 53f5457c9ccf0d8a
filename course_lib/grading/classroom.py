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

import hashlib
import hmac
import json
import os
import queue
import secrets
from concurrent.futures import ThreadPoolExecutor, as_completed
from importlib.metadata import version
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading import expected, judge, sheet, verdict
from course_lib.grading.forkserver import ForkServer
from course_lib.grading.sandbox import claim_slots, release_slots
from course_lib.grading.screening import screen_file
from course_lib.grading.sheet import write_atomic
from course_lib.student.submission import SubmissionError, choose_lecture_file


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
        sheet.row(name, lecture, record, cached)
        for (name, lecture), (record, cached) in results.items()
    ]
    rows.sort(key=lambda r: (r["student"], r["lecture"]))
    sheet.write_csv(out_csv, rows, only_student=student)
    for name in sorted({row["student"] for row in rows}):
        records = [r for (s, _), (r, _) in sorted(results.items()) if s == name]
        sheet.write_results(results_dir / name, records)
    return rows
