"""Read and check a competition submission before scoring it (the Lecture 05 competition).

A submission is a UTF-8 CSV file (a byte-order mark is allowed) with the header
``query_id,image_ids`` and one line per query of ``queries.csv``; ``image_ids`` lists at most 100
gallery image ids (file stems of ``gallery/``), best first, separated by spaces. An empty list is
allowed and scores zero. Blank lines are ignored. Every problem is reported as a
``SubmissionFormatError`` whose message names the file and, where there is one, the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from course_lib.errors import CourseError

HEADER = ["query_id", "image_ids"]
MAX_BYTES = 100 * 1024 * 1024
MAX_IDS = 100


class SubmissionFormatError(CourseError):
    """A submission that cannot be scored; the message says where and why."""


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise SubmissionFormatError(f"{path}: no such file.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SubmissionFormatError(
            f"{path}: the file has {size} bytes; a submission may have at most 100 MB "
            f"({MAX_BYTES} bytes)."
        )
    data = path.read_bytes()
    if not data.strip():
        raise SubmissionFormatError(
            f"{path}: the file is empty; expected the header 'query_id,image_ids' and one line "
            "per query."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SubmissionFormatError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save the file "
            "as UTF-8 CSV."
        ) from None


def read_submission(
    path: str | Path, query_ids: list[str], image_ids: list[str], max_ids: int = MAX_IDS
) -> dict[str, list[str]]:
    """Return ``{query id: ranked image ids}`` of a valid submission, else raise.

    Args:
        path: the CSV file.
        query_ids: every query id of the competition; each needs exactly one line.
        image_ids: the gallery's image ids.
        max_ids: the most image ids allowed per query.

    Raises:
        SubmissionFormatError: the first problem found, naming the file and line.
    """
    path = Path(path)
    text = _read_text(path)
    known_queries, gallery = set(query_ids), set(image_ids)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    ranked: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    try:
        header = next(reader)
        if [h.strip() for h in header] != HEADER:
            raise SubmissionFormatError(
                f"{path}, line 1: expected the header 'query_id,image_ids'; found "
                f"{','.join(header)!r}."
            )
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 2:
                raise SubmissionFormatError(
                    f"{path}, line {line}: expected 2 fields (query_id,image_ids); found "
                    f"{len(row)}."
                )
            qid, ids = row[0].strip(), row[1].split()
            if qid not in known_queries:
                raise SubmissionFormatError(f"{path}, line {line}: unknown query id {qid!r}.")
            if qid in ranked:
                raise SubmissionFormatError(
                    f"{path}, line {line}: query {qid} appears again (first on line "
                    f"{first_line[qid]})."
                )
            if len(ids) > max_ids:
                raise SubmissionFormatError(
                    f"{path}, line {line}: {len(ids)} image ids for query {qid}; at most "
                    f"{max_ids} are allowed."
                )
            seen = set()
            for iid in ids:
                if iid not in gallery:
                    raise SubmissionFormatError(
                        f"{path}, line {line}: unknown image id {iid!r} for query {qid} (not in "
                        "the gallery)."
                    )
                if iid in seen:
                    raise SubmissionFormatError(
                        f"{path}, line {line}: image id {iid!r} appears twice for query {qid}."
                    )
                seen.add(iid)
            ranked[qid], first_line[qid] = ids, line
    except csv.Error as err:
        raise SubmissionFormatError(
            f"{path}, line {reader.line_num}: malformed CSV ({err})."
        ) from None
    missing = [q for q in query_ids if q not in ranked]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SubmissionFormatError(
            f"{path}: {len(missing)} of {len(query_ids)} queries have no line ({shown}); every "
            "query of queries.csv needs one."
        )
    return ranked
