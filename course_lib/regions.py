"""The graded-region format shared by every wing (introduced with Lecture 01).

A graded region of a solution is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION``; in the
exercise it becomes ``# YOUR CODE HERE`` and a ``raise NotImplementedError("name: ...")`` at the
fence's indentation (``stub``). Lecture files are named ``NN_topic.py``. Authoring writes this
format, grading and the student side read it: this module sits below them all and imports none.
"""

from __future__ import annotations

import re
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
LECTURE_FILE = re.compile(r"^(\d\d)_[a-z0-9_]+\.py$")
STUB_INSTRUCTION = "fill in the region marked YOUR CODE HERE"
LINE_LENGTH = 100  # ruff's line length for this project (pyproject.toml).


def stub(name: str | None, indent: str = "") -> str:
    """The lines that replace a solution region inside function ``name``, formatted as ruff does."""
    message = f"{name}: {STUB_INSTRUCTION}" if name else STUB_INSTRUCTION
    line = f'{indent}raise NotImplementedError("{message}")\n'
    if len(line) <= LINE_LENGTH + 1:
        return f"{indent}# YOUR CODE HERE\n{line}"
    return (
        f'{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError(\n{indent}    "{message}"\n'
        f"{indent})\n"
    )


def lecture_files(folder: Path) -> list[Path]:
    """Return the lecture files ``NN_topic.py`` of ``folder``, in lecture order."""
    return sorted(p for p in folder.glob("*.py") if LECTURE_FILE.match(p.name))
