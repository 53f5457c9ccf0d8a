"""Relevance of a picture to a structured query, from hand-written scene graphs."""

import pytest

from course_lib.data import Query, parse_query, relevance, relevance_grade
from course_lib.data.relevance import QueryObject, QueryRelation


def _obj(category, bbox=(0, 0, 10, 10), attributes=(), supercategory=None):
    sup = supercategory or {"dog": "animal", "cat": "animal"}.get(category, "other")
    return {
        "category": category,
        "supercategory": sup,
        "bbox": list(bbox),
        "attributes": list(attributes),
    }


def _graph(scene, objects, relations=()):
    return {
        "scene": scene,
        "objects": objects,
        "relations": [{"subject": s, "predicate": p, "object": o} for s, p, o in relations],
    }


BIKE_DOG = _graph(
    "park",
    [
        _obj("bicycle", attributes=["large"]),
        _obj("dog"),
        _obj("glasses", attributes=["small"]),
        _obj("basket"),
    ],
    [(1, "wearing", 2), (1, "in", 3), (3, "on", 0)],
)
TWO_CATS = _graph(
    "kitchen table",
    [_obj("cat"), _obj("cat", attributes=["small"]), _obj("cup")],
    [(0, "left of", 1), (0, "next to", 1), (1, "left of", 2)],
)

FULL_QUERY = {
    "objects": [
        {"category": "dog"},
        {"category": "glasses"},
        {"category": "basket"},
        {"category": "bicycle"},
    ],
    "relations": [
        {"subject": 0, "predicate": "wearing", "object": 1},
        {"subject": 0, "predicate": "in", "object": 2},
        {"subject": 2, "predicate": "on", "object": 3},
    ],
}


def test_full_relation_chain_matches():
    assert relevance(FULL_QUERY, BIKE_DOG)
    assert relevance_grade(FULL_QUERY, BIKE_DOG) == 2
    assert not relevance(FULL_QUERY, TWO_CATS)
    assert relevance_grade(FULL_QUERY, TWO_CATS) == 0


def test_on_holds_through_a_chain_but_in_does_not():
    dog_on_bike = {
        "objects": [{"category": "dog"}, {"category": "bicycle"}],
        "relations": [{"subject": 0, "predicate": "on", "object": 1}],
    }
    assert relevance(dog_on_bike, BIKE_DOG)
    dog_in_bike = {**dog_on_bike, "relations": [{"subject": 0, "predicate": "in", "object": 1}]}
    assert not relevance(dog_in_bike, BIKE_DOG)
    assert relevance_grade(dog_in_bike, BIKE_DOG) == 1
    bike_under_basket = {
        "objects": [{"category": "bicycle"}, {"category": "basket"}],
        "relations": [{"subject": 0, "predicate": "under", "object": 1}],
    }
    assert relevance(bike_under_basket, BIKE_DOG)


def test_counts_are_exact_and_default_to_at_least_one():
    assert relevance({"objects": [{"category": "cat", "count": 2}]}, TWO_CATS)
    assert not relevance({"objects": [{"category": "cat", "count": 1}]}, TWO_CATS)
    assert relevance_grade({"objects": [{"category": "cat", "count": 3}]}, TWO_CATS) == 1
    assert relevance({"objects": [{"category": "cat"}]}, TWO_CATS)
    small = {"objects": [{"category": "cat", "count": 1, "attributes": ["small"]}]}
    assert relevance(small, TWO_CATS)
    assert not relevance({"objects": [{"category": "cup", "attributes": ["large"]}]}, TWO_CATS)
    # A supercategory matches every one of its categories.
    assert relevance({"objects": [{"category": "animal", "count": 2}]}, TWO_CATS)


def test_spatial_relations_and_their_inverses():
    left = {
        "objects": [{"category": "cat"}, {"category": "cup"}],
        "relations": [{"subject": 0, "predicate": "left of", "object": 1}],
    }
    assert relevance(left, TWO_CATS)
    right = {**left, "relations": [{"subject": 1, "predicate": "right of", "object": 0}]}
    assert relevance(right, TWO_CATS)
    wrong = {**left, "relations": [{"subject": 1, "predicate": "left of", "object": 0}]}
    assert not relevance(wrong, TWO_CATS)
    # Two query cats next to each other need two different cats in the picture.
    pair = {
        "objects": [{"category": "cat"}, {"category": "cat"}],
        "relations": [{"subject": 1, "predicate": "beside", "object": 0}],
    }
    assert relevance(pair, TWO_CATS)
    one_cat = _graph("park", [_obj("cat")], [])
    assert not relevance(pair, one_cat)


def test_scene_must_match():
    assert relevance({"objects": [{"category": "dog"}], "scene": "park"}, BIKE_DOG)
    assert relevance({"objects": [{"category": "cat"}], "scene": "kitchen"}, TWO_CATS)
    assert not relevance({"objects": [{"category": "dog"}], "scene": "beach"}, BIKE_DOG)
    assert relevance_grade({"objects": [{"category": "dog"}], "scene": "beach"}, BIKE_DOG) == 0
    assert relevance({"scene": "park"}, BIKE_DOG)


def test_dataclass_queries_and_validation():
    q = Query(
        objects=(QueryObject("dog"), QueryObject("basket")),
        relations=(QueryRelation(0, "in", 1),),
        scene="park",
    )
    assert parse_query(q) == q
    assert relevance(q, BIKE_DOG)
    with pytest.raises(ValueError, match="category"):
        parse_query({"objects": [{"category": "unicorn"}]})
    with pytest.raises(ValueError, match="predicate"):
        parse_query(
            {
                "objects": [{"category": "dog"}, {"category": "cat"}],
                "relations": [{"subject": 0, "predicate": "loves", "object": 1}],
            }
        )
    with pytest.raises(ValueError, match="index"):
        parse_query(
            {
                "objects": [{"category": "dog"}],
                "relations": [{"subject": 0, "predicate": "on", "object": 3}],
            }
        )
    with pytest.raises(ValueError, match="count"):
        parse_query({"objects": [{"category": "dog", "count": 0}]})
    with pytest.raises(ValueError, match="neither"):
        parse_query({})
