"""The sprite sheet of the photo collection: its index matches the PNG and COCO's categories."""

import json

import numpy as np
from PIL import Image

from course_lib.data.sprites import BY_NAME, CATEGORIES, HEADS, SHEET_JSON, SHEET_PNG, load_sprites
from course_lib.paths import ASSETS_DIR


def test_index_matches_the_png():
    index = json.loads(SHEET_JSON.read_text(encoding="utf-8"))
    sheet = np.asarray(Image.open(SHEET_PNG).convert("RGBA"))
    keys = [e["key"] for e in index["sprites"]]
    assert len(keys) == len(set(keys))
    for entry in index["sprites"]:
        x, y, w, h = entry["box"]
        assert 0 <= x and 0 <= y and x + w <= sheet.shape[1] and y + h <= sheet.shape[0]
        alpha = sheet[y : y + h, x : x + w, 3]
        # Each picture was cropped to its alpha box: every border row/column holds some ink.
        assert alpha[0].max() > 0 and alpha[-1].max() > 0
        assert alpha[:, 0].max() > 0 and alpha[:, -1].max() > 0
        assert max(w, h) == index["size"]


def test_every_category_has_a_picture_and_coco_ids_are_real():
    sprites = load_sprites()
    assert set(sprites) == {c.name for c in CATEGORIES}
    coco = [c for c in CATEGORIES if c.coco]
    assert len(coco) >= 40
    assert all(1 <= c.id <= 90 for c in coco)
    assert all(c.id > 200 for c in CATEGORIES if not c.coco)
    # A few of COCO's real ids, names and supercategories.
    assert (BY_NAME["dog"].id, BY_NAME["dog"].supercategory) == (18, "animal")
    assert (BY_NAME["bicycle"].id, BY_NAME["bicycle"].supercategory) == (2, "vehicle")
    assert (BY_NAME["pizza"].id, BY_NAME["pizza"].supercategory) == (59, "food")
    assert (BY_NAME["laptop"].id, BY_NAME["laptop"].supercategory) == (73, "electronic")
    assert {"glasses", "basket", "hat"} <= set(BY_NAME)


def test_wearers_have_heads_and_the_licence_ships():
    keys = {s.key for pics in load_sprites().values() for s in pics}
    assert set(HEADS) <= keys
    assert "SIL OPEN FONT LICENSE Version 1.1" in (ASSETS_DIR / "OFL.txt").read_text()
    assert SHEET_PNG.stat().st_size < 600_000
