"""course_lib.search.text_retrieval: the caption-retrieval table of Lecture 04."""

import json

import numpy as np
import pytest

from course_lib.errors import CourseError
from course_lib.models import minilm
from course_lib.paths import coco_mini_dir
from course_lib.search import text_retrieval
from course_lib.student.lectures import lecture_module


@pytest.fixture(scope="module")
def lecture():
    return lecture_module("04", prefer_student=False, quiet=True)


def _ranks(scores):
    correct = np.diag(scores)[:, None]
    return (scores >= correct).sum(axis=1)  # 1 + other items scoring at least as high.


def test_query_gallery_takes_captions_0_and_1():
    groups = [["q0", "g0", "x"], ["only one"], ["q2", "g2"]]
    assert text_retrieval.query_gallery(groups) == (["q0", "q2"], ["g0", "g2"])


def test_collection_captions_match_the_generator():
    from course_lib.data import generate_item

    groups = text_retrieval.collection_captions("val", 3, seed=0)
    assert groups == [list(generate_item(0, "val", i, 128)[2]) for i in range(3)]
    with pytest.raises(ValueError):
        text_retrieval.collection_captions("val", 0)


def test_table_on_the_collection(lecture):
    rows = text_retrieval.retrieval_table("val", 40, seed=0, module=lecture, use_minilm=False)
    assert [r["method"] for r in rows] == list(text_retrieval.METHODS[:-1])
    for row in rows:
        assert row["queries"] == 40
        assert 0 <= row["R@1"] <= row["R@5"] <= row["R@10"] <= 1
    # Jaccard recomputed here with Python sets and numpy ranks.
    queries, gallery = text_retrieval.query_gallery(text_retrieval.collection_captions("val", 40))
    q_sets = [set(t) for t in lecture.tokenize(queries)]
    g_sets = [set(t) for t in lecture.tokenize(gallery)]
    scores = np.array([[len(q & g) / len(q | g) if q | g else 0 for g in g_sets] for q in q_sets])
    ranks = _ranks(scores)
    assert rows[0]["R@1"] == pytest.approx((ranks <= 1).mean())
    assert rows[0]["R@10"] == pytest.approx((ranks <= 10).mean())


@pytest.mark.skipif(coco_mini_dir() is None, reason="../shared/data/coco-mini is absent")
def test_table_on_real_coco_captions(lecture):
    rows = text_retrieval.retrieval_table("coco-mini", 80, module=lecture, use_minilm=False)
    assert rows[0]["queries"] == 80
    by_method = {r["method"]: r for r in rows}
    # Human captions of the same photo share content words: TF-IDF beats chance (10/80) clearly.
    assert by_method["TF-IDF cosine"]["R@10"] > 0.3


@pytest.mark.skipif(not minilm.is_available(), reason=f"MiniLM weights absent: {minilm.INSTALL}")
def test_table_includes_minilm_when_installed(lecture):
    rows = text_retrieval.retrieval_table("val", 20, module=lecture)
    assert rows[-1]["method"] == "MiniLM"
    assert 0 < rows[-1]["R@10"] <= 1


def test_folder_source_reads_coco_captions(tmp_path, lecture):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8} for i in (1, 2, 3)]
    texts = {1: ["a dog on a beach", "a puppy at the beach"], 2: ["a red car", "a car in snow"]}
    texts[3] = ["a cat on a sofa", "a cat sleeping on a couch"]
    annotations = [
        {"id": 10 * i + k, "image_id": i, "caption": c}
        for i, captions in texts.items()
        for k, c in enumerate(captions)
    ]
    data = {"images": images, "annotations": annotations}
    (tmp_path / "annotations" / "captions_mine.json").write_text(json.dumps(data))
    assert text_retrieval.folder_captions(tmp_path) == list(texts.values())
    rows = text_retrieval.retrieval_table(str(tmp_path), module=lecture, use_minilm=False)
    assert all(r["queries"] == 3 and r["R@5"] == 1.0 for r in rows)


def test_unknown_source_is_a_course_error(tmp_path):
    with pytest.raises(CourseError, match="coco-mini"):
        text_retrieval.load_caption_groups(str(tmp_path / "nowhere"))
    with pytest.raises(CourseError, match="exactly one"):
        text_retrieval.folder_captions(tmp_path)


def test_main_prints_a_markdown_table(capsys):
    code = text_retrieval.main(
        ["--source", "val", "--num-images", "12", "--no-minilm", "--reference"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| method | R@1 | R@5 | R@10 |" in out and "| TF-IDF cosine |" in out
    assert text_retrieval.main(["--source", "nowhere-at-all", "--reference"]) == 1


@pytest.mark.skipif(coco_mini_dir() is None, reason="../shared/data/coco-mini is absent")
def test_reference_tokenizer_on_real_coco_captions(lecture):
    import re
    from collections import Counter

    captions = [c for g in text_retrieval.folder_captions(coco_mini_dir(), "train2017") for c in g]
    assert len(captions) == 400
    expected = [re.sub(r"[^\w\s]|_", " ", c.lower()).split() for c in captions]
    tokens = lecture.tokenize(captions)
    assert tokens == expected
    counts = Counter(w for t in expected for w in t)
    vocabulary = lecture.build_vocabulary(tokens, min_count=2)
    assert vocabulary[:2] == ["[PAD]", "[UNK]"] and vocabulary[2] == counts.most_common(1)[0][0]
    assert set(vocabulary[2:]) == {w for w, c in counts.items() if c >= 2}
