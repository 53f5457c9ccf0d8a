"""What ``camp autograde`` writes: gradebook cells, rows and files (Lecture 01's grader).

Split from ``course_lib.grading.classroom``. A cell is escaped against CSV injection as OWASP
recommends and cut to ``MAX_CELL_CHARS`` (issue 21); ``write_results`` writes a student's
Gradescope ``results.json``; every file is replaced atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path

CSV_FIELDS = ["student", "lecture", "points", "max_points", "status", "detail", "file", "flags"]
CSV_FIELDS += ["isolation"]
MAX_CELL_CHARS = 2000  # A gradebook cell is cut here (spreadsheets hold 32,767); results keep all.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")  # OWASP's CSV injection list, and '.
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # Reorders text.


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(
        descriptor, "w", newline="", encoding="utf-8", errors="backslashreplace"
    ) as handle:
        handle.write(text)
    os.replace(temporary, path)


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


def row(name: str, lecture: str, record: dict, cached: bool) -> dict:
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


def write_csv(out_csv: Path, rows: list[dict], only_student: str | None) -> None:
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


def write_results(folder: Path, records: list[dict]) -> None:
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
