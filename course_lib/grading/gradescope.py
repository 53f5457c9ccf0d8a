"""A Gradescope autograder for one lecture (introduced with Lecture 01's grader).

``camp gradescope NN --out autograder_NN.zip`` writes the zip that Gradescope's "Configure
Autograder" page takes: ``setup.sh`` and ``run_autograder`` at its root (Gradescope's documented
layout), the course's source with the lecture's public tests (``course/``), the instructor's hidden
tests (``hidden/``), the earlier lectures' solutions that later lectures' tests build on, and the
course's dependencies pinned to the versions installed here (``requirements.txt``; the model
packages installed without their dependencies in ``requirements-nodeps.txt``).

Gradescope extracts the zip to ``/autograder/source``, runs ``setup.sh`` once per image, then for
each submission runs ``run_autograder``, which grades ``/autograder/submission`` with the sandboxed
judge and runner (``judge.grade_lecture``) and writes ``/autograder/results/results.json``: one
entry per test (hidden tests ``after_published``), the total, and the isolation level reached. A
container that allows no namespaces is graded anyway (the container itself is then the sandbox),
and the results say so. ``CAMP_AUTOGRADER_ROOT`` replaces ``/autograder`` and
``CAMP_AUTOGRADER_PYTHON`` the interpreter, so a test can run the autograder in a temporary folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import time
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_lib.errors import CourseError
from course_lib.grading import expected, judge, verdict
from course_lib.paths import project_root

ROOT_VARIABLE = "CAMP_AUTOGRADER_ROOT"
CONFIG = "autograder.json"
ISOLATION = {
    "namespaces": "Linux namespaces (no network, nothing of the autograder visible)",
    "uid": "a separate unprivileged user and resource limits (this container allows no "
    "namespaces: the container is the sandbox)",
    "limits": "resource limits only (this container allows no namespaces and no separate "
    "user: the container is the sandbox)",
}

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: Python {python}, the
# course's dependencies pinned to the versions it was built with, then the course itself.
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="${{CAMP_AUTOGRADER_ROOT:-/autograder}}"
PYTHON=python{python}
if ! "$PYTHON" -m venv "$ROOT/venv"; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$PYTHON" "$PYTHON-venv"
    "$PYTHON" -m venv --clear "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install -q --upgrade pip
"$ROOT/venv/bin/python" -m pip install -q -r "$SOURCE/requirements.txt"
"$ROOT/venv/bin/python" -m pip install -q --no-deps -r "$SOURCE/requirements-nodeps.txt"
"$ROOT/venv/bin/python" -m pip install -q --no-deps "$SOURCE/course"
# Hidden tests and solutions are for the judge (root) alone, never for the unprivileged user that
# runs student code where the container allows no namespaces.
chmod -R go-rwx "$SOURCE"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root for each submission; it writes $ROOT/results/results.json.
set -euo pipefail
export CAMP_AUTOGRADER_ROOT="${CAMP_AUTOGRADER_ROOT:-/autograder}"
export TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg
exec "${CAMP_AUTOGRADER_PYTHON:-$CAMP_AUTOGRADER_ROOT/venv/bin/python}" -I \\
    -m course_lib.grading.gradescope
"""


def _installed(name: str) -> tuple[str, importlib.metadata.Distribution]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise CourseError(
            f"The course needs {name}, which is not installed here; run ./install.sh first."
        ) from None
    return dist.version, dist


def pinned_requirements(root: Path | None = None) -> list[str]:
    """Pin the course's dependencies (pyproject.toml) and theirs to the versions installed here.

    The same pins as ``pip freeze`` limited to what the course needs: test tools and other
    packages of this environment stay out.
    """
    root = root or project_root()
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pending = [(Requirement(text), "") for text in project["dependencies"]]
    pins: dict[str, str] = {}
    expanded: set[tuple[str, str]] = set()
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        pins[name], dist = _installed(name)
        for wanted in ("", *sorted(requirement.extras)):
            if (name, wanted) not in expanded:
                expanded.add((name, wanted))
                pending += [(Requirement(text), wanted) for text in dist.requires or []]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def nodeps_requirements(root: Path | None = None) -> list[str]:
    """Pin ``requirements-nodeps.txt`` (installed with ``--no-deps``) to the installed versions."""
    path = (root or project_root()) / "requirements-nodeps.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    names = [Requirement(x.split("#")[0]).name for x in lines if x.split("#")[0].strip()]
    return [f"{canonicalize_name(name)}=={_installed(name)[0]}" for name in names]


def _course_files(root: Path, lecture: str) -> dict[str, Path]:
    """The course source that setup.sh installs, with the tests and solutions the judge reads."""
    package = root / "course_lib"
    files = {
        f"course/{path.relative_to(root).as_posix()}": path
        for path in sorted(package.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(package).parts[0] != "edition"
    }
    for name in ("pyproject.toml", "README.md"):
        files[f"course/{name}"] = root / name
    for path in judge.test_files(lecture, root):
        files[f"course/tests/autograder/{path.name}"] = path
    data = expected.data_file(lecture, root)  # The public tests' expected values, if any.
    if data.is_file():
        files[f"course/tests/autograder/expected/{data.name}"] = data
    # Later lectures' tests build on the reference code of earlier ones (lectures.lecture_module).
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*.py")):
        if path.name[:2] < lecture:
            files[f"course/solutions/{path.name}"] = path
    return files


def build_bundle(
    lecture: str,
    out: Path,
    hidden_dir: Path | None = None,
    timeout_s: float = judge.DEFAULT_TIMEOUT_S,
    memory_mb: int = judge.DEFAULT_MEMORY_MB,
) -> list[str]:
    """Write Gradescope's autograder zip for ``lecture`` to ``out``; return its file names."""
    root = project_root()
    if out.suffix.lower() != ".zip" or out.is_dir():
        raise CourseError(f"--out must name a .zip file to write; received {str(out)!r}.")
    files = _course_files(root, lecture)
    hidden = judge.hidden_test_files(hidden_dir, lecture)
    if hidden_dir is not None and not hidden:
        raise CourseError(f"{hidden_dir} holds no hidden tests test_{lecture}_*.py.")
    files |= {f"hidden/{path.name}": path for path in hidden}
    files |= {f"hidden/{p.name}": p for p in expected.support_files(hidden_dir) if hidden}
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    config = {"lecture": lecture, "timeout_s": timeout_s, "memory_mb": memory_mb}
    texts = {
        "setup.sh": SETUP_SH.format(python=python),
        "run_autograder": RUN_AUTOGRADER,
        "requirements.txt": "\n".join(pinned_requirements(root)) + "\n",
        "requirements-nodeps.txt": "\n".join(nodeps_requirements(root)) + "\n",
        CONFIG: json.dumps(config | {"hidden": bool(hidden)}, indent=1) + "\n",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in [*texts.items(), *files.items()]:
            # A fixed date makes the same course give the same zip; the scripts are executable.
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            data = content.encode() if isinstance(content, str) else content.read_bytes()
            bundle.writestr(info, data)
    os.replace(partial, out)
    return [*texts, *files]


def _target(submission: Path, lecture: str) -> Path:
    """The submitted file to grade: the lecture's NN_* file, else the only Python file or notebook.

    Students upload files under names of their own on Gradescope; anything else is left to
    ``grade_lecture``, which names what it expected.
    """
    from course_lib.student.submission import SubmissionError, choose_lecture_file

    try:
        return choose_lecture_file(submission, lecture)[0]
    except SubmissionError:
        pass
    candidates = [
        path
        for path in submission.rglob("*")
        if path.suffix in (".py", ".ipynb")
        and path.is_file()
        and not path.is_symlink()
        and not any(part.startswith((".", "__")) for part in path.relative_to(submission).parts)
    ]
    return candidates[0] if len(candidates) == 1 else submission


def results_document(result: verdict.LectureResult, isolation: str, seconds: float) -> dict:
    """Gradescope's results.json of one graded lecture: a test entry each, scores that add up."""
    counted = result.status in ("full-marks", "graded", "memory-limit")
    tests = []
    for test in result.tests:
        entry = {
            "name": test["name"],
            "score": test["points"] if counted else 0.0,
            "max_score": test["max_points"],
            "status": "passed" if test["passed"] and counted else "failed",
            "visibility": "after_published" if test.get("hidden") else "visible",
        }
        output = "\n".join(x for x in (test.get("hint", ""), test.get("message", "")) if x)
        if output:
            entry["output"] = output
        if test.get("section"):
            entry["tags"] = [test["section"]]
        tests.append(entry)
    remainder = result.max_points - sum(entry["max_score"] for entry in tests)
    if result.status not in ("full-marks", "graded") or remainder > 0:
        detail = result.detail or "Some tests reported no result."
        status = {
            "name": f"Lecture {result.lecture}: {result.status}",
            "score": 0.0,
            "max_score": max(remainder, 0.0),
            "status": "failed",
            "output": detail,
            "visibility": "visible",
        }
        tests.insert(0, status)
    summary = f"Lecture {result.lecture}: {result.points:g} / {result.max_points:g} points "
    summary += (
        f"({result.status}). Your code ran isolated by {ISOLATION.get(isolation, isolation)}."
    )
    if result.warning:
        summary += f"\n{result.warning}"
    return {
        "score": result.points,
        "execution_time": round(seconds),
        "output": summary,
        "output_format": "text",
        "tests": tests,
        "extra_data": {"status": result.status, "isolation": isolation},
    }


def run(root: Path) -> dict:
    """Grade ``root/submission`` as the bundle says; write ``root/results/results.json``."""
    from course_lib.grading.sandbox import probe_level
    from course_lib.grading.sheet import write_atomic

    source = root / "source"
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    os.environ["CAMP_ROOT"] = str(source / "course")  # The bundle's tests, for the judge too.
    lecture = config["lecture"]
    hidden = source / "hidden" if config.get("hidden") else None
    started = time.monotonic()
    result = judge.grade_lecture(
        lecture,
        _target(root / "submission", lecture),
        hidden,
        config["timeout_s"],
        config["memory_mb"],
        slot=0,
    )
    isolation = result.isolation or probe_level()
    document = results_document(result, isolation, time.monotonic() - started)
    write_atomic(root / "results" / "results.json", json.dumps(document, indent=1))
    return document


if __name__ == "__main__":
    graded = run(Path(os.environ.get(ROOT_VARIABLE, "/autograder")))
    print(graded["output"])
