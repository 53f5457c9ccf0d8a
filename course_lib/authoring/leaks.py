"""Find the text of the exercises' answers in a folder (introduced with ``camp release``).

A graded region (``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in ``solutions/NN_topic.py``) is
cut into *fragments*: two consecutive meaningful lines (at least two words each, so blank lines,
``pass``, ``)`` or ``else:`` never count), or the one meaningful line of a one-line region. A
fragment found in a file, after whitespace is normalised, is a leak. Pairs rather than single
lines, because single lines such as ``return rows`` or ``with tf.GradientTape() as tape:`` are
everywhere; two consecutive lines of an answer are not. Fragments that the course publishes on
purpose are not secret: lines an exercise gives outside its graded regions, the public tests'
own reference code, and released solutions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from course_lib.authoring.generate import strip_solutions
from course_lib.regions import BEGIN, END, lecture_files

_WORD = re.compile(r"\w+")


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


def secret_fragments(root: Path, released: set[str]) -> dict[tuple[str, ...], str]:
    """Map each fragment of an unreleased graded region to its lecture.

    Fragments the course publishes anyway are left out: lines given in an exercise outside its
    graded regions (``config = super().get_config()``), the public tests' own reference code, and
    the released solutions.
    """
    public: set[tuple[str, ...]] = set()
    for solution in lecture_files(root / "solutions"):
        text = solution.read_text(encoding="utf-8")
        shown = text if solution.name[:2] in released else strip_solutions(text, str(solution))
        public |= _all_fragments(_meaningful(shown.splitlines()))
    for test in sorted((root / "tests" / "autograder").glob("*.py")):
        public |= _all_fragments(_meaningful(test.read_text(encoding="utf-8").splitlines()))
    secret = {}
    for solution in lecture_files(root / "solutions"):
        if solution.name[:2] not in released:
            for region in graded_regions(solution):
                secret |= dict.fromkeys(_fragments(region) - public, solution.name[:2])
    return secret


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
