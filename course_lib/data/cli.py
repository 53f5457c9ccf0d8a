"""``camp data``: make and look at the course's photo collection (used from Lecture 02 on).

``camp data make --split val --num-images 1000 --seed 0 OUT`` writes a split in COCO's format;
``camp data show OUT --num-images 16 --out sheet.png --boxes`` draws a contact sheet.
The main app mounts ``app`` with ``app.add_typer(data.cli.app, name="data")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from course_lib.errors import CourseError

app = typer.Typer(
    help="Make the course's synthetic photo collection (COCO format) and look at it.",
    no_args_is_help=True,
)


def _fail(err: CourseError) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code=1)


@app.command()
def make(
    out: Annotated[Path, typer.Argument(help="Folder to write images/ and annotations/ into.")],
    split: Annotated[str, typer.Option(help="Which split: train, val or test.")] = "train",
    num_images: Annotated[
        int | None,
        typer.Option(help="How many images (default: 10,000 for train, 1,000 for val and test)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives identical files.")] = 0,
    image_size: Annotated[int, typer.Option(help="Side of the square images in pixels.")] = 128,
) -> None:
    """Write a split of the photo collection: JPEGs, COCO captions and instances, scene graphs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from course_lib.data.writer import DEFAULT_SIZES, check_args, make_split

    total = num_images if num_images is not None else DEFAULT_SIZES.get(split, 0)
    try:
        check_args(out, split, total, seed, image_size)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task(f"Drawing {split}", total=total)
            paths = make_split(
                out,
                split,
                num_images,
                seed,
                image_size,
                progress=lambda done, _n: bar.update(task, completed=done),
            )
    except CourseError as err:
        _fail(err)
    typer.echo(f"Wrote {total} {split} images to {paths['images']}")
    for key in ("captions", "instances", "scene_graphs"):
        typer.echo(f"  {key}: {paths[key]}")


@app.command()
def show(
    folder: Annotated[Path, typer.Argument(help="A folder written by `camp data make`.")],
    num_images: Annotated[int, typer.Option(help="How many images to put on the sheet.")] = 16,
    out: Annotated[Path, typer.Option(help="The PNG file to write.")] = Path("contact_sheet.png"),
    split: Annotated[
        str | None, typer.Option(help="Which split (needed if the folder holds several).")
    ] = None,
    boxes: Annotated[
        bool, typer.Option("--boxes", help="Draw object boxes and categories.")
    ] = False,
    tile: Annotated[int, typer.Option(help="Side of each picture on the sheet in pixels.")] = 200,
) -> None:
    """Draw a contact sheet: the first pictures of a split with one caption under each."""
    from course_lib.data.show import contact_sheet

    try:
        path = contact_sheet(folder, out, num_images, split=split, boxes=boxes, tile=tile)
    except CourseError as err:
        _fail(err)
    typer.echo(f"Wrote {path}")
