"""Search queries written together with their query graphs (the Lecture 05 competition).

Every query is first built as a small tree of noun phrases (``Node``: a category, an optional
count and size, and clauses such as "wearing", "in", "next to" pointing at other nodes), then
``render`` turns the tree into search-box text ("a dog wearing glasses sitting in a basket on a
bike in the park") and, from the same tree, the query graph of ``course_lib.data.relevance``. So
the ground truth never depends on parsing text.

Two sources of trees:

- ``caption_query(graph, rng)``: a caption-style query read off one gallery picture's scene graph
  (its composed objects, the counts of its objects, a spatial relation, a size). That picture is
  relevant by construction; every other picture whose scene graph matches is relevant too.
- ``grammar_query(rng)``: a compositional query from the collection's grammar (who can wear what,
  what goes in a basket, what sits on what, counts, pairs), not tied to any picture; the
  competition keeps it only when some gallery picture matches it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from course_lib.data.layout import IN_BASKET, IN_BOWL, ON_PAIRS, SCENE_OBJECTS, SKY, WEARERS
from course_lib.data.scenes import SCENE_NAMES
from course_lib.data.words import (
    ANIMATE,
    BARE,
    NOUNS,
    NUMBERS,
    PREDICATE_WORDS,
    SCENE_PLACES,
    SIZES,
    article,
)

COMPOSED = ("wearing", "in", "on")
SPATIAL = ("next to", "left of", "above")
ACCESSORIES = ("glasses", "hat")
GRAMMAR_FORMS = ("wear", "in", "on", "chain", "count", "pair", "and")


@dataclass
class Node:
    """One noun phrase of a query: "a dog", "two cats", "a big bus", with its clauses."""

    category: str
    count: int | None = None
    size: str | None = None
    clauses: list[tuple[str, Node]] = field(default_factory=list)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.random() * len(options))]


def _noun_phrase(rng, node: Node) -> str:
    forms = NOUNS[node.category]
    # A noun that opens with a size word ("a little bird") reads two ways, as the noun and as a
    # small bird: queries never write it, so every size a query shows is one its graph asks for.
    forms = [f for f in forms if f[0].split()[0] not in _SIZE_WORDS] or forms
    if node.count is not None and node.count >= 2:
        return f"{NUMBERS[node.count]} {_pick(rng, forms)[1]}"
    word = _pick(rng, forms)[0]
    if node.size:
        # The size word goes before measure nouns too ("a small pair of skis"), since the graph
        # asks for the size; no size word makes a noun with the word after it ("little bird").
        sizes = [s for s in SIZES[node.size] if f"{s} {word}" not in _NOUN_FORMS]
        word = f"{_pick(rng, sizes)} {word}"
    return article(word)


_SIZE_WORDS = frozenset(w for ws in SIZES.values() for w in ws)
_NOUN_FORMS = frozenset(form for forms in NOUNS.values() for pair in forms for form in pair)


class _Graph:
    """The query graph being built while the text is written."""

    def __init__(self) -> None:
        self.objects: list[dict] = []
        self.relations: list[dict] = []

    def add(self, node: Node) -> int:
        obj: dict = {"category": node.category}
        if node.count is not None:
            obj["count"] = node.count
        if node.size:
            obj["attributes"] = [node.size]
        self.objects.append(obj)
        return len(self.objects) - 1


def _phrase(rng, node: Node, graph: _Graph) -> tuple[str, int]:
    """Return the text of ``node`` with its clauses, adding its objects and relations."""
    me = graph.add(node)
    text = _noun_phrase(rng, node)
    worn = [child for pred, child in node.clauses if pred == "wearing"]
    if worn:
        verb = _pick(rng, PREDICATE_WORDS["wearing"])
        names = []
        for child in worn:
            name = _noun_phrase(rng, child)
            if verb in ("in", "with") and name[2:] in BARE:
                name = BARE[name[2:]]
            names.append(name)
            graph.relations.append(
                {"subject": me, "predicate": "wearing", "object": graph.add(child)}
            )
        text += f" {verb} {' and '.join(names)}"
    for pred, child in node.clauses:
        if pred == "wearing":
            continue
        key = pred
        if pred in ("in", "on") and node.category in ANIMATE:
            key = pred + "+animate"
        elif pred == "above" and node.category in SKY:
            key = "above+flying"
        child_text, other = _phrase(rng, child, graph)
        graph.relations.append({"subject": me, "predicate": pred, "object": other})
        text += f" {_pick(rng, PREDICATE_WORDS[key])} {child_text}"
    return text, me


def render(rng: np.random.Generator, heads: list[Node], scene: str | None) -> tuple[str, dict]:
    """Return (query text, query graph) for noun phrases joined by "and" and an optional place."""
    graph = _Graph()
    parts = [_phrase(rng, node, graph)[0] for node in heads]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if scene is not None:
        text += " " + _pick(rng, SCENE_PLACES[scene])
    query = {"objects": graph.objects, "relations": graph.relations}
    if scene is not None:
        query["scene"] = scene
    return " ".join(text.lower().split()), query


def _composed_tree(graph: dict, i: int, depth: int = 0) -> Node:
    """Return object ``i`` of a scene graph with its composed clauses (at most two levels)."""
    node = Node(graph["objects"][i]["category"])
    for r in graph["relations"]:
        if r["subject"] == i and r["predicate"] in COMPOSED:
            if r["predicate"] == "wearing" or depth < 2:
                node.clauses.append((r["predicate"], _composed_tree(graph, r["object"], depth + 1)))
    return node


def caption_query(graph: dict, rng: np.random.Generator) -> tuple[str, dict, str]:
    """Return (text, query graph, kind) of a caption-style query that this picture satisfies.

    Kinds: ``composed`` (an object with what it wears, is in or on), ``counts`` (how many of one
    or two categories), ``relation`` (two objects next to, left or right of, above each other)
    and ``size`` (a small or large object).
    """
    objs, rels = graph["objects"], graph["relations"]
    targets = {r["object"] for r in rels if r["predicate"] in COMPOSED}
    heads = [
        r["subject"] for r in rels if r["predicate"] in COMPOSED and r["subject"] not in targets
    ]
    spatial = [r for r in rels if r["predicate"] in SPATIAL and r["subject"] not in targets]
    sized = [
        i
        for i, o in enumerate(objs)
        if i not in targets and {"small", "large"} & set(o["attributes"])
    ]
    kinds = ["counts"] + ["composed"] * bool(heads) * 2 + ["relation"] * bool(spatial)
    kinds += ["size"] * bool(sized)
    kind = _pick(rng, kinds)
    scene = graph["scene"] if rng.random() < 0.5 else None
    if kind == "composed":
        return (*render(rng, [_composed_tree(graph, _pick(rng, sorted(set(heads))))], scene), kind)
    if kind == "relation":
        r = _pick(rng, spatial)
        s, pred, o = r["subject"], r["predicate"], r["object"]
        if pred == "left of" and rng.random() < 0.5:
            s, pred, o = o, "right of", s
        node = Node(objs[s]["category"], clauses=[(pred, Node(objs[o]["category"]))])
        return (*render(rng, [node], scene), kind)
    if kind == "size":
        i = _pick(rng, sized)
        size = "large" if "large" in objs[i]["attributes"] else "small"
        return (*render(rng, [Node(objs[i]["category"], size=size)], graph["scene"]), kind)
    counts = Counter(o["category"] for i, o in enumerate(objs) if i not in targets)
    counts = counts or Counter(o["category"] for o in objs)
    cats = sorted(counts)
    chosen = [cats[j] for j in sorted(rng.permutation(len(cats))[: 1 + (rng.random() < 0.4)])]
    nodes = [Node(c, count=counts[c] if counts[c] >= 2 else None) for c in chosen]
    if all(n.count is None for n in nodes):
        scene = graph["scene"]  # "a cup on a kitchen table" rather than just "a cup".
    return (*render(rng, nodes, scene), kind)


def grammar_query(rng: np.random.Generator) -> tuple[str, dict, str]:
    """Return (text, query graph, form) of a compositional query drawn from the grammar."""
    form = _pick(rng, GRAMMAR_FORMS)
    scene = _pick(rng, SCENE_NAMES) if rng.random() < 0.5 else None
    cats = SCENE_OBJECTS[scene] if scene else sorted({c for v in SCENE_OBJECTS.values() for c in v})
    if form == "wear":
        node = Node(_pick(rng, WEARERS), clauses=[("wearing", Node(_pick(rng, ACCESSORIES)))])
        if node.category in IN_BASKET and rng.random() < 0.3:
            node.clauses.append(("in", Node("basket")))
        heads = [node]
    elif form == "in":
        if rng.random() < 0.6:
            heads = [Node(_pick(rng, IN_BASKET), clauses=[("in", Node("basket"))])]
        else:
            heads = [Node(_pick(rng, IN_BOWL), clauses=[("in", Node("bowl"))])]
    elif form == "on":
        top = _pick(rng, sorted(ON_PAIRS))
        heads = [Node(top, clauses=[("on", Node(_pick(rng, ON_PAIRS[top])))])]
    elif form == "chain":
        basket = Node("basket", clauses=[("on", Node("bicycle"))])
        node = Node(_pick(rng, ("dog", "cat", "teddy bear")), clauses=[("in", basket)])
        if rng.random() < 0.4:
            node.clauses.insert(0, ("wearing", Node(_pick(rng, ACCESSORIES))))
        heads = [node]
    elif form == "count":
        heads = [
            Node(
                _pick(rng, [c for c in cats if c not in ACCESSORIES]),
                count=2 + (rng.random() < 0.3),
            )
        ]
    else:
        a = _pick(rng, cats)
        b = _pick(rng, [c for c in cats if c != a])
        if form == "and":
            heads = [Node(a), Node(b)]
        else:
            pred = _pick(rng, ("next to", "next to", "left of", "right of"))
            if a in SKY and rng.random() < 0.5:
                pred = "above"
            heads = [Node(a, clauses=[(pred, Node(b))])]
    return (*render(rng, heads, scene), form)
