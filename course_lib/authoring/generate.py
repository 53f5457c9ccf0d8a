"""Turn reference solutions into student exercises (introduced with Lecture 01).

A graded region is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION``; as nbgrader does, it
becomes ``# YOUR CODE HERE`` and a ``raise NotImplementedError(...)`` at the fence's indentation,
whose message names the enclosing function and what to do (``"softmax: fill in the region marked
YOUR CODE HERE"``), so a traceback or a check cell can say which piece is missing. We do this
ourselves instead of calling nbgrader's ClearSolutions preprocessor because the source of truth
is a ``.py`` file, not a notebook, and the exercise must stay an importable module.
"""

from __future__ import annotations

import ast
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.regions import BEGIN, END, lecture_files, stub


def _enclosing_names(source: str, filename: str) -> dict[int, str]:
    """Map each line inside a function to its dotted name (``Class.method``), innermost wins."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CourseError(
            f"{filename}:{error.lineno}: not valid Python ({error.msg}); fix the solution file."
        ) from None
    names: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    names.update(dict.fromkeys(range(child.lineno, child.end_lineno + 1), name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def strip_solutions(source: str, filename: str = "<source>") -> str:
    """Return ``source`` with every solution region replaced by the exercise stub.

    Args:
        source: a lecture file's text.
        filename: named in error messages.

    Returns:
        The exercise text. Raises CourseError for unbalanced or nested fences.
    """
    names = _enclosing_names(source, filename)
    output: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside_since is not None:
                raise CourseError(
                    f"{filename}:{number}: nested {BEGIN} (the one on line {inside_since} is open)."
                )
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            output.append(stub(names.get(number), indent))
        elif stripped == END:
            if inside_since is None:
                raise CourseError(f"{filename}:{number}: {END} without a {BEGIN} before it.")
            inside_since = None
        elif inside_since is None:
            output.append(line)
    if inside_since is not None:
        raise CourseError(f"{filename}:{inside_since}: {BEGIN} is never closed by {END}.")
    return "".join(output)


def generate(solutions: Path, exercises: Path, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) ``exercises/NN_topic.py`` for each solution file.

    Returns:
        The exercise files that were written, or with ``check`` the ones out of sync.
    """
    changed = []
    exercises.mkdir(parents=True, exist_ok=True)
    for solution in lecture_files(solutions):
        target = exercises / solution.name
        text = strip_solutions(solution.read_text(encoding="utf-8"), str(solution))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        changed.append(target)
        if not check:
            target.write_text(text, encoding="utf-8")
    if not check:
        return changed
    expected = {p.name for p in lecture_files(solutions)}
    changed += [p for p in lecture_files(exercises) if p.name not in expected]
    return changed


def partly_solved(source: str, keep: int) -> str:
    """A solution file with its first ``keep`` graded regions solved and the rest stubbed.

    What a student half-way through looks like: the grader's class, determinism and shard tests
    use it.
    """
    lines, seen, out = source.splitlines(keepends=True), 0, []
    for line in lines:
        if line.strip() in (BEGIN, END) and seen < keep * 2:
            seen += 1
            continue
        out.append(line)
    return strip_solutions("".join(out))
