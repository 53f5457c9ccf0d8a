"""Lecture 05 indexes what the shipped models see, and the oracles only on request."""

import numpy as np
import pytest

from course_lib.competition.pixels import available_engines
from course_lib.paths import project_root
from course_lib.search.helpers import category_names
from course_lib.student.submission import import_lecture


@pytest.fixture(scope="module")
def lecture():
    return import_lecture(project_root() / "solutions", "05")


def test_models_replace_the_oracles(lecture, tmp_path):
    engines = available_engines()
    if "classifier" not in engines or "captions" not in engines:
        pytest.skip("the shipped classifier or captioner weights are not installed")
    models = lecture.load_collection(num_images=6, folder=tmp_path, vision="models")
    oracle = lecture.load_collection(num_images=6, folder=tmp_path, vision="oracle")
    names = category_names()
    for seen, truth in zip(models, oracle, strict=True):
        assert truth["captions"] == truth["true_captions"] == seen["true_captions"]
        assert seen["captions"] != seen["true_captions"]  # Generated, not the ground truth.
        assert seen["category_scores"].shape == (len(names),)
        assert seen["category_scores"].dtype == np.float32
        assert not np.array_equal(seen["category_scores"], truth["category_scores"])
    # The shipped classifier recognises most of the categories present (val mAP 0.96).
    hits = [
        names[int(np.argmax(image["category_scores"]))]
        in {o["category"] for o in image["graph"]["objects"]}
        for image in models
    ]
    assert sum(hits) >= 4, hits


def test_unknown_vision_is_refused(lecture, tmp_path):
    with pytest.raises(ValueError, match="models"):
        lecture.load_collection(num_images=2, folder=tmp_path, vision="perfect")
