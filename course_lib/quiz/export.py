"""Exporting the quiz bank to Moodle XML, GIFT and Anki (all lectures).

Kinds map to Moodle as: ``single`` → multichoice (single answer), ``multiple`` → multichoice
(several answers; each correct one earns an equal share, each wrong one costs an equal share),
``numeric`` → numerical with its tolerance, ``text`` → shortanswer (case-insensitive).

A parametrised question is exported as ``variants`` rendered instances (default 1, drawn with the
seeds ``seed``, ``seed + 1``, ...); with several, each becomes its own question named
``ID (variant k)``. Questions without parameters are exported once. Each lecture gets a Moodle
category (``$course$/top/Image search camp/NN Title``) and an Anki subdeck with a fixed id.

Choices are written in the shuffled order of :func:`course_lib.quiz.render.choice_order` (seeded by
the question id, the same in every export and in ``camp quiz``), not in the YAML order where the
keyed answer usually comes first.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from course_lib.quiz.bank import Bank, Lecture
from course_lib.quiz.render import Rendered, format_number, render

FORMATS = ("moodle-xml", "gift", "anki")
COURSE = "Image search camp"
ANKI_MODEL_ID = 1_607_392_411
ANKI_DECK_BASE = 2_059_400_100
_ANKI_TIMESTAMP = 1_735_689_600.0
_MOODLE_TYPES = {
    "single": "multichoice",
    "multiple": "multichoice",
    "numeric": "numerical",
    "text": "shortanswer",
}


def instances(lecture: Lecture, variants: int = 1, seed: int = 0) -> Iterator[tuple[str, Rendered]]:
    """Yield ``(name, rendered question)`` for every question of a lecture, in file order."""
    for q in lecture.questions:
        count = variants if q.parametrised else 1
        for k in range(count):
            name = q.id if count == 1 else f"{q.id} (variant {k + 1})"
            yield name, render(q, seed + k, shuffle=True)


def export(bank: Bank, fmt: str, out: Path, variants: int = 1, seed: int = 0) -> int:
    """Write the bank to ``out`` in ``fmt``; return the number of questions written."""
    if fmt not in FORMATS:
        raise ValueError(f"expected a format among {FORMATS}; received {fmt!r}")
    if variants < 1:
        raise ValueError(f"expected at least one variant; received {variants}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = {"moodle-xml": write_moodle_xml, "gift": write_gift, "anki": write_anki}[fmt]
    return writer(bank, out, variants, seed)


def _category(lecture: Lecture) -> str:
    return f"$course$/top/{COURSE}/{lecture.number} {lecture.title}"


def _html(text: str) -> str:
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _number(value: float) -> str:
    return format_number(value) if float(value).is_integer() else repr(float(value))


def _fractions(r: Rendered) -> list[str]:
    """Moodle grade fractions of the choices (a Moodle-accepted value with 5 decimals)."""
    if r.kind == "single":
        return ["100" if i in r.correct else "0" for i in range(len(r.choices))]
    right, wrong = len(r.correct), len(r.choices) - len(r.correct)
    return [
        f"{100 / right:.5f}".rstrip("0").rstrip(".")
        if i in r.correct
        else f"{-100 / wrong:.5f}".rstrip("0").rstrip(".")
        for i in range(len(r.choices))
    ]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        ET.SubElement(node, "text").text = text
    return node


def moodle_question(name: str, r: Rendered) -> ET.Element:
    """One ``<question>`` element for a rendered question."""
    q = ET.Element("question", {"type": _MOODLE_TYPES[r.kind]})
    _sub(q, "name", name)
    _sub(q, "questiontext", _html(r.text), format="html")
    _sub(q, "generalfeedback", _html(r.explanation), format="html")
    ET.SubElement(q, "defaultgrade").text = "1"
    ET.SubElement(q, "penalty").text = "0.3333333"
    ET.SubElement(q, "hidden").text = "0"
    ET.SubElement(q, "idnumber").text = name.replace(" ", "_")[:100]
    if r.kind in ("single", "multiple"):
        ET.SubElement(q, "single").text = "true" if r.kind == "single" else "false"
        ET.SubElement(q, "shuffleanswers").text = "true"
        ET.SubElement(q, "answernumbering").text = "abc"
        for choice, fraction in zip(r.choices, _fractions(r), strict=True):
            _sub(q, "answer", _html(choice), fraction=fraction, format="html")
    elif r.kind == "numeric":
        answer = _sub(q, "answer", _number(r.value), fraction="100")
        ET.SubElement(answer, "tolerance").text = _number(r.tolerance)
    else:
        ET.SubElement(q, "usecase").text = "0"
        for accepted in r.accepted:
            _sub(q, "answer", accepted, fraction="100", format="moodle_auto_format")
    tags = ET.SubElement(q, "tags")
    for tag in (f"lecture-{r.id[:2]}", f"section-{r.section}"):
        _sub(tags, "tag", tag)
    return q


def write_moodle_xml(bank: Bank, out: Path, variants: int = 1, seed: int = 0) -> int:
    root = ET.Element("quiz")
    count = 0
    for lecture in bank.lectures.values():
        category = ET.SubElement(root, "question", {"type": "category"})
        _sub(category, "category", _category(lecture))
        for name, r in instances(lecture, variants, seed):
            root.append(moodle_question(name, r))
            count += 1
    ET.indent(root)
    ET.ElementTree(root).write(out, encoding="UTF-8", xml_declaration=True)
    return count


def gift_escape(text: str) -> str:
    """Escape GIFT's special characters and write newlines as ``\\n``."""
    for char in "\\~=#{}:":
        text = text.replace(char, "\\" + char)
    return text.strip().replace("\r", "").replace("\n", "\\n")


def gift_question(name: str, r: Rendered) -> str:
    """One GIFT question (a single line, plain text, general feedback after ``####``)."""
    if r.kind == "single":
        body = " ".join(
            ("=" if i in r.correct else "~") + gift_escape(c) for i, c in enumerate(r.choices)
        )
    elif r.kind == "multiple":
        body = " ".join(
            f"~%{fraction}%{gift_escape(c)}"
            for c, fraction in zip(r.choices, _fractions(r), strict=True)
        )
    elif r.kind == "numeric":
        body = f"#{_number(r.value)}:{_number(r.tolerance)}"
    else:
        body = " ".join("=" + gift_escape(a) for a in r.accepted)
    feedback = gift_escape(r.explanation)
    return f"::{gift_escape(name)}::[plain]{gift_escape(r.text)} {{{body} ####{feedback}}}"


def write_gift(bank: Bank, out: Path, variants: int = 1, seed: int = 0) -> int:
    lines = [f"// {COURSE}: quiz bank exported from image-search-camp.", ""]
    count = 0
    for lecture in bank.lectures.values():
        lines += [f"$CATEGORY: {_category(lecture)}", ""]
        for name, r in instances(lecture, variants, seed):
            lines += [gift_question(name, r), ""]
            count += 1
    out.write_text("\n".join(lines), encoding="utf-8")
    return count


def _anki_front(r: Rendered) -> str:
    front = _html(r.text)
    if r.choices:
        items = "".join(f"<li>{html.escape(c)}</li>" for c in r.choices)
        front += f'<ol type="a">{items}</ol>'
        if r.kind == "multiple":
            front += "<p><i>Several answers may be correct.</i></p>"
    return front


def write_anki(bank: Bank, out: Path, variants: int = 1, seed: int = 0) -> int:
    import genanki

    model = genanki.Model(
        ANKI_MODEL_ID,
        f"{COURSE} question",
        fields=[{"name": n} for n in ("Id", "Question", "Answer", "Explanation", "Section")],
        templates=[
            {
                "name": "Card 1",
                "qfmt": "{{Question}}",
                "afmt": '{{FrontSide}}<hr id="answer"><b>{{Answer}}</b><p>{{Explanation}}</p>'
                "<p><small>{{Id}} · {{Section}}</small></p>",
            }
        ],
    )
    decks, count = [], 0
    for lecture in bank.lectures.values():
        deck = genanki.Deck(
            ANKI_DECK_BASE + int(lecture.number), f"{COURSE}::{lecture.number} {lecture.title}"
        )
        for name, r in instances(lecture, variants, seed):
            answer = r.answer_text() if r.kind != "text" else r.accepted[0]
            note = genanki.Note(
                model=model,
                fields=[
                    html.escape(name),
                    _anki_front(r),
                    html.escape(answer),
                    _html(r.explanation),
                    r.section,
                ],
                tags=[f"lecture-{lecture.number}", f"section-{r.section}"],
                guid=genanki.guid_for("image-search-camp", name),
            )
            deck.add_note(note)
            count += 1
        decks.append(deck)
    genanki.Package(decks).write_to_file(str(out), timestamp=_ANKI_TIMESTAMP)
    return count
