"""Submission format checks of the competition: every rejection and its exact message."""

import pytest

from course_lib.competition.validate import MAX_BYTES, SubmissionFormatError, read_submission

QUERIES = ["q1", "q2"]
IMAGES = ["101", "102", "103"]


def _check(tmp_path, content, name="sub.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path, read_submission(path, QUERIES, IMAGES)


def _rejected(tmp_path, content, message):
    path = tmp_path / "sub.csv"
    with pytest.raises(SubmissionFormatError) as info:
        _check(tmp_path, content)
    assert str(info.value) == message.format(path=path)


def test_valid_submission_is_read_in_order(tmp_path):
    _, ranked = _check(tmp_path, "query_id,image_ids\nq2,103  101\n\nq1,\n")
    assert ranked == {"q2": ["103", "101"], "q1": []}


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    _, ranked = _check(tmp_path, b"\xef\xbb\xbfquery_id,image_ids\r\nq1,101\r\nq2,102 103\r\n")
    assert ranked == {"q1": ["101"], "q2": ["102", "103"]}


def test_empty_file(tmp_path):
    _rejected(
        tmp_path,
        "",
        "{path}: the file is empty; expected the header 'query_id,image_ids' and one line per "
        "query.",
    )


def test_wrong_header(tmp_path):
    _rejected(
        tmp_path,
        "id,images\nq1,101\nq2,102\n",
        "{path}, line 1: expected the header 'query_id,image_ids'; found 'id,images'.",
    )


def test_missing_queries(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq2,101\n",
        "{path}: 1 of 2 queries have no line (q1); every query of queries.csv needs one.",
    )


def test_duplicate_query(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq1,101\nq2,102\nq1,103\n",
        "{path}, line 4: query q1 appears again (first on line 2).",
    )


def test_unknown_query(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq1,101\nq9,102\n",
        "{path}, line 3: unknown query id 'q9'.",
    )


def test_unknown_image_id(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq1,101 999\nq2,102\n",
        "{path}, line 2: unknown image id '999' for query q1 (not in the gallery).",
    )


def test_repeated_image_id(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq1,101\nq2,102 103 102\n",
        "{path}, line 3: image id '102' appears twice for query q2.",
    )


def test_too_many_image_ids(tmp_path):
    ids = " ".join(str(i) for i in range(101))
    _rejected(
        tmp_path,
        f"query_id,image_ids\nq1,{ids}\nq2,102\n",
        "{path}, line 2: 101 image ids for query q1; at most 100 are allowed.",
    )


def test_not_utf8(tmp_path):
    _rejected(
        tmp_path,
        b"query_id,image_ids\nq1,101\nq2,caf\xe9\n",
        "{path}, line 3: not UTF-8 text (byte 0xe9); save the file as UTF-8 CSV.",
    )


def test_file_over_100_mb_is_rejected_before_reading(tmp_path):
    path = tmp_path / "sub.csv"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # A sparse file: no 100 MB written to disk.
    with pytest.raises(SubmissionFormatError) as info:
        read_submission(path, QUERIES, IMAGES)
    assert str(info.value) == (
        f"{path}: the file has {MAX_BYTES + 1} bytes; a submission may have at most 100 MB "
        f"({MAX_BYTES} bytes)."
    )


def test_unterminated_quote(tmp_path):
    _rejected(
        tmp_path,
        'query_id,image_ids\nq1,101\nq2,"102 103\n',
        "{path}, line 3: malformed CSV (unexpected end of data).",
    )


def test_stray_quote(tmp_path):
    _rejected(
        tmp_path,
        'query_id,image_ids\nq1,"101"102\nq2,102\n',
        "{path}, line 2: malformed CSV (',' expected after '\"').",
    )


def test_wrong_number_of_fields(tmp_path):
    _rejected(
        tmp_path,
        "query_id,image_ids\nq1,101,102\nq2,102\n",
        "{path}, line 2: expected 2 fields (query_id,image_ids); found 3.",
    )


def test_missing_file(tmp_path):
    with pytest.raises(SubmissionFormatError) as info:
        read_submission(tmp_path / "nope.csv", QUERIES, IMAGES)
    assert str(info.value) == f"{tmp_path / 'nope.csv'}: no such file."
