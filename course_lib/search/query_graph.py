"""Read a search query's text as a query graph (plumbing for the Lecture 05 competition).

``query_graph("two small dogs in a basket on a bike in the park")`` returns the query-graph
schema of ``course_lib.data.relevance`` (objects with counts and sizes, relations, scene), read
with the collection's own vocabulary (``course_lib.data.words``): the noun forms of every
category, number and size words, the words of each predicate ("sitting in", "to the left of",
"flying over") and the places of each scene ("on a sandy beach"). It inverts the competition's
grammar (``course_lib.competition.grammar``): the text is parsed back into the grammar's tree of
noun phrases, and ``grammar.render`` turns the tree into the graph, so a parsed graph has the
same object and relation order as the hidden one.

The parser reads the grammar's sentences: noun phrases joined by commas and "and", each with
what it wears ("wearing", "with", "in" a hat or glasses) and clauses that attach to the nearest
noun before them ("a dog in a basket on a bike": the basket is on the bike), then an optional
place at the end. Words it does not know are skipped, so free text gives a partial graph.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from course_lib.competition.grammar import ACCESSORIES, Node, render
from course_lib.data.words import (
    BARE,
    NOUNS,
    NUMBERS,
    PREDICATE_WORDS,
    SCENE_NOUNS,
    SCENE_PLACES,
    SIZES,
    SPRITE_NOUNS,
)

WEARING_VERBS = frozenset(PREDICATE_WORDS["wearing"])
ARTICLES = frozenset({"a", "an", "the"})
FILLERS = frozenset({"is", "are", "there"})  # Captions' "a frisbee is by a sandwich".
MAX_PHRASE = 5  # The longest phrase ("snow covered hill with") has five words.


def words(text: str) -> list[str]:
    """Return the lower-case words of ``text`` (letters only)."""
    return re.findall(r"[a-z]+", text.lower())


@cache
def _lexicon() -> tuple[dict, dict, dict]:
    """Return (noun phrase -> category, predicate phrase -> predicate, place -> scene)."""
    nouns: dict[tuple[str, ...], str] = {}
    for category, forms in NOUNS.items():
        for form in forms:
            for word in form:
                nouns.setdefault(tuple(words(word)), category)
    for key, forms in SPRITE_NOUNS.items():
        category = next(c for c in NOUNS if key.startswith(c.replace(" ", "_") + "_"))
        for form in forms:
            for word in form:
                nouns.setdefault(tuple(words(word)), category)
    for bare in BARE.values():
        nouns.setdefault(tuple(words(bare)), "glasses")
    predicates: dict[tuple[str, ...], str] = {}
    for key, phrases in PREDICATE_WORDS.items():
        if key != "wearing":
            for phrase in phrases:
                predicates.setdefault(tuple(words(phrase)), key.split("+")[0])
    places = {tuple(words(p)): scene for scene, ps in SCENE_PLACES.items() for p in ps}
    # A caption may open with the place: "a beach scene with a man and a kitten".
    for scene, phrases in SCENE_NOUNS.items():
        for phrase in phrases:
            places.setdefault(tuple(words(phrase)[1:]) + ("with",), scene)
    return nouns, predicates, places


def _longest(table: dict, tokens: list[str], i: int) -> tuple[object, int]:
    """Return (value, length) of the longest phrase of ``table`` starting at ``tokens[i]``."""
    for n in range(min(MAX_PHRASE, len(tokens) - i), 0, -1):
        value = table.get(tuple(tokens[i : i + n]))
        if value is not None:
            return value, n
    return None, 0


class _Parser:
    """Recursive descent over the grammar's noun phrases and clauses."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.i = tokens, 0
        self.nouns, self.predicates, _ = _lexicon()

    def noun_phrase(self, start: int) -> tuple[Node | None, int]:
        """Parse "[a|an|the|number] [size] noun" at ``start``; return (node, next index)."""
        i, count, size = start, None, None
        if i < len(self.tokens) and self.tokens[i] in ARTICLES:
            i += 1
        elif i < len(self.tokens) and self.tokens[i] in _NUMBER_WORDS:
            count, i = _NUMBER_WORDS[self.tokens[i]], i + 1
        category, n = _longest(self.nouns, self.tokens, i)
        # "a little bird" is the noun "little bird"; "a little dog" is a size and a noun.
        if category is None and i < len(self.tokens) and self.tokens[i] in _SIZE_WORDS:
            size = _SIZE_WORDS[self.tokens[i]]
            category, n = _longest(self.nouns, self.tokens, i + 1)
            i += 1
        if category is None:
            return None, start
        return Node(category, count=count, size=size), i + n

    def phrase(self) -> Node | None:
        """Parse a noun phrase with its worn accessories and clauses (nearest-noun attachment)."""
        node, self.i = self.noun_phrase(self.i)
        if node is None:
            return None
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if token in WEARING_VERBS:
                worn, after = self.noun_phrase(self.i + 1)
                if worn is not None and worn.category in ACCESSORIES:
                    node.clauses.append(("wearing", worn))
                    self.i = after
                    # "wearing a hat and glasses": more accessories after "and".
                    while self.i < len(self.tokens) and self.tokens[self.i] == "and":
                        more, after = self.noun_phrase(self.i + 1)
                        if more is None or more.category not in ACCESSORIES:
                            break
                        node.clauses.append(("wearing", more))
                        self.i = after
                    continue
            predicate, n = _longest(self.predicates, self.tokens, self.i)
            if predicate is None:
                break
            self.i += n
            child = self.phrase()
            if child is None:
                break
            node.clauses.append((predicate, child))
        return node

    def heads(self) -> list[Node]:
        """Parse every noun phrase, skipping the words between them that are not known."""
        heads = []
        while self.i < len(self.tokens):
            start = self.i
            node = self.phrase()
            if node is not None:
                heads.append(node)
            if self.i == start:
                self.i += 1
        return heads


_NUMBER_WORDS = {word: n for n, word in NUMBERS.items()}
_SIZE_WORDS = {word: size for size, ws in SIZES.items() for word in ws}


def parse_tree(text: str) -> tuple[list[Node], str | None]:
    """Return (noun-phrase trees, scene or None) of a query's or a caption's text.

    The place is read at the end ("... in the park") or, as captions write it, before "with"
    ("a park with two dogs").
    """
    tokens = [t for t in words(text.replace(",", " and ")) if t not in FILLERS]
    _, _, places = _lexicon()
    scene = None
    for n in range(min(MAX_PHRASE, len(tokens)), 0, -1):
        if tuple(tokens[-n:]) in places:
            scene, tokens = places[tuple(tokens[-n:])], tokens[:-n]
            break
    if scene is None:
        for i in range(len(tokens)):
            found, n = _longest(places, tokens, i)
            if found is not None and tokens[i + n - 1] == "with":
                scene, tokens = found, tokens[:i] + tokens[i + n :]
                break
    return _Parser(tokens).heads(), scene


def query_graph(text: str) -> dict:
    """Return the query graph of ``text`` (``course_lib.data.relevance``'s schema).

    ``{"objects": [...], "relations": [...]}`` plus ``"scene"`` when the text names a place.
    A text with no known noun or place gives ``{"objects": [], "relations": []}``, which no
    picture can match (``relevance.parse_query`` refuses it).
    """
    heads, scene = parse_tree(text)
    if not heads:
        graph: dict = {"objects": [], "relations": []}
        if scene is not None:
            graph["scene"] = scene
        return graph
    # The graph depends on the tree only; the generator picks words, which are not used.
    return render(np.random.default_rng(0), heads, scene)[1]


def caption_graph(text: str) -> dict:
    """Return a caption's text read as a query graph (``query_graph`` of the caption)."""
    return query_graph(text)
