"""Query text to query graph: hand-written cases and the competition's own hidden graphs."""

import json

import numpy as np
import pytest

from course_lib.competition.grammar import Node, render
from course_lib.competition.make import make_competition
from course_lib.data.relevance import parse_query
from course_lib.data.words import SIZES
from course_lib.search.query_graph import caption_graph, parse_tree, query_graph


def test_docstring_example_reads_counts_sizes_chains_and_the_place():
    graph = query_graph("two small dogs in a basket on a bike in the park")
    assert graph == {
        "objects": [
            {"category": "dog", "count": 2, "attributes": ["small"]},
            {"category": "basket"},
            {"category": "bicycle"},
        ],
        # The grammar writes a child's relations before its parent's.
        "relations": [
            {"subject": 1, "predicate": "on", "object": 2},
            {"subject": 0, "predicate": "in", "object": 1},
        ],
        "scene": "park",
    }
    parse_query(graph)  # A valid graph in relevance's schema.


def test_in_a_hat_is_worn_and_in_a_basket_is_a_place():
    worn = query_graph("a kitten in a hat")
    assert worn["relations"] == [{"subject": 0, "predicate": "wearing", "object": 1}]
    assert [o["category"] for o in worn["objects"]] == ["cat", "hat"]
    inside = query_graph("a kitten sitting in a basket")
    assert inside["relations"] == [{"subject": 0, "predicate": "in", "object": 1}]


def test_several_heads_accessories_and_relations():
    graph = query_graph("a puppy wearing a pair of glasses and a hat, a cat and a red apple")
    assert [o["category"] for o in graph["objects"]] == ["dog", "glasses", "hat", "cat", "apple"]
    assert [r["predicate"] for r in graph["relations"]] == ["wearing", "wearing"]
    left = query_graph("a little bird flying over a taxi to the right of a bus on the road")
    assert left["scene"] == "street"
    assert left["relations"] == [
        {"subject": 1, "predicate": "right of", "object": 2},
        {"subject": 0, "predicate": "above", "object": 1},
    ]


def test_unknown_words_are_skipped_and_nothing_known_gives_an_empty_graph():
    assert query_graph("a photo of a big zebra, very nice") == {
        "objects": [{"category": "zebra", "attributes": ["large"]}],
        "relations": [],
    }
    assert query_graph("qwerty zzz") == {"objects": [], "relations": []}
    assert query_graph("on the beach") == {"objects": [], "relations": [], "scene": "beach"}
    assert parse_tree("") == ([], None)


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    out = tmp_path_factory.mktemp("comp") / "c"
    make_competition(out, gallery_size=100, num_queries=200, seed=1)
    return json.loads((out / "solution" / "solution.json").read_text())


def test_competition_queries_parse_back_to_their_hidden_graphs(competition):
    """Measured exact-match rates: 1.000 for seeds 0-2 (200 queries), seed 3 (600 queries) and
    the default competition (seed 0, 1,000 queries). Before the grammar wrote the size word of
    measure nouns ("a small pair of skis") and stopped writing "a little bird" (a noun, or a
    small bird?), they were 0.990-0.995. Bar 0.99."""
    queries = competition["queries"]
    exact = sum(query_graph(q["query"]) == q["graph"] for q in queries) / len(queries)
    assert exact >= 0.99, exact


def test_every_size_a_query_asks_for_is_written_and_read_back():
    """Measure nouns keep their size word, and no query writes a noun that opens with a size
    word ("a little bird" reads as the noun and as a small bird)."""
    size_words = {w for ws in SIZES.values() for w in ws}
    for seed in range(40):
        rng = np.random.default_rng(seed)
        for category in ("skis", "broccoli", "scissors", "pizza", "bird", "cup"):
            for node in (Node(category, size="small"), Node(category, size="large")):
                text, graph = render(rng, [node], None)
                assert size_words & set(text.split()), text
                assert query_graph(text) == graph, (text, graph)
            for node in (Node(category), Node(category, count=2)):
                text, graph = render(rng, [node], None)
                assert "little bird" not in text and query_graph(text) == graph, text


def test_captions_name_the_place_first_and_use_fillers():
    graph = caption_graph("a cozy living room with two teddy bears and a house plant.")
    assert graph == {
        "objects": [{"category": "teddy bear", "count": 2}, {"category": "potted plant"}],
        "relations": [],
        "scene": "living room",
    }
    by = caption_graph("A frisbee is by a sandwich.")
    assert by["relations"] == [{"subject": 0, "predicate": "next to", "object": 1}]
    assert "scene" not in by
