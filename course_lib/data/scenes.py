"""Scenes and their scene graphs, for the course's photo collection (used from Lecture 02 on).

``generate_scene(rng, size)`` paints a background (``backgrounds``), places 1-5 objects (a
structured composition from ``layout`` and free objects with random scale, position, flip, small
rotation and colour jitter; objects lower in the picture are nearer, larger and drawn later) and
returns the picture with its scene graph::

    {"scene": "park", "width": 128, "height": 128,
     "objects": [{"category": "dog", "category_id": 18, "supercategory": "animal",
                  "bbox": [x, y, w, h], "attributes": ["large", "flipped"], "sprite": "dog_1f415"}],
     "relations": [{"subject": 0, "predicate": "in", "object": 1}]}

Boxes are the visible pixels of each object, in pixels. Attributes: ``small``/``large`` (longer
box side at most 18% / at least 40% of the image), ``flipped``, ``rotated``, ``occluded`` (over
15% hidden by other objects), ``truncated`` (over 10% outside the image). Predicates: ``wearing``,
``in``, ``on``, ``next to``, ``above``, ``left of`` (composed ones, plus ``left of``, ``next to``
and, for flying things, ``above``, read off the boxes of objects from different groups).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from course_lib.data.backgrounds import SCENE_NAMES, WATER_LINES, horizon_of, render_background
from course_lib.data.layout import (
    SCENE_OBJECTS,
    SKY,
    Item,
    allowed,
    composition,
    make_item,
    natural,
    pick,
    weighted,
)
from course_lib.data.sprites import BY_NAME

COMPOSITIONS = ("wear", "in", "on", "chain", "next to", "above")
COMPOSITION_WEIGHTS = (0.22, 0.18, 0.2, 0.14, 0.14, 0.12)
PREDICATES = ("wearing", "in", "on", "next to", "above", "left of")
MIN_SIZE, MAX_SIZE = 48, 1024  # Below 48 px the objects of a busy scene do not fit.
_PICTURES: dict[str, Image.Image] = {}
__all__ = ["SCENE_NAMES", "SCENE_OBJECTS", "PREDICATES", "generate_scene"]


def _ground(rng, scene: str, size: int, category: str | None = None) -> tuple[float, float]:
    """Return a random bottom line (pixels) for an object and its perspective depth factor.

    Flying things go in the sky, boats on the water, everything else on the ground, smaller
    near the horizon.
    """
    hz = horizon_of(scene)
    if hz is None:
        return float(rng.uniform(0.3, 1.02) * size), 1.0
    if category in SKY:
        return float(rng.uniform(0.12, hz + 0.05) * size), 0.9
    water = WATER_LINES.get(scene)
    if water is not None and category == "boat":
        lo, hi = hz + 0.06, water
    elif water is not None:
        lo, hi = water + 0.08, 1.04
    else:
        lo, hi = hz + 0.15, 1.04
    bottom = float(rng.uniform(lo, hi))
    t = (bottom - hz) / (1 - hz)
    return bottom * size, 0.45 + 0.65 * t


def _shift(items: list[Item], rng, size: int, bottom: float) -> None:
    """Move a group built at the origin so that its bottom lies at ``bottom``, mostly inside."""
    x0, x1 = min(it.x for it in items), max(it.x + it.w for it in items)
    y1 = max(it.bottom for it in items)
    slack = 0.1 * (x1 - x0)
    lo, hi = -x0 - slack, size - x1 + slack
    dx = float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2
    top = min(it.y for it in items) + bottom - y1
    dy = bottom - y1 + max(0.0, 0.02 * size - top)
    for it in items:
        it.x, it.y = it.x + dx, it.y + dy


def _overlap(a: tuple, b: tuple) -> float:
    """Return the fraction of the smaller of two (x0, y0, x1, y1) boxes that the other covers."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-6)


def _layout(rng, scene: str, size: int):
    """Choose and place the groups of one image; return (groups, relations per group)."""
    groups, rels = [], []
    n_target = weighted(rng, (1, 2, 3, 4, 5), (0.14, 0.26, 0.26, 0.2, 0.14))
    if rng.random() < 0.65:
        ok = [w * allowed(k, scene) for k, w in zip(COMPOSITIONS, COMPOSITION_WEIGHTS, strict=True)]
        kind = weighted(rng, COMPOSITIONS, ok)
        bottom, depth = _ground(rng, scene, size)
        items, rel = composition(rng, kind, scene, size, depth)
        _shift(items, rng, size, bottom)
        groups.append(items)
        rels.append(rel)
    cats = SCENE_OBJECTS[scene]
    count = sum(len(g) for g in groups)
    while count < n_target:
        cat = pick(rng, cats)
        repeat = weighted(rng, (1, 2, 3), (0.7, 0.22, 0.08)) if cat not in ("bus",) else 1
        for _ in range(min(repeat, max(1, n_target - count))):
            boxes = [(it.x, it.y, it.x + it.w, it.y + it.h) for g in groups for it in g]
            best = None
            for _try in range(8):
                bottom, depth = _ground(rng, scene, size, cat)
                it = make_item(rng, cat, natural(rng, cat, size, depth))
                if rng.random() < 0.4:
                    it.angle = min(15.0, max(-15.0, 7.0 * rng.standard_normal()))
                _shift([it], rng, size, bottom)
                box = (it.x, it.y, it.x + it.w, it.y + it.h)
                worst = max((_overlap(box, b) for b in boxes), default=0.0)
                if best is None or worst < best[0]:
                    best = (worst, it)
                if worst < 0.3:
                    break
            groups.append([best[1]])
            rels.append([])
            count += 1
    return groups, rels


def _pixels(it: Item, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the item's picture, resized, flipped, rotated and colour-jittered.

    Returns (premultiplied RGB as float32 (h, 3 w) in [0, 1], alpha repeated per channel as
    uint8 (h, 3 w), opaque mask (h, w)). Premultiplied alpha ("RGBa") lets Pillow resize and
    rotate without converting; the flat (rows, columns × channels) layout keeps numpy's inner
    loops long.
    """
    pic = _PICTURES.get(it.sprite.key)
    if pic is None:
        pic = _PICTURES[it.sprite.key] = Image.fromarray(it.sprite.rgba).convert("RGBa")
    pic = pic.resize((max(2, round(it.w)), max(2, round(it.h))), Image.Resampling.BILINEAR)
    if it.flip:
        pic = pic.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if it.angle:
        pic = pic.rotate(it.angle, resample=Image.Resampling.BILINEAR, expand=True)
    h, w = pic.height, pic.width
    r, g, b, a = pic.split()
    rgb = np.frombuffer(Image.merge("RGB", (r, g, b)).tobytes(), np.uint8).reshape(h, 3 * w)
    alpha3 = np.frombuffer(Image.merge("RGB", (a, a, a)).tobytes(), np.uint8).reshape(h, 3 * w)
    opaque = np.frombuffer(a.tobytes(), np.uint8).reshape(h, w) > 127
    gain = ((1.0 + rng.normal(0, 0.06, 3)) * rng.uniform(0.85, 1.1) / 255).astype(np.float32)
    return rgb * np.tile(gain, w), alpha3, opaque


def _draw(img: np.ndarray, label: np.ndarray, it: Item, idx: int, rng) -> tuple:
    """Alpha-blend one item into ``img`` (size, size × 3) and mark its pixels in ``label``.

    Returns (opaque pixels, opaque pixels inside the image, rows drawn, columns drawn).
    """
    rgb, alpha3, opaque = _pixels(it, rng)
    ph, pw = opaque.shape
    cx, cy = it.x + it.w / 2, it.y + it.h / 2
    x0, y0 = round(cx - pw / 2), round(cy - ph / 2)
    size = label.shape[0]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(pw, size - x0), min(ph, size - y0)
    total = int(opaque.sum())
    if sx1 <= sx0 or sy1 <= sy0:
        return total, 0, slice(0, 0), slice(0, 0)
    rows, cols = slice(y0 + sy0, y0 + sy1), slice(x0 + sx0, x0 + sx1)
    region = img[rows, 3 * cols.start : 3 * cols.stop]
    region *= 1 - alpha3[sy0:sy1, 3 * sx0 : 3 * sx1] * np.float32(1 / 255)
    region += rgb[sy0:sy1, 3 * sx0 : 3 * sx1]
    inside = opaque[sy0:sy1, sx0:sx1]
    label[rows, cols][inside] = idx
    return total, int(inside.sum()), rows, cols


def _spatial(objects: list[dict], group: list[int], size: int) -> set[tuple[int, str, int]]:
    """Read ``left of``, ``above`` and ``next to`` off the boxes of objects in different groups."""
    out = set()
    for i, a in enumerate(objects):
        for j, b in enumerate(objects):
            if i == j or group[i] == group[j] or a["worn"] or b["worn"]:
                continue
            ax, ay, aw, ah = a["bbox"]
            bx, by, bw, bh = b["bbox"]
            xover = min(ax + aw, bx + bw) - max(ax, bx)
            yover = min(ay + ah, by + bh) - max(ay, by)
            if ax + aw / 2 < bx + bw / 2 and xover <= 0.3 * min(aw, bw):
                out.add((i, "left of", j))
                if bx - (ax + aw) <= 0.12 * size and yover >= 0.3 * min(ah, bh):
                    out.add((min(i, j), "next to", max(i, j)))
            # On the ground, higher in the picture means farther away, not above: only
            # flying things are read as above what lies below them.
            if a["category"] in SKY and ay + ah <= by + 0.15 * bh and xover > 0:
                out.add((i, "above", j))
    return out


def generate_scene(rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, dict]:
    """Return one picture (size × size × 3 uint8) and its scene graph (see the module docs).

    Raises ValueError when ``size`` is outside [MIN_SIZE, MAX_SIZE] = [48, 1024].
    """
    if not isinstance(size, int | np.integer) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"Expected an image size between {MIN_SIZE} and {MAX_SIZE}; got {size!r}.")
    size = int(size)
    scene = pick(rng, SCENE_NAMES)
    for attempt in range(6):
        groups, group_rels = _layout(rng, scene, size)
        # Nearer groups (lower bottoms) are drawn last; flying things first.
        order = sorted(range(len(groups)), key=lambda g: max(it.bottom for it in groups[g]))
        items, group, rels = [], [], []
        for g in order:
            base = len(items)
            items += groups[g]
            group += [g] * len(groups[g])
            rels += [(base + s, p, base + o) for s, p, o in group_rels[g]]
        img = render_background(scene, rng, size).reshape(size, 3 * size)
        label = np.full((size, size), -1, np.int16)
        counts = [_draw(img, label, it, k, rng) for k, it in enumerate(items)]
        visible = np.bincount(label.ravel() + 1, minlength=len(items) + 1)[1:]
        if all(v >= max(12, 0.3 * c[0]) for v, c in zip(visible, counts, strict=True)):
            break
        if attempt == 5:
            raise RuntimeError("Could not place the objects of a scene after 6 attempts.")
    worn = {o for _, p, o in rels if p == "wearing"}
    objects = []
    for k, it in enumerate(items):
        total, inside, rows, cols = counts[k]
        mine = label[rows, cols] == k
        ys, xs = np.flatnonzero(mine.any(axis=1)), np.flatnonzero(mine.any(axis=0))
        x, y = int(xs[0]) + cols.start, int(ys[0]) + rows.start
        w, h = int(xs[-1]) + cols.start - x + 1, int(ys[-1]) + rows.start - y + 1
        attrs = []
        if max(w, h) <= 0.18 * size:
            attrs.append("small")
        elif max(w, h) >= 0.4 * size:
            attrs.append("large")
        if it.flip:
            attrs.append("flipped")
        if abs(it.angle) >= 4:
            attrs.append("rotated")
        if visible[k] < 0.85 * inside:
            attrs.append("occluded")
        if inside < 0.9 * total:
            attrs.append("truncated")
        cat = BY_NAME[it.category]
        objects.append(
            {
                "category": cat.name,
                "category_id": cat.id,
                "supercategory": cat.supercategory,
                "bbox": [float(x), float(y), float(w), float(h)],
                "attributes": attrs,
                "sprite": it.sprite.key,
                "worn": k in worn,
            }
        )
    all_rels = sorted(set(rels) | _spatial(objects, group, size), key=lambda r: (r[0], r[2], r[1]))
    for o in objects:
        del o["worn"]
    np.clip(img, 0.0, 1.0, out=img)
    img *= 255
    img += 0.5
    pixels = img.astype(np.uint8).reshape(size, size, 3)
    graph = {
        "scene": scene,
        "width": size,
        "height": size,
        "objects": objects,
        "relations": [{"subject": s, "predicate": p, "object": o} for s, p, o in all_rels],
    }
    return pixels, graph
