"""Where things live: the course checkout or student edition, shared offline assets, user data.

Introduced with Lecture 01 (the student edition's fallback came with ``camp release``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs import user_data_dir

from course_lib.errors import CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
# The student edition (``camp release``) ships its course material inside the package, here.
EDITION_DIR = PACKAGE_DIR / "edition"
EDITION_MARKER = "edition.json"


def project_root() -> Path:
    """Return the course root, which holds ``tests/autograder/``, ``exercises/`` and ``quizzes/``.

    In this order: ``$CAMP_ROOT``; the checkout above ``course_lib`` (the instructor repository,
    installed with ``pip install -e .``), which also holds ``solutions/``; the student edition's
    material shipped inside the package (``course_lib/edition``, written by ``camp release``,
    with ``edition.json`` and only the released ``solutions/``). It is never the student's
    working folder: ``camp check`` looks for the student's file there by itself.
    """
    if os.environ.get("CAMP_ROOT"):
        candidates = [Path(os.environ["CAMP_ROOT"]).resolve()]
    else:
        candidates = [PACKAGE_DIR.parent, EDITION_DIR]
    for root in candidates:
        if (root / "tests" / "autograder").is_dir():
            return root
    raise CourseError(
        f"Expected the course material (with tests/autograder/) at {candidates[0]}; received a "
        "folder without it. Run camp from a clone installed with `pip install -e .`, install the "
        "student edition, or set CAMP_ROOT."
    )


def edition_info(root: Path | None = None) -> dict | None:
    """Return the student edition's ``edition.json`` at the course root, or None in a checkout."""
    marker = (root or project_root()) / EDITION_MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CourseError(f"{marker}: not a readable edition file ({error}).") from None


def shared_dir() -> Path | None:
    """Return ``../shared`` beside the checkout (offline assets for tests), or None if absent."""
    candidate = Path(os.environ.get("CAMP_SHARED", PACKAGE_DIR.parent.parent / "shared"))
    return candidate if candidate.is_dir() else None


def coco_mini_dir() -> Path | None:
    """Return the real COCO sample ``../shared/data/coco-mini``, or None if absent."""
    shared = shared_dir()
    if shared is None or not (shared / "data" / "coco-mini").is_dir():
        return None
    return shared / "data" / "coco-mini"


def user_home() -> Path:
    """Return the user's data folder as an absolute path, without creating it.

    ``$CAMP_HOME`` (``~`` expanded, a relative path taken from the current folder) or the OS's
    data folder for image-search-camp. The grader passes it on to its processes, which run in
    other folders, so every record and every gate reads the same place.
    """
    chosen = os.environ.get("CAMP_HOME") or user_data_dir("image-search-camp", appauthor=False)
    return Path(chosen).expanduser().absolute()


def user_dir() -> Path:
    """Return the user's data folder (quiz history, check results), created: ``user_home()``."""
    path = user_home()
    path.mkdir(parents=True, exist_ok=True)
    return path
