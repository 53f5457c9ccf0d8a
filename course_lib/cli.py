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


def command(*args, group: typer.Typer | None = None, **kwargs):
    """Register a command (on ``group``, default the main app) whose CourseError becomes a red
    message and exit code 1."""

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

        return (group or app).command(*args, **kwargs)(wrapper)

    return register


def _resolve_submission(submission: str) -> Path:
    """Map ``--submission`` to a path; ``solutions``/``exercises`` name the checkout's folders."""
    from course_lib.paths import project_root

    path = Path(submission)
    if not path.exists() and submission in ("solutions", "exercises"):
        return project_root() / submission
    return path


def _lecture_number(lecture: str) -> str:
    if not lecture.isdigit():
        raise CourseError(f"Expected a lecture number such as 01; received {lecture!r}.")
    return f"{int(lecture):02d}"


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies inside it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _default_submission(lecture: str) -> Path:
    """The student's work on ``lecture`` in the current folder, else the checkout's exercise.

    Prints which file is graded. The folder is returned (not the file), so the grader names
    the other candidates it did not grade (the newest file wins, as in ``camp autograde``).
    """
    from course_lib.paths import project_root
    from course_lib.submission import SubmissionError, choose_lecture_file

    here = Path.cwd()
    try:
        chosen, _ = choose_lecture_file(here, lecture)
    except SubmissionError:
        exercises = project_root() / "exercises"
        try:
            chosen, _ = choose_lecture_file(exercises, lecture)
        except SubmissionError:
            return exercises  # The grader reports the missing file.
        console.print(
            f"Lecture {lecture}: no {lecture}_*.py or {lecture}_*.ipynb in the current folder "
            f"({escape(str(here))}); grading the course's exercise {escape(str(chosen))}.",
            highlight=False,
            soft_wrap=True,
        )
        return exercises
    console.print(
        f"Lecture {lecture}: grading {escape(_shown(chosen))} from the current folder.",
        highlight=False,
        soft_wrap=True,
    )
    return here


def _check_plan(lecture: str | None, submission: str | None) -> list[tuple[str, Path | None]]:
    """Return (lecture, submission) pairs to grade; None means "look in the current folder".

    A single file passed without a lecture number is graded for its own lecture only (its
    notebook metadata or file name), never against every lecture.
    """
    from course_lib.grading.judge import available_lectures, test_files
    from course_lib.submission import lecture_of_file

    if submission is None:
        numbers = [_lecture_number(lecture)] if lecture else available_lectures()
        plan = [(number, None) for number in numbers]
    else:
        target = _resolve_submission(submission)
        if lecture is not None:
            plan = [(_lecture_number(lecture), target)]
        elif target.is_file():
            plan = [(lecture_of_file(target), target)]
        else:
            plan = [(number, target) for number in available_lectures()]
    for number, _ in plan:
        test_files(number)  # An unknown lecture is an error before anything is graded.
    return plan


def _print_result(result) -> None:
    title = escape(f"Lecture {result.lecture}: {result.submission}")
    table = Table(title=title, title_justify="left")
    table.add_column("test", overflow="fold")
    table.add_column("points", justify="right", overflow="fold")
    table.add_column("passed", justify="center", overflow="fold")
    table.add_column("hint", overflow="fold")
    for test in result.tests:
        mark = "[green]yes[/]" if test["passed"] else "[red]no[/]"
        hint = "\n".join(x for x in (test["hint"], test["message"]) if x)
        pts = f"{test['points']:g}/{test['max_points']:g}"
        table.add_row(escape(test["name"]), pts, mark, escape(hint))
    if result.tests:
        console.print(table)
    else:
        console.print(title, highlight=False, soft_wrap=True)
    if result.detail:
        console.print(
            f"[bold red]{result.status}:[/] {escape(result.detail)}",
            highlight=False,
            soft_wrap=True,
        )
    if result.warning:
        console.print(f"[yellow]note:[/] {escape(result.warning)}", highlight=False, soft_wrap=True)
    colour = "green" if result.status == "full-marks" else "yellow"
    console.print(
        f"[bold {colour}]Lecture {result.lecture}: {result.points:g} / {result.max_points:g} "
        f"points[/]"
    )


def _checks_folder() -> Path:
    """Create the folder of saved checks before grading; CourseError naming it if it cannot be."""
    from course_lib.quiz.history import checks_dir

    folder = checks_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(
            f"cannot create {folder} ({error.strerror or error}); "
            "set CAMP_HOME to a folder you can write to"
        ) from None
    return folder


def _save_check(result, folder: Path) -> None:
    """Keep the latest check per lecture, so the quiz can bring failed sections forward."""
    from course_lib.lectures import file_sha

    if result.status == "missing":
        return  # Nothing was graded: keep the lecture's last real check.
    record = result.to_dict()
    submitted = Path(result.submission)
    record["submission_sha"] = file_sha(submitted) if submitted.is_file() else None
    # The absolute path lets later lectures find the passed file from any folder.
    record["submission_file"] = str(submitted.resolve()) if submitted.is_file() else None
    path = folder / f"{result.lecture}.json"
    try:
        path.write_text(json.dumps(record, indent=1))
    except OSError as error:
        raise CourseError(
            f"cannot save the check result to {path} ({error.strerror or error}); "
            "set CAMP_HOME to a folder you can write to"
        ) from None


@command()
def check(
    lecture: Annotated[
        str | None, typer.Argument(help="Lecture number, e.g. 01; all lectures when omitted.")
    ] = None,
    submission: Annotated[
        str | None,
        typer.Option(
            help="File, folder or .ipynb to grade; 'solutions' grades the reference solutions. "
            "Default: your NN_*.py or NN_*.ipynb in the current folder (the newest), else the "
            "checkout's exercises/. A file without a lecture number is graded for the lecture "
            "in its notebook metadata or file name."
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
    plan = _check_plan(lecture, submission)
    folder = _checks_folder()
    total = maximum = 0.0
    for number, target in plan:
        if target is None:
            target = _default_submission(number)
        result = grader.grade_lecture(number, target, timeout_s=timeout, memory_mb=memory_mb)
        _print_result(result)
        _save_check(result, folder)
        total, maximum = total + result.points, maximum + result.max_points
    if len(plan) > 1:
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
    shard: Annotated[
        str | None,
        typer.Option(
            help="Grade only shard INDEX/COUNT of the class, numbered from 0 (0/4 to 3/4): every "
            "COUNT-th student folder by name. Merge with `camp gradebook merge`.",
        ),
    ] = None,
) -> None:
    """Grade a class: CSV gradebook plus Gradescope results.json per student."""
    from rich.progress import Progress

    from course_lib.grading.classroom import autograde as run_autograde
    from course_lib.grading.gradebook import parse_shard

    _check_limits(timeout, memory_mb, jobs)
    if shard is not None and student is not None:
        raise CourseError("--shard and --student do not combine; regrade a student alone.")
    shard_range = parse_shard(shard) if shard is not None else None
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
            shard=shard_range,
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


gradebook_app = typer.Typer(
    help="Gradebooks of `camp autograde`: merge the shards of a class.", no_args_is_help=True
)
app.add_typer(gradebook_app, name="gradebook")


@command("merge", group=gradebook_app)
def gradebook_merge(
    shards: Annotated[list[Path], typer.Argument(help="Gradebook CSVs of the shards.")],
    out: Annotated[Path, typer.Option(help="Merged CSV gradebook to write.")] = Path("grades.csv"),
    submissions: Annotated[
        Path | None,
        typer.Option(help="The class's submissions folder: refuse students in no shard."),
    ] = None,
) -> None:
    """Merge the gradebooks of `camp autograde --shard`; refuse overlaps and missing students."""
    from course_lib.grading.gradebook import merge_gradebooks

    if out.is_dir() or out.suffix.lower() != ".csv":
        raise CourseError(f"--out must name a .csv file to write; received {str(out)!r}.")
    rows = merge_gradebooks(shards, out, submissions)
    students = len({row["student"] for row in rows})
    console.print(
        f"Merged {len(shards)} gradebooks ({students} students, {len(rows)} rows) into "
        f"{escape(str(out))}.",
        highlight=False,
        soft_wrap=True,
    )


@command()
def gradescope(
    lecture: Annotated[str, typer.Argument(help="Lecture number, e.g. 01.")],
    out: Annotated[
        Path | None, typer.Option(help="Zip to write; default: autograder_NN.zip.")
    ] = None,
    hidden_tests: Annotated[
        Path | None, typer.Option(help="Folder of instructor-only tests test_NN_*.py.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed per submission.")
    ] = DEFAULT_TIMEOUT_S,
    memory_mb: Annotated[
        int, typer.Option(help="Memory limit of the process running student code, MB.")
    ] = DEFAULT_MEMORY_MB,
) -> None:
    """Build a lecture's Gradescope autograder zip (setup.sh, run_autograder, pinned course)."""
    from course_lib.grading.gradescope import build_bundle

    _check_limits(timeout, memory_mb, None)
    number = _lecture_number(lecture)
    target = out or Path(f"autograder_{number}.zip")
    names = build_bundle(number, target, hidden_tests, timeout, memory_mb)
    console.print(
        f"Wrote {escape(str(target))} ({len(names)} files); upload it on the assignment's "
        "Configure Autograder page in Gradescope.",
        highlight=False,
        soft_wrap=True,
    )


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
        shown = escape(str(path.relative_to(root)))
        console.print(f"{'out of sync' if check else 'wrote'}: {shown}", highlight=False)
    if check and changed:
        raise CourseError("exercises/ is out of sync with solutions/: run `camp generate`.")
    if not changed:
        console.print("exercises/ is up to date.")


@command()
def mutants(
    lecture: Annotated[
        str | None, typer.Argument(help="Lecture number, e.g. 01; every catalogue when omitted.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Mutants graded at once.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds allowed per mutant.")] = 120.0,
) -> None:
    """Check that the autograder catches each mistake of tests/mutants/NN_topic.yaml."""
    from course_lib.grading.mutants import run

    _check_limits(timeout, 512, jobs)
    if not run(_lecture_number(lecture) if lecture else None, console, jobs, timeout):
        raise typer.Exit(1)


@command()
def notebooks(
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder: student/NN_topic.ipynb, and nbgrader/ as an nbgrader course "
            "folder with source/NN_topic/NN_topic.ipynb."
        ),
    ] = Path("build/notebooks"),
    pip_spec: Annotated[
        str | None,
        typer.Option(
            help="What the notebooks' setup cell pip-installs on Colab, e.g. a wheel URL or "
            "git+https://...; default: image-search-camp."
        ),
    ] = None,
) -> None:
    """Write .ipynb notebooks: student notebooks with self-checks, and nbgrader source notebooks."""
    from course_lib.notebooks import write_all

    for path in write_all(out, pip_spec=pip_spec):
        console.print(f"wrote {escape(str(path))}", highlight=False, soft_wrap=True)


@command()
def release(
    out: Annotated[
        Path,
        typer.Argument(help="Folder to write: new, empty, or an earlier edition to replace."),
    ],
    solutions_through: Annotated[
        str | None,
        typer.Option(help="Also ship the solutions of lectures up to this one, e.g. 02."),
    ] = None,
    pip_spec: Annotated[
        str | None,
        typer.Option(help="What the notebooks' setup cell installs on Colab, e.g. a git URL."),
    ] = None,
) -> None:
    """Write the student edition: exercises, public tests, quizzes, course_lib; no answers."""
    from course_lib.release import build_edition

    released = build_edition(out, solutions_through, pip_spec)
    shown = ", ".join(released) or "none"
    console.print(
        f"Student edition written to {escape(str(out))} (released solutions: {shown}). "
        f"Students install it with `pip install {escape(str(out))}`.",
        highlight=False,
        soft_wrap=True,
    )


@command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    top: Annotated[int, typer.Option(help="Labels to show per image.")] = 5,
) -> None:
    """Top ImageNet labels of photos, from EfficientNet-Lite0 built with Lecture 03's blocks."""
    from course_lib.models.imagenet import classify_files

    for path, labels in zip(paths, classify_files(paths, top=top), strict=True):
        console.print(f"[bold]{escape(str(path))}[/]", highlight=False, soft_wrap=True)
        table = _table("label", "probability")
        for label, probability in labels:
            table.add_row(escape(label), f"{probability:.3f}")
        console.print(table)


def _table(*headers: str) -> Table:
    """A table whose cells wrap (never cut with an ellipsis) in a narrow terminal."""
    table = Table(*headers)
    for column in table.columns:
        column.overflow = "fold"
    return table


def _print_hits(query: str, hits: list[tuple[str, float]], root: Path) -> None:
    console.print(f"[bold]{escape(query)}[/]", highlight=False, soft_wrap=True)
    table = _table("rank", "photo", "score")
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


def _wrote(path: Path) -> None:
    console.print(f"Wrote {escape(str(path))}", highlight=False, soft_wrap=True)


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
    """Rank a folder of your photos for a text query (EfficientNet-Lite0 classes + MiniLM)."""
    from course_lib.search.photos import search_photos, write_html

    engine = _index_photos(photos, cache)
    hits = search_photos(query, engine, top)
    _print_hits(query, hits, photos)
    if html is not None:
        _wrote(write_html({query: hits}, html))


@command()
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
        _wrote(write_html(results, html))


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
    from course_lib.models.captioner import caption_folder, write_captions_json

    captions = caption_folder(folder, beam_width=beam_width)
    for stem, text in captions.items():
        console.print(escape(f"{stem}: {text}"), highlight=False, soft_wrap=True)
    if out is not None:
        _wrote(write_captions_json(captions, out))


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
    from course_lib.search.text_retrieval import format_table, retrieval_table

    module = lecture_module("04", prefer_student=not reference)
    rows = retrieval_table(source, num_images, seed, module, use_minilm=minilm)
    title = f"Caption retrieval on {source} ({rows[0]['queries']} queries)"
    console.print(escape(format_table(rows, title)), highlight=False, soft_wrap=True)


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
