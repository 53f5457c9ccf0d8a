"""Write the course's photo collection in COCO's format (used from Lecture 02 on).

``make_split(out_dir, split, num_images, seed)`` writes::

    OUT/images/camp_<split>_<image id, 12 digits>.jpg
    OUT/annotations/captions_<split>.json      (COCO captions: info, licenses, images, annotations)
    OUT/annotations/instances_<split>.json     (COCO instances: ... annotations, categories)
    OUT/annotations/scene_graphs_<split>.json  (the scene graph of every image, see ``scenes``)

Every image ``i`` of a split is drawn from its own generator seeded with ``(seed, split code, i)``,
so train, val and test never share a picture, and the same seed gives byte-identical files (fixed
JPEG quality, JSON with sorted keys, no timestamps). Image ids are unique across splits: the
split code (train 1, val 2, test 3) times ten million, plus the index, plus one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from course_lib.data.captions import captions_for
from course_lib.data.scenes import MAX_SIZE, MIN_SIZE, PREDICATES, SCENE_NAMES, generate_scene
from course_lib.data.sprites import CATEGORIES
from course_lib.errors import CourseError

SPLITS = {"train": 1, "val": 2, "test": 3}
DEFAULT_SIZES = {"train": 10_000, "val": 1_000, "test": 1_000}
MAX_IMAGES = 9_999_999
JPEG_QUALITY = 90
ATTRIBUTES = ("small", "large", "flipped", "rotated", "occluded", "truncated")
INFO = {
    "description": "image-search-camp synthetic photo collection (Noto Color Emoji objects)",
    "url": "",
    "version": "1.0",
    "year": 2025,
    "contributor": "image-search-camp",
    "date_created": "2025/01/01",
}
LICENSES = [
    {
        "id": 1,
        "name": "SIL Open Font License 1.1 (object pictures from Noto Color Emoji)",
        "url": "https://openfontlicense.org",
    }
]


def image_id(split: str, index: int) -> int:
    """Return the COCO image id of image ``index`` (0-based) of ``split``."""
    return SPLITS[split] * 10_000_000 + index + 1


def file_name(split: str, index: int) -> str:
    """Return the file name of image ``index`` of ``split``, e.g. ``camp_val_000020000001.jpg``."""
    return f"camp_{split}_{image_id(split, index):012d}.jpg"


def generate_item(seed: int, split: str, index: int, image_size: int = 128):
    """Return (pixels, scene graph, five captions) of image ``index`` of a split."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    pixels, graph = generate_scene(rng, image_size)
    return pixels, graph, captions_for(graph, rng)


def check_args(out_dir: Path, split: str, num_images: int, seed: int, image_size: int) -> None:
    """Raise CourseError unless ``make_split`` can write this split into ``out_dir``."""
    out_dir = Path(out_dir)
    if split not in SPLITS:
        raise CourseError(f"Expected a split among {sorted(SPLITS)}; received {split!r}.")
    if not isinstance(num_images, int) or not 1 <= num_images <= MAX_IMAGES:
        raise CourseError(f"Expected 1 to {MAX_IMAGES} images; received {num_images!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise CourseError(f"Expected a seed that is an integer >= 0; received {seed!r}.")
    if not isinstance(image_size, int) or not MIN_SIZE <= image_size <= MAX_SIZE:
        raise CourseError(
            f"Expected an image size from {MIN_SIZE} to {MAX_SIZE} pixels; received {image_size!r}."
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"{out_dir}: expected a folder for the collection; it is a file.")
    if not out_dir.is_dir():
        return
    # A folder may hold other splits of a collection, nothing else.
    strangers = sorted(p.name for p in out_dir.iterdir() if p.name not in ("images", "annotations"))
    ours = list((out_dir / "annotations").glob(f"*_{split}.json"))
    ours += list((out_dir / "images").glob(f"camp_{split}_*.jpg"))
    if strangers or ours:
        what = strangers[0] if strangers else ours[0].relative_to(out_dir)
        raise CourseError(
            f"{out_dir}: expected an empty folder (or one with only other splits); it already "
            f"holds {what}. Choose a new folder or delete that one."
        )


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n", "utf-8")


def make_split(
    out_dir: str | Path,
    split: str,
    num_images: int | None = None,
    seed: int = 0,
    image_size: int = 128,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Write ``num_images`` images of ``split`` with COCO captions, instances and scene graphs.

    ``num_images`` defaults to 10,000 for train and 1,000 for val and test. ``progress`` is
    called as ``progress(done, total)`` after each image. Returns the paths written. Raises
    CourseError for an unknown split, a bad count, seed or size, or a folder that already holds
    other things or cannot be written.
    """
    out_dir = Path(out_dir)
    if num_images is None and split in DEFAULT_SIZES:
        num_images = DEFAULT_SIZES[split]
    check_args(out_dir, split, num_images, seed, image_size)
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / "annotations").mkdir(exist_ok=True)
    except OSError as err:
        raise CourseError(f"{out_dir}: cannot create the collection folder ({err}).") from err
    images, captions, instances, graphs = [], [], [], []
    try:
        for i in range(num_images):
            pixels, graph, texts = generate_item(seed, split, i, image_size)
            iid, name = image_id(split, i), file_name(split, i)
            Image.fromarray(pixels).save(out_dir / "images" / name, "JPEG", quality=JPEG_QUALITY)
            images.append(
                {
                    "id": iid,
                    "file_name": name,
                    "width": image_size,
                    "height": image_size,
                    "license": 1,
                }
            )
            captions += [
                {"id": iid * 10 + k, "image_id": iid, "caption": c} for k, c in enumerate(texts)
            ]
            for k, obj in enumerate(graph["objects"]):
                x, y, w, h = obj["bbox"]
                instances.append(
                    {
                        "id": iid * 100 + k,
                        "image_id": iid,
                        "category_id": obj["category_id"],
                        "bbox": [x, y, w, h],
                        "area": w * h,
                        "iscrowd": 0,
                        "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                    }
                )
            graphs.append({"image_id": iid, "file_name": name, **graph})
            if progress is not None:
                progress(i + 1, num_images)
        ann = out_dir / "annotations"
        info = {**INFO, "description": f"{INFO['description']}, split {split}, seed {seed}"}
        head = {"info": info, "licenses": LICENSES, "images": images}
        categories = [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in CATEGORIES
        ]
        paths = {
            "images": out_dir / "images",
            "captions": ann / f"captions_{split}.json",
            "instances": ann / f"instances_{split}.json",
            "scene_graphs": ann / f"scene_graphs_{split}.json",
        }
        _dump(paths["captions"], {**head, "annotations": captions})
        _dump(paths["instances"], {**head, "annotations": instances, "categories": categories})
        _dump(
            paths["scene_graphs"],
            {
                "info": info,
                "scenes": list(SCENE_NAMES),
                "predicates": list(PREDICATES),
                "attributes": list(ATTRIBUTES),
                "scene_graphs": graphs,
            },
        )
    except OSError as err:
        raise CourseError(f"{out_dir}: cannot write the collection ({err}).") from err
    return paths


def read_split(out_dir: str | Path, split: str | None = None) -> list[dict]:
    """Read a written split back: one dict per image with ``path``, ``captions`` and ``graph``.

    ``split`` may be omitted when the folder holds exactly one split.
    """
    ann = Path(out_dir) / "annotations"
    found = sorted(p.name[len("captions_") : -5] for p in ann.glob("captions_*.json"))
    if split is None:
        if len(found) != 1:
            raise CourseError(
                f"{ann}: expected exactly one split to show; found {found or 'none'}. "
                "Name one with --split."
            )
        split = found[0]
    if split not in found:
        raise CourseError(f"{ann}: expected captions_{split}.json; found splits {found}.")
    caps = json.loads((ann / f"captions_{split}.json").read_text("utf-8"))
    sg_path = ann / f"scene_graphs_{split}.json"
    graphs = {}
    if sg_path.is_file():
        graphs = {g["image_id"]: g for g in json.loads(sg_path.read_text("utf-8"))["scene_graphs"]}
    texts: dict[int, list[str]] = {}
    for a in caps["annotations"]:
        texts.setdefault(a["image_id"], []).append(a["caption"])
    return [
        {
            "id": im["id"],
            "path": Path(out_dir) / "images" / im["file_name"],
            "captions": texts.get(im["id"], []),
            "graph": graphs.get(im["id"]),
        }
        for im in caps["images"]
    ]
