"""Screening: a second signal for human review (introduced with Lecture 01's grader).

The sandbox already keeps student code from touching the judge; screening flags submissions that
*tried*, so an instructor can look. Nothing here changes a grade. The source is parsed with
``ast`` (never run) and these are flagged: importing pytest, ``_pytest`` or the course's grading
internals; ``gc.get_objects``, ``sys._getframe``, ``sys.settrace``/``setprofile``; ``ctypes``,
``socket``, ``atexit``, ``signal``, ``subprocess``; ``os.kill``/``killpg``/``fork``/``_exit``; and
an ``__eq__`` that returns a constant (an object that claims to equal everything).

Names are followed through aliases (``import os as o; o.fork()``, ``f = os.fork``,
``from os import fork as spawn``) and through ``getattr(gc, "get_objects")``, ``sys.modules["x"]``,
``__import__("x")`` and ``importlib.import_module("x")`` with a constant name. What cannot be read
without running the code is flagged as such: a module imported under a computed name, an
attribute of a watched module (``gc``, ``sys``, ``os``, ``builtins``, ``importlib``...) read under
a computed name or through its ``__dict__``/``vars()``, other uses of ``sys.modules`` than the
module's own entry (``sys.modules[__name__]``), ``__builtins__``, and ``exec``/``eval``.
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
WATCHED = {module for module, _ in FLAGGED_CALLS} | {"builtins", "importlib", *FLAGGED_MODULES}
IMPORTERS = {
    ("importlib", "import_module"),
    ("importlib", "__import__"),
    ("builtins", "__import__"),
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


def _text(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Screen:
    """One pass over a module: ``aliases`` maps local names to what they stand for."""

    def __init__(self):
        self.flags: set[str] = set()
        self.aliases: dict[str, str] = {}  # "o" -> "os", "spawn" -> "os.fork"

    def resolve(self, node) -> str | None:
        """The dotted name an expression stands for (``o.fork`` -> ``os.fork``), if known."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr":
            base = self.resolve(node.args[0]) if node.args else None
            name = _text(node.args[1]) if len(node.args) > 1 else None
            return f"{base}.{name}" if base and name else None
        if isinstance(node, ast.Subscript) and self.resolve(node.value) == "sys.modules":
            return _text(node.slice)
        return None

    def name(self, dotted: str | None) -> None:
        """Flag what a resolved name reaches."""
        if not dotted:
            return
        if flag := _module_flag(dotted):
            self.flags.add(flag)
        module, _, attribute = dotted.rpartition(".")
        if flag := FLAGGED_CALLS.get((module, attribute)):
            self.flags.add(flag)

    def imported(self, node) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.name(alias.name)
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    self.aliases.setdefault(alias.name.split(".")[0], alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            self.name(node.module)
            for alias in node.names:
                self.name(f"{node.module}.{alias.name}")
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def call(self, node: ast.Call) -> None:
        function = self.resolve(node.func)
        first = node.args[0] if node.args else None
        if function in ("exec", "eval", "builtins.exec", "builtins.eval"):
            self.flags.add(f"calls {function.rpartition('.')[2]}")
        if function in ("__import__", "builtins.__import__") or (
            tuple(str(function).rsplit(".", 1)) in IMPORTERS
        ):
            if _text(first) is None:
                self.flags.add("computed import")
            self.name(_text(first))
        if function in ("getattr", "setattr", "delattr", "vars") and first is not None:
            base = self.resolve(first)
            name = _text(node.args[1]) if len(node.args) > 1 else None
            if base in WATCHED and name is None:
                self.flags.add(f"computed attribute of {base}")
            elif base and name:
                self.name(f"{base}.{name}")

    def visit(self, tree: ast.AST) -> None:
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.imported(node)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], self.resolve(node.value)
                if isinstance(target, ast.Name) and value and value.split(".")[0] in WATCHED:
                    self.aliases[target.id] = value
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                self.attribute(node, parents.get(node))
            elif isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, ast.Subscript):  # sys.modules["name"]
                self.name(self.resolve(node))
            elif isinstance(node, ast.Name) and node.id == "__builtins__":
                self.flags.add("reads __builtins__")
            elif isinstance(node, ast.FunctionDef) and node.name == "__eq__" and _constant_eq(node):
                self.flags.add("__eq__ returns a constant")

    def attribute(self, node: ast.Attribute, parent) -> None:
        dotted = self.resolve(node)
        self.name(dotted)
        base = self.resolve(node.value)
        if node.attr == "__dict__" and base in WATCHED:
            self.flags.add(f"computed attribute of {base}")
        if dotted == "sys.modules":  # Only the module's own entry, sys.modules[__name__], is usual.
            key = parent.slice if isinstance(parent, ast.Subscript) else None
            if key is None or (_text(key) is None and getattr(key, "id", "") != "__name__"):
                self.flags.add("reads sys.modules")


def screen_source(source: str) -> list[str]:
    """Return the sorted, distinct flags of one submission's source (empty when clean)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    screen = _Screen()
    screen.visit(tree)
    return sorted(screen.flags)


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
