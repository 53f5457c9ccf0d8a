"""Train Lecture 08's reference dual encoder and ship it in ``course_lib/assets/dual_encoder/``.

    python scripts/train_dual_encoder.py --minutes 30

Uses the classes and functions of Lecture 08's reference solution (``solutions/08_dual_encoder.py``
through ``lecture_module("08", prefer_student=False)``): generates the photo collection (8,000
train and 1,000 val photos, reused when present), computes the MiniLM features of every caption
once (cached), times a few training steps to plan as many epochs as the budget allows (a cosine
learning-rate decay over exactly those), trains, saves the weights (float16), reloads them
through ``course_lib.models.dual_encoder`` and measures, from the photo files as users run it:
val Recall@1/5/10 of every caption against the 1,000 val photos, mAP@10 of scene-graph queries,
zero-shot classification by prompts, and mAP@10 on the default competition (seed 0). The figures,
the wall time and the threads go into ``config.json``. ``--evaluate-only`` measures the weights
already saved again and rewrites their figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import course_lib  # noqa: F401 (before TensorFlow: it keeps TensorFlow's C++ log lines out)

EVALUATION_RESERVE_S = 240  # Seconds kept for saving and evaluating after training.


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Wall-clock budget.")
    parser.add_argument("--out", type=Path, default=None, help="Asset folder to write.")
    parser.add_argument("--train-images", type=int, default=None, help="Training photos.")
    parser.add_argument("--val-images", type=int, default=None, help="Validation photos.")
    parser.add_argument("--epochs", type=int, default=None, help="Epochs (default: the budget's).")
    parser.add_argument("--verbose", type=int, default=2, help="1: progress bars, 2: lines.")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="Measure the weights already in --out and rewrite their figures in config.json.",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = args.minutes * 60

    import keras
    import numpy as np
    import tensorflow as tf

    from course_lib.competition.grammar import caption_query
    from course_lib.competition.make import make_competition
    from course_lib.competition.scoring import load_solution, score_rankings
    from course_lib.data import read_split
    from course_lib.data.coco import load_coco
    from course_lib.data.pipelines import multi_hot
    from course_lib.models.dual_encoder import (
        DUAL_ENCODER_DIR,
        ReferenceDualEncoder,
        save_reference_dual_encoder,
    )
    from course_lib.models.shipped import write_config
    from course_lib.search.helpers import relevance_grades
    from course_lib.student.lectures import lecture_module

    lecture = lecture_module("08", prefer_student=False)
    blocks = lecture_module("03", prefer_student=False)
    out = args.out or DUAL_ENCODER_DIR
    train_images = args.train_images or lecture.TRAIN_IMAGES
    val_images = args.val_images or lecture.VAL_IMAGES

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    keras.utils.set_random_seed(lecture.SEED)
    folder = lecture.collection_dir(train_images, val_images)
    train_pixels, train_records = lecture.load_split(folder, "train")
    val_pixels, val_records = lecture.load_split(folder, "val")
    log(f"collection: {folder}, train {train_pixels.shape}, val {val_pixels.shape}")
    features = lecture.TextFeatures([], prefer="minilm")
    if features.name != "minilm":
        print("error: the reference dual encoder needs MiniLM's weights.", file=sys.stderr)
        return 1
    train_text = lecture.caption_features(train_records, features, folder, "train")
    val_text = lecture.caption_features(val_records, features, folder, "val")
    log(f"caption features: train {train_text.shape}, val {val_text.shape}")

    def build():
        keras.utils.set_random_seed(lecture.SEED)
        image_tower = lecture.build_image_tower(blocks=blocks)
        return lecture.DualEncoder(image_tower, lecture.build_text_tower(train_text.shape[-1]))

    if args.evaluate_only:
        config = json.loads((Path(out) / "config.json").read_text(encoding="utf-8"))
    else:
        train_ds = lecture.pairs_dataset(train_pixels, train_text)
        epochs = args.epochs
        if epochs is None:
            # Time 30 steps after 10 of warm-up (tracing) on a throwaway model; plan epochs.
            probe = build()
            probe.compile(optimizer=keras.optimizers.AdamW(lecture.LEARNING_RATE))
            probe.fit(train_ds.take(10), epochs=1, verbose=0, shuffle=False)
            tick = time.perf_counter()
            probe.fit(train_ds.take(30), epochs=1, verbose=0, shuffle=False)
            step_seconds = (time.perf_counter() - tick) / 30
            left = budget - (time.perf_counter() - started) - EVALUATION_RESERVE_S
            epoch_seconds = step_seconds * int(train_ds.cardinality()) * 1.08  # Validation too.
            epochs = max(1, int(left / epoch_seconds))
            log(f"{step_seconds:.3f} s per step, {epoch_seconds:.0f} s per epoch: {epochs} epochs")
        model = build()
        # Full batches only, as in training: a loss over fewer pairs is not comparable.
        val_ds = lecture.pairs_dataset(val_pixels, val_text, seed=lecture.SEED + 1)
        left = budget - (time.perf_counter() - started) - EVALUATION_RESERVE_S
        history = lecture.train_dual_encoder(
            model, train_ds, val_ds, epochs=epochs, verbose=args.verbose, max_seconds=max(left, 1.0)
        )
        train_seconds = time.perf_counter() - started
        losses = [round(x, 4) for x in history.history["loss"]]
        log(f"trained {len(losses)} epochs: losses {losses}")

        config = {
            "image_size": lecture.IMAGE_SIZE,
            "block_filters": list(lecture.IMAGE_FILTERS),
            "embedding_dim": lecture.EMBEDDING_DIM,
            "dropout_rate": lecture.DROPOUT_RATE,
            "feature_dim": int(train_text.shape[-1]),
            "text_features": features.name,
            "initial_temperature": lecture.INITIAL_TEMPERATURE,
            "max_logit_scale": lecture.MAX_LOGIT_SCALE,
            "training": {
                "train_images": train_images,
                "val_images": val_images,
                "batch_size": lecture.BATCH_SIZE,
                "epochs": len(losses),
                "final_loss": losses[-1],
                "final_val_loss": round(history.history["val_loss"][-1], 4),
                "temperature": round(float(model.temperature.temperature()), 4),
                "wall_seconds": round(train_seconds, 1),
                "threads": os.cpu_count(),
                "tensorflow_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            },
        }
        save_reference_dual_encoder(out, model, config)
        log(f"saved to {out}")

    # Evaluate the shipped (float16) weights from the photo files, as users will run them.
    reference = ReferenceDualEncoder(out)
    val_paths = [r.path for r in val_records]
    image_vectors = reference.embed_images(val_paths)
    caption_vectors = lecture.embed_text_features(
        reference.model, val_text.reshape(-1, val_text.shape[-1])
    )
    own = [{i // val_text.shape[1]} for i in range(len(caption_vectors))]
    captions = lecture.retrieval_report(caption_vectors, image_vectors, own)
    log(f"val captions → photos: {captions}")
    val_items = read_split(folder, "val")
    rng = np.random.default_rng(lecture.SEED)
    queries = [caption_query(item["graph"], rng)[:2] for item in val_items[:500]]
    row = {item["id"]: i for i, item in enumerate(val_items)}
    relevant = [
        {row[i] for i, grade in relevance_grades(graph, val_items).items() if grade == 2}
        for _, graph in queries
    ]
    graph_report = lecture.retrieval_report(
        reference.embed_texts([text for text, _ in queries]), image_vectors, relevant
    )
    log(f"val scene-graph queries → photos: {graph_report}")
    coco = load_coco(folder, "val")
    labels = multi_hot(coco.records, coco.categories)
    class_vectors = reference.embed_texts(lecture.prompts(coco.category_names))
    probabilities = lecture.zero_shot_probabilities(
        image_vectors, class_vectors, reference.temperature
    )
    zero_shot = lecture.zero_shot_report(probabilities, labels)
    log(f"val zero-shot: {zero_shot}")

    with tempfile.TemporaryDirectory(prefix="dual-encoder-") as scratch:
        competition = Path(scratch) / "comp"
        make_competition(competition, 1000, 1000, seed=0)
        solution = load_solution(competition)
        gallery = [
            {"id": iid, "path": competition / "gallery" / f"{iid}.jpg"}
            for iid in solution.image_ids
        ]
        engine = reference.engine().index(gallery)
        texts = [solution.texts[q] for q in solution.query_ids]
        results = engine.search_batch(texts, k=100)
        rankings = {
            q: [iid for iid, _ in ranked]
            for q, ranked in zip(solution.query_ids, results, strict=True)
        }
        board = score_rankings(rankings, solution)
    log(f"competition (seed 0): {board['all']}")

    config["metrics_val"] = {
        "captions": {k: round(v, 4) for k, v in captions.items()},
        "scene_graph_queries": {k: round(v, 4) for k, v in graph_report.items()},
        "zero_shot": {k: round(v, 4) for k, v in zero_shot.items()},
        "lecture02_supervised": {"mAP": 0.58, "micro_f1": 0.61},
    }
    config["competition_seed0"] = {
        usage: {k: round(v, 4) for k, v in scores.items()} for usage, scores in board.items()
    }
    if not args.evaluate_only:
        config["training"]["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    write_config(out, config)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
