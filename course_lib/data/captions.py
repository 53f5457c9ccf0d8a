"""Captions in COCO's style for the course's photo collection (used from Lecture 02 on).

``captions_for(graph, rng)`` writes five different captions of one picture the way people
describe photos: synonyms ("puppy", "bike"), counts ("two cats"), the composed relations ("a dog
wearing glasses sitting in a basket on a bike"), the place ("on the beach"), partial captions that
mention only the salient (large) objects, and the small slips of real captions (all lower case,
no final period, a trailing space). Captions of one picture never repeat, even ignoring case.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from course_lib.data.words import (
    ANIMATE,
    BARE,
    NOUNS,
    NUMBERS,
    OPENERS,
    PREDICATE_WORDS,
    SCENE_NOUNS,
    SCENE_PLACES,
    SIZES,
    SPRITE_NOUNS,
    article,
)

COMPOSED = ("wearing", "in", "on")


def _pick(rng, options):
    return options[int(rng.random() * len(options))]


class _Describer:
    """Phrases for the objects and relations of one scene graph."""

    def __init__(self, graph: dict, rng: np.random.Generator):
        self.g, self.rng = graph, rng
        self.objs = graph["objects"]
        self.clauses: dict[int, list[tuple[str, int]]] = {}
        targets = set()
        for r in graph["relations"]:
            if r["predicate"] in COMPOSED:
                self.clauses.setdefault(r["subject"], []).append((r["predicate"], r["object"]))
                targets.add(r["object"])
        self.worn = {r["object"] for r in graph["relations"] if r["predicate"] == "wearing"}
        self.heads = [i for i in range(len(self.objs)) if i not in targets]

    def noun(self, i: int, plural: bool = False) -> str:
        o = self.objs[i]
        options = NOUNS[o["category"]] + SPRITE_NOUNS.get(o.get("sprite", ""), []) * 2
        return _pick(self.rng, options)[1 if plural else 0]

    def simple(self, i: int, adjective: float = 0.2) -> str:
        """Return "a dog" or "a little dog" for object ``i``."""
        word = self.noun(i)
        sizes = [a for a in self.objs[i]["attributes"] if a in SIZES]
        if sizes and self.rng.random() < adjective and not word.startswith(("pair", "piece")):
            word = f"{_pick(self.rng, SIZES[sizes[0]])} {word}"
        return article(word)

    def phrase(self, i: int, depth: int = 0, adjective: float = 0.2) -> str:
        """Return object ``i`` with its composed clauses: "a dog wearing glasses in a basket"."""
        text = self.simple(i, adjective)
        for pred, j in sorted(self.clauses.get(i, []), key=lambda c: c[0] != "wearing"):
            if pred == "wearing":
                word = _pick(self.rng, PREDICATE_WORDS["wearing"])
                acc = self.simple(j, 0.0)
                if word in ("in", "with") and acc[2:] in BARE and self.rng.random() < 0.7:
                    acc = BARE[acc[2:]]
                text += f" {word} {acc}"
            elif depth < 2:
                key = pred + ("+animate" if self.objs[i]["category"] in ANIMATE else "")
                word = _pick(self.rng, PREDICATE_WORDS[key])
                text += f" {word} {self.phrase(j, depth + 1, 0.0)}"
        return text

    def count(self, idx: list[int]) -> str:
        """Return "two cats" (or "a cat") for a list of objects of one category."""
        if len(idx) == 1:
            return self.simple(idx[0])
        if len(idx) >= 3 and self.rng.random() < 0.2:
            return "several " + self.noun(idx[0], plural=True)
        return f"{NUMBERS.get(len(idx), 'many')} {self.noun(idx[0], plural=True)}"

    def parts(self, only: list[int] | None = None, clauses: bool = True) -> list[str]:
        """Return phrases for the scene's heads (or ``only``), the largest first."""
        heads = [i for i in (self.heads if only is None else only) if i not in self.worn]
        area = {i: self.objs[i]["bbox"][2] * self.objs[i]["bbox"][3] for i in heads}
        heads.sort(key=lambda i: -area[i] * self.rng.uniform(0.7, 1.3))
        out, by_cat = [], {}
        for i in heads:
            if clauses and self.clauses.get(i):
                out.append((i, self.phrase(i)))
            else:
                by_cat.setdefault(self.objs[i]["category"], []).append(i)
        out += [(idx[0], self.count(idx)) for idx in by_cat.values()]
        out.sort(key=lambda p: -area[p[0]])
        return [p for _, p in out]

    def place(self) -> str:
        return _pick(self.rng, SCENE_PLACES[self.g["scene"]])


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _open(rng, body: str) -> str:
    opener = _pick(rng, OPENERS)
    if opener == "There is " and body.split(" ")[0] in (*NUMBERS.values(), "several"):
        opener = "There are "
    return opener + body


def _full(d: _Describer) -> str:
    body = _join(d.parts())
    return _open(d.rng, body + (" " + d.place() if d.rng.random() < 0.75 else ""))


def _salient(d: _Describer) -> str:
    big = [i for i, o in enumerate(d.objs) if "large" in o["attributes"] and i not in d.worn]
    if not big:
        areas = [o["bbox"][2] * o["bbox"][3] * (i not in d.worn) for i, o in enumerate(d.objs)]
        big = [int(np.argmax(areas))]
    body = _join(d.parts(only=big, clauses=d.rng.random() < 0.5))
    return _open(d.rng, body + (" " + d.place() if d.rng.random() < 0.6 else ""))


def _relation(d: _Describer) -> str | None:
    rels = [
        r for r in d.g["relations"] if r["subject"] not in d.worn or r["predicate"] == "wearing"
    ]
    if not rels:
        return None
    composed = [r for r in rels if r["predicate"] in COMPOSED]
    r = _pick(d.rng, composed if composed and d.rng.random() < 0.7 else rels)
    s, p, o = r["subject"], r["predicate"], r["object"]
    if p == "left of" and d.rng.random() < 0.5:
        s, p, o = o, "right of", s
    key = p
    if p in ("in", "on") and d.objs[s]["category"] in ANIMATE:
        key = p + "+animate"
    if p == "above" and d.objs[s]["category"] in ("bird", "airplane", "kite"):
        key = "above+flying"
    verb = _pick(d.rng, PREDICATE_WORDS[key])
    obj = d.simple(o)
    if p == "wearing" and verb in ("in", "with") and obj[2:] in BARE:
        obj = BARE[obj[2:]]
    link = _pick(d.rng, (" ", " ", " is ", " that is "))
    if link != " " and verb in ("with", "in") and p == "wearing":
        link = " "
    body = f"{d.simple(s, 0.3)}{link}{verb} {obj}"
    return body + (" " + d.place() if d.rng.random() < 0.4 else "")


def _scene_first(d: _Describer) -> str:
    return f"{_pick(d.rng, SCENE_NOUNS[d.g['scene']])} with {_join(d.parts(clauses=False))}"


def _counts(d: _Describer) -> str:
    return _join(d.parts(clauses=False)) + (" " + d.place() if d.rng.random() < 0.5 else "")


STRATEGIES = (_full, _salient, _relation, _scene_first, _counts)


def _finish(rng, text: str) -> str:
    """Capitalise and punctuate like people do, with their occasional slips."""
    text = text[0].upper() + text[1:]
    u = rng.random()
    if u < 0.08:
        text = text.lower()
    elif u < 0.11:
        text = text.upper()
    if rng.random() < 0.75:
        text += "."
    if rng.random() < 0.1:
        text += " "
    return text


def captions_for(graph: dict, rng: np.random.Generator, n: int = 5) -> list[str]:
    """Return ``n`` different captions of the picture that ``graph`` describes.

    Raises ValueError when the graph has no objects.
    """
    if not graph.get("objects"):
        raise ValueError("Expected a scene graph with at least one object; received none.")
    d = _Describer(graph, rng)
    out, seen = [], set()
    tries = 0
    while len(out) < n and tries < 12 * n:
        strategy = STRATEGIES[tries % len(STRATEGIES)] if tries < len(STRATEGIES) else None
        strategy = strategy or _pick(rng, STRATEGIES)
        tries += 1
        text = strategy(d)
        if text and _key(text) not in seen:
            seen.add(_key(text))
            out.append(text)
    # Rare fallback for tiny scenes: every opener with every place is a different caption.
    for opener in OPENERS[2:]:
        for place in SCENE_PLACES[graph["scene"]]:
            if len(out) >= n:
                break
            text = f"{opener}{_join(d.parts(clauses=False))} {place}"
            if _key(text) not in seen:
                seen.add(_key(text))
                out.append(text)
    order = rng.permutation(len(out))
    return [_finish(rng, out[i]) for i in order]


def _key(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def caption_stats(captions: list[str]) -> Counter:
    """Return how often each word occurs in ``captions`` (lower case), to inspect a vocabulary."""
    return Counter(w.strip(".,") for c in captions for w in c.lower().split())
