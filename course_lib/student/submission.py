"""Find and import a student's lecture module (introduced with Lecture 01).

A submission is a lecture file (``01_nn_recap.py``), a notebook downloaded from Jupyter or Colab
(``01_nn_recap.ipynb``, converted with jupytext), or a folder holding either, directly or in an
``exercises/`` subfolder.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from course_lib.errors import CourseError


class SubmissionError(CourseError):
    """A submission that cannot be found or imported; the message names the file."""


_CACHE: dict[tuple[str, str], ModuleType] = {}


def choose_lecture_file(submission: Path, lecture: str) -> tuple[Path, list[Path]]:
    """Return the file of ``lecture`` (two digits) inside ``submission`` and the other candidates.

    Args:
        submission: a ``.py`` or ``.ipynb`` file, or a folder holding ``NN_*.py`` / ``NN_*.ipynb``
            directly or in an ``exercises/`` subfolder.
        lecture: the lecture number, ``"01"`` to ``"08"``.

    Returns:
        ``(chosen, others)``. The rule, when a folder holds several candidates (``01_nn_recap.py``
        and ``01_nn_recap_final.py``, or a ``.py`` and an ``.ipynb``): the most recently modified
        file is graded, ties broken by name; the others are returned so a gradebook can warn.
    """
    if not submission.exists():
        raise SubmissionError(f"Submission not found: {submission} does not exist.")
    if submission.is_file():
        if submission.suffix not in (".py", ".ipynb"):
            raise SubmissionError(
                f"Expected a .py or .ipynb file for lecture {lecture}; received {submission}."
            )
        return submission, []
    inside = submission.resolve()
    for folder in (submission, submission / "exercises"):
        if folder.is_symlink():  # A linked folder could point at a classmate's work.
            continue
        matches = [
            p
            for suffix in (".py", ".ipynb")
            for p in folder.glob(f"{lecture}_*{suffix}")
            if p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(inside)
        ]
        if matches:
            matches.sort(key=lambda p: (-p.stat().st_mtime_ns, p.name))
            return matches[0], matches[1:]
    raise SubmissionError(
        f"No file for lecture {lecture} in {submission}: expected {lecture}_<topic>.py or .ipynb."
    )


def lecture_of_file(path: Path) -> str:
    """Return the lecture (two digits) that a single submitted file is for.

    A notebook's ``camp_lecture`` metadata wins (release notebooks carry it); otherwise the
    number at the start of the file name (``01_nn_recap.ipynb``). A file that says neither is a
    SubmissionError asking for the lecture number, so it is never graded against every lecture.
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
                f"the lecture, e.g. `camp check 01 --submission {path}`."
            )
        return f"{int(text):02d}"
    match = re.match(r"(\d{2})_", path.name)
    if match:
        return match.group(1)
    raise SubmissionError(
        f"Cannot tell which lecture {path} is for (no camp_lecture in its metadata, no number at "
        f"the start of its name): pass it, e.g. `camp check 01 --submission {path}`."
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
            f"{path} has a syntax error on line {error.lineno}: {error.msg}. Fix it and re-run."
        ) from None
    except (Exception, SystemExit) as error:  # sys.exit() at import time is a student error too
        raise SubmissionError(
            f"Importing {path} failed with {type(error).__name__}: {error}"
        ) from None
    _CACHE[key] = module
    return module
