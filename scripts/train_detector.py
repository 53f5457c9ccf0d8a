"""Train Lecture 07's reference detector and ship it in ``course_lib/assets/detector/``.

    python scripts/train_detector.py --minutes 20

Uses the classes and functions of Lecture 07's reference solution (``solutions/07_*.py`` through
``lecture_module("07", prefer_student=False)``): generates the photo collection at the detector's
input size (96 pixels by default; 6,000 train and 500 val photos, reused when present), times an
epoch beyond the first on a 512-photo calibration split to plan how many epochs fit the budget
(the cosine decay must know its length), trains, saves the weights (float16), reloads them through
``course_lib.models.detector`` and measures COCO mAP@[.5:.95] and AP50 on the val split, both
with the lecture's ``evaluate_coco_map`` and with ``pycocotools``. The figures go into
``config.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EVALUATION_RESERVE_S = 120  # Seconds kept for saving and evaluating after training.
IMAGE_SIZE = 96  # Input side of the reference detector, in pixels.
TRAIN_IMAGES = 6000  # Photos generated for training.
VAL_IMAGES = 500  # Photos generated for validation.
CALIBRATION_IMAGES = 512  # Photos of the split timed to plan the epochs.


def pycocotools_map(annotation_file: Path, results: list[dict]) -> tuple[float, float]:
    """COCO mAP@[.5:.95] and AP50 of ``results`` by ``pycocotools`` (its printing silenced)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotation_file))
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="Wall-clock budget.")
    parser.add_argument("--out", type=Path, default=None, help="Asset folder to write.")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="Input side, pixels.")
    parser.add_argument("--train-images", type=int, default=TRAIN_IMAGES, help="Train photos.")
    parser.add_argument("--val-images", type=int, default=VAL_IMAGES, help="Val photos.")
    parser.add_argument("--epochs", type=int, default=None, help="Epochs (default: planned).")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = args.minutes * 60

    import keras
    import numpy as np

    from course_lib.data.cache import cached_collection
    from course_lib.models.detector import DETECTOR_DIR, ReferenceDetector, save_reference_detector
    from course_lib.models.shipped import write_config
    from course_lib.student.lectures import lecture_module

    lecture = lecture_module("07", prefer_student=False)
    out = args.out or DETECTOR_DIR
    size = args.image_size

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    folder = lecture.collection_dir(args.train_images, args.val_images, size)
    categories = json.loads((folder / "annotations/instances_train.json").read_text())
    names = [c["name"] for c in sorted(categories["categories"], key=lambda c: c["id"])]
    log(f"collection: {folder}")

    def build():
        return lecture.build_detector(len(names), size)

    left = budget - (time.perf_counter() - started) - EVALUATION_RESERVE_S
    epochs = args.epochs
    if epochs is None:
        with tempfile.TemporaryDirectory(prefix="detector-") as scratch:
            small = cached_collection(
                "calibration", {"train": CALIBRATION_IMAGES}, 1, size, scratch
            )
            seconds = []
            for calibration_epochs in (1, 3):  # The difference leaves out tracing and caching.
                keras.utils.set_random_seed(lecture.SEED)
                before = time.perf_counter()
                lecture.train_detector(build(), small, epochs=calibration_epochs, verbose=0)
                seconds.append(time.perf_counter() - before)
        per_image = (seconds[1] - seconds[0]) / (2 * CALIBRATION_IMAGES)
        left = budget - (time.perf_counter() - started) - EVALUATION_RESERVE_S
        # Other processes on the machine slow the long run more than the short calibration.
        epochs = max(1, int(0.6 * left / (per_image * args.train_images)))
        log(f"{per_image * 1000:.1f} ms per photo: {epochs} epochs in about {left:.0f} s")

    keras.utils.set_random_seed(lecture.SEED)
    model = build()
    history = lecture.train_detector(
        model, folder, epochs=epochs, verbose=1, max_seconds=max(left - 30, 1.0)
    )
    train_seconds = time.perf_counter() - started
    log(f"trained {len(history['loss'])} epochs")

    config = {
        "num_classes": len(names),
        "image_size": size,
        "widths": list(lecture.BACKBONE_WIDTHS),
        "neck_channels": lecture.NECK_CHANNELS,
        "head_channels": lecture.HEAD_CHANNELS,
        "categories": names,
        "score_threshold": lecture.SCORE_THRESHOLD,
        "max_detections": lecture.MAX_DETECTIONS,
        "nms_iou": lecture.NMS_IOU,
        "graph_score": lecture.GRAPH_SCORE,
        "training": {
            "train_images": args.train_images,
            "val_images": args.val_images,
            "epochs": len(history["loss"]),
            "final_loss": round(history["loss"][-1], 4),
            "wall_seconds": round(train_seconds, 1),
            "threads": os.cpu_count(),
        },
    }
    save_reference_detector(out, model, config)
    log(f"saved to {out}")

    # Evaluate the shipped (float16) weights, from the photo files, as users will run them.
    detector = ReferenceDetector(out)
    val = lecture.load_coco(folder, "val", kinds=["instances"])
    found = detector.detect([r.path for r in val.records])
    ids = {c.name: c.id for c in val.categories}
    results = [
        {
            "image_id": r.image_id,
            "category_id": ids[name],
            "bbox": [float(v) for v in box],
            "score": float(score),
        }
        for r, item in zip(val.records, found, strict=True)
        for box, score, name in zip(
            lecture.xyxy_to_xywh(item["boxes"]), item["scores"], item["categories"], strict=True
        )
    ]
    annotation_file = folder / "annotations" / "instances_val.json"
    mine = lecture.evaluate_coco_map(json.loads(annotation_file.read_text()), results)
    reference = pycocotools_map(annotation_file, results)
    config["metrics_val"] = {
        "mAP": round(reference[0], 4),
        "AP50": round(reference[1], 4),
        "lecture_minus_pycocotools": [
            float(mine["mAP"] - reference[0]),
            float(mine["AP50"] - reference[1]),
        ],
        "detections_per_image": round(float(np.mean([len(f["scores"]) for f in found])), 1),
    }
    log(
        f"val COCO mAP {reference[0]:.4f}, AP50 {reference[1]:.4f} (pycocotools); lecture "
        f"{mine['mAP']:.4f}, {mine['AP50']:.4f}"
    )
    config["training"]["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    write_config(out, config)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
