"""The shipped reference classifier: Lecture 02's multi-label CNN with trained weights.

Loads the weights in ``course_lib/assets/classifier/`` (trained by
``scripts/train_classifier.py``) into ``build_cnn`` of Lecture 02's reference solution, so the
photo collection's categories and scenes can be recognised without training::

    from course_lib.models.classifier import class_scores, load_reference_classifier
    scores = class_scores(["photo.jpg"])               # (1, 72) float32 probabilities
    load_reference_classifier().classes                 # "person", ..., "beach", ... names

The columns are the 65 categories of ``course_lib.data.sprites.CATEGORIES`` followed by the 7
scenes of ``SCENE_NAMES``: the layout the competition's Dropbox baseline expects. The network is
the lecture's (``lecture_module("02", prefer_student=False)``), never re-implemented here.
TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
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

CLASSIFIER_DIR = ASSETS_DIR / "classifier"
SCRIPT = "python scripts/train_classifier.py --minutes 20"


def save_reference_classifier(out_dir: str | Path, model, config: dict) -> Path:
    """Write the model's weights (float16, in ``get_weights`` order) and ``config.json``.

    ``config`` must hold ``image_size``, ``block_filters``, ``dropout_rate`` and ``classes``
    (the output names, in column order).
    """
    return save_shipped(out_dir, {"classifier": model}, config)


class ReferenceClassifier:
    """Lecture 02's CNN with the shipped (or given) weights."""

    def __init__(self, asset_dir: str | Path = CLASSIFIER_DIR):
        asset_dir = Path(asset_dir)
        self.config = c = read_config(asset_dir, "reference classifier", SCRIPT)
        from course_lib.student.lectures import lecture_module

        lecture = lecture_module("02", prefer_student=False, quiet=True)
        self.asset_dir = asset_dir
        self.classes: list[str] = list(c["classes"])
        self.image_size = int(c["image_size"])
        self.model = lecture.build_cnn(
            self.image_size, len(self.classes), tuple(c["block_filters"]), c["dropout_rate"]
        )
        assign_weights(asset_dir, {"classifier": self.model}, SCRIPT)

    def load(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Decode and resize image files as in training: (n, size, size, 3) float32 in [0, 1]."""
        import tensorflow as tf

        from course_lib.data.pipelines import load_image

        size = (self.image_size, self.image_size)
        for path in paths:
            if not Path(path).is_file():
                raise CourseError(f"{path}: expected an image file; it does not exist.")
        if not paths:
            return np.zeros((0, *size, 3), np.float32)
        ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
        ds = ds.map(lambda p: load_image(p, size), num_parallel_calls=tf.data.AUTOTUNE)
        try:
            return np.concatenate([b.numpy() for b in ds.batch(256)])
        except tf.errors.OpError as err:
            raise CourseError(
                f"cannot decode the images ({err.message.splitlines()[0]})."
            ) from None

    def class_scores(self, paths: Sequence[str | Path], batch_size: int = 256) -> np.ndarray:
        """Return (n, classes) float32 probabilities, one column per name of ``classes``."""
        paths = list(paths)
        out = [np.zeros((0, len(self.classes)), np.float32)]
        for start in range(0, len(paths), batch_size):
            images = self.load(paths[start : start + batch_size])
            out.append(np.asarray(self.model(images, training=False), np.float32))
        return np.concatenate(out)


@lru_cache(maxsize=2)
def load_reference_classifier(asset_dir: str | None = None) -> ReferenceClassifier:
    """Return the shipped classifier (loaded once per process)."""
    return ReferenceClassifier(Path(asset_dir) if asset_dir else CLASSIFIER_DIR)


def class_scores(paths: Sequence[str | Path]) -> np.ndarray:
    """Return the shipped classifier's (n, classes) float32 probabilities for image files."""
    return load_reference_classifier().class_scores(paths)
