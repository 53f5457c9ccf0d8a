"""Train Lecture 06's reference captioner and ship it in ``course_lib/assets/captioner/``.

    python scripts/train_captioner.py --minutes 20

Uses the classes and functions of Lecture 06's reference solution (``solutions/06_captioning.py``
through ``lecture_module("06", prefer_student=False)``): generates the photo collection (8,000
train and 1,000 val photos, reused when present), pre-trains the encoder CNN on the object labels,
caches the grid features, trains the attention decoder with teacher forcing for what is left of
the time budget, saves the weights (float16), reloads them through
``course_lib.models.captioner`` and
prints BLEU-1..4 and CIDEr-D on the val split for greedy decoding and beam search (and METEOR
where Java is installed). The numbers and the wall time go into ``config.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EVALUATION_RESERVE_S = 150  # Seconds kept for saving and evaluating after training.


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="Wall-clock budget.")
    parser.add_argument("--out", type=Path, default=None, help="Asset folder to write.")
    parser.add_argument("--train-images", type=int, default=None, help="Training photos.")
    parser.add_argument("--val-images", type=int, default=None, help="Validation photos.")
    parser.add_argument("--encoder-epochs", type=int, default=None, help="Encoder epochs.")
    parser.add_argument("--epochs", type=int, default=None, help="Most decoder epochs.")
    parser.add_argument("--learning-rate", type=float, default=None, help="Adam's peak step size.")
    parser.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="constant: the lecture's fixed step size; cosine: one epoch at the peak, then a "
        "cosine decay over the epochs that fit in the budget (measured on the first epoch).",
    )
    parser.add_argument("--verbose", type=int, default=2, help="1: progress bars, 2: lines.")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = args.minutes * 60

    import keras
    import numpy as np

    from course_lib.models.captioner import (
        CAPTIONER_DIR,
        ReferenceCaptioner,
        meteor,
        save_reference_captioner,
    )
    from course_lib.models.shipped import write_config
    from course_lib.student.lectures import lecture_module

    lecture = lecture_module("06", prefer_student=False)
    out = args.out or CAPTIONER_DIR
    train_images = args.train_images or lecture.TRAIN_IMAGES
    val_images = args.val_images or lecture.VAL_IMAGES

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    keras.utils.set_random_seed(lecture.SEED)
    folder = lecture.collection_dir(train_images, val_images)
    log(f"collection: {folder}")
    num_classes = len(
        json.loads((folder / "annotations/instances_train.json").read_text())["categories"]
    )
    classifier, grid_model = lecture.build_encoder_cnn(num_classes=num_classes)
    lecture.train_encoder(
        classifier, folder, args.encoder_epochs or lecture.ENCODER_EPOCHS, verbose=args.verbose
    )
    log("encoder trained")
    for stale in folder.glob("features_*_reference.npz"):
        stale.unlink()  # Features of an earlier encoder.
    train_features, train_captions = lecture.cache_features(
        grid_model, folder, "train", "reference"
    )
    val_features, val_captions = lecture.cache_features(grid_model, folder, "val", "reference")
    log(f"features cached: train {train_features.shape}, val {val_features.shape}")

    token_lists = [lecture.tokenize_caption(c) for caps in train_captions for c in caps]
    vocabulary = lecture.build_vocabulary(token_lists)
    tokens = lecture.encode_captions(token_lists, vocabulary)
    image_index = np.repeat(np.arange(len(train_captions)), [len(c) for c in train_captions])
    dataset = lecture.caption_batches(train_features, tokens, image_index)
    model = lecture.Captioner(len(vocabulary))
    left = budget - (time.perf_counter() - started) - EVALUATION_RESERVE_S
    log(f"vocabulary {len(vocabulary)} words; training the decoder for about {left:.0f} s")
    epochs = args.epochs or lecture.CAPTION_EPOCHS
    peak = args.learning_rate or lecture.LEARNING_RATE
    with tempfile.TemporaryDirectory(prefix="captioner-") as scratch:

        def train(epochs, learning_rate, max_seconds, name):
            return lecture.train_captioner(
                model,
                dataset,
                epochs=epochs,
                log_dir=Path(scratch) / f"logs-{name}",
                learning_rate=learning_rate,
                verbose=1 if args.verbose == 1 else 0,
                max_seconds=max(max_seconds, 1.0),
            )

        if args.schedule == "constant":
            losses = train(epochs, peak, left * 0.9, "constant")
        else:
            # The decay must end when the budget does, so the first epoch, at the peak step
            # size, measures how many more epochs fit; the decay spans exactly those.
            first_started = time.perf_counter()
            losses = train(1, peak, left, "first")
            epoch_seconds = time.perf_counter() - first_started
            rest = left - epoch_seconds
            fit = max(1, min(epochs - 1, int(rest * 0.92 / epoch_seconds)))
            steps = int(dataset.cardinality())
            schedule = keras.optimizers.schedules.CosineDecay(peak, fit * steps, alpha=0.02)
            log(f"first epoch {epoch_seconds:.0f} s, loss {losses[0]:.3f}; {fit} decay epochs")
            losses += train(fit, schedule, rest * 0.95, "cosine")
    train_seconds = time.perf_counter() - started
    log(f"decoder trained: {len(losses)} epochs, losses {[round(x, 3) for x in losses]}")

    config = {
        "image_size": lecture.IMAGE_SIZE,
        "block_filters": list(lecture.ENCODER_FILTERS),
        "num_classes": num_classes,
        "projection_dim": lecture.PROJECTION_DIM,
        "embedding_dim": lecture.EMBEDDING_DIM,
        "units": lecture.UNITS,
        "attention_units": lecture.ATTENTION_UNITS,
        "dropout_rate": lecture.DROPOUT_RATE,
        "max_decode_length": lecture.MAX_DECODE_LENGTH,
        "length_penalty": lecture.LENGTH_PENALTY,
        "training": {
            "train_images": train_images,
            "val_images": val_images,
            "decoder_epochs": len(losses),
            "learning_rate": peak,
            "schedule": args.schedule,
            "final_loss": round(losses[-1], 4),
            "wall_seconds": round(train_seconds, 1),
            "threads": os.cpu_count(),
        },
    }
    save_reference_captioner(out, grid_model, model, vocabulary, config)
    log(f"saved to {out}")

    # Evaluate the shipped (float16) weights, from the photos, as users will run them.
    captioner = ReferenceCaptioner(out)
    val_paths = [r.path for r in lecture.load_coco(folder, "val", kinds=["captions"]).records]
    features = captioner.features(val_paths)
    references = dict(enumerate(val_captions))
    metrics = {}
    for name, width in (("greedy", 1), (f"beam{lecture.BEAM_WIDTH}", lecture.BEAM_WIDTH)):
        generated = dict(enumerate(captioner.caption_features(features, beam_width=width)))
        scores = lecture.evaluate_captions(generated, references)
        tokenised = {i: " ".join(lecture.tokenize_caption(c)) for i, c in generated.items()}
        refs = {
            i: [" ".join(lecture.tokenize_caption(r)) for r in rs] for i, rs in references.items()
        }
        value = meteor(tokenised, refs)
        if value is not None:
            scores["METEOR"] = value
        metrics[name] = {k: round(v, 4) for k, v in scores.items()}
        log(f"val {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        log(f"  e.g. {generated[0]!r} / {generated[1]!r}")
    config["metrics_val"] = metrics
    config["training"]["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    write_config(out, config)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
