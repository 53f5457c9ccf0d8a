"""Find and import a student's lecture module (introduced with Lecture 01).

A submission is a lecture file (``01_nn_recap.py``), a notebook downloaded from Jupyter or Colab
(``01_nn_recap.ipynb``, converted with jupytext), or a folder holding either, directly or in an
``exercises/`` subfolder.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType

from course_lib.errors import CourseError


class SubmissionError(CourseError):
    """A submission that cannot be found or imported; the message names the file."""


_CACHE: dict[tuple[str, str], ModuleType] = {}


# The names a lecture file keeps once copied or downloaded: ``01_nn_recap.ipynb``, Colab's
# ``Copy of 01_nn_recap.ipynb``, a browser's ``01_nn_recap (1).py``, Jupyter's
# ``01_nn_recap-Copy1.ipynb``. Group 1 is the lecture number.
LECTURE_NAME = re.compile(r"^(?:(?i:copy[ _]of)[ _]+)*(\d\d)_[^/\\]*\.(?:py|ipynb)$")


def lecture_candidates(folder: Path, lecture: str) -> list[Path]:
    """The files of ``lecture`` in ``folder`` and in its ``exercises/`` subfolder, newest first.

    Symbolic links (to a file or to ``exercises/``) are left out: one could point at a
    classmate's work. Ties in modification time are broken by path.
    """
    inside = folder.resolve()
    found = []
    for place in (folder, folder / "exercises"):
        if place.is_symlink() or not place.is_dir():
            continue
        for path in place.iterdir():
            match = LECTURE_NAME.match(path.name)
            if (
                match
                and match.group(1) == lecture
                and path.is_file()
                and not path.is_symlink()
                and path.resolve().is_relative_to(inside)
            ):
                found.append(path)
    return sorted(found, key=lambda p: (-p.stat().st_mtime_ns, str(p)))


def choose_lecture_file(submission: Path, lecture: str) -> tuple[Path, list[Path]]:
    """Return the file of ``lecture`` (two digits) inside ``submission`` and the other candidates.

    Args:
        submission: a ``.py`` or ``.ipynb`` file, or a folder holding the lecture's file directly
            or in an ``exercises/`` subfolder, under its own name or a download name
            (:data:`LECTURE_NAME`).
        lecture: the lecture number, ``"01"`` to ``"08"``.

    Returns:
        ``(chosen, others)``. The rule, when a folder holds several candidates (``01_nn_recap.py``
        and ``exercises/01_nn_recap.py``, or a ``.py`` and an ``.ipynb``): the most recently
        modified file is graded, ties broken by path; the others are returned so that the caller
        can say what was not graded (:func:`describe_choice`).
    """
    if not submission.exists():
        raise SubmissionError(f"Submission not found: {submission} does not exist.")
    if submission.is_file():
        if submission.suffix not in (".py", ".ipynb"):
            raise SubmissionError(
                f"Expected a .py or .ipynb file for lecture {lecture}; received {submission}."
            )
        return submission, []
    matches = lecture_candidates(submission, lecture)
    if matches:
        return matches[0], matches[1:]
    raise SubmissionError(
        f"No file for lecture {lecture} in {submission} or its exercises/ folder: expected "
        f"{lecture}_<topic>.py or .ipynb (or a download of it, such as "
        f"'Copy of {lecture}_<topic>.ipynb')."
    )


def _older(seconds: float) -> str:
    """``"3 h older"`` for a file ``seconds`` older than the graded one."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} older"
    return "as new; the graded one comes first by name"


def describe_choice(chosen: Path, others: list[Path], relative_to: Path | None = None) -> str:
    """Which candidates were not graded and how much older each is; "" when there were none."""
    if not others:
        return ""

    def name(path: Path) -> str:
        if relative_to is not None and path.resolve().is_relative_to(relative_to.resolve()):
            return str(path.resolve().relative_to(relative_to.resolve()))
        return str(path)

    newest = chosen.stat().st_mtime
    return ", ".join(f"{name(p)} ({_older(newest - p.stat().st_mtime)})" for p in others)


def quoted(path: Path | str) -> str:
    """A path as it must be typed in a shell command: quoted when it holds a space or quote."""
    return shlex.quote(str(path))


def lecture_of_file(path: Path) -> str:
    """Return the lecture (two digits) that a single submitted file is for.

    A notebook's ``camp_lecture`` metadata wins (release notebooks carry it); otherwise the
    number at the start of the file name (``01_nn_recap.ipynb``, ``Copy of 01_nn_recap.ipynb``).
    A file that says neither is a SubmissionError asking for the lecture number, so it is never
    graded against every lecture.
    """
    declared = None
    if path.suffix == ".ipynb":
        try:
            metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
            declared = metadata.get("camp_lecture") if isinstance(metadata, dict) else None
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            declared = None  # Grading names the unreadable notebook; the name may still tell.
    if declared is not None:
        text = str(declared).strip()
        if not text.isdigit():
            raise SubmissionError(
                f"{path}: its metadata camp_lecture is {declared!r}, not a lecture number; pass "
                f"the lecture, e.g. `camp check 01 --submission {quoted(path)}`."
            )
        return f"{int(text):02d}"
    match = LECTURE_NAME.match(path.name)
    if match:
        return match.group(1)
    raise SubmissionError(
        f"Cannot tell which lecture {path} is for (no camp_lecture in its metadata, no number at "
        f"the start of its name): pass it, e.g. `camp check 01 --submission {quoted(path)}`."
    )


def find_lecture_file(submission: Path, lecture: str) -> Path:
    """Return the file of ``lecture`` inside ``submission`` (see ``choose_lecture_file``)."""
    return choose_lecture_file(submission, lecture)[0]


def notebook_to_python(path: Path) -> str:
    """Convert a notebook to jupytext percent-format source; magics become comments."""
    import jupytext

    try:
        json.loads(path.read_text(encoding="utf-8"))
        notebook = jupytext.read(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SubmissionError(
            f"{path} is not a valid notebook (not valid JSON: {error})."
        ) from None
    except Exception as error:  # nbformat raises several types for malformed notebooks
        raise SubmissionError(f"{path} is not a valid notebook: {error}") from None
    return jupytext.writes(notebook, fmt="py:percent")


def _where(path: Path, line: int | None, text: str | None) -> str:
    """Where in the student's file: a line number, or in a notebook the line's text."""
    if path.suffix != ".ipynb":
        return f"on line {line}"
    text = (text or "").strip()
    return f"in the cell with `{text[:40]}`" if text else "in a cell"


def _display(*objects, **kwargs) -> None:
    """A notebook's ``display()`` in an imported lecture: IPython's in a kernel, else nothing.

    The graded file is a module, not a kernel, so IPython's built-ins are not there by themselves.
    """
    shell = sys.modules.get("IPython")
    if shell is not None and shell.get_ipython() is not None:
        from IPython.display import display

        display(*objects, **kwargs)


def import_lecture(submission: Path, lecture: str) -> ModuleType:
    """Import the student's module for ``lecture`` from ``submission`` (cached per file).

    Importing runs the module's top level only: demo cells sit under
    ``if __name__ == "__main__":`` and do not run.
    """
    path = find_lecture_file(Path(submission), lecture).resolve()
    key = (str(path), lecture)
    if key in _CACHE:
        return _CACHE[key]
    if path.suffix == ".ipynb":
        source_path = Path(tempfile.mkdtemp(prefix="camp-nb-")) / f"{path.stem}.py"
        source_path.write_text(notebook_to_python(path), encoding="utf-8")
    else:
        source_path = path
    name = f"camp_submission_{lecture}_{len(_CACHE)}"
    spec = importlib.util.spec_from_file_location(name, source_path)
    module = importlib.util.module_from_spec(spec)
    module.display = _display  # Notebook cells may call display(), as in Jupyter and Colab.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise SubmissionError(
            f"{path.name} has a syntax error {_where(path, error.lineno, error.text)}: {error.msg}."
        ) from None
    except (Exception, SystemExit) as error:  # sys.exit() at import time is a student error too
        frames = [
            f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(source_path)
        ]
        where = f" {_where(path, frames[-1].lineno, frames[-1].line)}" if frames else ""
        raise SubmissionError(
            f"Importing {path.name} failed{where} with {type(error).__name__}: {error}"
        ) from None
    _CACHE[key] = module
    return module
