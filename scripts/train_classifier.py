"""Train Lecture 02's multi-label CNN, the shipped classifier of ``course_lib/assets/classifier/``.

    python scripts/train_classifier.py --minutes 20

Uses the classes and functions of Lecture 02's reference solution (``solutions/02_cnn.py``
through ``lecture_module("02", prefer_student=False)``): ``collection_dir`` generates the photo
collection (12,000 train and 1,000 val photos drawn at 128 pixels like the competition's gallery,
reused when present), ``build_cnn`` builds the network, ``train_cnn`` trains it with early
stopping, ``evaluate_multilabel`` scores it. Besides the 65 categories the network also predicts
the 7 scenes (one extra sigmoid output each, trained as seven more labels), so its scores fit the
competition's Dropbox baseline as ``(N, categories + scenes)``. The number of epochs is chosen to
fit the time budget from a short measurement of the training speed. The weights are saved as
float16, reloaded through ``course_lib.models.classifier`` and scored on the val split; the
figures and the wall time go into ``config.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESERVE_S = 90  # Seconds kept for saving and evaluating after training.
SCENE_ID_BASE = 10_000  # Category ids given to the scenes, far above COCO's.


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="Wall-clock budget.")
    parser.add_argument("--out", type=Path, default=None, help="Asset folder to write.")
    parser.add_argument("--train-images", type=int, default=12_000, help="Training photos.")
    parser.add_argument("--val-images", type=int, default=1_000, help="Validation photos.")
    parser.add_argument("--max-epochs", type=int, default=30, help="Most epochs.")
    parser.add_argument("--verbose", type=int, default=2, help="1: progress bars, 2: lines.")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = args.minutes * 60

    import keras
    import numpy as np

    from course_lib.data.coco import Category, load_coco
    from course_lib.data.pipelines import label_dataset
    from course_lib.data.scenes import SCENE_NAMES
    from course_lib.data.sprites import CATEGORIES
    from course_lib.models.classifier import (
        CLASSIFIER_DIR,
        ReferenceClassifier,
        save_reference_classifier,
    )
    from course_lib.models.shipped import write_config
    from course_lib.student.lectures import lecture_module

    lecture = lecture_module("02", prefer_student=False)
    out = args.out or CLASSIFIER_DIR

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    folder = lecture.collection_dir(args.train_images, args.val_images, image_size=128)
    log(f"collection: {folder}")
    classes = [Category(c.id, c.name, c.supercategory) for c in CATEGORIES] + [
        Category(SCENE_ID_BASE + s, name) for s, name in enumerate(SCENE_NAMES)
    ]

    def records(split: str):
        """The split's records with the scene added to each picture's labels."""
        path = folder / "annotations" / f"scene_graphs_{split}.json"
        scenes = {g["image_id"]: g["scene"] for g in json.loads(path.read_text())["scene_graphs"]}
        return [
            dataclasses.replace(
                r, labels=[*r.labels, SCENE_ID_BASE + SCENE_NAMES.index(scenes[r.image_id])]
            )
            for r in load_coco(folder, split).records
        ]

    size = (lecture.IMAGE_SIZE, lecture.IMAGE_SIZE)
    train_records, val_records = records("train"), records("val")
    train_ds = label_dataset(
        train_records, classes, size, lecture.BATCH_SIZE, shuffle_seed=lecture.SEED, cache=True
    )
    val_ds = label_dataset(val_records, classes, size, lecture.BATCH_SIZE, cache=True)

    # Measure the training speed on a throwaway copy of the network (after one warm-up batch).
    probe = lecture.build_cnn(num_classes=len(classes))
    probe.compile(optimizer="adam", loss="binary_crossentropy")
    batches = list(train_ds.take(21))
    probe.train_on_batch(*batches[0])
    tick = time.perf_counter()
    for images, labels in batches[1:]:
        probe.train_on_batch(images, labels)
    per_batch = (time.perf_counter() - tick) / (len(batches) - 1)
    steps = int(train_ds.cardinality())
    # Validation (inference only) costs about a sixth of training; the first epoch decodes.
    per_epoch = per_batch * steps * (1 + len(val_records) / len(train_records) / 3)
    left = budget - (time.perf_counter() - started) - RESERVE_S
    epochs = int(max(1, min(args.max_epochs, (left - per_epoch * 0.3) / per_epoch)))
    log(f"{per_batch * 1000:.0f} ms a batch, about {per_epoch:.0f} s an epoch: {epochs} epochs")
    del probe, batches

    model = lecture.build_cnn(num_classes=len(classes))
    history = lecture.train_cnn(
        model, train_ds, val_ds, epochs=epochs, verbose=1 if args.verbose == 1 else 2
    )
    train_seconds = time.perf_counter() - started
    val_loss = history.history["val_loss"]
    log(f"trained {len(val_loss)} epochs; val losses {[round(v, 4) for v in val_loss]}")

    config = {
        "image_size": lecture.IMAGE_SIZE,
        "block_filters": list(lecture.BLOCK_FILTERS),
        "dropout_rate": lecture.DROPOUT_RATE,
        "classes": [c.name for c in classes],
        "num_categories": len(CATEGORIES),
        "training": {
            "train_images": len(train_records),
            "val_images": len(val_records),
            "collection_image_size": 128,
            "epochs_planned": epochs,
            "epochs_run": len(val_loss),
            "best_epoch": int(np.argmin(val_loss)) + 1,
            "best_val_loss": round(float(min(val_loss)), 4),
            "learning_rate": lecture.LEARNING_RATE,
            "wall_seconds": round(train_seconds, 1),
            "threads": os.cpu_count(),
            "seed": lecture.SEED,
        },
    }
    save_reference_classifier(out, model, config)
    log(f"saved to {out}")

    # Score the shipped (float16) weights from the photo files, as users will run them.
    shipped = ReferenceClassifier(out)
    y_true = np.stack([labels for _, labels in val_ds.unbatch().as_numpy_iterator()])
    y_prob = shipped.class_scores([r.path for r in val_records])
    n = len(CATEGORIES)
    metrics = {}
    for name, cols in (
        ("categories", slice(0, n)),
        ("scenes", slice(n, None)),
        ("all", slice(None)),
    ):
        scores = lecture.evaluate_multilabel(y_true[:, cols], y_prob[:, cols])
        metrics[name] = {
            "mAP": round(scores["mAP"], 4),
            "micro_f1": round(scores["micro_f1"], 4),
            "classes_scored": scores["num_classes_scored"],
        }
        log(f"val {name}: mAP {scores['mAP']:.4f}, micro-F1 {scores['micro_f1']:.4f}")
    config["metrics_val"] = metrics
    config["training"]["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    write_config(out, config)
    log("done")
    keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
