"""Exports: Moodle XML (xml.etree), GIFT (parsed back) and Anki .apkg (zip + SQLite)."""

from __future__ import annotations

import html
import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter

import pytest

from course_lib.quiz.bank import load_bank
from course_lib.quiz.export import ANKI_DECK_BASE, ANKI_MODEL_ID, export, gift_escape
from course_lib.quiz.render import choice_order, render

MOODLE_TYPE = {"single": "multichoice", "multiple": "multichoice"}
MOODLE_TYPE |= {"numeric": "numerical", "text": "shortanswer"}


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_moodle_xml_has_one_question_of_the_right_type_each(bank, tmp_path):
    out = tmp_path / "bank.xml"
    assert export(bank, "moodle-xml", out) == len(bank.questions())
    root = ET.parse(out).getroot()
    assert root.tag == "quiz"
    categories = [q for q in root.findall("question") if q.get("type") == "category"]
    questions = [q for q in root.findall("question") if q.get("type") != "category"]
    assert len(categories) == len(bank.lectures)
    assert len(questions) == len(bank.questions())
    by_name = {q.findtext("name/text"): q for q in questions}
    for q in bank.questions():
        element = by_name[q.id]
        assert element.get("type") == MOODLE_TYPE[q.kind], q.id
        answers = element.findall("answer")
        if q.kind == "single":
            assert element.findtext("single") == "true"
            assert [a.get("fraction") for a in answers].count("100") == 1
        elif q.kind == "multiple":
            assert element.findtext("single") == "false"
            positive = [float(a.get("fraction")) for a in answers if float(a.get("fraction")) > 0]
            assert len(positive) == len(q.accepted) and abs(sum(positive) - 100) < 0.01
        elif q.kind == "numeric":
            r = render(q, 0)
            assert float(answers[0].findtext("text")) == pytest.approx(r.value)
            assert float(answers[0].findtext("tolerance")) == q.tolerance
        else:
            assert {a.findtext("text") for a in answers} == set(q.accepted)
    # Parametrised questions may be exported as several rendered variants.
    variants = export(bank, "moodle-xml", out, variants=3)
    parametrised = sum(q.parametrised for q in bank.questions())
    assert variants == len(bank.questions()) + 2 * parametrised
    names = [q.findtext("name/text") for q in ET.parse(out).getroot().iter("question")]
    assert "02-conv-params (variant 3)" in names


# A small parser for Moodle's GIFT format: comments, $CATEGORY, ::title::, [markup], answers in
# {...} with =right ~wrong ~%fraction%, #number:tolerance and ####general feedback.
_ESCAPED = re.compile(r"\\(.)")


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\":
            current += text[i : i + 2]
            i += 2
        elif text.startswith(separator, i):
            parts.append(current)
            current, i = "", i + len(separator)
        else:
            current += text[i]
            i += 1
    return parts + [current]


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text).strip()


def parse_gift(source: str) -> list[dict]:
    questions = []
    blocks = re.split(r"\n\s*\n", source)
    for block in blocks:
        lines = [line for line in block.splitlines() if not line.strip().startswith("//")]
        block = "\n".join(lines).strip()
        if not block or block.startswith("$CATEGORY:"):
            continue
        _, title, rest = _split_unescaped(block, "::")
        markup, _, rest = rest.partition("]")
        assert markup == "[plain"
        text, body = _split_unescaped(rest, "{")
        body, tail = _split_unescaped(body, "}")
        assert tail.strip() == "", block
        body, feedback = _split_unescaped(body, "####")
        body = body.strip()
        q = {"title": _unescape(title), "text": _unescape(text), "feedback": _unescape(feedback)}
        if body.startswith("#"):
            value, tolerance = body[1:].split(":")
            q |= {"type": "numerical", "value": float(value), "tolerance": float(tolerance)}
        else:
            answers = re.findall(r"([=~])((?:\\.|[^\\=~])*)", body)
            parsed = []
            for sign, raw in answers:
                fraction = re.match(r"%(-?[\d.]+)%", raw)
                answer = _unescape(raw[fraction.end() :] if fraction else raw)
                weight = float(fraction.group(1)) if fraction else (100.0 if sign == "=" else 0.0)
                parsed.append((answer, weight))
            if all(sign == "=" for sign, _ in answers):
                q["type"] = "shortanswer"
            elif any(weight not in (0, 100) for _, weight in parsed):
                q["type"] = "multichoice-multiple"
            else:
                q["type"] = "multichoice"
            q["answers"] = parsed
        questions.append(q)
    return questions


def test_gift_parses_back_to_the_bank(bank, tmp_path):
    out = tmp_path / "bank.gift.txt"
    assert export(bank, "gift", out) == len(bank.questions())
    parsed = {q["title"]: q for q in parse_gift(out.read_text(encoding="utf-8"))}
    assert len(parsed) == len(bank.questions())
    expected_type = {"single": "multichoice", "multiple": "multichoice-multiple"}
    expected_type |= {"numeric": "numerical", "text": "shortanswer"}
    for q in bank.questions():
        r, p = render(q, 0, shuffle=True), parsed[q.id]
        assert p["type"] == expected_type[q.kind], q.id
        assert p["text"] == r.text.strip() and p["feedback"] == r.explanation.strip(), q.id
        if q.kind == "numeric":
            assert p["value"] == pytest.approx(r.value) and p["tolerance"] == q.tolerance
        else:
            right = [a for a, weight in p["answers"] if weight > 0]
            assert sorted(right) == sorted(q.accepted), q.id
        if q.kind in ("single", "multiple"):
            assert [a for a, _ in p["answers"]] == list(r.choices), q.id
            assert sorted(r.choices) == sorted(q.choices), q.id


def test_gift_with_pygiftparser(bank, tmp_path):
    parser = pytest.importorskip("pygiftparser.parser", reason="pygiftparser is not installed")
    out = tmp_path / "bank.gift.txt"
    export(bank, "gift", out)
    with out.open(encoding="utf-8") as handle:
        questions = parser.parseFile(handle)
    assert len(questions) == len(bank.questions())
    kinds = Counter(type(q.answers).__name__ for q in questions)
    assert kinds["NumericAnswerSet"] == sum(q.kind == "numeric" for q in bank.questions())
    assert kinds["ShortSet"] == sum(q.kind == "text" for q in bank.questions())
    # pygiftparser 1.1 rejects negative numbers, which Moodle's GIFT accepts.
    invalid = [q.title for q in questions if not q.valid and "{#-" not in q.source]
    assert invalid == []


def test_gift_escapes_special_characters():
    assert gift_escape("a=b ~c #d {e} f:g \\ h\nnext") == (
        "a\\=b \\~c \\#d \\{e\\} f\\:g \\\\ h\\nnext"
    )
    assert _unescape(gift_escape("x: {y} = ~z\nw")) == "x: {y} = ~z\nw"


def test_anki_package_has_one_note_per_question(bank, tmp_path):
    out = tmp_path / "bank.apkg"
    assert export(bank, "anki", out) == len(bank.questions())
    with zipfile.ZipFile(out) as package:
        name = next(n for n in package.namelist() if n in ("collection.anki21", "collection.anki2"))
        package.extract(name, tmp_path)
    conn = sqlite3.connect(tmp_path / name)
    try:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == len(bank.questions())
        assert conn.execute("SELECT count(*) FROM cards").fetchone()[0] == len(bank.questions())
        assert {row[0] for row in conn.execute("SELECT mid FROM notes")} == {ANKI_MODEL_ID}
        decks = {row[0] for row in conn.execute("SELECT did FROM cards")}
        assert decks == {ANKI_DECK_BASE + int(n) for n in bank.lectures}
        fields = [row[0].split("\x1f") for row in conn.execute("SELECT flds FROM notes")]
        assert {f[0] for f in fields} == {q.id for q in bank.questions()}
    finally:
        conn.close()
    again = tmp_path / "again.apkg"
    export(bank, "anki", again)
    with zipfile.ZipFile(out) as first, zipfile.ZipFile(again) as second:
        assert first.namelist() == second.namelist()


def _moodle_text(text):
    return html.unescape(re.sub(r"</?p>", "", text))


def _moodle_choices(path):
    root = ET.parse(path).getroot()
    out = {}
    for q in root.iter("question"):
        if q.get("type") == "multichoice":
            texts = [a.findtext("text") for a in q.findall("answer")]
            out[q.findtext("name/text")] = [_moodle_text(t) for t in texts]
    return out


def _gift_choices(path):
    parsed = parse_gift(path.read_text(encoding="utf-8"))
    return {q["title"]: [a for a, _ in q["answers"]] for q in parsed if "multichoice" in q["type"]}


def _anki_choices(path, tmp_path):
    with zipfile.ZipFile(path) as package:
        name = next(n for n in package.namelist() if n in ("collection.anki21", "collection.anki2"))
        package.extract(name, tmp_path / "anki")
    conn = sqlite3.connect(tmp_path / "anki" / name)
    try:
        notes = [row[0].split("\x1f") for row in conn.execute("SELECT flds FROM notes")]
    finally:
        conn.close()
    return {
        html.unescape(f[0]): [html.unescape(c) for c in re.findall(r"<li>(.*?)</li>", f[1])]
        for f in notes
        if "<li>" in f[1]
    }


def test_every_export_shuffles_the_choices_the_same_way(bank, tmp_path):
    expected = {
        q.id: [q.choices[i] for i in choice_order(q)]
        for q in bank.questions()
        if q.kind in ("single", "multiple")
    }
    for fmt, name in (("moodle-xml", "bank.xml"), ("gift", "bank.gift.txt"), ("anki", "b.apkg")):
        export(bank, fmt, tmp_path / name)
    assert _moodle_choices(tmp_path / "bank.xml") == expected
    assert _gift_choices(tmp_path / "bank.gift.txt") == expected
    assert _anki_choices(tmp_path / "b.apkg", tmp_path) == expected
    # The order depends on the question id only, not on the seed of the export.
    export(bank, "gift", tmp_path / "seeded.gift.txt", seed=5)
    assert _gift_choices(tmp_path / "seeded.gift.txt") == expected
    # The YAML keeps its authored order (the keyed answer first); the exports move it around.
    singles = [q for q in bank.questions() if q.kind == "single"]
    assert all(q.choices[0] == q.answer for q in singles)
    first = [expected[q.id][0] == q.answer for q in singles]
    assert sum(first) < len(singles) / 2, f"{sum(first)} of {len(singles)} keyed answers first"
    positions = Counter(expected[q.id].index(q.answer) for q in singles if len(q.choices) == 4)
    assert set(positions) == {0, 1, 2, 3}, positions


def test_exported_key_follows_the_shuffled_choices(bank, tmp_path):
    """The grade fractions and the Anki answer name the keyed choices after shuffling."""
    export(bank, "moodle-xml", tmp_path / "bank.xml")
    root = ET.parse(tmp_path / "bank.xml").getroot()
    by_name = {q.findtext("name/text"): q for q in root.iter("question")}
    for q in bank.questions():
        if q.kind not in ("single", "multiple"):
            continue
        answers = by_name[q.id].findall("answer")
        right = {_moodle_text(a.findtext("text")) for a in answers if float(a.get("fraction")) > 0}
        assert right == set(q.accepted), q.id
