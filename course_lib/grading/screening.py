"""Screening: a second signal for human review (introduced with Lecture 01's grader).

The sandbox already keeps student code from touching the judge; screening flags submissions that
*tried*, so an instructor can look. Nothing here changes a grade. The source is parsed with
``ast`` (never run) and these are flagged: importing pytest, ``_pytest`` or the course's grading
internals; ``gc.get_objects``, ``sys._getframe``, ``sys.settrace``/``setprofile``; ``ctypes``,
``socket``, ``atexit``, ``signal``, ``subprocess``; ``os.kill``/``killpg``/``fork``/``_exit``; and
an ``__eq__`` that returns a constant (an object that claims to equal everything).
"""

from __future__ import annotations

import ast
from pathlib import Path

MAX_SCREENED_BYTES = 2_000_000  # Larger files are flagged for review instead of parsed.
FLAGGED_MODULES = {
    "pytest": "imports pytest",
    "_pytest": "imports _pytest",
    "course_lib.grading": "imports the grading engine",
    "ctypes": "imports ctypes",
    "socket": "imports socket",
    "atexit": "imports atexit",
    "signal": "imports signal",
    "subprocess": "imports subprocess",
}
FLAGGED_CALLS = {
    ("gc", "get_objects"): "gc.get_objects",
    ("gc", "get_referrers"): "gc.get_referrers",
    ("sys", "_getframe"): "sys._getframe",
    ("sys", "settrace"): "sys.settrace",
    ("sys", "setprofile"): "sys.setprofile",
    ("os", "kill"): "os.kill",
    ("os", "killpg"): "os.killpg",
    ("os", "fork"): "os.fork",
    ("os", "_exit"): "os._exit",
    ("os", "system"): "os.system",
}


def _module_flag(name: str) -> str | None:
    for module, flag in FLAGGED_MODULES.items():
        if name == module or name.startswith(module + "."):
            return flag
    return None


def _constant_eq(node: ast.FunctionDef) -> bool:
    body = [
        n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Constant)
    )


def screen_source(source: str) -> list[str]:
    """Return the sorted, distinct flags of one submission's source (empty when clean)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    flags = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            flags.update(f for alias in node.names if (f := _module_flag(alias.name)))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if flag := _module_flag(node.module):
                flags.add(flag)
            for alias in node.names:
                if flag := FLAGGED_CALLS.get((node.module, alias.name)):
                    flags.add(flag)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if flag := FLAGGED_CALLS.get((node.value.id, node.attr)):
                flags.add(flag)
        elif isinstance(node, ast.FunctionDef) and node.name == "__eq__" and _constant_eq(node):
            flags.add("__eq__ returns a constant")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            argument = node.args[0] if node.args else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                if flag := _module_flag(argument.value):
                    flags.add(flag)
    return sorted(flags)


def screen_file(path: Path) -> list[str]:
    """Flags of a ``.py`` or ``.ipynb`` submission; unreadable files give no flags."""
    try:
        if path.stat().st_size > MAX_SCREENED_BYTES:
            return [f"not screened: larger than {MAX_SCREENED_BYTES // 1_000_000} MB"]
        if path.suffix == ".ipynb":
            from course_lib.student.submission import notebook_to_python

            return screen_source(notebook_to_python(path))
        return screen_source(path.read_text(encoding="utf-8", errors="replace"))
    except Exception:  # A malformed file is graded (and reported) elsewhere.
        return []
