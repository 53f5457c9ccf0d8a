"""Whether a picture matches a structured query, for the photo collection (used from Lecture 02 on).

A later competition uses this as ground truth: any picture whose scene graph satisfies the query
counts as relevant, not only the one the query was written for.

The query-graph schema (a dict, or the ``Query`` dataclass)::

    {"objects": [{"category": "dog", "count": 1, "attributes": ["small"]},
                 {"category": "basket"}, {"category": "bicycle"}],
     "relations": [{"subject": 0, "predicate": "in", "object": 1},
                   {"subject": 1, "predicate": "on", "object": 2}],
     "scene": "park"}

- ``category``: a category name of the collection ("dog", "glasses") or a supercategory
  ("animal", "vehicle"), which matches any of its categories.
- ``count``: omitted or None means "at least one"; an integer means exactly that many objects of
  the category carry all the listed attributes.
- ``attributes``: any of small, large, flipped, rotated, occluded, truncated.
- ``relations``: indices into ``objects``. Predicates: wearing, in, on, next to, above, left of,
  and their readings right of (left of, swapped), below and under (above and on, swapped), near,
  beside and by (next to), inside (in), on top of (on). "on" also holds through a chain of "in"
  and "on" that ends with "on": a dog in a basket on a bike is a dog on a bike. Different query
  objects in relations must be matched by different objects of the picture.
- ``scene``: one of the scene names, or omitted for any scene ("kitchen", "grass", "water" and
  "room" are read as "kitchen table", "park", "lake" and "living room").
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.data.sprites import BY_NAME

ALIASES = {
    "right of": ("left of", True),
    "below": ("above", True),
    "under": ("on", True),
    "near": ("next to", False),
    "beside": ("next to", False),
    "by": ("next to", False),
    "inside": ("in", False),
    "on top of": ("on", False),
}
BASE_PREDICATES = ("wearing", "in", "on", "next to", "above", "left of")
SCENE_ALIASES = {
    "kitchen": "kitchen table",
    "grass": "park",
    "water": "lake",
    "room": "living room",
}
ATTRIBUTES = ("small", "large", "flipped", "rotated", "occluded", "truncated")
SUPERCATEGORIES = {c.supercategory for c in BY_NAME.values()}


@dataclass(frozen=True)
class QueryObject:
    """One queried object: a category (or supercategory), a count and attributes."""

    category: str
    count: int | None = None
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryRelation:
    """``objects[subject] predicate objects[object]``, e.g. 0 "in" 1."""

    subject: int
    predicate: str
    object: int


@dataclass(frozen=True)
class Query:
    """A structured query: objects, relations between them and an optional scene."""

    objects: tuple[QueryObject, ...] = ()
    relations: tuple[QueryRelation, ...] = ()
    scene: str | None = None


def parse_query(query: dict | Query) -> Query:
    """Return ``query`` as a validated ``Query``; raise ValueError naming what is wrong."""
    if isinstance(query, Query):
        query = {
            "objects": [o.__dict__ for o in query.objects],
            "relations": [r.__dict__ for r in query.relations],
            "scene": query.scene,
        }
    if not isinstance(query, dict):
        raise TypeError(f"Expected a query dict or Query; received {type(query).__name__}.")
    objects = []
    for k, o in enumerate(query.get("objects", [])):
        cat = o.get("category")
        if cat not in BY_NAME and cat not in SUPERCATEGORIES:
            raise ValueError(f"Query object {k}: expected a category name; received {cat!r}.")
        count = o.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError(f"Query object {k}: expected a count >= 1 or None; got {count!r}.")
        attrs = tuple(o.get("attributes", ()))
        bad = [a for a in attrs if a not in ATTRIBUTES]
        if bad:
            raise ValueError(
                f"Query object {k}: expected attributes among {ATTRIBUTES}; got {bad}."
            )
        objects.append(QueryObject(cat, count, attrs))
    relations = []
    for r in query.get("relations", []):
        pred = r.get("predicate")
        if pred not in BASE_PREDICATES and pred not in ALIASES:
            raise ValueError(f"Expected a predicate among {BASE_PREDICATES}; received {pred!r}.")
        for end in ("subject", "object"):
            if not isinstance(r.get(end), int) or not 0 <= r[end] < len(objects):
                raise ValueError(f"Relation {r}: expected {end} to index the query objects.")
        relations.append(QueryRelation(r["subject"], pred, r["object"]))
    scene = query.get("scene")
    scene = SCENE_ALIASES.get(scene, scene)
    if not objects and scene is None:
        raise ValueError("Expected a query with at least one object or a scene; received neither.")
    return Query(tuple(objects), tuple(relations), scene)


def _matches(obj: dict, q: QueryObject, with_attributes: bool = True) -> bool:
    if q.category != obj["category"] and q.category != obj.get("supercategory"):
        return False
    return not with_attributes or all(a in obj["attributes"] for a in q.attributes)


def _holds(graph: dict, s: int, pred: str, o: int) -> bool:
    """Whether ``s pred o`` holds in the scene graph (with the aliases and "on" chains)."""
    pred, swap = ALIASES.get(pred, (pred, False))
    if swap:
        s, o = o, s
    edges = {(r["subject"], r["predicate"], r["object"]) for r in graph["relations"]}
    if pred == "next to":
        return (s, pred, o) in edges or (o, pred, s) in edges
    if pred != "on":
        return (s, pred, o) in edges
    # Follow "in"/"on" edges from s; "on" holds if o is reached by an edge labelled "on".
    frontier, seen = [s], {s}
    while frontier:
        node = frontier.pop()
        for a, p, b in edges:
            if a == node and p in ("in", "on"):
                if b == o and p == "on":
                    return True
                if b not in seen:
                    seen.add(b)
                    frontier.append(b)
    return False


def _assign(graph, query: Query, candidates: list[list[int]]) -> bool:
    """Search one picture object per related query object so that every relation holds."""
    related = sorted({r.subject for r in query.relations} | {r.object for r in query.relations})
    chosen: dict[int, int] = {}

    def ok(partial: dict[int, int]) -> bool:
        for r in query.relations:
            if r.subject in partial and r.object in partial:
                if not _holds(graph, partial[r.subject], r.predicate, partial[r.object]):
                    return False
        return True

    def search(k: int) -> bool:
        if k == len(related):
            return True
        qi = related[k]
        for c in candidates[qi]:
            if c in chosen.values():
                continue
            chosen[qi] = c
            if ok(chosen) and search(k + 1):
                return True
            del chosen[qi]
        return False

    return search(0)


def relevance(query: dict | Query, scene_graph: dict) -> bool:
    """Return whether the picture of ``scene_graph`` satisfies the whole ``query``."""
    return relevance_grade(query, scene_graph) == 2


def relevance_grade(query: dict | Query, scene_graph: dict) -> int:
    """Return 2 for a full match, 1 for a partial one, 0 for none.

    Partial (1): the scene matches (when the query names one) and every queried category appears
    at least once, but a count, an attribute or a relation does not hold. A query that names
    only a scene scores 2 or 0.
    """
    q = parse_query(query)
    objs = scene_graph["objects"]
    scene_ok = q.scene is None or q.scene == scene_graph["scene"]
    present = all(any(_matches(o, qo, False) for o in objs) for qo in q.objects)
    if not present or not scene_ok:
        return 0
    candidates = [[i for i, o in enumerate(objs) if _matches(o, qo)] for qo in q.objects]
    counts_ok = all(
        (len(c) == qo.count) if qo.count is not None else bool(c)
        for c, qo in zip(candidates, q.objects, strict=True)
    )
    if counts_ok and _assign(scene_graph, q, candidates):
        return 2
    return 1
