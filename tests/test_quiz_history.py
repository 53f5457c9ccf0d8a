"""The quiz history: SQLite storage, FSRS scheduling, failed checks, corrupted databases."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from fsrs import Card, State

from course_lib.errors import CourseError
from course_lib.quiz import history as hist
from course_lib.quiz.bank import load_bank

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAMP_QUIZ_DB", str(tmp_path / "home" / "quiz.sqlite3"))
    monkeypatch.delenv("CAMP_QUIZ_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_db_path_default_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMP_QUIZ_DB", raising=False)
    monkeypatch.setenv("CAMP_HOME", str(tmp_path))
    assert hist.db_path() == tmp_path / "quiz.sqlite3"
    monkeypatch.setenv("CAMP_QUIZ_DB", str(tmp_path / "other.db"))
    assert hist.db_path() == tmp_path / "other.db"


def test_answers_are_stored_and_scheduled_with_fsrs(home, bank):
    right, wrong = bank.by_id()["02-conv-params"], bank.by_id()["02-pool-params"]
    with hist.History() as h:
        card = h.record(right, True, "42", now=NOW)
        h.record(wrong, False, "3", now=NOW)
        assert isinstance(card, Card) and card.due > NOW
        assert h.reviews() == [
            ("02-conv-params", True, NOW.isoformat(timespec="microseconds")),
            ("02-pool-params", False, NOW.isoformat(timespec="microseconds")),
        ]
        assert h.due(NOW) == []
        # Again is due sooner than Good; both are due within a day.
        assert h.due(NOW + timedelta(minutes=2)) == ["02-pool-params"]
        assert set(h.due(NOW + timedelta(days=1))) == {"02-conv-params", "02-pool-params"}
    with hist.History() as h:  # The card JSON survives reopening.
        stored = h.card("02-conv-params")
        assert stored.to_dict() == card.to_dict()
        expected, _ = h.scheduler.review_card(Card.from_dict(card.to_dict()), hist.Rating.Good, NOW)
        assert expected.state in (State.Learning, State.Review)


def test_stats_report_recall_and_next_due(home, bank):
    q = bank.by_id()["05-map"]
    with hist.History() as h:
        h.record(q, True, now=NOW)
        h.record(q, False, now=NOW + timedelta(minutes=1))
        rows = {row["lecture"]: row for row in h.stats(bank, now=NOW + timedelta(minutes=1))}
    assert rows["05"]["answers"] == 2 and rows["05"]["answered"] == 1
    assert rows["05"]["recall"] == 0.5
    assert rows["05"]["next_due"] > NOW + timedelta(minutes=1)
    assert rows["04"]["recall"] is None and rows["04"]["answers"] == 0


def test_mark_failed_sections_makes_matching_questions_due(home, bank):
    with hist.History() as h:
        h.record(bank.by_id()["01-softmax-sum"], True, now=NOW - timedelta(minutes=1))
        assert h.due(NOW) == []
        marked = hist.mark_failed_sections("01", ["softmax"], bank=bank, history=h, now=NOW)
        expected = {q.id for q in bank.questions("01") if q.lecture_section == "softmax"}
        assert set(marked) == expected and "01-softmax-sum" in expected
        assert set(h.due(NOW)) == expected
    # The default arguments open the default bank and history.
    assert hist.mark_failed_sections("1", ["backprop"])
    with hist.History() as h:
        assert {"01-backprop-chain", "01-backprop-relu"} <= set(h.due())


def test_checks_files_are_applied_once_per_content(home, bank):
    checks = home / "checks"
    checks.mkdir(parents=True)
    report = {
        "lecture": "02",
        "tests": [
            {"name": "test_pool", "section": "pooling", "passed": False},
            {"name": "test_conv", "section": "convolution", "passed": True},
        ],
    }
    (checks / "02.json").write_text(json.dumps(report))
    (checks / "03.json").write_text("{not json")
    pooling = {q.id for q in bank.questions("02") if q.lecture_section == "pooling"}
    with hist.History() as h:
        messages = hist.sync_checks(bank, h, now=NOW)
        assert set(h.due(NOW)) == pooling
        assert any("pooling" in m and "due now" in m for m in messages)
        assert any("03.json" in m for m in messages)
        for qid in pooling:  # Answered right: no longer due.
            h.record(bank.by_id()[qid], True, now=NOW)
        assert hist.sync_checks(bank, h, now=NOW) == [m for m in messages if "03.json" in m]
        assert h.due(NOW) == []
        report["tests"][0]["duration"] = 1.5  # A new run of camp check: marked again.
        (checks / "02.json").write_text(json.dumps(report))
        hist.sync_checks(bank, h, now=NOW)
        assert set(h.due(NOW)) == pooling


def test_failed_sections_reads_the_report_format():
    report = {
        "tests": [
            {"name": "a", "section": "softmax", "passed": False},
            {"name": "b", "section": "dense", "passed": True},
            {"name": "c", "section": "", "passed": False},
            {"name": "d", "passed": False},
        ]
    }
    assert hist.failed_sections(report) == {"softmax"}
    assert hist.failed_sections([]) == set()


def test_corrupted_database_is_moved_aside(home, monkeypatch):
    home.mkdir(parents=True)
    db = home / "quiz.sqlite3"
    garbage = b"\x00garbage, not SQLite\xff" * 100
    db.write_bytes(garbage)
    monkeypatch.setattr(hist, "utcnow", lambda: NOW)
    with hist.History() as h:
        assert h.notice is not None and "could not be read" in h.notice
        assert h.reviews() == []
    kept = home / "quiz.sqlite3.corrupt-20250301T090000"
    assert kept.read_bytes() == garbage and str(kept) in h.notice
    db.write_bytes(garbage)  # A second failure in the same second keeps both copies.
    with hist.History() as h:
        assert "corrupt-20250301T090000-2" in h.notice
    with hist.History() as h:
        assert h.notice is None


def test_database_with_foreign_tables_is_moved_aside(home):
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "quiz.sqlite3")
    conn.execute("CREATE TABLE cards (x INTEGER)")
    conn.commit()
    conn.close()
    with hist.History() as h:
        assert "table cards has columns ['x']" in h.notice
        assert h.due() == []


def test_checks_and_history_live_under_camp_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMP_QUIZ_DB", raising=False)
    monkeypatch.setenv("CAMP_HOME", str(tmp_path / "camp"))
    assert hist.db_path() == tmp_path / "camp" / "quiz.sqlite3"
    assert hist.checks_dir() == tmp_path / "camp" / "checks"
    assert hist.home_dir().is_dir()


def test_started_lectures_come_from_answers_and_saved_checks(home, bank):
    checks = home / "checks"
    checks.mkdir(parents=True)
    (checks / "03.json").write_text(json.dumps({"lecture": "03", "status": "graded", "tests": []}))
    (checks / "05.json").write_text(json.dumps({"lecture": "05", "status": "missing"}))
    (checks / "06.json").write_text("{not json")
    with hist.History() as h:
        h.make_due(bank.questions("04"), now=NOW)  # Due cards alone do not start a lecture.
        assert hist.started_lectures(h) == {"03"}
        h.record(bank.by_id()["01-softmax-sum"], True, now=NOW)
        assert h.lectures_answered() == {"01"}
        assert hist.started_lectures(h) == {"01", "03"}


def test_history_that_cannot_be_created_or_opened_is_a_course_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.delenv("CAMP_QUIZ_DB", raising=False)
    monkeypatch.setenv("CAMP_HOME", str(blocker / "camp"))
    with pytest.raises(CourseError, match=f"cannot create the camp data folder {blocker}/camp"):
        hist.History()
    with pytest.raises(CourseError, match="CAMP_HOME"):
        hist.checks_dir()
    with pytest.raises(CourseError, match=f"quiz history {blocker}/camp/q.db.*CAMP_QUIZ_DB"):
        monkeypatch.setenv("CAMP_QUIZ_DB", str(blocker / "camp" / "q.db"))
        hist.History()
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(CourseError, match="is a folder"):
        hist.History(tmp_path / "folder.db")
