"""Making a competition: files, determinism, no leakage, honest ground truth."""

import csv
import hashlib
import json

import pytest

from course_lib.competition.make import _Grader, make_competition
from course_lib.competition.scoring import load_solution
from course_lib.competition.validate import read_submission
from course_lib.data import make_split, relevance_grade
from course_lib.data.writer import image_id
from course_lib.errors import CourseError

GALLERY, QUERIES = 60, 40


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    out = tmp_path_factory.mktemp("comp") / "c"
    make_competition(out, GALLERY, QUERIES, seed=0)
    return out


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_files_and_counts(comp):
    assert sorted(p.name for p in comp.iterdir()) == [
        "README.md",
        "gallery",
        "queries.csv",
        "sample_submission.csv",
        "solution",
    ]
    assert sorted(p.name for p in (comp / "solution").iterdir()) == [
        "gallery.json",
        "solution.csv",
        "solution.json",
    ]
    assert len(list((comp / "gallery").glob("*.jpg"))) == GALLERY
    with (comp / "queries.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["query_id", "query"] and len(rows) == QUERIES + 1
    assert len({r[0] for r in rows[1:]}) == QUERIES and len({r[1] for r in rows[1:]}) == QUERIES
    solution = load_solution(comp)
    assert len(solution.ids("public")) == round(0.3 * QUERIES)
    assert len(solution.ids("private")) == QUERIES - round(0.3 * QUERIES)
    # The sample submission is valid: 100 (here all 60) different gallery ids per query.
    ranked = read_submission(comp / "sample_submission.csv", solution.query_ids, solution.image_ids)
    assert all(len(v) == GALLERY for v in ranked.values())


def test_same_arguments_give_identical_files(comp, tmp_path):
    again = tmp_path / "again"
    make_competition(again, GALLERY, QUERIES, seed=0)
    first, second = _files(comp), _files(again)
    assert first.keys() == second.keys()
    assert all(first[k] == second[k] for k in first)
    other = tmp_path / "other"
    make_competition(other, GALLERY, QUERIES, seed=1)
    assert _files(other)["queries.csv"] != first["queries.csv"]


def test_gallery_comes_from_the_test_split_only(comp, tmp_path):
    ids = sorted(int(p.stem) for p in (comp / "gallery").glob("*.jpg"))
    assert ids == [image_id("test", i) for i in range(GALLERY)]
    train_val = {image_id(s, i) for s in ("train", "val") for i in range(10_000)}
    assert not train_val & set(ids)
    # No picture of the gallery is a picture of train or val (same seed, same count).
    make_split(tmp_path / "tv", "train", GALLERY, 0)
    make_split(tmp_path / "tv", "val", GALLERY, 0)
    seen = {hashlib.sha256(p.read_bytes()).digest() for p in (tmp_path / "tv").rglob("*.jpg")}
    gallery = {hashlib.sha256(p.read_bytes()).digest() for p in (comp / "gallery").glob("*")}
    assert len(gallery) == GALLERY and not seen & gallery


def test_grades_are_the_relevance_of_every_picture(comp):
    truth = json.loads((comp / "solution" / "gallery.json").read_text())["images"]
    graphs = {im["image_id"]: im["graph"] for im in truth}
    solution = json.loads((comp / "solution" / "solution.json").read_text())
    kinds = set()
    for q in solution["queries"]:
        kinds.add(q["kind"].split("-")[0])
        expected = {i: relevance_grade(q["graph"], g) for i, g in graphs.items()}
        assert q["grades"] == {i: g for i, g in expected.items() if g}
        assert 2 in q["grades"].values(), q["query"]
        if q["source"] is not None:
            assert q["grades"][q["source"]] == 2, q["query"]
    assert "caption" in kinds and len(kinds) > 1
    # Many queries have more than one matching picture: all count, not only the source.
    assert sum(sum(g == 2 for g in q["grades"].values()) > 1 for q in solution["queries"]) > 5


def _obj(category, supercategory="animal", attributes=()):
    return {"category": category, "supercategory": supercategory, "attributes": list(attributes)}


def test_another_picture_with_a_matching_scene_graph_is_relevant():
    dog_in_basket = {
        "scene": "park",
        "objects": [_obj("dog"), _obj("basket", "indoor")],
        "relations": [{"subject": 0, "predicate": "in", "object": 1}],
    }
    # The same situation, listed in another order, with an extra cat and another relation.
    other = {
        "scene": "park",
        "objects": [_obj("cat"), _obj("basket", "indoor"), _obj("dog")],
        "relations": [
            {"subject": 2, "predicate": "in", "object": 1},
            {"subject": 0, "predicate": "left of", "object": 2},
        ],
    }
    dog_only = {
        "scene": "park",
        "objects": [_obj("dog"), _obj("basket", "indoor")],
        "relations": [],
    }
    no_dog = {"scene": "park", "objects": [_obj("cat")], "relations": []}
    query = {
        "objects": [{"category": "dog"}, {"category": "basket"}],
        "relations": [{"subject": 0, "predicate": "in", "object": 1}],
    }
    grader = _Grader(["x", "y", "z", "w"], [dog_in_basket, other, dog_only, no_dog])
    assert grader.grades(query) == {"x": 2, "y": 2, "z": 1}


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(CourseError, match="expected a new or empty folder"):
        make_competition(tmp_path, 20, 5)
