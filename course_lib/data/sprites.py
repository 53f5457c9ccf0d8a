"""The object icons of the course's photo collection (used from Lecture 02 on).

Each object category is a real COCO category (its real id, name and supercategory) drawn with
one or more pictures from the Noto Color Emoji font (SIL Open Font License 1.1, see
``course_lib/assets/OFL.txt``). Three accessories that COCO lacks (glasses, hat, basket) get ids
above 200 so they never collide with COCO's ids. ``scripts/render_sprites.py`` renders the
pictures once into ``assets/sprites.png`` with the index ``assets/sprites.json``; at run time
only those two files are read, so users need no font.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from course_lib.errors import CourseError
from course_lib.paths import ASSETS_DIR

SHEET_PNG = ASSETS_DIR / "sprites.png"
SHEET_JSON = ASSETS_DIR / "sprites.json"


@dataclass(frozen=True)
class Category:
    """One object category: COCO id/name/supercategory, its emoji and its usual size.

    ``size`` is the usual length of the picture's longer side as a fraction of the image side.
    ``coco`` is False for the accessories that are not COCO categories.
    """

    id: int
    name: str
    supercategory: str
    emojis: tuple[str, ...]
    size: float
    coco: bool = True


def _c(id_, name, sup, emojis, size, coco=True):
    return Category(id_, name, sup, tuple(emojis.split()), size, coco)


CATEGORIES: tuple[Category, ...] = (
    _c(1, "person", "person", "\U0001f9cd \U0001f6b6", 0.42),
    _c(2, "bicycle", "vehicle", "\U0001f6b2", 0.45),
    _c(3, "car", "vehicle", "\U0001f697 \U0001f699 \U0001f695", 0.45),
    _c(4, "motorcycle", "vehicle", "\U0001f3cd", 0.42),
    _c(5, "airplane", "vehicle", "\u2708", 0.40),
    _c(6, "bus", "vehicle", "\U0001f68c", 0.55),
    _c(7, "train", "vehicle", "\U0001f686", 0.50),
    _c(8, "truck", "vehicle", "\U0001f69a", 0.52),
    _c(9, "boat", "vehicle", "\u26f5 \U0001f6a4", 0.45),
    _c(10, "traffic light", "outdoor", "\U0001f6a6", 0.35),
    _c(13, "stop sign", "outdoor", "\U0001f6d1", 0.28),
    _c(16, "bird", "animal", "\U0001f426 \U0001f54a", 0.20),
    _c(17, "cat", "animal", "\U0001f408 \U0001f431", 0.30),
    _c(18, "dog", "animal", "\U0001f415 \U0001f436 \U0001f429", 0.34),
    _c(19, "horse", "animal", "\U0001f40e", 0.48),
    _c(20, "sheep", "animal", "\U0001f411", 0.34),
    _c(21, "cow", "animal", "\U0001f404", 0.45),
    _c(22, "elephant", "animal", "\U0001f418", 0.50),
    _c(23, "bear", "animal", "\U0001f43b", 0.36),
    _c(24, "zebra", "animal", "\U0001f993", 0.40),
    _c(25, "giraffe", "animal", "\U0001f992", 0.50),
    _c(27, "backpack", "accessory", "\U0001f392", 0.22),
    _c(28, "umbrella", "accessory", "\u2602 \U0001f302", 0.40),
    _c(31, "handbag", "accessory", "\U0001f45c", 0.20),
    _c(32, "tie", "accessory", "\U0001f454", 0.20),
    _c(33, "suitcase", "accessory", "\U0001f9f3", 0.26),
    _c(34, "frisbee", "sports", "\U0001f94f", 0.16),
    _c(35, "skis", "sports", "\U0001f3bf", 0.32),
    _c(37, "sports ball", "sports", "\u26bd \U0001f3c0 \U0001f3c8", 0.16),
    _c(38, "kite", "sports", "\U0001fa81", 0.26),
    _c(41, "skateboard", "sports", "\U0001f6f9", 0.26),
    _c(44, "bottle", "kitchen", "\U0001f37e", 0.28),
    _c(46, "wine glass", "kitchen", "\U0001f377", 0.22),
    _c(47, "cup", "kitchen", "\u2615", 0.20),
    _c(49, "knife", "kitchen", "\U0001f52a", 0.22),
    _c(50, "spoon", "kitchen", "\U0001f944", 0.20),
    _c(51, "bowl", "kitchen", "\U0001f963", 0.26),
    _c(52, "banana", "food", "\U0001f34c", 0.22),
    _c(53, "apple", "food", "\U0001f34e \U0001f34f", 0.18),
    _c(54, "sandwich", "food", "\U0001f96a", 0.24),
    _c(55, "orange", "food", "\U0001f34a", 0.18),
    _c(56, "broccoli", "food", "\U0001f966", 0.22),
    _c(57, "carrot", "food", "\U0001f955", 0.22),
    _c(58, "hot dog", "food", "\U0001f32d", 0.24),
    _c(59, "pizza", "food", "\U0001f355", 0.26),
    _c(60, "donut", "food", "\U0001f369", 0.20),
    _c(61, "cake", "food", "\U0001f382", 0.28),
    _c(62, "chair", "furniture", "\U0001fa91", 0.36),
    _c(63, "couch", "furniture", "\U0001f6cb", 0.55),
    _c(64, "potted plant", "furniture", "\U0001fab4", 0.34),
    _c(65, "bed", "furniture", "\U0001f6cf", 0.55),
    _c(70, "toilet", "furniture", "\U0001f6bd", 0.36),
    _c(72, "tv", "electronic", "\U0001f4fa", 0.36),
    _c(73, "laptop", "electronic", "\U0001f4bb", 0.34),
    _c(74, "mouse", "electronic", "\U0001f5b1", 0.16),
    _c(76, "keyboard", "electronic", "\u2328", 0.34),
    _c(77, "cell phone", "electronic", "\U0001f4f1", 0.20),
    _c(84, "book", "indoor", "\U0001f4d5 \U0001f4d8 \U0001f4d7", 0.22),
    _c(85, "clock", "indoor", "\u23f0 \U0001f570", 0.22),
    _c(87, "scissors", "indoor", "\u2702", 0.20),
    _c(88, "teddy bear", "indoor", "\U0001f9f8", 0.28),
    _c(90, "toothbrush", "indoor", "\U0001faa5", 0.20),
    _c(201, "glasses", "accessory", "\U0001f453 \U0001f576", 0.16, coco=False),
    _c(202, "hat", "accessory", "\U0001f3a9 \U0001f9e2", 0.16, coco=False),
    _c(203, "basket", "indoor", "\U0001f9fa", 0.30, coco=False),
)
BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}

# Where a wearer's eyes are in each picture, as fractions (x, y, head width) of the picture's
# box in its unflipped orientation. Only pictures listed here can wear glasses or a hat.
HEADS: dict[str, tuple[float, float, float]] = {
    "dog_1f415": (0.37, 0.29, 0.50),
    "dog_1f436": (0.53, 0.45, 0.62),
    "dog_1f429": (0.20, 0.24, 0.30),
    "cat_1f408": (0.30, 0.28, 0.42),
    "cat_1f431": (0.50, 0.53, 0.62),
    "person_1f9cd": (0.50, 0.12, 0.60),
    "person_1f6b6": (0.40, 0.10, 0.50),
    "bear_1f43b": (0.50, 0.45, 0.62),
    "teddy_bear_1f9f8": (0.50, 0.30, 0.45),
    "sheep_1f411": (0.29, 0.39, 0.35),
    "horse_1f40e": (0.17, 0.23, 0.25),
}


def sprite_key(category: str, emoji: str) -> str:
    """Return the index key of one picture, e.g. ``dog_1f415``."""
    code = "-".join(f"{ord(ch):x}" for ch in emoji if ord(ch) != 0xFE0F)
    return f"{category.replace(' ', '_')}_{code}"


@dataclass(frozen=True)
class Sprite:
    """One picture cut from the sheet: an RGBA array (uint8, H×W×4) and its category."""

    key: str
    category: Category
    rgba: np.ndarray


@lru_cache(maxsize=1)
def load_sprites() -> dict[str, list[Sprite]]:
    """Return every picture of the sheet grouped by category name (read once, then cached)."""
    if not SHEET_PNG.is_file() or not SHEET_JSON.is_file():
        raise CourseError(
            f"Expected the sprite sheet {SHEET_PNG} and its index {SHEET_JSON}; they are missing. "
            "Reinstall the course package (or run scripts/render_sprites.py)."
        )
    index = json.loads(SHEET_JSON.read_text(encoding="utf-8"))
    sheet = np.asarray(Image.open(SHEET_PNG).convert("RGBA"))
    out: dict[str, list[Sprite]] = {}
    for entry in index["sprites"]:
        cat = BY_NAME.get(entry["category"])
        if cat is None:
            raise CourseError(f"{SHEET_JSON}: unknown category {entry['category']!r}.")
        x, y, w, h = entry["box"]
        rgba = np.ascontiguousarray(sheet[y : y + h, x : x + w])
        out.setdefault(cat.name, []).append(Sprite(entry["key"], cat, rgba))
    return out
