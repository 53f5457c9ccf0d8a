"""Similar submissions: ``camp similarity SUBMISSIONS --lecture NN --out report/``.

Course operations, introduced with Lecture 05's class competition. Each student's graded
regions (the functions that hold a ``# YOUR CODE HERE`` stub in the released exercise, taken
from the student's file by name; the whole file when it does not parse) are fingerprinted and
every pair of students is compared. The released exercise is the distribution code: no passage
of it counts, so the starter text, signatures and docstrings never make two students alike. A
passage found in more than ``common`` submissions is ignored too, as MOSS's ``-m`` does: the
one obvious way to write a short function is not evidence. The result only flags pairs for a
person to read; it never changes a grade.

Why copydetect, not compare50: both fingerprint code by winnowing (as MOSS) and both take
distribution code, but compare50 1.2.15 pins ``attrs<21`` and ``termcolor<2`` (pip would
downgrade the ``attrs`` that ``jsonschema`` and nbgrader's Jupyter stack need) and pulls in
lib50's network and ssh stack; copydetect needs only numpy, pygments, jinja2, matplotlib and
tqdm, and exposes the fingerprint and compare steps as functions. We use its tokenizer,
fingerprints, comparison and highlighting, with three deliberate choices: every k-gram is kept
(window 1), so the result does not depend on Python's per-process string hashing; distribution
and common passages are removed by set difference (copydetect 0.5.0 removes boilerplate with
``np.intersect1d(..., assume_unique=True)`` over k-grams that repeat, which can drop the wrong
ones); and the report is our own self-contained page (copydetect's loads Bootstrap from a CDN).
"""

from __future__ import annotations

import ast
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.classroom import list_students
from course_lib.paths import project_root
from course_lib.regions import lecture_files
from course_lib.student.submission import SubmissionError, choose_lecture_file, notebook_to_python

NOISE_CHARS = 25  # copydetect's default noise threshold: matches shorter than this never count.
STUB_MARK = "# YOUR CODE HERE"


@dataclass
class Work:
    """One student's graded text for a lecture."""

    student: str
    file: Path
    text: str
    scope: str  # "graded functions" or why the whole file is used


@dataclass
class Pair:
    """Two students' overlap: the share of each one's fingerprinted code found in the other's."""

    a: Work
    b: Work
    similarity_a: float
    similarity_b: float
    shared_tokens: int
    slices_a: object  # 2xN arrays of copied (start, end) offsets into a.text and b.text
    slices_b: object

    @property
    def score(self) -> float:
        return max(self.similarity_a, self.similarity_b)


def exercise_file(lecture: str) -> Path:
    """The released exercise of ``lecture`` (its distribution code)."""
    for path in lecture_files(project_root() / "exercises"):
        if path.name.startswith(f"{lecture}_"):
            return path
    raise CourseError(f"No released exercise for lecture {lecture} in exercises/.")


def _functions(tree: ast.AST) -> dict[str, ast.AST]:
    """Every function and method of a module by dotted name (``Class.method``)."""
    found: dict[str, ast.AST] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.setdefault(name, child)
                visit(child, f"{name}.")

    visit(tree, "")
    return found


def graded_names(exercise: str) -> list[str]:
    """Dotted names of the exercise's functions that hold a stub, innermost only, in order."""
    lines = exercise.splitlines()
    stubs = [n for n, line in enumerate(lines, start=1) if line.strip() == STUB_MARK]
    spans = {
        name: (node.lineno, node.end_lineno)
        for name, node in _functions(ast.parse(exercise)).items()
    }
    names = []
    for line in stubs:
        holding = [n for n, (lo, hi) in spans.items() if lo <= line <= hi]
        if holding:
            innermost = max(holding, key=lambda n: spans[n][0])
            if innermost not in names:
                names.append(innermost)
    return names


def graded_text(source: str, names: list[str]) -> tuple[str, str]:
    """The student's source of the graded functions, and what was taken."""
    try:
        found = _functions(ast.parse(source))
    except (SyntaxError, ValueError):
        return source, "whole file (it does not parse)"
    parts = [ast.get_source_segment(source, found[n]) for n in names if n in found]
    if not any(parts):
        return source, "whole file (no graded function found)"
    return "\n\n".join(p for p in parts if p) + "\n", "graded functions"


def collect(submissions: Path, lecture: str) -> tuple[list[Work], list[tuple[str, str]]]:
    """Every student's graded text for ``lecture``, and the students skipped with the reason."""
    names = graded_names(exercise_file(lecture).read_text(encoding="utf-8"))
    works, skipped = [], []
    for folder in list_students(submissions):
        try:
            path = choose_lecture_file(folder, lecture)[0]
            if path.suffix == ".ipynb":
                source = notebook_to_python(path)
            else:
                source = path.read_text(encoding="utf-8")
        except SubmissionError as error:
            skipped.append((folder.name, str(error)))
            continue
        except (OSError, UnicodeDecodeError) as error:
            skipped.append((folder.name, f"{path.name} is not readable UTF-8 text ({error})"))
            continue
        text, scope = graded_text(source, names)
        works.append(Work(folder.name, path, text, scope))
    return works, skipped


def _fingerprint(name: str, text: str, k: int, removed: set):
    """copydetect's fingerprint of ``text`` with every k-gram kept, minus ``removed`` hashes."""
    from copydetect import CodeFingerprint
    from copydetect.utils import get_token_coverage

    fingerprint = CodeFingerprint(name, k, 1, None, True, "python", fp=io.StringIO(text))
    for value in removed & fingerprint.hashes:
        del fingerprint.hash_idx[value]
    fingerprint.hashes = set(fingerprint.hash_idx)
    fingerprint.token_coverage = get_token_coverage(
        fingerprint.hash_idx, k, len(fingerprint.filtered_code)
    )
    return fingerprint


def rank_pairs(
    works: list[Work], distribution: str, common: int = 10, k: int = NOISE_CHARS
) -> list[Pair]:
    """Every pair with shared code, most similar first (ties: more shared tokens, then names).

    Args:
        distribution: the released exercise's text; none of its passages count.
        common: a passage found in more than this many submissions is ignored.
    """
    from copydetect import compare_files

    if len(works) < 2:
        raise CourseError(
            f"Similarity needs at least two submissions of the lecture; found {len(works)}."
        )
    # The exercise's graded functions are cut and joined exactly as a student's are, so the
    # passages that span two untouched functions count as distribution code too.
    joined = graded_text(distribution, graded_names(distribution))[0]
    starter = _fingerprint("exercise.py", distribution, k, set()).hashes
    starter |= _fingerprint("exercise.py", joined, k, set()).hashes
    first = [_fingerprint(w.student, w.text, k, starter) for w in works]
    counts = Counter(value for fingerprint in first for value in fingerprint.hashes)
    removed = starter | {value for value, count in counts.items() if count > common}
    prints = [_fingerprint(w.student, w.text, k, removed) for w in works]
    pairs = []
    for i in range(len(works)):
        for j in range(i + 1, len(works)):
            shared, (sim_a, sim_b), slices = compare_files(prints[i], prints[j])
            if shared > 0:
                pairs.append(
                    Pair(works[i], works[j], float(sim_a), float(sim_b), int(shared), *slices)
                )
    pairs.sort(key=lambda p: (-round(p.score, 6), -p.shared_tokens, p.a.student, p.b.student))
    return pairs
