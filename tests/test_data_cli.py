"""``camp data make`` and ``camp data show`` through Typer's test runner."""

import json

from PIL import Image
from typer.testing import CliRunner

from course_lib.data.cli import app

runner = CliRunner()


def test_make_then_show(tmp_path):
    out = tmp_path / "camp"
    result = runner.invoke(
        app, ["make", "--split", "val", "--num-images", "6", "--seed", "3", str(out)]
    )
    assert result.exit_code == 0, result.output
    caps = json.loads((out / "annotations" / "captions_val.json").read_text())
    assert len(caps["images"]) == 6 and len(caps["annotations"]) == 30
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app, ["show", str(out), "--num-images", "4", "--out", str(sheet), "--boxes"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(sheet) as im:
        assert im.width >= 2 * 200 and im.height > 2 * 200


def test_user_errors_exit_with_code_1(tmp_path):
    result = runner.invoke(app, ["make", "--split", "holdout", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "split" in result.output
    result = runner.invoke(
        app, ["make", "--split", "val", "--num-images", "2", str(tmp_path / "y")]
    )
    assert result.exit_code == 0
    result = runner.invoke(
        app, ["make", "--split", "val", "--num-images", "2", str(tmp_path / "y")]
    )
    assert result.exit_code == 1 and "empty folder" in result.output
    result = runner.invoke(
        app, ["show", str(tmp_path / "nothing"), "--out", str(tmp_path / "s.png")]
    )
    assert result.exit_code == 1


def test_help_names_both_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "make" in result.output and "show" in result.output


def test_cached_collection_writes_once_and_reuses(tmp_path):
    from course_lib.data.cache import cached_collection

    folder = cached_collection("t", {"train": 3, "val": 2}, seed=1, image_size=48, root=tmp_path)
    assert folder.name == "t_48px_seed1_train3_val2"
    captions = folder / "annotations" / "captions_val.json"
    stamp = captions.stat().st_mtime_ns
    again = cached_collection("t", {"train": 3, "val": 2}, seed=1, image_size=48, root=tmp_path)
    assert again == folder and captions.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert len(list((folder / "images").glob("*.jpg"))) == 5


def test_too_small_images_are_refused_with_the_allowed_range(tmp_path):
    args = ["make", str(tmp_path / "out"), "--split", "val", "--num-images", "5"]
    result = runner.invoke(app, [*args, "--image-size", "32"])
    assert result.exit_code == 1
    assert "Expected an image size from 48 to 1024 pixels; received 32." in result.output
