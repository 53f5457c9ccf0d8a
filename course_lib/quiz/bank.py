"""The quiz bank: the schema of ``quizzes/NN_topic.yaml``, loading and validation (all lectures).

A lecture file holds ``lecture`` ("02"), ``title``, the ``sections`` its questions may name
(the same slugs as the autograder's ``section=`` markers) and ``questions``. Each question has an
``id`` starting with the lecture number, a ``kind`` (``single``, ``multiple``, ``numeric`` or
``text``), a ``lecture_section``, a ``text``, an ``explanation`` and, depending on its kind,
``choices``, ``answer``, ``tolerance``, ``params`` and ``answer_formula`` (see ``formula.py``).

Every problem found is reported in one :class:`CourseError` naming the file, the question id and
the field.
"""

from __future__ import annotations

import os
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from course_lib.errors import CourseError
from course_lib.quiz import formula

# The C loader (libyaml) is about ten times faster; it reports the same error positions.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAMPLES = 64
_EXHAUSTIVE = 4096


class Question(BaseModel):
    """One question as written in YAML (before parameters are drawn)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*$")
    kind: Literal["single", "multiple", "numeric", "text"]
    lecture_section: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    choices: list[str] | None = None
    answer: Any = None
    tolerance: float = Field(default=0.0, ge=0)
    params: dict[str, Any] | None = None
    answer_formula: str | None = None

    @property
    def lecture(self) -> str:
        return self.id[:2]

    @property
    def parametrised(self) -> bool:
        return bool(self.params)

    @property
    def accepted(self) -> list[str]:
        """The accepted answers of a text question, or the correct choices."""
        return [self.answer] if isinstance(self.answer, str) else list(self.answer or [])


class _LectureFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lecture: str = Field(pattern=r"^\d\d$")
    title: str = Field(min_length=1)
    sections: list[str] = Field(min_length=1)
    questions: list[dict[str, Any]] = Field(min_length=1)


@dataclass
class Lecture:
    number: str
    title: str
    sections: list[str]
    path: Path
    questions: list[Question] = field(default_factory=list)


@dataclass
class Bank:
    lectures: dict[str, Lecture]

    def questions(self, lecture: str | None = None) -> list[Question]:
        """All questions, or those of one lecture (``"02"``)."""
        if lecture is not None:
            return list(self.lecture(lecture).questions)
        return [q for lec in self.lectures.values() for q in lec.questions]

    def lecture(self, number: str) -> Lecture:
        """The lecture ``number`` ("2", "02" or "02_cnn"); a CourseError lists the known ones."""
        key = normalise_lecture(number)
        if key not in self.lectures:
            known = ", ".join(f"{n} ({lec.title})" for n, lec in self.lectures.items())
            raise CourseError(f"Unknown lecture {number!r}; expected one of: {known}.")
        return self.lectures[key]

    def by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions()}


def normalise_lecture(number: str) -> str:
    """Return "02" for "2", "02", "02_cnn"; other strings unchanged."""
    head = number.split("_", 1)[0].strip()
    return head.zfill(2) if head.isdigit() and len(head) <= 2 else number


def bank_dir() -> Path:
    """The folder of the quiz files: ``$CAMP_QUIZ_DIR``, else ``quizzes/`` of the course root.

    The course root is the checkout or the installed student edition (``paths.project_root``).
    """
    if os.environ.get("CAMP_QUIZ_DIR"):
        return Path(os.environ["CAMP_QUIZ_DIR"])
    from course_lib.paths import project_root

    return project_root() / "quizzes"


def load_bank(folder: Path | None = None) -> Bank:
    """Load and validate every ``NN_*.yaml`` in ``folder``; one CourseError lists all problems."""
    folder = Path(folder) if folder is not None else bank_dir()
    paths = sorted(folder.glob("[0-9][0-9]_*.yaml"))
    if not paths:
        raise CourseError(f"Expected quiz files NN_topic.yaml in {folder}; found none.")
    problems: list[str] = []
    lectures: dict[str, Lecture] = {}
    seen: dict[str, Path] = {}
    for path in paths:
        lecture, parsed = _load_file(path, problems)
        for q in parsed:
            if q.id in seen:
                problems.append(
                    f"{path}: question {q.id!r}, field 'id': duplicate id, "
                    f"also used in {seen[q.id]}"
                )
            seen.setdefault(q.id, path)
        if lecture is None:
            continue
        if lecture.number in lectures:
            other = lectures[lecture.number].path
            problems.append(f"{path}: field 'lecture': lecture {lecture.number} is also in {other}")
            continue
        lectures[lecture.number] = lecture
    if problems:
        raise CourseError(
            f"The quiz bank has {len(problems)} problem(s):\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    return Bank(lectures)


def _load_file(path: Path, problems: list[str]) -> tuple[Lecture | None, list[Question]]:
    """Parse one file; return its lecture and every question that passed the schema."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CourseError(f"{path}: YAML syntax error{where}: {problem}") from None
    try:
        doc = _LectureFile.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "file"
            problems.append(f"{path}: field {loc!r}: {err['msg']}")
        return None, []
    prefix = path.name[:2]
    if doc.lecture != prefix:
        problems.append(f"{path}: field 'lecture': {doc.lecture!r} does not match the file name")
    lecture = Lecture(doc.lecture, doc.title, doc.sections, path)
    parsed = []
    for index, item in enumerate(doc.questions):
        qid = item.get("id", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
        try:
            question = Question.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "question"
                problems.append(f"{path}: question {qid!r}, field {loc!r}: {err['msg']}")
            continue
        parsed.append(question)
        found = check_question(question, doc.lecture, doc.sections)
        problems.extend(f"{path}: question {qid!r}, field {f!r}: {msg}" for f, msg in found)
        if not found:
            lecture.questions.append(question)
    return lecture, parsed


def check_question(q: Question, lecture: str, sections: list[str]) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for each inconsistency that the schema alone lets through."""
    out: list[tuple[str, str]] = []
    if q.lecture != lecture:
        out.append(("id", f"expected the id to start with '{lecture}-'"))
    if q.lecture_section not in sections:
        out.append(("lecture_section", f"{q.lecture_section!r} is not one of {sections}"))
    if q.kind in ("single", "multiple"):
        out.extend(_check_choices(q))
    elif q.choices is not None:
        out.append(("choices", f"a {q.kind} question takes no choices"))
    if q.kind == "text":
        from course_lib.quiz.render import normalise_text

        if not q.accepted or not all(isinstance(a, str) and a.strip() for a in q.accepted):
            out.append(("answer", "expected an accepted answer or a list of them (non-empty text)"))
        elif empty := [a for a in q.accepted if not normalise_text(a)]:
            out.append(("answer", f"{empty!r} would match an empty answer (punctuation only)"))
    if q.kind == "numeric":
        out.extend(_check_numeric(q))
    elif q.params is not None or q.answer_formula is not None:
        out.append(("params", "only numeric questions take params and answer_formula"))
    return out


def _check_choices(q: Question) -> list[tuple[str, str]]:
    if not q.choices or len(q.choices) < 2:
        return [("choices", "expected at least two choices")]
    if len(set(q.choices)) != len(q.choices):
        return [("choices", "the choices repeat themselves")]
    if q.kind == "single":
        if not isinstance(q.answer, str):
            return [("answer", f"expected one choice as the answer; received {q.answer!r}")]
        if q.answer not in q.choices:
            return [("answer", f"the correct answer {q.answer!r} is not among the choices")]
        return []
    answers = q.answer if isinstance(q.answer, list) else [q.answer]
    missing = [a for a in answers if a not in q.choices]
    if not answers or missing:
        return [("answer", f"correct answer(s) {missing or answers!r} not among the choices")]
    if len(set(answers)) != len(answers):
        return [("answer", "the correct answers repeat themselves")]
    return []


def _check_numeric(q: Question) -> list[tuple[str, str]]:
    if (q.answer is None) == (q.answer_formula is None):
        return [("answer", "a numeric question needs exactly one of answer and answer_formula")]
    if q.answer is not None:
        if q.params:
            return [("params", "params need an answer_formula (the answer depends on them)")]
        try:
            value = formula.parse_number(q.answer)
        except ValueError as exc:
            return [("answer", str(exc))]
        return _check_tolerance(q, value)
    params = q.params or {}
    try:
        for name, spec in params.items():
            if not name.isidentifier():
                return [("params", f"{name!r} is not a valid parameter name")]
            formula.spec_values(spec)
    except ValueError as exc:
        return [("params", f"{name}: {exc}")]
    try:
        unknown = formula.formula_names(q.answer_formula) - set(params)
    except formula.FormulaError as exc:
        return [("answer_formula", str(exc))]
    if unknown:
        return [("answer_formula", f"unknown name(s) {sorted(unknown)}; params: {sorted(params)}")]
    for fld, template, allowed in (
        ("text", q.text, set(params)),
        ("explanation", q.explanation, set(params) | {"answer"}),
    ):
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            return [(fld, f"bad template ({exc}); write {{{{ and }}}} for literal braces")]
        if names - allowed:
            return [(fld, f"placeholder(s) {sorted(names - allowed)} are not params")]
    if formula.grid_size(params) <= _EXHAUSTIVE:
        trials = formula.grid(params)
    else:
        rng = random.Random(f"validate:{q.id}")
        trials = formula.corners(params) + [formula.draw(params, rng) for _ in range(_SAMPLES)]
    for values in trials:
        try:
            value = formula.evaluate(q.answer_formula, values)
        except formula.FormulaError as exc:
            return [("answer_formula", f"fails for its own params: {exc}")]
        if problem := _check_tolerance(q, value):
            return problem
    return []


def _check_tolerance(q: Question, value: float) -> list[tuple[str, str]]:
    if q.tolerance == 0 and not float(value).is_integer():
        return [("tolerance", f"the answer {value:.6g} is not a whole number; set a tolerance")]
    return []
