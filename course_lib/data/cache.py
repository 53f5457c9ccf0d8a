"""Generate the photo collection once per setting and reuse it (promoted from Lectures 02, 05, 06).

Lectures train and search on splits of the photo collection. ``cached_collection`` writes the
requested splits into ``<checkout>/data/generated/<name>`` the first time (into a scratch folder
first, then renamed, so an interrupted run leaves nothing half-made) and returns the folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from course_lib.data.writer import make_split
from course_lib.paths import edition_info, project_root, user_dir


def cached_collection(
    name: str,
    splits: dict[str, int],
    seed: int = 0,
    image_size: int = 128,
    root: str | Path | None = None,
) -> Path:
    """Return a folder holding the COCO files of ``splits``, writing them on first use.

    Args:
        name: prefix of the folder name, e.g. ``"l02"``.
        splits: split name → number of images, e.g. ``{"train": 4000, "val": 500}``.
        seed: the collection's seed; image_size: side of the square images in pixels.
        root: where collections live; default ``<checkout>/data/generated`` in a checkout and
            ``$CAMP_HOME/data`` in an installed student edition (never inside site-packages).

    Returns:
        ``root/<name>_<size>px_seed<seed>_<split><count>...``; the same arguments give the
        same folder and, since generation is deterministic, the same files.
    """
    if not splits:
        raise ValueError("Expected at least one split, e.g. {'val': 100}; received none.")
    if root is None:
        root = project_root() / "data" / "generated"
        if edition_info() is not None:
            root = user_dir() / "data"
    root = Path(root)
    counts = "_".join(f"{split}{count}" for split, count in splits.items())
    folder = root / f"{name}_{image_size}px_seed{seed}_{counts}"
    last = next(reversed(splits))
    if (folder / "annotations" / f"captions_{last}.json").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        for split, count in splits.items():
            make_split(partial, split, count, seed, image_size)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
