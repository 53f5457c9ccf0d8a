"""Scenes, scene graphs and the COCO files of the photo collection."""

import hashlib
import json

import numpy as np
import pytest

from course_lib.data import PREDICATES, SCENE_NAMES, generate_scene, make_split, read_split
from course_lib.data.sprites import BY_NAME
from course_lib.errors import CourseError


def _tree_digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_generator_seed_gives_the_same_scene():
    a, ga = generate_scene(np.random.default_rng(3), 96)
    b, gb = generate_scene(np.random.default_rng(3), 96)
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and ga == gb


def test_scene_graphs_are_consistent():
    scenes, predicates, counts = set(), set(), []
    for i in range(150):
        img, g = generate_scene(np.random.default_rng([11, i]), 128)
        scenes.add(g["scene"])
        assert g["scene"] in SCENE_NAMES and (g["width"], g["height"]) == (128, 128)
        counts.append(len(g["objects"]))
        for o in g["objects"]:
            x, y, w, h = o["bbox"]
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 128 and y + h <= 128
            assert BY_NAME[o["category"]].id == o["category_id"]
            assert not ({"small", "large"} <= set(o["attributes"]))
        for r in g["relations"]:
            assert r["predicate"] in PREDICATES
            assert 0 <= r["subject"] < len(g["objects"]) and 0 <= r["object"] < len(g["objects"])
            assert r["subject"] != r["object"]
            predicates.add(r["predicate"])
    assert scenes == set(SCENE_NAMES)
    assert predicates == set(PREDICATES)
    assert min(counts) >= 1 and max(counts) >= 5


def test_the_dog_in_glasses_in_a_basket_on_a_bike_exists():
    found = 0
    for i in range(300):
        _, g = generate_scene(np.random.default_rng([5, i]), 128)
        cats = [o["category"] for o in g["objects"]]
        rels = {(cats[r["subject"]], r["predicate"], cats[r["object"]]) for r in g["relations"]}
        want = {("dog", "wearing", "glasses"), ("dog", "in", "basket"), ("basket", "on", "bicycle")}
        found += want <= rels
    assert found >= 1


def test_image_size_is_checked():
    with pytest.raises(ValueError, match="image size"):
        generate_scene(np.random.default_rng(0), 8)
    with pytest.raises(CourseError, match="image size"):
        make_split("unused", "val", 2, 0, image_size=5000)


def test_make_split_is_byte_identical_for_a_seed(tmp_path):
    make_split(tmp_path / "a", "val", 12, seed=7)
    make_split(tmp_path / "b", "val", 12, seed=7)
    make_split(tmp_path / "c", "val", 12, seed=8)
    da, db, dc = (_tree_digest(tmp_path / k) for k in "abc")
    assert da == db
    assert len(da) == 12 + 3
    assert da != dc


def test_coco_files_are_valid(tmp_path):
    paths = make_split(tmp_path, "val", 20, seed=1, image_size=64)
    caps = json.loads(paths["captions"].read_text())
    inst = json.loads(paths["instances"].read_text())
    graphs = json.loads(paths["scene_graphs"].read_text())
    for doc in (caps, inst):
        assert {"info", "licenses", "images", "annotations"} <= set(doc)
    ids = [im["id"] for im in caps["images"]]
    assert len(ids) == len(set(ids)) == 20
    for im in caps["images"]:
        assert (tmp_path / "images" / im["file_name"]).is_file()
        assert (im["width"], im["height"]) == (64, 64)
    assert len({a["id"] for a in caps["annotations"]}) == len(caps["annotations"]) == 100
    assert all(a["image_id"] in ids and a["caption"] for a in caps["annotations"])
    cat_ids = {c["id"] for c in inst["categories"]}
    assert {"id", "name", "supercategory"} <= set(inst["categories"][0])
    assert len({a["id"] for a in inst["annotations"]}) == len(inst["annotations"])
    for a in inst["annotations"]:
        x, y, w, h = a["bbox"]
        assert a["image_id"] in ids and a["category_id"] in cat_ids and a["iscrowd"] == 0
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64
        assert a["area"] == w * h
        assert a["segmentation"] == [[x, y, x + w, y, x + w, y + h, x, y + h]]
    assert [g["image_id"] for g in graphs["scene_graphs"]] == ids
    n_objects = sum(len(g["objects"]) for g in graphs["scene_graphs"])
    assert n_objects == len(inst["annotations"])
    records = read_split(tmp_path)
    assert len(records) == 20 and len(records[0]["captions"]) == 5


def test_splits_do_not_overlap(tmp_path):
    make_split(tmp_path, "val", 10, seed=0)
    make_split(tmp_path, "test", 10, seed=0)
    images = sorted((tmp_path / "images").iterdir())
    assert len(images) == 20
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in images}
    assert len(digests) == 20
    val = json.loads((tmp_path / "annotations" / "captions_val.json").read_text())["images"]
    test = json.loads((tmp_path / "annotations" / "captions_test.json").read_text())["images"]
    assert not {i["id"] for i in val} & {i["id"] for i in test}


def test_user_errors_are_course_errors(tmp_path):
    with pytest.raises(CourseError, match="split"):
        make_split(tmp_path / "x", "holdout", 3)
    with pytest.raises(CourseError, match="images"):
        make_split(tmp_path / "x", "val", 0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(CourseError, match="empty folder"):
        make_split(tmp_path / "busy", "val", 3)
    make_split(tmp_path / "ok", "val", 2)
    with pytest.raises(CourseError, match="captions_val.json|scene_graphs_val|instances_val"):
        make_split(tmp_path / "ok", "val", 2)
    (tmp_path / "file").write_text("")
    with pytest.raises(CourseError, match="is a file"):
        make_split(tmp_path / "file", "val", 2)


@pytest.mark.parametrize("size", [48, 64, 96, 200, 224, 257])
def test_every_scene_renders_at_other_image_sizes(size):
    from course_lib.data.backgrounds import render_background

    for scene in SCENE_NAMES:
        pixels = render_background(scene, np.random.default_rng(0), size)
        assert pixels.shape == (size, size, 3), (scene, size)
        assert np.isfinite(pixels).all()
    image, graph = generate_scene(np.random.default_rng(size), size=size)
    assert image.shape == (size, size, 3) and graph["width"] == graph["height"] == size
