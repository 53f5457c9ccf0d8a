"""Find the text of the exercises' answers in a folder (introduced with ``camp release``).

A graded region (``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in ``solutions/NN_topic.py``) is
cut into *fragments*: two consecutive meaningful lines (at least two words each, so blank lines,
``pass``, ``)`` or ``else:`` never count), or the one meaningful line of a one-line region. A
fragment found in a file, after whitespace is normalised, is a leak. Pairs rather than single
lines, because single lines such as ``return rows`` or ``with tf.GradientTape() as tape:`` are
everywhere; two consecutive lines of an answer are not. Fragments that the course publishes on
purpose are not secret: lines an exercise gives outside its graded regions, the public tests'
own code, and released solutions.

The instructor's reference implementations (``tests/hidden/references_NN.py``, every function
but the ``expected*`` generators) are secret the same way, whatever lecture is released: a
public test or a notebook that carries two consecutive lines of one is a leak. So is a hint: the
``hint=`` of ``@pytest.mark.points`` and the messages of ``pytest.fail`` in a shipped test file
may not contain an expression of an unreleased graded region or of a reference (a call,
arithmetic, indexing or a comprehension of at least ``MIN_EXPRESSION`` characters, compared
without spaces; conditions are left out, they restate the docstrings' rules) that the exercises
do not show: a hint names the mistake, never the answer (``hint_leaks``).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import textwrap
from pathlib import Path

from course_lib.authoring.generate import strip_solutions
from course_lib.grading.expected import hidden_dir
from course_lib.regions import BEGIN, END, lecture_files

_WORD = re.compile(r"\w+")
MIN_EXPRESSION = 14  # Characters (spaces removed) of the shortest expression a hint may not hold.


def _norm(line: str) -> str:
    return " ".join(line.split())


def _meaningful(lines) -> list[str]:
    """Normalised lines with at least two words (no blank lines, ``pass``, ``)``, ``else:``)."""
    return [n for n in map(_norm, lines) if len(_WORD.findall(n)) >= 2]


def _fragments(lines: list[str]) -> set[tuple[str, ...]]:
    """Two consecutive meaningful lines; a region of one meaningful line is that line alone."""
    return {tuple(lines)} if len(lines) == 1 else set(zip(lines, lines[1:], strict=False))


def _all_fragments(lines: list[str]) -> set[tuple[str, ...]]:
    return {(line,) for line in lines} | set(zip(lines, lines[1:], strict=False))


def graded_regions(solution: Path) -> list[list[str]]:
    """Return the meaningful lines of each ``### BEGIN/END SOLUTION`` region of a lecture file."""
    regions, current = [], None
    for line in solution.read_text(encoding="utf-8").splitlines():
        if line.strip() == BEGIN:
            current = []
        elif line.strip() == END:
            regions.append(_meaningful(current or []))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def reference_functions(root: Path) -> list[tuple[str, str, list[str]]]:
    """``(lecture, name, lines)`` of each reference implementation in ``tests/hidden``.

    Every top-level function and class of ``references_NN.py`` but the ``expected*``
    generators, which only run references on the public tests' inputs; docstrings left out.
    """
    hidden = hidden_dir(root)
    found = []
    for path in sorted(hidden.glob("references_*.py")) if hidden else []:
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.parse(source, filename=str(path)).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("expected"):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body:
                found.append(
                    (path.stem[-2:], node.name, lines[body[0].lineno - 1 : node.end_lineno])
                )
    return found


def _exercise_text(root: Path, released: set[str]) -> list[str]:
    """The text of every lecture as students get it (released solutions whole)."""
    texts = []
    for solution in lecture_files(root / "solutions"):
        text = solution.read_text(encoding="utf-8")
        texts.append(
            text if solution.name[:2] in released else strip_solutions(text, str(solution))
        )
    return texts


def secret_fragments(root: Path, released: set[str]) -> dict[tuple[str, ...], str]:
    """Map each fragment of an unreleased graded region, or of a reference, to its lecture.

    Fragments the course publishes anyway are left out: lines given in an exercise outside its
    graded regions (``config = super().get_config()``), the public tests' own code (for graded
    regions), and the released solutions. A reference's two consecutive meaningful lines are
    secret unless an exercise shows them: public tests must not hold them.
    """
    shown: set[tuple[str, ...]] = set()
    for text in _exercise_text(root, released):
        shown |= _all_fragments(_meaningful(text.splitlines()))
    public = set(shown)
    for test in sorted((root / "tests" / "autograder").glob("*.py")):
        public |= _all_fragments(_meaningful(test.read_text(encoding="utf-8").splitlines()))
    secret = {}
    for solution in lecture_files(root / "solutions"):
        if solution.name[:2] not in released:
            for region in graded_regions(solution):
                secret |= dict.fromkeys(_fragments(region) - public, solution.name[:2])
    for lecture, name, lines in reference_functions(root):
        label = f"{lecture}, reference {name} of tests/hidden"
        meaningful = _meaningful(lines)  # Pairs only: one-line helpers are everywhere.
        secret |= dict.fromkeys(set(itertools.pairwise(meaningful)) - shown, label)
    return secret


def _squeeze(text: str) -> str:
    """Code or prose without spaces, quotes unified and ``0.0`` written ``0``."""
    return re.sub(r"(\d)\.0\b", r"\1", re.sub(r"\s+", "", text).replace("'", '"'))


def _expressions(lines: list[str]) -> set[str]:
    """The expressions (calls, arithmetic, indexing, comprehensions) of some code, squeezed."""
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return set()
    kinds = (ast.Call, ast.BinOp, ast.Subscript, ast.ListComp, ast.DictComp)
    kinds += (ast.GeneratorExp, ast.Lambda, ast.UnaryOp)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            text = _squeeze(ast.unparse(node))
            if len(text) >= MIN_EXPRESSION:
                found.add(text)
    return found


def secret_expressions(root: Path, released: set[str]) -> dict[str, str]:
    """Expressions of unreleased graded regions and references that no exercise shows."""
    shown = _squeeze("\n".join(_exercise_text(root, released)))
    secret = {}
    for solution in lecture_files(root / "solutions"):
        if solution.name[:2] not in released:
            text = solution.read_text(encoding="utf-8").splitlines()
            inside, region = False, []
            for line in text:
                if line.strip() in (BEGIN, END):
                    if inside:
                        secret |= dict.fromkeys(_expressions(region), solution.name[:2])
                    inside, region = not inside, []
                elif inside:
                    region.append(line)
    for lecture, name, lines in reference_functions(root):
        secret |= dict.fromkeys(_expressions(lines), f"{lecture}, reference {name}")
    return {text: where for text, where in secret.items() if text not in shown}


def _messages(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of each hint and ``pytest.fail`` message of a test file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        values = [k.value for k in node.keywords if name == "points" and k.arg == "hint"]
        values += node.args[:1] if name == "fail" else []
        for value in values:
            parts = [n.value for n in ast.walk(value) if isinstance(n, ast.Constant)]
            found.append((node.lineno, "".join(p for p in parts if isinstance(p, str))))
    return found


def hint_leaks(folder: Path, secret: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(file:line, lecture, expression)`` for each hint or failure message under ``folder``
    (its test files) that holds a secret expression."""
    leaks = []
    for path in sorted(folder.rglob("test_*.py")):
        for line, text in _messages(path):
            squeezed = _squeeze(text)
            for expression, where in secret.items():
                if expression in squeezed:
                    leaks.append((f"{path.relative_to(folder)}:{line}", where, expression))
    return sorted(set(leaks))


def _text_blocks(path: Path) -> list[list[str]]:
    """The lines of a file, or of each cell (source and text outputs) of a notebook."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # Images, weights: no source text.
    if path.suffix != ".ipynb":
        return [text.splitlines()]
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return [text.splitlines()]
    blocks = []
    for cell in cells:
        parts = [cell.get("source", "")]
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), output.get("data", {}).get("text/plain", "")]
        blocks += ["".join(p) if isinstance(p, list) else str(p) for p in parts]
    return [block.splitlines() for block in blocks]


def find_leaks(folder: Path, secret: dict[tuple[str, ...], str]) -> list[tuple[str, str, str]]:
    """Return ``(file, lecture, first line)`` for each secret fragment found under ``folder``."""
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        for block in _text_blocks(path):
            for fragment in _all_fragments(_meaningful(block)) & secret.keys():
                leaks.append((str(path.relative_to(folder)), secret[fragment], fragment[0]))
    return sorted(set(leaks))
