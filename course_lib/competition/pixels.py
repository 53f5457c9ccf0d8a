"""The competition from the gallery's pixels alone: what a team can submit (Lecture 05 competition).

``camp competition baseline pixels OUT.csv --competition comp/`` reads only the public files of a
competition (``gallery/`` and ``queries.csv``, never ``solution/``), runs the course's shipped
models on every gallery picture and ranks the pictures for each query with each engine it has:

- ``captions``: the Lecture 06 captioner's captions (several decodings per picture), searched
  with TF-IDF plus GloVe as the ``oracle`` caption baseline searches the true captions.
- ``caption-graphs``: each generated caption read as a scene graph (``query_graph``) and matched
  against the query's graph with ``relevance_grade``, so "a dog in a basket" and "a dog next to
  a basket" differ; the scene comes from the classifier when it is there.
- ``classifier``: the Lecture 02 classifier's category and scene probabilities with Dropbox's
  scoring (``baselines.classifier_scores``).
- ``detector``: the predicted scene graphs of ``course_lib.models.detector`` (Lecture 07, when
  it is installed) matched against the query's graph, with the detections' confidences.
- ``dual-encoder``: the cosine of ``course_lib.models.dual_encoder``'s image and text
  embeddings (Lecture 08, when it is installed).
- fused: a weighted sum of the engines' scores, each standardised per query (``WEIGHTS``, chosen
  on a separately generated competition, seed 1, never on seed 0's queries); an engine with
  weight 0 is left out of the fused ranking.

The per-picture predictions are cached next to the output (``pixels-cache-<gallery hash>.json``),
so later runs on the same gallery, with any engines, only rank.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from course_lib.competition.baselines import (
    CLASSES,
    classifier_scores,
    glove_scores,
    load_competition,
    tfidf_scores,
)
from course_lib.competition.scoring import write_submission
from course_lib.data.scenes import SCENE_NAMES
from course_lib.data.sprites import CATEGORIES
from course_lib.errors import CourseError
from course_lib.search.graph_match import graph_scores
from course_lib.search.query_graph import caption_graph, query_graph

ENGINES = ("captions", "caption-graphs", "classifier", "detector", "dual-encoder")
# Captions per picture: beam search of widths 3, 1 (greedy) and 5, then samples at a low
# temperature. Thirty samples approach the captioner's whole distribution: on the seed-1
# competition they lift caption search from 0.158 (one beam caption) to 0.349 private mAP@10.
BEAMS = (3, 1, 5)
SAMPLES, TEMPERATURE = 30, 0.5
# Weights of the per-query standardised scores, chosen on a separately generated competition
# (seed 1, 500 pictures, 500 queries; never seed 0's): the classifier is by far the strongest
# engine; caption search only lowers it in any share tried, the other engines lift it a little.
WEIGHTS = {
    "captions": 0.0,
    "caption-graphs": 0.03,
    "classifier": 1.0,
    "detector": 0.15,
    "dual-encoder": 0.25,
}
CACHE_VERSION = 1


MODELS = {
    "captions": ("course_lib.models.captioner", "CAPTIONER_DIR"),
    "classifier": ("course_lib.models.classifier", "CLASSIFIER_DIR"),
    "detector": ("course_lib.models.detector", "DETECTOR_DIR"),
    "dual-encoder": ("course_lib.models.dual_encoder", "DUAL_ENCODER_DIR"),
}


def _weights(engine: str) -> Path | None:
    """The weights file of an engine's model, or None when its module names no asset folder."""
    module, attribute = MODELS[engine]
    folder = getattr(importlib.import_module(module), attribute, None)
    return None if folder is None else Path(folder) / "weights.npz"


def available_engines() -> list[str]:
    """Return the engines whose models are installed with their weights, in ``ENGINES`` order."""
    have = {
        e: importlib.util.find_spec(module) is not None
        and (_weights(e) is None or _weights(e).is_file())
        for e, (module, _) in MODELS.items()
    }
    have["caption-graphs"] = have["captions"]
    return [e for e in ENGINES if have[e]]


def models_hash(engines: list[str]) -> dict[str, str]:
    """Return the SHA-256 of each engine's weights file, so a retrained model is never mixed
    with predictions of the old one."""
    files = {e: _weights("captions" if e == "caption-graphs" else e) for e in engines}
    return {e: hashlib.sha256(f.read_bytes()).hexdigest() for e, f in files.items() if f}


def gallery_hash(paths: list[Path]) -> str:
    """Return a SHA-256 of the gallery's file names and bytes; refuse a picture PIL cannot read."""
    from PIL import Image, UnidentifiedImageError

    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, UnidentifiedImageError) as err:
            raise CourseError(f"{path}: cannot read the picture ({err}).") from None
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def predict_gallery(paths: list[Path], engines: list[str]) -> dict:
    """Run each engine's model on every picture; return what the rankings need, JSON-ready."""
    out: dict = {}
    if "captions" in engines or "caption-graphs" in engines:
        from course_lib.models.captioner import load_reference_captioner

        captioner = load_reference_captioner()
        features = captioner.features(paths)
        decoded = [captioner.caption_features(features, beam_width=w) for w in BEAMS]
        for seed in range(SAMPLES):
            decoded.append(
                captioner.lecture.generate_captions(
                    captioner.model,
                    features,
                    captioner.vocabulary,
                    "sample",
                    temperature=TEMPERATURE,
                    seed=seed,
                    max_length=captioner.config["max_decode_length"],
                )
            )
        out["captions"] = [list(dict.fromkeys(cs)) for cs in zip(*decoded, strict=True)]
    if "classifier" in engines:
        from course_lib.models.classifier import load_reference_classifier

        classifier = load_reference_classifier()
        scores = classifier.class_scores(paths)
        columns = [classifier.classes.index(name) for name in CLASSES]
        out["class_scores"] = scores[:, columns].tolist()
    if "detector" in engines:
        from course_lib.models.detector import scene_graphs

        graphs = scene_graphs(paths)
        out["scene_graphs"] = [graphs[p.stem] for p in paths]
    if "dual-encoder" in engines:
        from course_lib.models.dual_encoder import embed_images

        out["image_embeddings"] = np.asarray(embed_images(paths), np.float32).tolist()
    return out


def cached_predictions(paths: list[Path], engines: list[str], folder: Path | None) -> dict:
    """Return ``predict_gallery``'s result, cached in ``folder`` (None: no cache).

    The cache file, ``pixels-cache-<gallery hash>.json``, is shared by every run on the same
    gallery; it is rebuilt when damaged or written with other settings.
    """
    key = {
        "version": CACHE_VERSION,
        "gallery": gallery_hash(paths),
        "captions": [BEAMS, SAMPLES, TEMPERATURE],
        "models": models_hash(available_engines()),
    }
    cache = folder / f"pixels-cache-{key['gallery'][:12]}.json" if folder is not None else None
    stored: dict = {}
    if cache is not None and cache.is_file():
        try:
            stored = json.loads(cache.read_text("utf-8"))
        except (OSError, ValueError):
            stored = {}  # A damaged cache is rebuilt.
        if stored.get("key") != json.loads(json.dumps(key)):
            stored = {}
    predictions = stored.get("predictions", {})
    needed = {
        "captions": "captions",
        "caption-graphs": "captions",
        "classifier": "class_scores",
        "detector": "scene_graphs",
        "dual-encoder": "image_embeddings",
    }
    missing = [e for e in engines if needed[e] not in predictions]
    if missing:
        predictions.update(predict_gallery(paths, missing))
        if cache is not None:
            # Models may answer with numpy numbers: store them as plain ones.
            data = {"key": key, "predictions": predictions}
            cache.write_text(json.dumps(data, default=lambda v: np.asarray(v).tolist()), "utf-8")
    return predictions


def standardise(scores: np.ndarray) -> np.ndarray:
    """Return each query's scores minus their mean, over their standard deviation."""
    centred = scores - scores.mean(axis=1, keepdims=True)
    return centred / np.maximum(centred.std(axis=1, keepdims=True), 1e-9)


def _scenes(classes: np.ndarray, n: int) -> list[str | None]:
    """Each picture's most likely scene by the classifier (captions and detections rarely say
    it), or None for all ``n`` pictures without classifier scores."""
    if not classes.size:
        return [None] * n
    return [SCENE_NAMES[k] for k in classes[:, len(CATEGORIES) :].argmax(axis=1)]


def engine_scores(texts: list[str], predictions: dict, engines: list[str]) -> dict:
    """Return ``{engine: (queries, pictures) scores}`` for the queries ``texts``."""
    out = {}
    classes = np.asarray(predictions.get("class_scores", np.zeros((0, 0))), np.float32)
    if "captions" in engines:
        caps = predictions["captions"]
        out["captions"] = tfidf_scores(texts, caps) + glove_scores(texts, caps)
    if "classifier" in engines:
        out["classifier"] = classifier_scores(texts, classes)
    if "caption-graphs" in engines or "detector" in engines:
        graphs = [query_graph(t) for t in texts]
    if "caption-graphs" in engines:
        captions = predictions["captions"]
        pictures = [
            [{**caption_graph(c), "scene": scene} for c in cs]
            for cs, scene in zip(captions, _scenes(classes, len(captions)), strict=True)
        ]
        out["caption-graphs"] = graph_scores(graphs, pictures)
    if "detector" in engines:
        found = predictions["scene_graphs"]
        pictures = [
            [{**g, "scene": g.get("scene") or scene}]
            for g, scene in zip(found, _scenes(classes, len(found)), strict=True)
        ]
        out["detector"] = graph_scores(graphs, pictures)
    if "dual-encoder" in engines:
        from course_lib.models.dual_encoder import embed_texts

        images = np.asarray(predictions["image_embeddings"], np.float32)
        out["dual-encoder"] = np.asarray(embed_texts(texts), np.float32) @ images.T
    return out


def fuse(scores: dict, weights: dict | None = None) -> np.ndarray:
    """Return the weighted mean of the engines' per-query standardised scores.

    Engines of weight 0 are left out, unless all are (then each counts equally).
    """
    weights = weights or WEIGHTS
    chosen = {n: weights[n] for n in scores if weights[n] > 0} or {n: 1.0 for n in scores}
    return sum(w * standardise(scores[n]) for n, w in chosen.items()) / sum(chosen.values())


def pixels_scores(
    folder: str | Path, engines: list[str] | None = None, cache: str | Path | None = None
) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """Return (query ids, gallery ids, fused (queries, pictures) scores, engines used).

    ``engines`` defaults to every available one; asking for one that is not installed raises
    CourseError. ``cache`` is the folder of the per-picture cache (None: no cache).
    """
    have = available_engines()
    engines = list(engines or have)
    unknown = [e for e in engines if e not in ENGINES]
    missing = [e for e in engines if e in ENGINES and e not in have]
    if unknown or missing:
        raise CourseError(
            f"Expected engines among the available {', '.join(have) or 'none'}; received "
            f"{', '.join(unknown + missing)} ({'unknown' if unknown else 'not installed'})."
        )
    if not engines:
        raise CourseError("No engine is available: the course's model assets are missing.")
    qids, texts, ids = load_competition(folder)
    paths = [Path(folder) / "gallery" / f"{i}.jpg" for i in ids]
    graph_engines = {"caption-graphs", "detector"} & set(engines)
    needs = set(engines) | ({"classifier"} if graph_engines and "classifier" in have else set())
    predictions = cached_predictions(paths, sorted(needs), Path(cache) if cache else None)
    scores = engine_scores(texts, predictions, engines)
    return qids, ids, fuse(scores), engines


def write_pixels(
    out_csv: str | Path, folder: str | Path, engines: list[str] | None = None, cache: bool = True
) -> tuple[Path, list[str]]:
    """Write the pixels baseline's submission; return (its path, the engines used)."""
    out_csv = Path(out_csv)
    qids, ids, scores, used = pixels_scores(folder, engines, out_csv.parent if cache else None)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :100]
    rankings = {q: [ids[j] for j in row] for q, row in zip(qids, order, strict=True)}
    write_submission(out_csv, rankings, qids)
    return out_csv, used
