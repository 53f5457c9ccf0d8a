"""Expected values of the public autograder tests, stored as data (introduced with Lecture 01).

A public test (``tests/autograder/test_NN_topic.py``) ships to every student, so it holds no
reference implementation: it checks properties, and compares fixed inputs with the values the
reference gives on them, read from ``tests/autograder/expected/NN_topic.json`` with
``load("NN")``. Those files are written by ``camp generate`` from the instructor's references,
``tests/hidden/references_NN.py`` (its ``expected()`` function), which stay on the instructor's
side with the hidden tests (``tests/hidden/test_NN_*.py``): ``camp release`` never ships them.

``load`` finds the data where ``project_root`` finds the tests: in the checkout, in an installed
student edition (``course_lib/edition/tests/autograder/expected``), in the judge and in a
notebook's check cells, whose embedded tests call it like any test. Floats are written with
Python's ``repr``, so they come back bit for bit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from course_lib.errors import CourseError
from course_lib.paths import edition_info, project_root

EXPECTED_DIR = ("tests", "autograder", "expected")
HIDDEN_DIR = ("tests", "hidden")
_CACHE: dict[tuple[str, int], dict] = {}


def data_file(lecture: str, root: Path | None = None) -> Path:
    """The expected-values file of ``lecture``, named after its public test file."""
    root = root or project_root()
    tests = sorted((root / "tests" / "autograder").glob(f"test_{lecture}_*.py"))
    stem = tests[0].stem[len("test_") :] if tests else f"{lecture}"
    return root.joinpath(*EXPECTED_DIR, f"{stem}.json")


def load(lecture: str) -> dict:
    """The expected values of ``lecture``'s public tests: name → value (lists, numbers, text).

    Raises CourseError when the file is missing or unreadable (run ``camp generate``).
    """
    path = data_file(lecture)
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        raise CourseError(
            f"Expected values of Lecture {lecture} not found: {path} (run `camp generate`)."
        ) from None
    if key not in _CACHE:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            _CACHE[key] = document["values"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CourseError(f"{path}: not a readable expected-values file ({error}).") from None
    return _CACHE[key]


def hidden_dir(root: Path | None = None) -> Path | None:
    """The checkout's hidden tests, ``tests/hidden``; None in a student edition or without one."""
    root = root or project_root()
    folder = root.joinpath(*HIDDEN_DIR)
    return folder if folder.is_dir() and edition_info(root) is None else None


def support_files(hidden: Path | None) -> list[Path]:
    """The modules beside the hidden tests that they import (``references_NN.py``)."""
    if hidden is None or not hidden.is_dir():
        return []
    return sorted(hidden.glob("references_*.py"))


_MODULES: dict[tuple[str, int, int], ModuleType] = {}


def module_at(path: Path | str) -> ModuleType:
    """Import the Python file at ``path`` once per process (again if it changed), whatever
    ``sys.path`` holds.

    Hidden tests import their references with it (``module_at(Path(__file__).with_name(
    "references_01.py"))``), and the references import the public tests' input builders, so the
    same code works under pytest, in ``camp mutants``' worker and in ``camp generate``.
    """
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError:
        raise CourseError(f"Expected a Python file at {path}; none found.") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _MODULES:
        name = f"camp_{path.stem}_{hashlib.sha256(str(key).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Dataclasses and pickling look a module up by its name.
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _MODULES[key] = module
    return _MODULES[key]


def public_tests(lecture: str, root: Path | None = None) -> ModuleType:
    """The public test module of ``lecture`` (its seeded input builders serve the references)."""
    root = root or project_root()
    tests = sorted((root / "tests" / "autograder").glob(f"test_{lecture}_*.py"))
    if not tests:
        raise CourseError(
            f"Lecture {lecture} has no public tests tests/autograder/test_{lecture}_*.py."
        )
    return module_at(tests[0])


def fingerprint(values, count: int = 8) -> list[float]:
    """``count`` fixed random projections of an array, for outputs too large to store whole.

    Each projection has unit length, so an entrywise error of typical size ``e`` moves each
    number of the fingerprint by about ``e`` (``matches``). The tests use it to recognise an
    output, or a known mistake's output, without storing that output.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    rng = np.random.default_rng(flat.size)
    return (rng.normal(size=(count, flat.size)) @ flat / np.sqrt(max(flat.size, 1))).tolist()


def matches(values, print_: list[float], atol: float) -> bool:
    """True when ``values`` has the fingerprint ``print_``, for entrywise errors well below
    ``atol`` (each projection may differ by ``3 * atol``); never for nan or infinity."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        return False
    return bool(np.allclose(fingerprint(flat, len(print_)), print_, rtol=0, atol=3 * atol))
