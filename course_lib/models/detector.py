"""The shipped reference detector (introduced with Lecture 07).

Loads the weights in ``course_lib/assets/detector/`` (trained by ``scripts/train_detector.py``)
into the classes of Lecture 07's reference solution, so photos can be searched by their objects
and relations without training::

    from course_lib.models.detector import detect_images, scene_graphs
    detect_images(["photo.jpg"])   # [{"boxes": (n, 4) xyxy pixels, "scores": (n,), "categories"}]
    scene_graphs(paths)            # {file stem: predicted scene graph (Lecture 07's schema)}

This module is plumbing only: the model, the decoding, NMS and the spatial relations are the
lecture's (``lecture_module("07", prefer_student=False)``), never re-implemented here. Detection
is deterministic. TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.models.shipped import assign_weights, read_config, save_shipped
from course_lib.paths import ASSETS_DIR

DETECTOR_DIR = ASSETS_DIR / "detector"
SCRIPT = "python scripts/train_detector.py --minutes 20"


def save_reference_detector(out_dir: str | Path, model, config: dict) -> Path:
    """Write the detector's weights (float16) and its config.

    ``config`` must hold ``build_detector``'s arguments (``num_classes``, ``image_size``,
    ``widths``, ``neck_channels``, ``head_channels``), the ``categories`` (class index → name),
    and the detection settings ``score_threshold``, ``max_detections``, ``nms_iou`` and
    ``graph_score``.
    """
    return save_shipped(out_dir, {"detector": model}, config)


class ReferenceDetector:
    """Lecture 07's detector with the shipped (or given) weights."""

    def __init__(self, asset_dir: str | Path = DETECTOR_DIR):
        asset_dir = Path(asset_dir)
        self.config = c = read_config(asset_dir, "reference detector", SCRIPT)
        from course_lib.student.lectures import lecture_module

        self.lecture = lecture = lecture_module("07", prefer_student=False, quiet=True)
        self.categories = list(c["categories"])
        self.model = lecture.build_detector(
            c["num_classes"],
            c["image_size"],
            tuple(c["widths"]),
            c["neck_channels"],
            c["head_channels"],
        )
        assign_weights(asset_dir, {"detector": self.model}, SCRIPT)

    def load(self, image) -> tuple[np.ndarray, int, int]:
        """Return ``(model input (S, S, 3) in [0, 1], width, height)`` of a path or an array."""
        import tensorflow as tf

        size = self.config["image_size"]
        if isinstance(image, str | Path):
            path = Path(image)
            if not path.is_file():
                raise CourseError(f"{path}: expected an image file; it does not exist.")
            data = tf.io.read_file(str(path))
            try:
                array = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
            except tf.errors.InvalidArgumentError as err:
                raise CourseError(f"{path}: cannot read this image ({err.message}).") from err
        else:
            array = np.asarray(image)
            if array.ndim != 3 or array.shape[-1] != 3:
                raise ValueError(
                    "Expected an image path or an (height, width, 3) array; received shape "
                    f"{array.shape}."
                )
        height, width = array.shape[:2]
        array = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
        resized = tf.image.resize(array, (size, size), method="bilinear", antialias=True)
        return np.clip(resized.numpy(), 0.0, 1.0), width, height

    def detect(self, images: Sequence, batch_size: int = 128) -> list[dict]:
        """Detect objects: one ``{"boxes", "scores", "categories"}`` dict per image.

        ``boxes`` are (n, 4) float32 ``[x_min, y_min, x_max, y_max]`` in the image's own pixels,
        ``scores`` (n,) float32 best first, ``categories`` n category names.
        """
        c, out = self.config, []
        for start in range(0, len(images), batch_size):
            loaded = [self.load(image) for image in images[start : start + batch_size]]
            found = self.lecture.detect(
                self.model,
                np.stack([pixels for pixels, _, _ in loaded]),
                score_threshold=c["score_threshold"],
                max_detections=c["max_detections"],
                iou_threshold=c["nms_iou"],
            )
            for (_, width, height), item in zip(loaded, found, strict=True):
                scale = np.array([width, height, width, height], np.float32) / c["image_size"]
                out.append(
                    {
                        "boxes": (item["boxes"] * scale).astype(np.float32).reshape(-1, 4),
                        "scores": item["scores"].astype(np.float32),
                        "categories": [self.categories[k] for k in item["classes"]],
                    }
                )
        return out

    def scene_graph(self, detection: dict, width: int, height: int) -> dict:
        """The predicted scene graph of one ``detect`` result (Lecture 07's schema)."""
        graph = self.lecture.detections_to_scene_graph(
            detection["boxes"],
            detection["scores"],
            detection["categories"],
            max(width, height),
            score_threshold=self.config["graph_score"],
        )
        graph["width"], graph["height"] = width, height
        return graph


@lru_cache(maxsize=2)
def load_reference_detector(asset_dir: str | None = None) -> ReferenceDetector:
    """Return the shipped detector (loaded once per process)."""
    return ReferenceDetector(Path(asset_dir) if asset_dir else DETECTOR_DIR)


def detect_images(paths_or_arrays: Sequence) -> list[dict]:
    """Detect objects in images (paths or (H, W, 3) arrays) with the shipped detector.

    Returns one dict per image: ``"boxes"`` (n, 4) float32 xyxy in the image's pixels,
    ``"scores"`` (n,) float32, best first, and ``"categories"`` (n category names).
    """
    return load_reference_detector().detect(list(paths_or_arrays))


def scene_graphs(paths: Sequence) -> dict:
    """Predicted scene graphs of image files: ``{image id: graph}``.

    The image id is the file name without its extension (the competition gallery's ids); for
    arrays, their position in ``paths``. Graphs hold objects (with ``score``) and the relations
    on, in, next to and wearing read off the boxes; their ``scene`` is None.
    """
    detector = load_reference_detector()
    items = list(paths)
    found = detector.detect(items)
    graphs = {}
    for index, (item, detection) in enumerate(zip(items, found, strict=True)):
        key = Path(item).stem if isinstance(item, str | Path) else index
        if isinstance(item, str | Path):
            from PIL import Image

            with Image.open(item) as picture:
                width, height = picture.size
        else:
            height, width = np.asarray(item).shape[:2]
        graphs[key] = detector.scene_graph(detection, width, height)
    return graphs
