"""The shipped reference captioner (introduced with Lecture 06).

Loads the weights in ``course_lib/assets/captioner/`` (trained by ``scripts/train_captioner.py``)
into the classes of Lecture 06's reference solution, so photos can be captioned without training::

    from course_lib.models.captioner import caption_images, caption_folder, write_captions_json
    caption_images(["photo.jpg"], beam_width=3)        # ["a dog and a frisbee in a park"]
    captions = caption_folder("data/val/images")        # {file stem: caption}
    write_captions_json(captions, "captions.json")      # {image_id: [caption]}

This module is plumbing only: the model, the decoding and the metrics are the lecture's
(``lecture_module("06", prefer_student=False)``), never re-implemented here. Captioning is
deterministic (beam search, no sampling). TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.models.shipped import (
    assign_weights,
    read_config,
    save_shipped,
)
from course_lib.paths import ASSETS_DIR

CAPTIONER_DIR = ASSETS_DIR / "captioner"
VOCAB_FILE = "vocab.json"
SCRIPT = "python scripts/train_captioner.py --minutes 20"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def save_reference_captioner(
    out_dir: str | Path, grid_model, captioner, vocabulary: list[str], config: dict
) -> Path:
    """Write the encoder's and the captioner's weights (float16), the vocabulary and the config.

    ``config`` must hold the lecture's constructor arguments: ``image_size``,
    ``block_filters``, ``num_classes``, ``projection_dim``, ``embedding_dim``, ``units``,
    ``attention_units``, ``dropout_rate``, ``max_decode_length`` and ``length_penalty``.
    """
    out_dir = save_shipped(out_dir, {"encoder": grid_model, "captioner": captioner}, config)
    (out_dir / VOCAB_FILE).write_text(json.dumps(vocabulary, indent=0) + "\n", encoding="utf-8")
    return out_dir


class ReferenceCaptioner:
    """The encoder and the captioner of Lecture 06 with the shipped (or given) weights."""

    def __init__(self, asset_dir: str | Path = CAPTIONER_DIR):
        asset_dir = Path(asset_dir)
        config = read_config(asset_dir, "reference captioner", SCRIPT, extra=(VOCAB_FILE,))
        from course_lib.student.lectures import lecture_module

        self.lecture = lecture = lecture_module("06", prefer_student=False, quiet=True)
        self.asset_dir = asset_dir
        self.config = config
        self.vocabulary = json.loads((asset_dir / VOCAB_FILE).read_text(encoding="utf-8"))
        c = self.config
        _, self.grid_model = lecture.build_encoder_cnn(
            c["image_size"], c["num_classes"], tuple(c["block_filters"]), c["dropout_rate"]
        )
        self.model = lecture.Captioner(
            len(self.vocabulary),
            c["projection_dim"],
            c["embedding_dim"],
            c["units"],
            c["attention_units"],
            c["dropout_rate"],
        )
        size = c["image_size"]
        grid = lecture.flatten_grid(self.grid_model(np.zeros((1, size, size, 3), np.float32)))
        lecture.teacher_forcing_logits(self.model, grid, np.ones((1, 2), np.int32))
        assign_weights(asset_dir, {"encoder": self.grid_model, "captioner": self.model}, SCRIPT)

    def features(self, images) -> np.ndarray:
        """Return the cached-feature form of images: (n, locations, channels) float16."""
        return self.lecture.extract_features(self.grid_model, self.load(images))

    def load(self, images) -> np.ndarray:
        """Turn paths, or arrays (H, W, 3) uint8 or floats in [0, 1], into encoder inputs."""
        import tensorflow as tf

        size = self.config["image_size"]
        out = []
        for image in images:
            if isinstance(image, str | Path):
                out.append(self.lecture.load_images([image], size)[0])
                continue
            array = np.asarray(image)
            if array.ndim != 3 or array.shape[-1] != 3:
                raise ValueError(
                    f"Expected an image path or an (height, width, 3) array; received shape "
                    f"{array.shape}."
                )
            array = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
            resized = tf.image.resize(array, (size, size), method="bilinear", antialias=True)
            out.append(np.clip(resized.numpy(), 0.0, 1.0))
        return np.stack(out) if out else np.zeros((0, size, size, 3), np.float32)

    def caption_features(self, features, beam_width: int = 3) -> list[str]:
        """Caption cached grid features: greedy for ``beam_width == 1``, else beam search."""
        if len(features) == 0:
            return []
        method = "greedy" if beam_width == 1 else "beam"
        options = {"max_length": self.config["max_decode_length"]}
        if method == "beam":
            options["length_penalty"] = self.config["length_penalty"]
        return self.lecture.generate_captions(
            self.model, features, self.vocabulary, method, beam_width=beam_width, **options
        )

    def caption(self, images, beam_width: int = 3, batch_size: int = 500) -> list[str]:
        """Caption image paths or arrays; one caption (lower-case words) per image."""
        images = list(images)
        captions = []
        for start in range(0, len(images), batch_size):
            features = self.features(images[start : start + batch_size])
            captions += self.caption_features(features, beam_width)
        return captions


@lru_cache(maxsize=2)
def load_reference_captioner(asset_dir: str | None = None) -> ReferenceCaptioner:
    """Return the shipped captioner (loaded once per process)."""
    return ReferenceCaptioner(Path(asset_dir) if asset_dir else CAPTIONER_DIR)


def caption_images(paths_or_arrays: Sequence, beam_width: int = 3) -> list[str]:
    """Caption images (paths or arrays) with the shipped reference captioner."""
    return load_reference_captioner().caption(paths_or_arrays, beam_width=beam_width)


def image_files(folder: str | Path) -> list[Path]:
    """Return the image files of ``folder`` (or of its ``images/`` sub-folder), sorted."""
    folder = Path(folder)
    if (folder / "images").is_dir():
        folder = folder / "images"
    if not folder.is_dir():
        raise CourseError(f"{folder}: expected a folder of images; it does not exist.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CourseError(f"{folder}: expected .jpg or .png images; found none.")
    return files


def caption_folder(folder: str | Path, beam_width: int = 3) -> dict[str, str]:
    """Caption every image of a folder: {file stem: caption}, in file-name order."""
    files = image_files(folder)
    return dict(zip([p.stem for p in files], caption_images(files, beam_width), strict=True))


def image_ids_by_stem(coco_dir: str | Path) -> dict[str, int]:
    """Map file stems to COCO image ids from ``coco_dir/annotations/*.json`` (all splits)."""
    ids = {}
    for path in sorted((Path(coco_dir) / "annotations").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for image in data.get("images", []) if isinstance(data, dict) else []:
            ids[Path(image["file_name"]).stem] = int(image["id"])
    return ids


def write_captions_json(
    captions: Mapping[str, str], path: str | Path, image_ids: Mapping[str, int] | None = None
) -> Path:
    """Write ``{image_id: [caption]}`` (the competition kit's ``captions.json``).

    Args:
        captions: {file stem or image id: caption}, e.g. from ``caption_folder``.
        path: the JSON file to write.
        image_ids: optional {file stem: COCO image id} (``image_ids_by_stem``); without it the
            keys of ``captions`` are used as they are.
    """
    out = {}
    for key, caption in captions.items():
        if image_ids is not None and key not in image_ids:
            raise CourseError(f"{path}: no image id for {key!r} in the annotations given.")
        out[str(image_ids[key] if image_ids is not None else key)] = [caption]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    return path


def meteor(candidates: Mapping, references: Mapping) -> float | None:
    """METEOR of tokenised captions through pycocoevalcap, or None without Java/pycocoevalcap."""
    if shutil.which("java") is None:
        return None
    try:
        from pycocoevalcap.meteor.meteor import Meteor
    except ImportError:
        return None
    scorer = Meteor()  # A Java process; pycocoevalcap ends it when the scorer is deleted.
    res = {k: [v] for k, v in candidates.items()}
    score = float(scorer.compute_score(dict(references), res)[0])
    del scorer
    return score
