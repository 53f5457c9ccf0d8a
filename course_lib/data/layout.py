"""Structured compositions of the course's photo collection (used from Lecture 02 on).

A composition is a small group of objects placed relative to each other with a known relation:
an animal *wearing* glasses or a hat, an object *in* a basket or bowl, an object *on* another
(a cat on a car, a basket on a bike), a *chain* (a dog in a basket on a bike), two objects *next
to* each other, and one object *above* another. Each function returns its items, back to front,
and relations as ``(subject, predicate, object)`` local indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from course_lib.data.sprites import BY_NAME, HEADS, Sprite, load_sprites

WEARERS = ("dog", "cat", "person", "bear", "teddy bear", "sheep", "horse")
IN_BASKET = ("dog", "cat", "teddy bear", "apple", "orange", "banana", "bottle", "book")
IN_BOWL = ("apple", "orange", "banana", "broccoli", "carrot", "donut")
ON_PAIRS = {
    "cat": ("car", "couch", "bed", "chair", "suitcase", "laptop", "skateboard", "truck"),
    "dog": ("couch", "bed", "skateboard", "car", "chair", "suitcase"),
    "teddy bear": ("bed", "chair", "couch", "suitcase", "bicycle"),
    "bird": ("car", "bus", "truck", "umbrella", "horse", "cow", "sheep", "tv", "chair"),
    "cup": ("book", "laptop"),
    "apple": ("book",),
    "laptop": ("bed", "couch"),
    "cake": ("chair",),
}
SKY = ("bird", "airplane", "kite")
# The categories that may appear in each scene.
SCENE_OBJECTS: dict[str, tuple[str, ...]] = {
    "beach": tuple(
        "person, dog, umbrella, sports ball, frisbee, kite, bird, handbag, backpack, "
        "bottle, sandwich, hot dog, chair, suitcase, boat, cat, basket, bicycle".split(", ")
    ),
    "park": tuple(
        "dog, cat, person, bicycle, horse, sheep, cow, bird, kite, frisbee, sports ball, "
        "giraffe, zebra, elephant, bear, basket, backpack, umbrella, skateboard, train, teddy "
        "bear, apple, sandwich, chair".split(", ")
    ),
    "street": tuple(
        "car, bus, truck, motorcycle, bicycle, person, dog, traffic light, stop sign, "
        "umbrella, handbag, suitcase, backpack, skateboard, bird, cat".split(", ")
    ),
    "snow": tuple(
        "person, skis, dog, sheep, horse, bear, bird, car, truck, backpack, cat, "
        "bicycle, train".split(", ")
    ),
    "kitchen table": tuple(
        "cup, wine glass, bottle, bowl, knife, spoon, banana, apple, sandwich, orange, "
        "broccoli, carrot, hot dog, pizza, donut, cake, laptop, cell phone, book, mouse, "
        "keyboard, scissors, clock, cat, teddy bear, basket, toothbrush, potted plant".split(", ")
    ),
    "lake": tuple(
        "boat, bird, person, dog, airplane, kite, sports ball, umbrella, basket".split(", ")
    ),
    "living room": tuple(
        "couch, chair, tv, bed, potted plant, cat, dog, teddy bear, laptop, book, clock, "
        "person, toilet, sports ball, backpack, suitcase, cell phone, umbrella, cup, "
        "basket, bicycle, tie".split(", ")
    ),
}


def pick(rng, options):
    """Return a uniformly random element of a sequence (faster than ``rng.choice``)."""
    return options[int(rng.random() * len(options))]


def weighted(rng, options, weights):
    """Return an element of ``options`` drawn with probabilities proportional to ``weights``."""
    u, acc = rng.random() * sum(weights), 0.0
    for option, w in zip(options, weights, strict=True):
        acc += w
        if u < acc:
            return option
    return options[-1]


@dataclass
class Item:
    """One object to draw: its picture, size and top-left corner in pixels, and its looks."""

    category: str
    sprite: Sprite
    w: float
    h: float
    x: float = 0.0
    y: float = 0.0
    flip: bool = False
    angle: float = 0.0
    worn: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def place(self, cx: float, bottom: float) -> Item:
        """Move the item so that its bottom centre lies at (cx, bottom)."""
        self.x, self.y = cx - self.w / 2, bottom - self.h
        return self


def make_item(rng, category: str, long_side: float, need_head: bool = False) -> Item:
    """Pick a picture of ``category`` and size it so that its longer side is ``long_side``."""
    choices = load_sprites()[category]
    if need_head:
        choices = [s for s in choices if s.key in HEADS]
    sprite = pick(rng, choices)
    h, w = sprite.rgba.shape[:2]
    k = long_side / max(h, w)
    return Item(category, sprite, max(3.0, w * k), max(3.0, h * k), flip=bool(rng.random() < 0.5))


def natural(rng, category: str, size: int, depth: float = 1.0) -> float:
    """Return a random long-side length in pixels for ``category`` at perspective ``depth``."""
    jitter = min(1.5, max(0.7, math.exp(0.18 * rng.standard_normal())))
    return BY_NAME[category].size * size * depth * jitter


def wear(rng, wearer: Item, accessory: str) -> Item:
    """Put glasses on the wearer's eyes or a hat on its head; return the accessory item."""
    fx, fy, fw = HEADS[wearer.sprite.key]
    if wearer.flip:
        fx = 1.0 - fx
    head = fw * wearer.w
    ex, ey = wearer.x + fx * wearer.w, wearer.y + fy * wearer.h
    if accessory == "glasses":
        acc = make_item(rng, "glasses", head * 1.05)
        acc.flip = False
        return acc.place(ex, ey + acc.h / 2)
    acc = make_item(rng, "hat", head * 0.95)
    acc.flip = wearer.flip
    return acc.place(ex, ey - 0.28 * head)


def put_in(rng, content: Item, container: Item) -> None:
    """Set ``content`` inside ``container``: it sticks out above the rim and is drawn first."""
    k = 0.78 * container.w / max(content.w, 1e-6)
    if content.category in ("dog", "cat", "teddy bear"):
        k = 0.9 * container.w / max(content.w, 1e-6)
    content.w, content.h = content.w * k, content.h * k
    cx = container.x + container.w * (0.5 + rng.uniform(-0.08, 0.08))
    content.place(cx, container.y + container.h * 0.6)


def put_on(rng, top: Item, support: Item) -> None:
    """Set ``top`` standing on ``support``: its bottom sits on the support's upper part."""
    if support.category == "bicycle":
        # The basket rides over the handlebars, at the front wheel of the bike.
        fx = 0.72 if not support.flip else 0.28
        top.place(support.x + fx * support.w, support.y + 0.45 * support.h)
        return
    cx = support.x + support.w * (0.5 + rng.uniform(-0.2, 0.2))
    top.place(cx, support.y + support.h * rng.uniform(0.2, 0.35))


def allowed(kind: str, scene: str) -> bool:
    """Return whether a composition of ``kind`` makes sense in ``scene``."""
    if kind == "chain":
        return "bicycle" in SCENE_OBJECTS[scene]
    return True


def composition(rng, kind: str, scene: str, size: int, depth: float):
    """Build one composition of ``kind`` at the origin; return (items, relations)."""
    if kind == "wear":
        who = pick(rng, [w for w in WEARERS if w in scene_categories(scene)] or ["person"])
        wearer = make_item(rng, who, natural(rng, who, size, depth) * 1.25, need_head=True)
        wearer.place(0, 0)
        accs = ["glasses", "hat"] if rng.random() < 0.2 else [pick(rng, ("glasses", "hat"))]
        items = [wearer] + [wear(rng, wearer, a) for a in accs]
        return items, [(0, "wearing", i) for i in range(1, len(items))]
    if kind in ("in", "chain"):
        if kind == "in" and rng.random() < 0.4:
            container_cat, content_cat = "bowl", pick(rng, IN_BOWL)
        else:
            container_cat = "basket"
            pool = IN_BASKET if kind == "in" else ("dog", "dog", "cat", "teddy bear")
            content_cat = pick(rng, pool)
        box = make_item(rng, container_cat, natural(rng, container_cat, size, depth) * 1.2)
        inner = make_item(rng, content_cat, 10, need_head=content_cat in WEARERS)
        items, rels = [], []
        if kind == "chain":
            bike = make_item(rng, "bicycle", natural(rng, "bicycle", size, depth) * 1.35).place(
                0, 0
            )
            box.w, box.h = box.w * 0.42 * bike.w / box.w, box.h * 0.42 * bike.w / box.w
            put_on(rng, box, bike)
            items.append(bike)
        else:
            box.place(0, 0)
        put_in(rng, inner, box)
        n0 = len(items)
        items += [inner]
        if content_cat in WEARERS and rng.random() < (0.6 if kind == "chain" else 0.25):
            items.append(wear(rng, inner, pick(rng, ("glasses", "hat"))))
            rels.append((n0, "wearing", len(items) - 1))
        items.append(box)
        rels.append((n0, "in", len(items) - 1))
        if kind == "chain":
            rels.append((len(items) - 1, "on", 0))
        return items, rels
    if kind == "on":
        options = [(t, s) for t, ss in ON_PAIRS.items() for s in ss]
        cats = scene_categories(scene)
        options = [(t, s) for t, s in options if s in cats] or [("cat", "car")]
        top_cat, sup_cat = pick(rng, options)
        sup = make_item(rng, sup_cat, natural(rng, sup_cat, size, depth) * 1.1).place(0, 0)
        top = make_item(rng, top_cat, natural(rng, top_cat, size, depth) * 0.8)
        if max(top.w, top.h) > 0.7 * sup.w:
            k = 0.7 * sup.w / max(top.w, top.h)
            top.w, top.h = top.w * k, top.h * k
        put_on(rng, top, sup)
        return [sup, top], [(1, "on", 0)]
    if kind == "next to":
        cats = [c for c in scene_categories(scene) if c not in SKY]
        a = pick(rng, cats)
        b = pick(rng, [c for c in cats if c != a])
        ia = make_item(rng, a, natural(rng, a, size, depth))
        ib = make_item(rng, b, natural(rng, b, size, depth))
        gap = rng.uniform(-0.05, 0.08) * size
        ia.place(-ia.w / 2 - gap / 2, 0)
        ib.place(ib.w / 2 + gap / 2, rng.uniform(-0.03, 0.03) * size)
        return [ia, ib], [(0, "next to", 1)]
    if kind == "above":
        cats = scene_categories(scene)
        ups = [c for c in SKY + ("clock", "umbrella") if c in cats] or ["bird"]
        up = pick(rng, ups)
        downs = [c for c in cats if c not in SKY and c != up]
        down = pick(rng, downs)
        lower = make_item(rng, down, natural(rng, down, size, depth)).place(0, 0)
        upper = make_item(rng, up, natural(rng, up, size, depth) * 0.8)
        upper.place(rng.uniform(-0.2, 0.2) * lower.w, lower.y - rng.uniform(0.05, 0.2) * size)
        return [lower, upper], [(1, "above", 0)]
    raise ValueError(f"Expected a composition kind; received {kind!r}.")


def scene_categories(scene: str) -> tuple[str, ...]:
    """Return the categories that may appear in ``scene``."""
    return SCENE_OBJECTS[scene]
