"""Tests of course_lib.data.coco and .pipelines on real COCO and on hand-written COCO files."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.data.coco import (
    Category,
    ImageRecord,
    load_coco,
    load_coco_files,
    normalize_caption,
    read_annotation_file,
    split_by_image,
)
from course_lib.errors import CourseError
from course_lib.paths import coco_mini_dir

COCO_MINI = coco_mini_dir()
needs_coco_mini = pytest.mark.skipif(
    COCO_MINI is None, reason="real COCO sample ../shared/data/coco-mini is absent (offline assets)"
)

INFO = {
    "description": "tiny test set",
    "url": "",
    "version": "1.0",
    "year": 2017,
    "contributor": "tests",
    "date_created": "2017/09/01",
}
LICENSES = [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "Attribution"}]
CATEGORIES = [
    {"supercategory": "animal", "id": 18, "name": "dog"},
    {"supercategory": "animal", "id": 17, "name": "cat"},
    {"supercategory": "vehicle", "id": 3, "name": "car"},
]
# (id, file name, width, height, colour, captions, boxes as (category_id, [x, y, w, h])).
IMAGES = [
    (42, "000000000042.jpg", 32, 24, (200, 30, 30), ["A red square. ", "Red."],
     [(18, [1, 2, 10, 8])]),
    (7, "000000000007.jpg", 24, 32, (30, 200, 30), ["a Green one"],
     [(17, [0, 0, 24, 32]), (3, [4, 4, 2, 2]), (17, [5, 5, 1, 1])]),
    (9, "000000000009.jpg", 16, 16, (30, 30, 200), ["blue", "Blue!", "BLUE"], []),
]  # fmt: skip


def write_tiny_coco(root: Path, split: str = "train2017") -> Path:
    """Write COCO-schema captions and instances files and their JPEGs under ``root``."""
    (root / split).mkdir(parents=True)
    (root / "annotations").mkdir()
    images, captions, instances = [], [], []
    for image_id, file_name, w, h, colour, texts, boxes in IMAGES:
        Image.new("RGB", (w, h), colour).save(root / split / file_name, quality=95)
        images.append(
            {
                "license": 4,
                "file_name": file_name,
                "coco_url": f"http://images.cocodataset.org/{split}/{file_name}",
                "height": h,
                "width": w,
                "date_captured": "2013-11-14 11:18:45",
                "flickr_url": "",
                "id": image_id,
            }
        )
        for text in texts:
            captions.append({"image_id": image_id, "id": 1000 + len(captions), "caption": text})
        for category_id, bbox in boxes:
            x, y, w, h = bbox
            instances.append(
                {
                    "segmentation": [[x, y, x + w, y, x, y + h]],
                    "area": float(bbox[2] * bbox[3]),
                    "iscrowd": 0,
                    "image_id": image_id,
                    "bbox": [float(v) for v in bbox],
                    "category_id": category_id,
                    "id": 5000 + len(instances),
                }
            )
    base = {"info": INFO, "licenses": LICENSES, "images": images}
    (root / "annotations" / f"captions_{split}.json").write_text(
        json.dumps({**base, "annotations": captions})
    )
    (root / "annotations" / f"instances_{split}.json").write_text(
        json.dumps({**base, "annotations": instances, "categories": CATEGORIES})
    )
    return root


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_coco(tmp_path / "tiny")


def check_structure(data):
    """The record structure every loader result must have."""
    assert [f.name for f in fields(ImageRecord)] == [
        "image_id", "path", "width", "height", "captions", "boxes", "labels",
    ]  # fmt: skip
    ids = [r.image_id for r in data.records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [c.id for c in data.categories] == sorted(c.id for c in data.categories)
    known = {c.id for c in data.categories}
    for r in data.records:
        assert isinstance(r, ImageRecord) and isinstance(r.image_id, int)
        assert isinstance(r.path, Path) and r.path.is_file()
        assert all(isinstance(c, str) for c in r.captions)
        for category_id, bbox in r.boxes:
            assert category_id in known and len(bbox) == 4
            assert all(isinstance(v, float) for v in bbox)
        assert r.labels == sorted({c for c, _ in r.boxes})


def test_tiny_coco_records(tiny):
    data = load_coco(tiny)
    check_structure(data)
    assert [r.image_id for r in data.records] == [7, 9, 42]
    by_id = {r.image_id: r for r in data.records}
    # Captions keep their quirks (trailing space, capitals) and their file order.
    assert by_id[42].captions == ["A red square. ", "Red."]
    assert by_id[42].path == tiny / "train2017" / "000000000042.jpg"
    assert (by_id[7].width, by_id[7].height) == (24, 32)
    assert by_id[7].boxes == [
        (17, [0.0, 0.0, 24.0, 32.0]), (3, [4.0, 4.0, 2.0, 2.0]), (17, [5.0, 5.0, 1.0, 1.0])
    ]  # fmt: skip
    assert by_id[7].labels == [3, 17] and by_id[9].labels == [] and by_id[9].boxes == []
    assert data.categories == [
        Category(3, "car", "vehicle"), Category(17, "cat", "animal"), Category(18, "dog", "animal")
    ]  # fmt: skip
    assert data.category_index == {3: 0, 17: 1, 18: 2}
    # Only the captions file, and an images folder given explicitly, give the same captions.
    only = load_coco(tiny, kinds=["captions"], images_dir=tiny / "train2017")
    assert [r.captions for r in only.records] == [r.captions for r in data.records]
    assert only.categories == [] and all(r.boxes == [] for r in only.records)


def test_course_layout_with_images_folder(tmp_path):
    root = write_tiny_coco(tmp_path / "gen", split="val")
    (root / "val").rename(root / "images")
    data = load_coco(root, "val")
    check_structure(data)
    assert all(r.path.parent == root / "images" for r in data.records)


@needs_coco_mini
def test_real_coco_mini_records():
    data = load_coco(COCO_MINI, "train2017")
    check_structure(data)
    raw = read_annotation_file(COCO_MINI / "annotations" / "instances_train2017.json")
    captions = read_annotation_file(COCO_MINI / "annotations" / "captions_train2017.json")
    assert len(data.records) == len(raw["images"]) == 80
    assert len(data.categories) == len(raw["categories"]) == 80
    assert sum(len(r.captions) for r in data.records) == len(captions["annotations"]) == 400
    assert sum(len(r.boxes) for r in data.records) == len(raw["annotations"])
    # Real captions are kept as written; the normaliser is separate.
    texts = [c for r in data.records for c in r.captions]
    assert set(texts) == {a["caption"] for a in captions["annotations"]}
    quirky = [c for c in texts if c != c.strip()]
    assert quirky, "expected some real captions with surrounding whitespace"
    assert normalize_caption(quirky[0]) == " ".join(quirky[0].split()).lower()
    for img in raw["images"][:5]:
        record = next(r for r in data.records if r.image_id == img["id"])
        with Image.open(record.path) as im:
            assert im.size == (record.width, record.height) == (img["width"], img["height"])


def test_normalize_caption():
    assert normalize_caption("  A  dog\tOn a bench. \n") == "a dog on a bench."
    assert normalize_caption(" A  Dog ", lower=False) == "A Dog"


def test_split_by_image(tiny):
    records = load_coco(tiny).records
    many = [ImageRecord(i, Path(f"{i}.jpg"), 1, 1, ["x", "y"]) for i in range(101)]
    a = split_by_image(many, [0.8, 0.1, 0.1], seed=3)
    assert [len(p) for p in a] == [81, 10, 10]
    assert a == split_by_image(list(reversed(many)), [0.8, 0.1, 0.1], seed=3)
    assert a != split_by_image(many, [0.8, 0.1, 0.1], seed=4)
    assert sorted(r.image_id for p in a for r in p) == list(range(101))
    named = split_by_image(many, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    assert list(named) == ["train", "val", "test"] and named["val"] == a[1]
    assert [len(p) for p in split_by_image(records, [0.5, 0.5], seed=0)] == [2, 1]
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_image(many, [0.5, 0.4])
    with pytest.raises(ValueError, match="duplicate"):
        split_by_image(many + many[:1], [1.0])


@needs_coco_mini
def test_split_real_coco_by_image_keeps_captions_together():
    records = load_coco(COCO_MINI).records
    train, val = split_by_image(records, [0.75, 0.25], seed=0)
    assert (len(train), len(val)) == (60, 20)
    assert not {r.image_id for r in train} & {r.image_id for r in val}
    assert sum(len(r.captions) for r in train + val) == 400


# Error cases: each names the file and the record.


def test_missing_annotation_file(tiny):
    (tiny / "annotations" / "instances_train2017.json").unlink()
    with pytest.raises(CourseError, match=r"instances_train2017\.json: annotation file not found"):
        load_coco(tiny, kinds=["captions", "instances"])
    with pytest.raises(CourseError, match=r"no annotation file for split 'val2017'"):
        load_coco(tiny, "val2017")


def test_truncated_json(tiny):
    path = tiny / "annotations" / "captions_train2017.json"
    path.write_text(path.read_text()[:-40])
    with pytest.raises(CourseError, match=r"captions_train2017\.json: not valid JSON \(line 1"):
        load_coco(tiny)


def test_not_coco_schema(tiny):
    path = tiny / "annotations" / "captions_train2017.json"
    path.write_text(json.dumps({"info": INFO, "images": []}))
    message = r"captions_train2017\.json: expected a list under 'annotations'"
    with pytest.raises(CourseError, match=message):
        load_coco(tiny)


def test_caption_for_unknown_image(tiny):
    path = tiny / "annotations" / "captions_train2017.json"
    data = json.loads(path.read_text())
    data["annotations"].append({"image_id": 999, "id": 123, "caption": "lost"})
    path.write_text(json.dumps(data))
    with pytest.raises(
        CourseError,
        match=r"captions_train2017\.json: annotation 123 refers to unknown image id 999",
    ):
        load_coco(tiny)


def test_box_with_unknown_category(tiny):
    path = tiny / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 91
    path.write_text(json.dumps(data))
    with pytest.raises(CourseError, match=r"annotation 5000 refers to unknown category id 91"):
        load_coco(tiny)


def test_missing_image_file(tiny):
    (tiny / "train2017" / "000000000009.jpg").unlink()
    with pytest.raises(
        CourseError, match=r"captions_train2017\.json: image 9 \(000000000009\.jpg\) not found in"
    ):
        load_coco(tiny)
    with pytest.raises(CourseError, match=r"no images folder for split 'train2017'"):
        load_coco(tiny / "annotations", kinds=["captions"])
    with pytest.raises(CourseError, match=r"nowhere: images folder not found"):
        load_coco_files([tiny / "annotations" / "captions_train2017.json"], tiny / "nowhere")


# tf.data pipelines.


def test_pipelines_on_tiny_coco(tiny):
    tf = pytest.importorskip("tensorflow")
    from course_lib.data import pipelines as P

    data = load_coco(tiny)
    records, cats = data.records, data.categories

    images, captions = zip(*P.caption_dataset(records, (8, 6), batch_size=None), strict=True)
    assert [c.numpy().decode() for c in captions] == [
        "a Green one", "blue", "Blue!", "BLUE", "A red square. ", "Red."
    ]  # fmt: skip
    assert images[0].shape == (8, 6, 3) and images[0].dtype == tf.float32
    # A flat-coloured JPEG stays that colour after decoding and resizing.
    green = np.broadcast_to(np.array([30, 200, 30]) / 255, (8, 6, 3))
    np.testing.assert_allclose(images[0].numpy(), green, atol=6 / 255)

    batches = list(P.caption_dataset(records, (8, 6), batch_size=4, caption_fn=normalize_caption))
    assert [tuple(b[0].shape) for b in batches] == [(4, 8, 6, 3), (2, 8, 6, 3)]
    assert batches[1][1].numpy().tolist() == [b"a red square.", b"red."]

    def order(seed):
        ds = P.caption_dataset(records, (4, 4), batch_size=None, shuffle_seed=seed)
        return [c.numpy() for _, c in ds]

    assert order(1) == order(1) and sorted(order(1)) == sorted(order(None))
    assert order(1) != order(None) or order(2) != order(None)

    ((x, y),) = P.label_dataset(records, cats, (5, 5), batch_size=8)
    assert x.shape == (3, 5, 5, 3) and y.dtype == tf.float32
    # Columns follow the category table: car (3), cat (17), dog (18).
    np.testing.assert_array_equal(y.numpy(), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])

    ((x, t),) = P.box_dataset(records, cats, (5, 5), batch_size=8)
    assert t["boxes"].shape == (3, 3, 4) and t["boxes"].dtype == tf.float32
    np.testing.assert_array_equal(t["mask"].numpy(), [[1, 1, 1], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(t["classes"].numpy(), [[1, 0, 1], [-1, -1, -1], [2, -1, -1]])
    np.testing.assert_allclose(t["boxes"].numpy()[0, 1], [4 / 24, 4 / 32, 2 / 24, 2 / 32])
    np.testing.assert_allclose(t["boxes"].numpy()[2, 0], [1 / 32, 2 / 24, 10 / 32, 8 / 24])

    two = P.padded_boxes(records, cats, max_boxes=2)
    assert two["boxes"].shape == (3, 2, 4) and two["mask"].sum() == 3


@needs_coco_mini
def test_pipelines_on_real_coco_mini(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from course_lib.data import pipelines as P

    data = load_coco(COCO_MINI)
    records = data.records[:6]
    # Full-size, unresized pixels match Pillow's decode of the real JPEG.
    r = records[0]
    full = P.label_dataset([r], data.categories, (r.height, r.width), batch_size=None)
    ((image, _),) = full
    with Image.open(r.path) as im:
        reference = np.asarray(im.convert("RGB"), np.float32) / 255
    assert np.abs(image.numpy() - reference).max() <= 2 / 255

    def cached():
        return P.label_dataset(
            records, data.categories, (32, 32), 4, shuffle_seed=0, cache=str(tmp_path / "c")
        )

    xs, ys = zip(*cached(), strict=True)
    assert [tuple(x.shape) for x in xs] == [(4, 32, 32, 3), (2, 32, 32, 3)]
    assert all(x.dtype == tf.float32 and 0 <= x.numpy().min() and x.numpy().max() <= 1 for x in xs)
    # Multi-hot rows match the instances: each row's set of columns is a record's labels.
    index = data.category_index
    expected = sorted(tuple(sorted(index[c] for c in r.labels)) for r in records)
    got = sorted(tuple(np.flatnonzero(row).tolist()) for y in ys for row in y.numpy())
    assert got == expected
    # A second pipeline with the same seed (reading the cache files now) repeats the order.
    assert [y.numpy().tolist() for _, y in cached()] == [y.numpy().tolist() for y in ys]

    ds = P.caption_dataset(records, (32, 32), 8, preprocess=lambda x: x - 127.5)
    x, c = next(iter(ds))
    assert x.shape == (8, 32, 32, 3) and c.dtype == tf.string and x.numpy().min() < 0

    mh = P.multi_hot(data.records, data.categories)
    assert mh.sum() == sum(len(r.labels) for r in data.records)


def test_course_generator_output_loads(tmp_path):
    data_module = pytest.importorskip("course_lib.data")
    make_split = getattr(data_module, "make_split", None)
    if make_split is None:
        try:
            from course_lib.data.writer import make_split
        except ImportError:
            pytest.skip("the course's data generator course_lib.data.make_split is not there yet")
    paths = make_split(tmp_path / "camp", "val", num_images=3, seed=0)
    data = load_coco(tmp_path / "camp", "val")
    check_structure(data)
    assert len(data.records) == 3 and all(r.path.parent == paths["images"] for r in data.records)
    raw = read_annotation_file(paths["instances"])
    assert sum(len(r.boxes) for r in data.records) == len(raw["annotations"])
    assert all(r.captions for r in data.records)
