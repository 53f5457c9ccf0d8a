"""The search verbs of ``camp``: classify, search, demo, caption, text-table (Lectures 03-06)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from course_lib.clikit import command, console, err_console, wrapping_table, wrote
from course_lib.errors import CourseError

app = typer.Typer()


def _print_hits(query: str, hits: list[tuple[str, float]], root: Path) -> None:
    console.print(f"[bold]{escape(query)}[/]", highlight=False, soft_wrap=True)
    table = wrapping_table("rank", "photo", "score")
    for rank, (path, score) in enumerate(hits, start=1):
        shown = str(Path(path).relative_to(root.resolve()))
        table.add_row(str(rank), escape(shown), f"{score:.3f}")
    console.print(table)


def _index_photos(folder: Path, cache: Path | None = None):
    """Index ``folder`` behind a spinner; one warning line per photo that could not be read."""
    from course_lib.search.photos import build_engine

    skipped: list[str] = []
    with console.status("Indexing photos (cached after the first run)..."):
        _, engine = build_engine(folder, cache, on_unreadable=skipped.append)
    for message in skipped:  # After the spinner, which would garble lines printed under it.
        err_console.print(
            f"[yellow]warning:[/] skipped {escape(message)}", highlight=False, soft_wrap=True
        )
    return engine


@command(app)
def search(
    query: Annotated[str, typer.Argument(help="What to look for, e.g. 'a cup of coffee'.")],
    photos: Annotated[
        Path, typer.Option(help="Folder of photos to search (searched recursively).")
    ],
    top: Annotated[int, typer.Option(help="How many photos to list.")] = 10,
    html: Annotated[
        Path | None, typer.Option(help="Also write a results page with thumbnails here.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Index cache file (default: in the user data folder).")
    ] = None,
) -> None:
    """Rank a folder of your photos for a text query (EfficientNet-Lite0 classes + MiniLM)."""
    from course_lib.search.photos import search_photos, write_html

    if not query.strip():
        raise CourseError(
            f"Expected a text query such as 'a cup of coffee'; received {query!r}, which is empty."
        )
    engine = _index_photos(photos, cache)
    hits = search_photos(query, engine, top)
    _print_hits(query, hits, photos)
    if html is not None:
        wrote(write_html({query: hits}, html))


@command(app)
def demo(
    html: Annotated[Path | None, typer.Option(help="Also write a results page here.")] = None,
) -> None:
    """Search real sample photos (scikit-image, scikit-learn) and a slice of the collection."""
    from course_lib.search.photos import DEMO_QUERIES, demo_folder, search_photos, write_html

    folder = demo_folder()
    console.print(f"Demo photos: {escape(str(folder))}", highlight=False, soft_wrap=True)
    engine = _index_photos(folder)
    results = {query: search_photos(query, engine, top=3) for query in DEMO_QUERIES}
    for query, hits in results.items():
        _print_hits(query, hits, folder)
    if html is not None:
        wrote(write_html(results, html))


@command(app)
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    top: Annotated[int, typer.Option(help="Labels to show per image.")] = 5,
) -> None:
    """Top ImageNet labels of photos, from EfficientNet-Lite0 built with Lecture 03's blocks."""
    from course_lib.models.imagenet import classify_files

    for path, labels in zip(paths, classify_files(paths, top=top), strict=True):
        console.print(f"[bold]{escape(str(path))}[/]", highlight=False, soft_wrap=True)
        table = wrapping_table("label", "probability")
        for label, probability in labels:
            table.add_row(escape(label), f"{probability:.3f}")
        console.print(table)


@command(app)
def caption(
    folder: Annotated[
        Path, typer.Argument(help="Folder of images (or a COCO folder with images/).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Write {image_id: [caption]} JSON here (the competition's --captions)."),
    ] = None,
    beam_width: Annotated[int, typer.Option(help="Beam width; 1 decodes greedily.")] = 3,
) -> None:
    """Caption every image of a folder with the shipped Lecture 06 reference captioner."""
    from course_lib.models.captioner import caption_folder, write_captions_json

    captions = caption_folder(folder, beam_width=beam_width)
    for stem, text in captions.items():
        console.print(escape(f"{stem}: {text}"), highlight=False, soft_wrap=True)
    if out is not None:
        wrote(write_captions_json(captions, out))


@command(app, "text-table")
def textwrapping_table(
    source: Annotated[
        str, typer.Option(help="val, train, test, coco-mini, or a COCO-format folder.")
    ] = "val",
    num_images: Annotated[int, typer.Option(help="Queries at most.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the photo collection.")] = 0,
    minilm: Annotated[bool, typer.Option(help="Include the MiniLM row.")] = True,
    reference: Annotated[
        bool, typer.Option(help="Use the reference solutions instead of your Lecture 04 code.")
    ] = False,
) -> None:
    """Lecture 04's caption-retrieval table: Jaccard, BoW, TF-IDF, GloVe, SIF, MiniLM."""
    from course_lib.search.text_retrieval import format_table, retrieval_table
    from course_lib.student.lectures import lecture_module

    module = lecture_module("04", prefer_student=not reference)
    rows = retrieval_table(source, num_images, seed, module, use_minilm=minilm)
    title = f"Caption retrieval on {source} ({rows[0]['queries']} queries)"
    console.print(escape(format_table(rows, title)), highlight=False, soft_wrap=True)
