"""Turning a bank question into one concrete instance, and checking a typed answer (all lectures).

Rendering with a seed is deterministic: the parameters are drawn with
``random.Random(f"{seed}:{question id}")``. Choices keep their YAML order unless ``shuffle`` is
asked for; the shuffled order depends on the question id only (:func:`choice_order`), so the
terminal quiz and every export show the same order, and the keyed answer, which authors tend to
write first, is not always first.

Short answers are compared after :func:`normalise_text` on both sides: case, surrounding and
repeated whitespace, punctuation (``.,;:!?'"`` and the like, Unicode category P), modifier symbols
(backticks) and ``=`` do not count, so ``padding='same'`` matches ``padding="same"`` and a trailing
period is ignored. Other variants (``concat``, ``rectifier``) are listed in the question's answers.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from course_lib.quiz import formula
from course_lib.quiz.bank import Question
from course_lib.quiz.formula import parse_number

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Rendered:
    """A question ready to ask: text with parameters filled in, choices in display order."""

    id: str
    kind: str
    section: str
    text: str
    explanation: str
    choices: tuple[str, ...] = ()
    correct: tuple[int, ...] = ()
    value: float | None = None
    tolerance: float = 0.0
    accepted: tuple[str, ...] = ()
    params: tuple[tuple[str, formula.Number], ...] = ()

    def answer_text(self) -> str:
        """The correct answer as a student would read it."""
        if self.kind in ("single", "multiple"):
            return ", ".join(f"{LETTERS[i]}) {self.choices[i]}" for i in self.correct)
        if self.kind == "numeric":
            shown = format_number(self.value)
            return f"{shown} (± {format_number(self.tolerance)})" if self.tolerance else shown
        return self.accepted[0]


def format_number(value: float) -> str:
    """Show a number without a spurious ``.0`` and with at most 6 significant digits."""
    value = formula.as_number(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def choice_order(q: Question) -> list[int]:
    """The display order of ``q``'s choices (indices into the YAML list), seeded by its id."""
    order = list(range(len(q.choices or ())))
    random.Random(f"choices:{q.id}").shuffle(order)
    return order


def render(
    q: Question,
    seed: int = 0,
    shuffle: bool = False,
    values: Mapping[str, formula.Number] | None = None,
) -> Rendered:
    """Draw the parameters and compute the answer of ``q`` for ``seed``.

    ``shuffle`` shows the choices in :func:`choice_order` instead of the YAML order. ``values``
    sets the parameters instead of drawing them (every parameter, e.g. one row of
    :func:`formula.grid`).
    """
    rng = random.Random(f"{seed}:{q.id}")
    common = {"id": q.id, "kind": q.kind, "section": q.lecture_section}
    if q.kind in ("single", "multiple"):
        order = choice_order(q) if shuffle else list(range(len(q.choices)))
        choices = tuple(q.choices[i] for i in order)
        correct = tuple(sorted(choices.index(a) for a in q.accepted))
        return Rendered(
            **common, text=q.text, explanation=q.explanation, choices=choices, correct=correct
        )
    if q.kind == "text":
        return Rendered(
            **common, text=q.text, explanation=q.explanation, accepted=tuple(q.accepted)
        )
    if not q.params and q.answer_formula is None:
        return Rendered(
            **common,
            text=q.text,
            explanation=q.explanation,
            value=parse_number(q.answer),
            tolerance=q.tolerance,
        )
    if values is None:
        values = formula.draw(q.params or {}, rng)
    elif set(values) != set(q.params or {}):
        raise ValueError(
            f"{q.id}: expected values for the parameters {sorted(q.params or {})}; "
            f"received {sorted(values)}"
        )
    values = {name: values[name] for name in q.params or {}}
    value = formula.evaluate(q.answer_formula, values)
    shown = {k: format_number(v) for k, v in values.items()}
    # In worked formulas a negative parameter reads better in parentheses: 4 − 0.5·(−6).
    worked = {k: f"({v})" if v.startswith("-") else v for k, v in shown.items()}
    return Rendered(
        **common,
        text=q.text.format(**shown) if q.params else q.text,
        explanation=(
            q.explanation.format(**worked, answer=format_number(value))
            if q.params
            else q.explanation
        ),
        value=value,
        tolerance=q.tolerance,
        params=tuple(values.items()),
    )


def _ignored(char: str) -> bool:
    return char == "=" or unicodedata.category(char)[0] == "P" or unicodedata.category(char) == "Sk"


def normalise_text(text: str) -> str:
    """The form in which short answers are compared: " Max  Pooling. " → "max pooling".

    Case-folds, reads punctuation, quotes, backticks and ``=`` as spaces, and collapses and
    strips whitespace, so ``padding='same'`` and ``padding="same"`` both give "padding same".
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if _ignored(char) else char for char in text)
    return re.sub(r"\s+", " ", text).strip()


def parse_response(r: Rendered, raw: str) -> object:
    """Parse what the student typed; raise ValueError (with advice) when it cannot be read.

    Choices are chosen by letter or number ("b", "2"); several as "a,c" or "a c".
    """
    raw = raw.strip()
    if r.kind in ("single", "multiple"):
        tokens = [t for t in re.split(r"[,\s;]+", raw.lower()) if t]
        picks = [_choice_index(t, len(r.choices)) for t in tokens]
        if r.kind == "single" and len(picks) != 1:
            raise ValueError("expected one letter, e.g. b")
        return tuple(sorted(set(picks)))
    if r.kind == "numeric":
        try:
            return parse_number(raw)
        except ValueError:
            pass
        try:
            return formula.evaluate(raw, {})
        except formula.FormulaError:
            raise ValueError(f"expected a number (e.g. 42 or 0.25); received {raw!r}") from None
    return normalise_text(raw)


def _choice_index(token: str, n: int) -> int:
    if len(token) == 1 and token in LETTERS[:n]:
        return LETTERS.index(token)
    if token.isdigit() and 1 <= int(token) <= n:
        return int(token) - 1
    raise ValueError(f"expected a letter a-{LETTERS[n - 1]} or a number 1-{n}; received {token!r}")


def is_correct(r: Rendered, response: object) -> bool:
    """Whether a parsed response is right."""
    if r.kind in ("single", "multiple"):
        return tuple(response) == r.correct
    if r.kind == "numeric":
        return math.isclose(float(response), r.value, rel_tol=1e-9, abs_tol=r.tolerance + 1e-12)
    return normalise_text(str(response)) in {normalise_text(a) for a in r.accepted}


def correct_response(r: Rendered) -> str:
    """A line that answers ``r`` correctly (used by tests and demos)."""
    if r.kind in ("single", "multiple"):
        return ",".join(LETTERS[i] for i in r.correct)
    if r.kind == "numeric":
        return repr(r.value)
    return r.accepted[0]
