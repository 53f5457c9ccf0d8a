"""Where things live: the project checkout, the shared offline assets, the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from course_lib.errors import CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def project_root() -> Path:
    """Return the course checkout: ``$CAMP_ROOT``, else the folder above ``course_lib``.

    The course is used from a clone (``pip install -e .``), so ``solutions/``, ``exercises/``
    and ``tests/`` sit beside the package.
    """
    root = Path(os.environ.get("CAMP_ROOT", PACKAGE_DIR.parent)).resolve()
    if not (root / "tests" / "autograder").is_dir():
        raise CourseError(
            f"Expected the course checkout (with tests/autograder/) at {root}; received a folder "
            "without it. Run camp from a clone installed with `pip install -e .`, or set CAMP_ROOT."
        )
    return root


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


def user_dir() -> Path:
    """Return the user's data folder (quiz history, check results): ``$CAMP_HOME`` or the OS's."""
    path = Path(os.environ.get("CAMP_HOME") or user_data_dir("image-search-camp", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
