"""The shipped reference captioner: assets, loading, deterministic captions, captions.json."""

import json

import numpy as np
import pytest
from PIL import Image

from course_lib.data import generate_item, make_split
from course_lib.errors import CourseError
from course_lib.models import captioner as cap
from course_lib.models import shipped
from course_lib.paths import project_root
from course_lib.student.submission import import_lecture


@pytest.fixture(scope="module")
def reference():
    return cap.load_reference_captioner()


@pytest.fixture(scope="module")
def lecture():
    return import_lecture(project_root() / "solutions", "06")


def test_assets_are_small_and_complete():
    files = {p.name: p.stat().st_size for p in cap.CAPTIONER_DIR.iterdir()}
    assert {shipped.WEIGHTS_FILE, cap.VOCAB_FILE, shipped.CONFIG_FILE} <= set(files)
    assert sum(files.values()) < 5 * 2**20, files
    config = json.loads((cap.CAPTIONER_DIR / shipped.CONFIG_FILE).read_text())
    assert {"BLEU-4", "CIDEr-D"} <= set(config["metrics_val"]["beam3"])


def test_captions_are_deterministic_sentences(reference):
    images = [generate_item(5, "val", i, 128)[0] for i in range(6)]
    first = reference.caption(images, beam_width=3)
    assert first == reference.caption(images, beam_width=3)
    assert len(first) == 6 and all(isinstance(c, str) and c for c in first)
    known = set(reference.vocabulary)
    assert all(word in known for caption in first for word in caption.split())
    assert cap.caption_images(images[:2]) == first[:2]


def test_paths_and_arrays_give_the_same_captions(reference, tmp_path):
    arrays, paths = [], []
    for i in range(4):
        pixels = generate_item(6, "val", i, 128)[0]
        path = tmp_path / f"photo{i}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
        arrays.append(np.asarray(Image.open(path).convert("RGB")))
        paths.append(path)
    np.testing.assert_allclose(reference.load(paths), reference.load(arrays), atol=1e-5)
    assert reference.caption(paths) == reference.caption(arrays)


def test_captions_mention_the_objects_in_the_photo(reference, lecture):
    """The shipped model describes unseen photos better than chance, by the lecture's metrics."""
    items = [generate_item(12, "val", i, 128) for i in range(60)]
    generated = dict(enumerate(reference.caption([pixels for pixels, _, _ in items])))
    references = {i: captions for i, (_, _, captions) in enumerate(items)}
    shuffled = {i: generated[(i + 1) % len(items)] for i in generated}
    good = lecture.evaluate_captions(generated, references)
    wrong = lecture.evaluate_captions(shuffled, references)
    assert good["CIDEr-D"] > 2 * wrong["CIDEr-D"]
    assert good["BLEU-4"] > wrong["BLEU-4"]


def test_caption_folder_and_captions_json(reference, tmp_path):
    make_split(tmp_path / "coco", "val", 3, seed=4)
    captions = cap.caption_folder(tmp_path / "coco")
    assert sorted(captions) == sorted(p.stem for p in (tmp_path / "coco" / "images").iterdir())
    ids = cap.image_ids_by_stem(tmp_path / "coco")
    path = cap.write_captions_json(captions, tmp_path / "captions.json", ids)
    written = json.loads(path.read_text())
    assert written == {str(ids[stem]): [caption] for stem, caption in captions.items()}
    with pytest.raises(CourseError):
        cap.write_captions_json({"unknown": "a dog"}, tmp_path / "x.json", ids)


def test_save_and_load_round_trip(lecture, tmp_path):
    _, grid_model = lecture.build_encoder_cnn(32, 5, (4, 8), 0.0)
    model = lecture.Captioner(12, 6, 5, 8, 4, 0.0)
    grid = lecture.flatten_grid(grid_model(np.zeros((1, 32, 32, 3), np.float32)))
    lecture.teacher_forcing_logits(model, grid, np.ones((1, 2), np.int32))
    vocabulary = [lecture.PAD, lecture.START, lecture.END, lecture.UNK, *"abcdefgh"]
    config = {
        "image_size": 32,
        "block_filters": [4, 8],
        "num_classes": 5,
        "projection_dim": 6,
        "embedding_dim": 5,
        "units": 8,
        "attention_units": 4,
        "dropout_rate": 0.0,
        "max_decode_length": 5,
        "length_penalty": 0.7,
    }
    cap.save_reference_captioner(tmp_path, grid_model, model, vocabulary, config)
    loaded = cap.ReferenceCaptioner(tmp_path)
    for a, b in zip(model.get_weights(), loaded.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a.astype(np.float16).astype(np.float32), b)
    assert len(loaded.caption([np.zeros((20, 30, 3), np.uint8)], beam_width=2)) == 1
    config["units"] = 9
    (tmp_path / shipped.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CourseError, match="do not fit"):
        cap.ReferenceCaptioner(tmp_path)


def test_missing_assets_say_how_to_train(tmp_path):
    with pytest.raises(CourseError, match="train_captioner"):
        cap.ReferenceCaptioner(tmp_path)
