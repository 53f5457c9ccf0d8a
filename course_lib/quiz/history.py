"""The quiz history: every answer in SQLite, scheduled with FSRS (spaced repetition, all lectures).

The database is ``$CAMP_QUIZ_DB`` or ``user_dir()/quiz.sqlite3``, where ``user_dir()`` is
``$CAMP_HOME`` (default: the OS's data folder for image-search-camp); a folder that cannot be
created is a CourseError naming it. Each question answered at least once has an FSRS card (stored
as ``Card.to_dict()`` JSON); a wrong answer is rated ``Again``, a right one ``Good``. Questions
never answered are not due: ``camp quiz NN`` introduces them.

Failed autograder tests link back here: ``camp check NN`` writes ``user_dir()/checks/NN.json`` and
every question whose ``lecture_section`` matches a failed test's ``section`` becomes due at once
(:func:`mark_failed_sections`, applied by :func:`sync_checks` once per new checks file).

A lecture is *started* (:func:`started_lectures`) once one of its questions has been answered or
``camp check`` has saved a result for it; ``camp quiz --due`` only asks about started lectures.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from fsrs import Card, Rating, Scheduler

from course_lib.errors import CourseError
from course_lib.paths import user_dir
from course_lib.quiz.bank import Bank, Question, load_bank, normalise_lecture

_SCHEMA = {
    "cards": "question_id TEXT PRIMARY KEY, lecture TEXT NOT NULL, section TEXT NOT NULL, "
    "card TEXT NOT NULL, due TEXT NOT NULL",
    "reviews": "id INTEGER PRIMARY KEY AUTOINCREMENT, question_id TEXT NOT NULL, "
    "lecture TEXT NOT NULL, section TEXT NOT NULL, correct INTEGER NOT NULL, response TEXT, "
    "answered_at TEXT NOT NULL",
    "checks_seen": "lecture TEXT PRIMARY KEY, digest TEXT NOT NULL",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (tests replace this function)."""
    return datetime.now(UTC)


def home_dir() -> Path:
    """``user_dir()`` (``$CAMP_HOME``); a CourseError naming the folder if it cannot be created."""
    try:
        return user_dir()
    except OSError as exc:
        where = os.environ.get("CAMP_HOME") or exc.filename or "the user data folder"
        raise CourseError(
            f"cannot create the camp data folder {where} ({exc.strerror or exc}); "
            "set CAMP_HOME to a folder you can write to"
        ) from None


def checks_dir() -> Path:
    """``user_dir()/checks``, where ``camp check`` saves one ``NN.json`` per lecture."""
    return home_dir() / "checks"


def db_path() -> Path:
    """``$CAMP_QUIZ_DB`` or ``user_dir()/quiz.sqlite3``."""
    return Path(os.environ.get("CAMP_QUIZ_DB") or home_dir() / "quiz.sqlite3")


class History:
    """An open quiz history. ``notice`` says when an unreadable database was moved aside."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else db_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            variable = "CAMP_QUIZ_DB" if os.environ.get("CAMP_QUIZ_DB") else "CAMP_HOME"
            raise CourseError(
                f"cannot create the folder of the quiz history {self.path} "
                f"({exc.strerror or exc}); set {variable} to a place you can write to"
            ) from None
        if self.path.is_dir():
            raise CourseError(f"the quiz history {self.path} is a folder; expected a file")
        self.notice: str | None = None
        self.scheduler = Scheduler(enable_fuzzing=False)
        try:
            self.conn = sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise CourseError(f"cannot open the quiz history {self.path} ({exc})") from None
        self.conn.close()
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError as exc:
            moved = self._move_aside()
            self.notice = (
                f"The quiz history {self.path} could not be read ({exc}). It was kept as "
                f"{moved} and a fresh history was started."
            )
            self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        try:
            status = conn.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {status}")
            for table, columns in _SCHEMA.items():
                conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
                found = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                expected = [c.strip().split()[0] for c in columns.split(",")]
                if found != expected:
                    raise sqlite3.DatabaseError(f"table {table} has columns {found}")
            conn.commit()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        self.path.rename(target)
        return target

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def card(self, question_id: str) -> Card | None:
        row = self.conn.execute(
            "SELECT card FROM cards WHERE question_id = ?", (question_id,)
        ).fetchone()
        if row is None:
            return None
        try:
            return Card.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None

    def _save(self, q: Question, card: Card) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?)",
            (q.id, q.lecture, q.lecture_section, json.dumps(card.to_dict()), _iso(card.due)),
        )

    def record(
        self, q: Question, correct: bool, response: str = "", now: datetime | None = None
    ) -> Card:
        """Store one answer and reschedule the question's card (Again if wrong, Good if right)."""
        now = now or utcnow()
        card = self.card(q.id) or Card()
        rating = Rating.Good if correct else Rating.Again
        card, _ = self.scheduler.review_card(card, rating, review_datetime=now)
        self._save(q, card)
        self.conn.execute(
            "INSERT INTO reviews (question_id, lecture, section, correct, response, answered_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (q.id, q.lecture, q.lecture_section, int(correct), response, _iso(now)),
        )
        self.conn.commit()
        return card

    def make_due(self, questions: Iterable[Question], now: datetime | None = None) -> None:
        """Make ``questions`` due at ``now`` (new cards are created for unseen ones)."""
        now = now or utcnow()
        for q in questions:
            card = self.card(q.id) or Card()
            card.due = now
            self._save(q, card)
        self.conn.commit()

    def due(self, now: datetime | None = None) -> list[str]:
        """Ids of the questions due at ``now``, most overdue first."""
        now = now or utcnow()
        rows = self.conn.execute(
            "SELECT question_id FROM cards WHERE due <= ? ORDER BY due, question_id", (_iso(now),)
        )
        return [row[0] for row in rows]

    def upcoming(self, limit: int = 5, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """The next ``limit`` questions to fall due after ``now``, with their due times."""
        rows = self.conn.execute(
            "SELECT question_id, due FROM cards WHERE due > ? ORDER BY due, question_id LIMIT ?",
            (_iso(now or utcnow()), limit),
        )
        return [(qid, datetime.fromisoformat(due)) for qid, due in rows]

    def reviews(self) -> list[tuple[str, bool, str]]:
        """``(question id, correct, answered_at)`` for every answer, oldest first."""
        rows = self.conn.execute(
            "SELECT question_id, correct, answered_at FROM reviews ORDER BY id"
        ).fetchall()
        return [(qid, bool(ok), when) for qid, ok, when in rows]

    def stats(self, bank: Bank, now: datetime | None = None) -> list[dict[str, object]]:
        """Per lecture: questions, answered, answers, recall (fraction right), due now, next due."""
        now = now or utcnow()
        out = []
        for number, lecture in bank.lectures.items():
            ids = {q.id for q in lecture.questions}
            answers = [ok for qid, ok, _ in self.reviews() if qid in ids]
            answered = {qid for qid, _, _ in self.reviews() if qid in ids}
            dues = self.conn.execute(
                "SELECT question_id, due FROM cards WHERE lecture = ?", (number,)
            ).fetchall()
            dues = [(qid, due) for qid, due in dues if qid in ids]
            later = sorted(due for _, due in dues if due > _iso(now))
            out.append(
                {
                    "lecture": number,
                    "title": lecture.title,
                    "questions": len(ids),
                    "answered": len(answered),
                    "answers": len(answers),
                    "recall": sum(answers) / len(answers) if answers else None,
                    "due_now": sum(due <= _iso(now) for _, due in dues),
                    "next_due": datetime.fromisoformat(later[0]) if later else None,
                }
            )
        return out

    def lectures_answered(self) -> set[str]:
        """The lectures with at least one answer in the history."""
        return {row[0] for row in self.conn.execute("SELECT DISTINCT lecture FROM reviews")}

    def seen_digest(self, lecture: str) -> str | None:
        row = self.conn.execute(
            "SELECT digest FROM checks_seen WHERE lecture = ?", (lecture,)
        ).fetchone()
        return row[0] if row else None

    def set_digest(self, lecture: str, digest: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO checks_seen VALUES (?, ?)", (lecture, digest))
        self.conn.commit()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def mark_failed_sections(
    lecture: str,
    sections: Iterable[str],
    *,
    bank: Bank | None = None,
    history: History | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Make every question of ``lecture`` in one of ``sections`` due now; return their ids."""
    bank = bank or load_bank()
    wanted = set(sections)
    questions = [q for q in bank.lecture(lecture).questions if q.lecture_section in wanted]
    own = history is None
    history = history or History()
    try:
        history.make_due(questions, now)
    finally:
        if own:
            history.close()
    return [q.id for q in questions]


def failed_sections(report: dict) -> set[str]:
    """The sections of the failed tests in a ``checks/NN.json`` report."""
    tests = report.get("tests", []) if isinstance(report, dict) else []
    return {
        t["section"]
        for t in tests
        if isinstance(t, dict) and not t.get("passed", True) and t.get("section")
    }


def sync_checks(bank: Bank, history: History, now: datetime | None = None) -> list[str]:
    """Apply each new or changed ``user_dir()/checks/NN.json``; return messages to show."""
    messages = []
    for path in sorted(checks_dir().glob("*.json")):
        data = path.read_bytes()
        lecture = path.stem
        digest = hashlib.sha256(data).hexdigest()
        if history.seen_digest(lecture) == digest:
            continue
        try:
            report = json.loads(data)
            lecture = str(report.get("lecture", lecture))
            sections = failed_sections(report)
            marked = mark_failed_sections(lecture, sections, bank=bank, history=history, now=now)
        except (ValueError, AttributeError) as exc:
            messages.append(f"Skipped {path}: expected a camp check report ({exc}).")
            continue
        except CourseError as exc:
            messages.append(f"Skipped {path}: {exc}")
            continue
        history.set_digest(path.stem, digest)
        if marked:
            messages.append(
                f"Failed checks in lecture {lecture} ({', '.join(sorted(sections))}): "
                f"{len(marked)} question(s) are due now."
            )
    return messages


def checked_lectures() -> set[str]:
    """The lectures with a saved ``camp check`` result (``checks/NN.json``).

    A result whose status is ``missing`` (no exercise file for the lecture) does not count, nor
    does an unreadable file.
    """
    lectures = set()
    for path in sorted(checks_dir().glob("*.json")):
        try:
            report = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(report, dict) or report.get("status") == "missing":
            continue
        lectures.add(normalise_lecture(str(report.get("lecture", path.stem))))
    return lectures


def started_lectures(history: History) -> set[str]:
    """The lectures a student has started: answered in the quiz, or checked with ``camp check``."""
    return history.lectures_answered() | checked_lectures()
