"""The ``camp`` command: one Typer app with verbs for students and instructors.

TensorFlow is never imported here at module level, so ``camp --help`` answers at once.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from course_lib.errors import CourseError
from course_lib.grading.judge import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

app = typer.Typer(
    help="Building an Image Search Engine: exercises, grading, data, quizzes.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def command(*args, **kwargs):
    """Register a command whose CourseError becomes a red message and exit code 1."""

    def register(function):
        @functools.wraps(function)
        def wrapper(*a, **k):
            try:
                return function(*a, **k)
            except CourseError as error:
                err_console.print(
                    f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
                )
                raise typer.Exit(1) from None

        return app.command(*args, **kwargs)(wrapper)

    return register


def _resolve_submission(submission: str | None) -> Path:
    """Map ``--submission`` to a path; ``solutions``/``exercises`` name the checkout's folders."""
    from course_lib.paths import project_root

    if submission is None:
        return project_root() / "exercises"
    path = Path(submission)
    if not path.exists() and submission in ("solutions", "exercises"):
        return project_root() / submission
    return path


def _lecture_number(lecture: str) -> str:
    if not lecture.isdigit():
        raise CourseError(f"Expected a lecture number such as 01; received {lecture!r}.")
    return f"{int(lecture):02d}"


def _print_result(result) -> None:
    title = escape(f"Lecture {result.lecture}: {result.submission}")
    table = Table(title=title, title_justify="left")
    table.add_column("test", overflow="fold")
    table.add_column("points", justify="right")
    table.add_column("passed", justify="center")
    table.add_column("hint", overflow="fold")
    for test in result.tests:
        mark = "[green]yes[/]" if test["passed"] else "[red]no[/]"
        hint = "\n".join(x for x in (test["hint"], test["message"]) if x)
        pts = f"{test['points']:g}/{test['max_points']:g}"
        table.add_row(escape(test["name"]), pts, mark, escape(hint))
    if result.tests:
        console.print(table)
    for text in (result.detail, result.warning):
        if text:
            console.print(
                f"[bold red]{result.status}:[/] {escape(text)}", highlight=False, soft_wrap=True
            )
    colour = "green" if result.status == "full-marks" else "yellow"
    console.print(
        f"[bold {colour}]Lecture {result.lecture}: {result.points:g} / {result.max_points:g} "
        f"points[/]"
    )


def _save_check(result) -> None:
    """Keep the latest check per lecture, so the quiz can bring failed sections forward."""
    from course_lib.lectures import file_sha
    from course_lib.paths import user_dir

    record = result.to_dict()
    submitted = Path(result.submission)
    record["submission_sha"] = file_sha(submitted) if submitted.is_file() else None
    folder = user_dir() / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{result.lecture}.json").write_text(json.dumps(record, indent=1))


@command()
def check(
    lecture: Annotated[
        str | None, typer.Argument(help="Lecture number, e.g. 01; all lectures when omitted.")
    ] = None,
    submission: Annotated[
        str | None,
        typer.Option(
            help="File, folder or .ipynb to grade; 'solutions' grades the reference solutions. "
            "Default: the checkout's exercises/ folder."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per lecture.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit per lecture, in MB.")
    ] = DEFAULT_MEMORY_MB,
) -> None:
    """Grade your work on one lecture (or all) and show points and hints per test."""
    from course_lib.grading import judge as grader

    _check_limits(timeout, memory_mb, None)
    lectures = [_lecture_number(lecture)] if lecture else grader.available_lectures()
    target = _resolve_submission(submission)
    total = maximum = 0.0
    for number in lectures:
        result = grader.grade_lecture(number, target, timeout_s=timeout, memory_mb=memory_mb)
        _print_result(result)
        _save_check(result)
        total, maximum = total + result.points, maximum + result.max_points
    if len(lectures) > 1:
        console.print(f"[bold]Total: {total:g} / {maximum:g} points[/]")
    if total < maximum:
        raise typer.Exit(1)


@command()
def autograde(
    submissions: Annotated[Path, typer.Argument(help="Folder with one subfolder per student.")],
    out: Annotated[Path, typer.Option(help="CSV gradebook to write.")] = Path("grades.csv"),
    lecture: Annotated[
        list[str] | None, typer.Option(help="Lecture to grade (repeatable); default all.")
    ] = None,
    student: Annotated[
        str | None, typer.Option(help="Regrade only this student (ignores cached results).")
    ] = None,
    hidden_tests: Annotated[
        Path | None, typer.Option(help="Folder of instructor-only tests test_NN_*.py.")
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Parallel graders; default: CPU cores.")] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per student and lecture.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit of the process running student code, MB.")
    ] = DEFAULT_MEMORY_MB,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox",
            help="Grade even where student code cannot be isolated (the gradebook says so).",
        ),
    ] = False,
) -> None:
    """Grade a class: CSV gradebook plus Gradescope results.json per student."""
    from rich.progress import Progress

    from course_lib.grading.classroom import autograde as run_autograde

    _check_limits(timeout, memory_mb, jobs)
    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")
    if hidden_tests is not None and not hidden_tests.is_dir():
        raise CourseError(f"Hidden tests folder not found: {hidden_tests}.")
    lectures = [_lecture_number(x) for x in lecture] if lecture else None
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("Grading", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        rows = run_autograde(
            submissions,
            out,
            lectures,
            student,
            hidden_tests,
            jobs,
            timeout,
            memory_mb,
            update,
            sandbox_required=not no_sandbox,
        )
    table = Table("student", "lecture", "points", "status", "detail", "flags")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        cached = " (cached)" if row["cached"] else ""
        pts = f"{row['points']:g}/{row['max_points']:g}"
        cells = (row["student"], row["lecture"], pts, row["status"] + cached, row["detail"])
        table.add_row(*(escape(str(cell)) for cell in (*cells, row["flags"])))
    console.print(table)
    results = escape(str(out.parent / "results"))
    console.print(f"Gradebook written to {escape(str(out))}; Gradescope results in {results}.")


def _check_limits(timeout: float, memory_mb: int, jobs: int | None) -> None:
    """Refuse limits that could only mark every student as failed, before grading anyone."""
    if not timeout > 0:
        raise CourseError(f"--timeout must be a positive number of seconds; received {timeout:g}.")
    if memory_mb < 512:
        raise CourseError(f"--memory-mb must be at least 512 MB; received {memory_mb}.")
    if jobs is not None and jobs < 1:
        raise CourseError(f"--jobs must be at least 1; received {jobs}.")


@command()
def generate(
    check: Annotated[
        bool, typer.Option("--check", help="Only report exercises out of sync; exit 1 if any.")
    ] = False,
) -> None:
    """Write exercises/ from solutions/ (solution regions become NotImplementedError stubs)."""
    from course_lib.generate import generate as run_generate
    from course_lib.paths import project_root

    root = project_root()
    changed = run_generate(root / "solutions", root / "exercises", check=check)
    for path in changed:
        console.print(f"{'out of sync' if check else 'wrote'}: {path.relative_to(root)}")
    if check and changed:
        raise CourseError("exercises/ is out of sync with solutions/: run `camp generate`.")
    if not changed:
        console.print("exercises/ is up to date.")


@command()
def notebooks(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("build/notebooks"),
) -> None:
    """Write .ipynb notebooks: student release and nbgrader source versions of every lecture."""
    from course_lib.notebooks import write_all

    for path in write_all(out):
        console.print(f"wrote {path}")


@command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    top: Annotated[int, typer.Option(help="Labels to show per image.")] = 5,
) -> None:
    """Top ImageNet labels of photos, from EfficientNet-Lite0 built with Lecture 03's blocks."""
    from course_lib.imagenet import classify_files

    for path, labels in zip(paths, classify_files(paths, top=top), strict=True):
        console.print(f"[bold]{path}[/]", highlight=False, soft_wrap=True)
        table = Table("label", "probability")
        for label, probability in labels:
            table.add_row(label, f"{probability:.3f}")
        console.print(table)


def _print_hits(query: str, hits: list[tuple[str, float]], root: Path) -> None:
    console.print(f"[bold]{query}[/]", highlight=False, soft_wrap=True)
    table = Table("rank", "photo", "score")
    for rank, (path, score) in enumerate(hits, start=1):
        table.add_row(str(rank), str(Path(path).relative_to(root.resolve())), f"{score:.3f}")
    console.print(table)


@command()
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
    """Rank a folder of your photos for a text query (EfficientNet-Lite0 + GloVe, Dropbox style)."""
    from course_lib.photo_search import build_engine, search_photos, write_html

    with console.status("Indexing photos (cached after the first run)..."):
        _, engine = build_engine(photos, cache)
    hits = search_photos(query, engine, top)
    _print_hits(query, hits, photos)
    if html is not None:
        console.print(f"Wrote {write_html({query: hits}, html)}")


@command()
def demo(
    html: Annotated[Path | None, typer.Option(help="Also write a results page here.")] = None,
) -> None:
    """Search real sample photos (scikit-image, scikit-learn) and a slice of the collection."""
    from course_lib.photo_search import (
        DEMO_QUERIES,
        build_engine,
        demo_folder,
        search_photos,
        write_html,
    )

    folder = demo_folder()
    console.print(f"Demo photos: {folder}")
    with console.status("Indexing photos (cached after the first run)..."):
        _, engine = build_engine(folder)
    results = {query: search_photos(query, engine, top=3) for query in DEMO_QUERIES}
    for query, hits in results.items():
        _print_hits(query, hits, folder)
    if html is not None:
        console.print(f"Wrote {write_html(results, html)}")


@command()
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
    from course_lib.captioner import caption_folder, write_captions_json

    captions = caption_folder(folder, beam_width=beam_width)
    for stem, text in captions.items():
        console.print(f"{stem}: {text}", highlight=False, soft_wrap=True)
    if out is not None:
        console.print(f"Wrote {write_captions_json(captions, out)}")


@command("text-table")
def text_table(
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
    from course_lib.lectures import lecture_module
    from course_lib.text_retrieval import format_table, retrieval_table

    module = lecture_module("04", prefer_student=not reference)
    rows = retrieval_table(source, num_images, seed, module, use_minilm=minilm)
    title = f"Caption retrieval on {source} ({rows[0]['queries']} queries)"
    console.print(format_table(rows, title), highlight=False, soft_wrap=True)


@command()
def report(
    grades_csv: Annotated[Path, typer.Argument(help="Gradebook CSV of `camp autograde`.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write report/ into; default: the gradebook's folder."),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(help="Per-student results folder; default: results/ next to the gradebook."),
    ] = None,
) -> None:
    """Class report: report/index.html with plots, failed tests and flags, and wide.csv."""
    from rich.markup import escape

    from course_lib.report import write_report

    for name, path in write_report(grades_csv, out, results).items():
        console.print(f"{name}: {escape(str(path))}", highlight=False, soft_wrap=True)


def _mount_subcommands() -> None:
    """Add the verb groups that live in their own modules."""
    from course_lib.competition.cli import app as competition_app
    from course_lib.data.cli import app as data_app
    from course_lib.quiz.cli import app as quiz_app

    app.add_typer(data_app, name="data")
    app.add_typer(quiz_app, name="quiz")
    app.add_typer(competition_app, name="competition")


_mount_subcommands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CourseError as error:
        err_console.print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        raise SystemExit(1) from None
