"""Captions of the photo collection: five different ones per picture, in COCO's style."""

import numpy as np
import pytest

from course_lib.data import captions_for, generate_scene

DOG_ON_BIKE = {
    "scene": "beach",
    "width": 128,
    "height": 128,
    "objects": [
        {"category": "bicycle", "bbox": [10, 50, 80, 60], "attributes": ["large"], "sprite": ""},
        {"category": "dog", "bbox": [50, 30, 30, 30], "attributes": [], "sprite": "dog_1f436"},
        {"category": "glasses", "bbox": [55, 40, 20, 8], "attributes": ["small"], "sprite": ""},
        {"category": "basket", "bbox": [48, 45, 34, 20], "attributes": [], "sprite": ""},
    ],
    "relations": [
        {"subject": 1, "predicate": "wearing", "object": 2},
        {"subject": 1, "predicate": "in", "object": 3},
        {"subject": 3, "predicate": "on", "object": 0},
    ],
}
TWO_CATS = {
    "scene": "kitchen table",
    "width": 128,
    "height": 128,
    "objects": [
        {"category": "cat", "bbox": [5, 50, 30, 30], "attributes": [], "sprite": "cat_1f408"},
        {"category": "cat", "bbox": [60, 50, 30, 30], "attributes": [], "sprite": "cat_1f408"},
    ],
    "relations": [{"subject": 0, "predicate": "left of", "object": 1}],
}


def _norm(text):
    return " ".join(text.lower().split()).rstrip(".")


def test_five_distinct_captions_for_many_pictures():
    for i in range(200):
        rng = np.random.default_rng([2, i])
        _, graph = generate_scene(rng, 64)
        caps = captions_for(graph, rng)
        assert len(caps) == 5
        assert len(set(caps)) == 5
        assert len({_norm(c) for c in caps}) == 5, caps
        assert all(c.strip() for c in caps)


def test_composed_relations_are_told():
    rng = np.random.default_rng(0)
    caps = [c.lower() for _ in range(20) for c in captions_for(DOG_ON_BIKE, rng)]
    full = [c for c in caps if "basket" in c and ("bike" in c or "bicycle" in c)]
    assert full
    assert any("glasses" in c for c in full)
    assert any("puppy" in c or "pup" in c or "doggy" in c for c in caps)
    assert any("bike" in c for c in caps) and any("bicycle" in c for c in caps)
    places = ("beach", "sand", "sea")
    assert any(any(p in c for p in places) for c in caps)


def test_counts_and_case_slips():
    rng = np.random.default_rng(1)
    caps = [c for _ in range(40) for c in captions_for(TWO_CATS, rng)]
    assert any("two cats" in c.lower() or "two kittens" in c.lower() for c in caps)
    assert any(c == c.lower() for c in caps)
    assert any(c.endswith(" ") for c in caps)
    assert any(not c.rstrip().endswith(".") for c in caps)


def test_salient_captions_skip_small_objects():
    rng = np.random.default_rng(4)
    caps = [_norm(c) for _ in range(30) for c in captions_for(DOG_ON_BIKE, rng)]
    # Some captions name only the large bicycle.
    assert any(
        ("bike" in c or "bicycle" in c) and "dog" not in c and "basket" not in c for c in caps
    )


def test_empty_graph_is_rejected():
    with pytest.raises(ValueError, match="at least one object"):
        captions_for({"scene": "park", "objects": [], "relations": []}, np.random.default_rng(0))
