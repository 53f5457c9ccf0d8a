"""Plumbing for the search engines of Lecture 05 (introduced there): no exercise answers here.

- ``category_names``: the photo collection's object categories, in id order (the columns of a
  classifier's score vector).
- ``model_outputs``: what the course's shipped models see in the pictures (the Lecture 02
  classifier's scores, the Lecture 07 detector's detections, the Lecture 06 captioner's
  captions), the inputs of the search engines.
- ``oracle_detections`` and ``oracle_category_scores``: stand-ins for a detector and a
  classifier, built from a picture's scene graph (ground truth): labelled upper bounds, so that
  the search engines can be studied apart from the quality of the vision models.
- ``query_words`` and ``phrase_vectors``: from text to words, and from names ("teddy bear") to
  word vectors.
- ``EXAMPLE_QUERIES`` and ``relevance_grades``: text queries with their query graphs, and the
  graded relevance (0, 1, 2) of every picture of a collection for one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from course_lib.data.relevance import relevance_grade
from course_lib.data.sprites import CATEGORIES

# Detector confidence of an oracle detection, lowered for objects a real detector finds harder.
ORACLE_SCORE = 1.0
HARD_ATTRIBUTE_SCORES = {"occluded": 0.6, "truncated": 0.7, "small": 0.8}

# Text queries of the demos and the query graphs that define their ground truth.
EXAMPLE_QUERIES: tuple[tuple[str, dict], ...] = (
    (
        "a dog in glasses sitting in a basket on a bike",
        {
            "objects": [
                {"category": "dog"},
                {"category": "glasses"},
                {"category": "basket"},
                {"category": "bicycle"},
            ],
            "relations": [
                {"subject": 0, "predicate": "wearing", "object": 1},
                {"subject": 0, "predicate": "in", "object": 2},
                {"subject": 2, "predicate": "on", "object": 3},
            ],
        },
    ),
    (
        "a cat on a truck in the snow",
        {
            "objects": [{"category": "cat"}, {"category": "truck"}],
            "relations": [{"subject": 0, "predicate": "on", "object": 1}],
            "scene": "snow",
        },
    ),
    (
        "a person with an umbrella on the beach",
        {"objects": [{"category": "person"}, {"category": "umbrella"}], "scene": "beach"},
    ),
    ("pizza on the kitchen table", {"objects": [{"category": "pizza"}], "scene": "kitchen"}),
    (
        "an elephant next to a giraffe",
        {
            "objects": [{"category": "elephant"}, {"category": "giraffe"}],
            "relations": [{"subject": 0, "predicate": "next to", "object": 1}],
        },
    ),
    ("a boat on the lake", {"objects": [{"category": "boat"}], "scene": "lake"}),
    (
        "a teddy bear on a couch",
        {
            "objects": [{"category": "teddy bear"}, {"category": "couch"}],
            "relations": [{"subject": 0, "predicate": "on", "object": 1}],
        },
    ),
    ("a horse in the park", {"objects": [{"category": "horse"}], "scene": "park"}),
)


def category_names() -> list[str]:
    """Return the photo collection's category names in category-id order ("person" first)."""
    return [c.name for c in CATEGORIES]


def model_outputs(paths: Sequence, cache_folder=None) -> dict[str, list]:
    """Run the shipped vision models on pictures: what a search engine may index.

    Args:
        paths: (N,) picture files.
        cache_folder: where the predictions are cached between runs (None: no cache).

    Returns:
        A dict holding, for each model whose weights are installed, one entry per picture:
        ``"captions"`` (lists of generated captions, Lecture 06), ``"category_scores"``
        (float32 (len(category_names()),) probabilities, Lecture 02) and ``"detections"``
        (lists of ``(category, confidence)``, Lecture 07). A model is absent when its weights
        are missing or, in the student edition, when its lecture's code is not available yet
        (neither passed in ``camp check`` nor released); a note says so.
    """
    from pathlib import Path

    # The competition's pixels baseline runs and caches exactly these models; reuse it.
    from course_lib.competition.pixels import available_engines, cached_predictions
    from course_lib.errors import CourseError

    folder = Path(cache_folder) if cache_folder is not None else None
    predictions: dict = {}
    installed = available_engines()
    for engine in ("captions", "classifier", "detector"):
        if engine not in installed:
            continue
        try:
            predictions.update(cached_predictions([Path(p) for p in paths], [engine], folder))
        except CourseError as err:
            print(f"The {engine} model is not available: {err}")
    out: dict[str, list] = {}
    if "captions" in predictions:
        out["captions"] = predictions["captions"]
    if "class_scores" in predictions:
        out["category_scores"] = [
            np.asarray(row[: len(CATEGORIES)], np.float32) for row in predictions["class_scores"]
        ]
    if "scene_graphs" in predictions:
        out["detections"] = [
            [(o["category"], float(o.get("score", 1.0))) for o in graph["objects"]]
            for graph in predictions["scene_graphs"]
        ]
    return out


def oracle_detections(graph: dict) -> list[tuple[str, float]]:
    """Return an oracle detector's output for a picture: ``(category, confidence)`` per object.

    The objects are the scene graph's ground-truth boxes. The confidence is ``ORACLE_SCORE``,
    multiplied by ``HARD_ATTRIBUTE_SCORES[a]`` for each attribute ``a`` (occluded, truncated,
    small) that makes an object harder for a real detector.
    """
    detections = []
    for obj in graph["objects"]:
        score = ORACLE_SCORE
        for attribute in obj.get("attributes", ()):
            score *= HARD_ATTRIBUTE_SCORES.get(attribute, 1.0)
        detections.append((obj["category"], float(score)))
    return detections


def oracle_category_scores(
    graph: dict, categories: Sequence[str], seed: int = 0, image_id: int = 0
) -> np.ndarray:
    """Return a noisy oracle classifier's scores for a picture: float32 (len(categories),).

    A present category scores ``U(0.6, 1.0)``, an absent one ``U(0, 0.15)``: the shape of the
    output of a good multi-label classifier (Lecture 02), drawn from ``seed`` and ``image_id``.
    """
    rng = np.random.default_rng([seed, image_id])
    present = {obj["category"] for obj in graph["objects"]}
    mask = np.array([name in present for name in categories])
    low, high = rng.uniform(0.0, 0.15, len(categories)), rng.uniform(0.6, 1.0, len(categories))
    return np.where(mask, high, low).astype(np.float32)


def query_words(text: str, stop_words: Iterable[str] = ()) -> list[str]:
    """Lower-case ``text``, split it into runs of letters and digits, drop ``stop_words``."""
    stop = set(stop_words)
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stop]


def phrase_vectors(phrases: Sequence[str], word_vectors: Mapping) -> np.ndarray:
    """Mean word vector of each phrase's known words ("teddy bear" → mean of two vectors).

    Args:
        phrases: (P,) strings, split on spaces.
        word_vectors: anything with ``word in word_vectors`` and ``word_vectors[word]`` giving a
            (dim,) vector: ``course_lib.models.pretrained.WordVectors`` or a dict.

    Returns:
        float32 (P, dim); a phrase without any known word gets zeros. With no phrase at all,
        (0, 0).
    """
    dim = None
    rows: list[np.ndarray | None] = []
    for phrase in phrases:
        words = [w for w in phrase.lower().split() if w in word_vectors]
        vectors = [np.asarray(word_vectors[w], dtype=np.float32) for w in words]
        if vectors:
            dim = vectors[0].shape[0]
            rows.append(np.mean(vectors, axis=0))
        else:
            rows.append(None)
    if dim is None:
        dim = _dimension(word_vectors)
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out


def _dimension(word_vectors: Mapping) -> int:
    if hasattr(word_vectors, "dim"):
        return int(word_vectors.dim)
    for vector in word_vectors.values():
        return int(np.asarray(vector).shape[0])
    return 0


def relevance_grades(query_graph: dict, images: Sequence[dict]) -> dict:
    """Return ``{image id: grade}`` for every image with a ``graph`` and grade > 0 (1 or 2)."""
    grades = {}
    for image in images:
        if image.get("graph") is not None:
            grade = relevance_grade(query_graph, image["graph"])
            if grade:
                grades[image["id"]] = grade
    return grades
