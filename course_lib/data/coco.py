"""COCO annotations as plain records, and splits by image (introduced in Lecture 02).

Reads any COCO 2014/2017 annotation file (``captions_<split>.json``, ``instances_<split>.json``)
and pairs it with the image files of an images folder (real COCO: ``train2017/``; the course's
generated data: ``images/``). The same loader serves the real COCO sample and the course's own
COCO-format data, so every later lecture sees one record structure. ``tf.data`` pipelines over
these records live in :mod:`course_lib.data.pipelines`.

Captions are kept exactly as written (real COCO has trailing spaces, capitals and missing full
stops); :func:`normalize_caption` is offered separately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError

KINDS = ("captions", "instances")


@dataclass(frozen=True)
class Category:
    """One row of COCO's category table."""

    id: int
    name: str
    supercategory: str = ""


@dataclass
class ImageRecord:
    """One image with everything annotated on it.

    ``boxes`` holds ``(category_id, [x, y, w, h])`` in pixels of the original image, in the
    annotation file's order (crowd regions included, as in COCO); ``labels`` is the sorted list
    of distinct category ids present.
    """

    image_id: int
    path: Path
    width: int
    height: int
    captions: list[str] = field(default_factory=list)
    boxes: list[tuple[int, list[float]]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


@dataclass
class CocoData:
    """The records (sorted by image id) and the category table (sorted by id)."""

    records: list[ImageRecord]
    categories: list[Category]

    @property
    def category_index(self) -> dict[int, int]:
        """Map a category id to its position in ``categories`` (the multi-hot column)."""
        return {c.id: i for i, c in enumerate(self.categories)}

    @property
    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]


def normalize_caption(text: str, lower: bool = True) -> str:
    """Strip, collapse runs of whitespace and (by default) lower-case a caption."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower() if lower else text


def read_annotation_file(path: str | Path) -> dict:
    """Read one COCO annotation JSON file, checking the keys every COCO file has."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: annotation file not found.")
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise CourseError(
            f"{path.name}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            "the file may be truncated, download or generate it again."
        ) from e
    except UnicodeDecodeError as e:
        raise CourseError(f"{path.name}: not UTF-8 text ({e}).") from e
    if not isinstance(data, dict):
        raise CourseError(f"{path.name}: expected a JSON object, received {type(data).__name__}.")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise CourseError(f"{path.name}: expected a list under {key!r} (COCO schema).")
    return data


def find_images_dir(root: str | Path, split: str) -> Path:
    """Return the images folder of ``root``: ``<split>/``, ``images/<split>/`` or ``images/``."""
    root = Path(root)
    candidates = [root / split, root / "images" / split, root / "images"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise CourseError(f"{root}: no images folder for split {split!r} (tried {tried}).")


def _annotation_path(root: Path, kind: str, split: str) -> Path:
    name = f"{kind}_{split}.json"
    for candidate in (root / "annotations" / name, root / name):
        if candidate.is_file():
            return candidate
    return root / "annotations" / name


def load_coco(
    root: str | Path,
    split: str = "train2017",
    *,
    images_dir: str | Path | None = None,
    kinds: Sequence[str] | None = None,
    check_images: bool = True,
) -> CocoData:
    """Load ``<root>/annotations/{captions,instances}_<split>.json`` with their images.

    ``kinds`` names the annotation files required (``"captions"``, ``"instances"``); by
    default every one present is read and at least one must be. The images folder is
    ``images_dir`` or found by :func:`find_images_dir`.
    """
    root = Path(root)
    if kinds is None:
        files = [_annotation_path(root, k, split) for k in KINDS]
        present = [f for f in files if f.is_file()]
        if not present:
            raise CourseError(
                f"{root}: no annotation file for split {split!r} (expected "
                f"{files[0]} or {files[1]})."
            )
        files = present
    else:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"Expected kinds among {KINDS}; received {unknown}.")
        files = [_annotation_path(root, k, split) for k in kinds]
    folder = Path(images_dir) if images_dir is not None else find_images_dir(root, split)
    return load_coco_files(files, folder, check_images=check_images)


def load_coco_files(
    files: Iterable[str | Path], images_dir: str | Path, *, check_images: bool = True
) -> CocoData:
    """Merge COCO annotation files (captions and/or instances) into records.

    Every annotation must refer to an image listed in its file, every box to a known category,
    and (with ``check_images``) every image file must exist in ``images_dir``.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise CourseError(f"{images_dir}: images folder not found.")
    records: dict[int, ImageRecord] = {}
    categories: dict[int, Category] = {}
    image_source: dict[int, str] = {}
    for path in map(Path, files):
        data = read_annotation_file(path)
        name = path.name
        ids = set()
        for img in data["images"]:
            try:
                image_id, file_name = int(img["id"]), str(img["file_name"])
                width, height = int(img["width"]), int(img["height"])
            except (KeyError, TypeError, ValueError) as e:
                raise CourseError(f"{name}: image entry {img!r} lacks a valid {e}.") from e
            ids.add(image_id)
            record = ImageRecord(image_id, images_dir / file_name, width, height)
            old = records.setdefault(image_id, record)
            if (old.path, old.width, old.height) != (record.path, width, height):
                raise CourseError(
                    f"{name}: image {image_id} is {file_name} {width}x{height} but "
                    f"{image_source[image_id]} says {old.path.name} {old.width}x{old.height}."
                )
            image_source.setdefault(image_id, name)
        for cat in data.get("categories", []):
            try:
                c = Category(int(cat["id"]), str(cat["name"]), str(cat.get("supercategory", "")))
            except (KeyError, TypeError, ValueError) as e:
                raise CourseError(f"{name}: category entry {cat!r} lacks a valid {e}.") from e
            if categories.setdefault(c.id, c) != c:
                raise CourseError(f"{name}: category {c.id} conflicts with {categories[c.id]}.")
        for k, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict):
                raise CourseError(f"{name}: annotations[{k}] is not a JSON object: {ann!r}.")
            ann_id, image_id = ann.get("id", "?"), ann.get("image_id")
            if image_id not in ids:
                raise CourseError(
                    f"{name}: annotation {ann_id} refers to unknown image id {image_id}."
                )
            record = records[image_id]
            if "caption" in ann:
                if not isinstance(ann["caption"], str):
                    raise CourseError(
                        f"{name}: annotation {ann_id} has a caption that is not text."
                    )
                record.captions.append(ann["caption"])
            if "bbox" in ann:
                category_id = ann.get("category_id")
                if category_id not in categories:
                    raise CourseError(
                        f"{name}: annotation {ann_id} refers to unknown category id {category_id}."
                    )
                bbox = ann["bbox"]
                if not (isinstance(bbox, list) and len(bbox) == 4):
                    raise CourseError(
                        f"{name}: annotation {ann_id} has bbox {bbox!r}; expected [x, y, w, h]."
                    )
                record.boxes.append((int(category_id), [float(v) for v in bbox]))
    for record in records.values():
        record.labels = sorted({c for c, _ in record.boxes})
        if check_images and not record.path.is_file():
            raise CourseError(
                f"{image_source[record.image_id]}: image {record.image_id} "
                f"({record.path.name}) not found in {images_dir}."
            )
    return CocoData(
        records=[records[i] for i in sorted(records)],
        categories=[categories[i] for i in sorted(categories)],
    )


def split_by_image(
    records: Sequence[ImageRecord],
    fractions: Sequence[float] | Mapping[str, float],
    seed: int = 0,
) -> list[list[ImageRecord]] | dict[str, list[ImageRecord]]:
    """Split records by image (never by caption) into parts of the given fractions.

    Deterministic for a seed: records are ordered by image id, then permuted. Part sizes
    follow the largest-remainder rule, so they add up to ``len(records)``. A mapping of
    fractions (``{"train": 0.8, "val": 0.2}``) gives a dict of parts with the same keys.
    """
    names = list(fractions) if isinstance(fractions, Mapping) else None
    values = np.asarray(
        [fractions[n] for n in names] if names is not None else list(fractions), dtype=float
    )
    if values.ndim != 1 or len(values) == 0 or (values < 0).any():
        raise ValueError(f"Expected non-negative fractions; received {fractions!r}.")
    if abs(values.sum() - 1.0) > 1e-6:
        raise ValueError(f"Expected fractions that sum to 1; received sum {values.sum():.6g}.")
    ordered = sorted(records, key=lambda r: r.image_id)
    ids = [r.image_id for r in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("Expected one record per image id; received duplicate image ids.")
    n = len(ordered)
    exact = values * n
    sizes = np.floor(exact).astype(int)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: n - sizes.sum()]] += 1
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = [[ordered[j] for j in perm[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return dict(zip(names, parts, strict=True)) if names is not None else parts
