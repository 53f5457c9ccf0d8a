"""Match text queries to ImageNet classes for ``camp search`` (introduced with Lecture 05).

Lecture 05's Dropbox engine keeps the few classes whose *name* is nearest a query word in GloVe
and multiplies them with each photo's class scores. On real photos described by people that
misses much: "kitchen" is no ImageNet class, "cat" is only a word inside "tabby cat", and "a",
"sitting", "two" weigh as much as "pizza". The matchers here use every lemma of every class
(``"tabby, tabby cat"`` → two names) and a class's similarity to a query is its best lemma's;
the similarities become class weights through a softmax with a temperature, and a photo's score
is its whole class-probability vector ``p`` against them: ``p · a``.

- :class:`MiniLMMatcher` embeds the whole query and every lemma with all-MiniLM-L6-v2
  (Lecture 04's encoder, real weights; lemma embeddings cached on disk).
- :class:`GloveMatcher`, where MiniLM is not installed, scores each content word on its own with
  GloVe and adds the log scores, each word weighted by ``log(2 + frequency rank)`` (GloVe lists
  its words by frequency, so rare, specific words count more: an IDF without a corpus).

The temperatures were chosen on captions 0-1 of each photo of the real COCO sample; the README
reports captions 2-4 (tests/test_photo_search_quality.py).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import numpy as np

MINILM_TEMPERATURE = 0.05  # Softmax temperature over MiniLM cosine similarities.
GLOVE_TEMPERATURE = 0.05  # Softmax temperature over GloVe cosine similarities.
EPSILON = 1e-3  # Added to a word's p · a before the log, so one missing word does not veto.
CACHE_VERSION = 1  # Bump when what the lemma-embedding cache stores changes.
STOP_WORDS = frozenset(
    "a an the in on of at to with and or is are was were its it this that there some by for from"
    " into onto near next under over top up down his her their be being been as has have very"
    " while each other another out front one two three several".split()
)  # Words that say nothing about which objects a photo shows.


@cache
def class_lemmas() -> tuple[tuple[str, ...], np.ndarray]:
    """Every lemma of the 1000 ImageNet classes and the class index of each, in class order."""
    from course_lib.models.imagenet import imagenet_classes

    lemmas, owners = [], []
    for index, (_, names) in enumerate(imagenet_classes()):
        for name in names.split(", "):
            lemmas.append(name)
            owners.append(index)
    return tuple(lemmas), np.array(owners)


def best_lemma_per_class(similarity: np.ndarray, owners: np.ndarray, classes: int = 1000):
    """(Q, L) similarities to lemmas → (Q, classes): each class's most similar lemma."""
    out = np.full((similarity.shape[0], classes), -np.inf)
    np.maximum.at(out.T, owners, similarity.T)
    return out


def softmax(similarity: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``similarity / temperature`` (float64)."""
    logits = np.asarray(similarity, np.float64) / temperature
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class MiniLMMatcher:
    """Whole query against every class lemma with all-MiniLM-L6-v2 (Lecture 04's encoder).

    Args:
        cache_path: where the lemma embeddings are kept (default: the user data folder).
        module: the Lecture 04 module to build the encoder with (default ``lecture_module``).
    """

    def __init__(self, cache_path: Path | None = None, module=None) -> None:
        from course_lib.models.minilm import embed, load_minilm

        if module is None:
            from course_lib.student.lectures import lecture_module

            module = lecture_module("04", quiet=True)
        self.model, self.tokenizer = load_minilm(module)
        self._embed = embed
        lemmas, self.owners = class_lemmas()
        key = hashlib.sha256("\n".join(lemmas).encode()).hexdigest()[:16]
        from course_lib.models.imagenet import _module_fingerprint

        fingerprint = f"v{CACHE_VERSION}:{key}:{_module_fingerprint(module)}"
        if cache_path is None:
            from course_lib.quiz.history import home_dir

            cache_path = home_dir() / "index" / "imagenet_lemmas_minilm.npz"
        self.lemma_vectors = self._cached_lemmas(Path(cache_path), fingerprint, list(lemmas))

    def _cached_lemmas(self, path: Path, fingerprint: str, lemmas: list[str]) -> np.ndarray:
        if path.is_file():
            with np.load(path, allow_pickle=False) as old:
                if str(old["fingerprint"]) == fingerprint:
                    return old["vectors"].astype(np.float32)
        vectors = self._embed(self.model, self.tokenizer, lemmas)  # (L, 384), unit length
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:  # np.savez would add ".npz" to a bare name.
            np.savez(file, vectors=vectors.astype(np.float16), fingerprint=np.array(fingerprint))
        return vectors.astype(np.float16).astype(np.float32)

    def class_weights(self, queries: list[str]) -> np.ndarray:
        """float64 (Q, 1000): softmax over classes of each query's best-lemma similarity."""
        vectors = self._embed(self.model, self.tokenizer, list(queries))  # (Q, 384)
        similarity = best_lemma_per_class(vectors @ self.lemma_vectors.T, self.owners)
        return softmax(similarity, MINILM_TEMPERATURE)

    def score(self, queries: list[str], class_scores: np.ndarray) -> np.ndarray:
        """float64 (Q, N): ``p_n · a_q``, the photo's probability mass on the query's classes."""
        return self.class_weights(queries) @ np.asarray(class_scores, np.float64).T


class GloveMatcher:
    """Each content word of the query against every class lemma with GloVe; log scores added.

    Args:
        word_vectors: a ``course_lib.models.pretrained.WordVectors`` (its word order is GloVe's, by
            frequency), e.g. ``load_glove_50d()``.
    """

    def __init__(self, word_vectors) -> None:
        self.word_vectors = word_vectors
        lemmas, owners = class_lemmas()
        rows, keep = [], []
        for index, lemma in enumerate(lemmas):
            words = [w for w in words_of(lemma) if w in word_vectors]
            if words:
                rows.append(np.mean([word_vectors[w] for w in words], axis=0))
                keep.append(index)
        self.lemma_vectors = _unit(np.array(rows, np.float32))  # (L', dim)
        self.owners = owners[keep]

    def content_words(self, query: str) -> list[str]:
        """The query's words that are no stop words and that GloVe knows."""
        return [w for w in words_of(query) if w not in STOP_WORDS and w in self.word_vectors]

    def score(self, queries: list[str], class_scores: np.ndarray) -> np.ndarray:
        """float64 (Q, N): sum over words of ``weight_w · log(p_n · a_w + EPSILON)``."""
        class_scores = np.asarray(class_scores, np.float64)
        rows = []
        for query in queries:
            words = self.content_words(query)
            if not words:
                rows.append(np.zeros(class_scores.shape[0]))
                continue
            vectors = _unit(np.array([self.word_vectors[w] for w in words], np.float32))
            similarity = best_lemma_per_class(vectors @ self.lemma_vectors.T, self.owners)
            relevance = class_scores @ softmax(similarity, GLOVE_TEMPERATURE).T  # (N, W)
            weights = np.log(2.0 + np.array([self.word_vectors.index_of(w) for w in words]))
            rows.append(np.log(relevance + EPSILON) @ weights)
        return np.array(rows).reshape(len(queries), class_scores.shape[0])


def words_of(text: str) -> list[str]:
    """Lower-case runs of letters and digits."""
    return re.findall(r"[a-z0-9]+", text.lower())


def default_matcher():
    """MiniLM where its weights package and TensorFlow Text are installed, else GloVe 50d."""
    from course_lib.models import minilm

    if minilm.is_available():
        try:
            import tensorflow_text  # noqa: F401  (the MiniLM tokenizer needs it)
        except ImportError:
            pass
        else:
            return MiniLMMatcher()
    from course_lib.models.pretrained import load_glove_50d

    return GloveMatcher(load_glove_50d())


def make_engine(search_module, matcher):
    """A Lecture 05 ``SearchEngine`` (the student's ``search_batch``) scoring with ``matcher``."""

    class PhotoEngine(search_module.SearchEngine):
        name = "photos"

        def __init__(self) -> None:
            super().__init__()
            self.matcher = matcher

        def encode_images(self, images: list[dict]) -> None:
            self.class_scores = np.stack([np.asarray(i["category_scores"]) for i in images])

        def score(self, queries: list[str]) -> np.ndarray:
            return self.matcher.score(list(queries), self.class_scores)

    return PhotoEngine()
