"""Search a folder of real photos with the course's engine (introduced with Lecture 05).

``camp search "a cup of coffee" --photos DIR`` indexes the folder with Lecture 03's
EfficientNet-Lite0 (real ImageNet weights; class-score vectors cached on disk) and ranks the photos
with a Lecture 05 search engine whose query side comes from
:mod:`course_lib.search.query_matching`: the
whole query embedded by Lecture 04's MiniLM (real weights) against every ImageNet class lemma, or,
without MiniLM, GloVe word by word; ``matcher="dropbox"`` is Lecture 05's own Dropbox engine. The
lectures come through ``lecture_module``: the student's own code once it passed ``camp check``,
otherwise the reference solutions. ``camp demo`` runs it on real photos that ship with
scikit-image and scikit-learn, plus a slice of the course's photo collection.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
from pathlib import Path

from course_lib.errors import CourseError

DEMO_QUERIES = ["a cat", "a cup of coffee", "a rocket", "a flower", "a dog on a bike"]
DEMO_COLLECTION_IMAGES = 12  # Pictures of the course's photo collection added to the demo.
TOP_CATEGORIES = 5  # Dropbox baseline: ImageNet classes kept per query word.


def imagenet_category_labels() -> list[str]:
    """One label per ImageNet class: its first two synonyms ("tabby tabby cat"), for GloVe."""
    from course_lib.models.imagenet import imagenet_classes

    labels = []
    for _, lemmas in imagenet_classes():
        synonyms = [s for s in lemmas.split(", ") if s[:1].islower() or " " in s][:2]
        labels.append(" ".join(synonyms or lemmas.split(", ")[:1]))
    return labels


def default_cache(folder: Path) -> Path:
    """Where the index of ``folder`` is cached: the user's data folder, keyed by the path."""
    from course_lib.quiz.history import home_dir  # CourseError naming a folder it cannot create.

    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return home_dir() / "index" / f"{key}.npz"


MATCHERS = ("auto", "minilm", "glove", "dropbox")


def build_engine(
    folder: Path,
    cache: Path | None = None,
    progress=None,
    on_unreadable=None,
    matcher: str = "auto",
):
    """Index ``folder`` and return (paths, engine) ready for ``engine.search(query, k)``.

    ``matcher`` is one of ``MATCHERS``: ``"auto"`` takes MiniLM where it is installed, else
    GloVe; ``"dropbox"`` is Lecture 05's ``ClassifierEngine`` (the course's baseline).

    A photo that cannot be read (corrupt, truncated, not an image) is left out and its message,
    which names the file, goes to ``on_unreadable`` (default: a CourseError, which stops).
    """
    from course_lib.models.imagenet import encode_folder, image_files
    from course_lib.models.pretrained import load_glove_50d
    from course_lib.search import query_matching
    from course_lib.student.lectures import lecture_module

    if matcher not in MATCHERS:
        raise ValueError(f"Expected matcher in {MATCHERS}; received {matcher!r}.")
    files = image_files(folder)
    if not files:
        raise CourseError(f"{folder}: no image files (.jpg, .png...) to search.")
    if progress is not None:
        progress("Indexing photos with EfficientNet-Lite0 (cached after the first run)")
    cache = cache or default_cache(folder)
    if cache.is_dir():
        raise CourseError(
            f"--cache {cache} is a folder; name the index file to write, e.g. index.npz."
        )
    paths, _, class_scores = encode_folder(folder, cache, on_unreadable=on_unreadable)
    if not paths:
        raise CourseError(f"{folder}: none of its {len(files)} image files could be read.")
    search = lecture_module("05", quiet=progress is None)
    if matcher == "dropbox":
        engine = search.ClassifierEngine(
            load_glove_50d(), categories=imagenet_category_labels(), top=TOP_CATEGORIES
        )
    else:
        matching = {
            "auto": query_matching.default_matcher,
            "minilm": query_matching.MiniLMMatcher,
            "glove": lambda: query_matching.GloveMatcher(load_glove_50d()),
        }[matcher]()
        engine = query_matching.make_engine(search, matching)
    engine.index(
        [{"id": p, "category_scores": s} for p, s in zip(paths, class_scores, strict=True)]
    )
    return paths, engine


def search_photos(query: str, engine, top: int = 10) -> list[tuple[str, float]]:
    """Return the ``top`` (path, score) pairs for ``query``, best first."""
    return [(str(image_id), float(score)) for image_id, score in engine.search(query, top)]


def demo_folder(target: Path | None = None) -> Path:
    """Write the demo photos (real sample photos + a slice of the photo collection) once."""
    from PIL import Image

    from course_lib.data import generate_item
    from course_lib.models.imagenet import sample_photo_names, sample_photos

    if target is None:
        from course_lib.quiz.history import home_dir

        target = home_dir() / "demo" / "photos"
    target.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(sample_photo_names(), sample_photos(), strict=True):
        stem = name.split()[1].removesuffix(".jpg")
        path = target / f"{stem}.jpg"
        if not path.exists():
            Image.fromarray(pixels).save(path, quality=92)
    for index in range(DEMO_COLLECTION_IMAGES):
        path = target / f"collection_{index:02d}.jpg"
        if not path.exists():
            pixels, _, _ = generate_item(0, "test", index, image_size=224)
            Image.fromarray(pixels).save(path, quality=92)
    return target


def _thumbnail(path: str, size: int = 160) -> str:
    from PIL import Image

    from course_lib.models.imagenet import read_photo

    buffer = io.BytesIO()
    Image.fromarray(read_photo(path, max_side=size)).save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def write_html(results: dict[str, list[tuple[str, float]]], out: Path) -> Path:
    """Write a self-contained results page: one row of thumbnails per query."""
    rows = []
    for query, hits in results.items():
        cells = "".join(
            f'<figure><img src="data:image/jpeg;base64,{_thumbnail(path)}" alt="">'
            f"<figcaption>{rank}. {html.escape(Path(path).name)}<br>{score:.3f}</figcaption>"
            "</figure>"
            for rank, (path, score) in enumerate(hits, start=1)
        )
        rows.append(f"<h2>{html.escape(query)}</h2><div class=row>{cells}</div>")
    style = (
        "body{font-family:sans-serif;margin:2em}.row{display:flex;flex-wrap:wrap;gap:12px}"
        "figure{margin:0;width:160px;font-size:12px}img{max-width:160px;max-height:160px}"
    )
    page = (
        f"<!doctype html><meta charset=utf-8><title>camp search</title><style>{style}</style>"
        f"<h1>Image search results</h1>{''.join(rows)}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
