"""``camp competition``: make, score and rank the text-to-image search competition (Lecture 05).

``camp competition make OUT`` writes the gallery, queries and hidden solution;
``camp competition score SUBMISSION --solution OUT`` checks and scores one submission;
``camp competition leaderboard SUBMISSIONS --solution OUT [--final]`` ranks every team;
``camp competition baseline NAME OUT_CSV --competition OUT`` writes a baseline submission;
``camp competition export-kaggle OUT KAGGLE_DIR`` writes a Kaggle community competition's files.
The main app mounts ``app`` with ``app.add_typer(competition.cli.app, name="competition")``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from course_lib.errors import CourseError

app = typer.Typer(
    help="The image search competition: make it, score submissions, rank teams, baselines.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)
LABELS = {
    "map@10": "mAP@10",
    "recall@1": "R@1",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "mrr": "MRR",
    "ndcg@10": "nDCG@10",
}


def command(*args, **kwargs):
    """Register a command whose CourseError becomes a red message and exit code 1."""

    def register(function):
        @functools.wraps(function)
        def wrapper(*a, **k):
            try:
                return function(*a, **k)
            except CourseError as error:
                text = escape(str(error))
                err_console.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None

        return app.command(*args, **kwargs)(wrapper)

    return register


def _score_table(title: str, scores: dict, usages=("public", "private", "all")) -> Table:
    table = Table(title=escape(title), title_justify="left")
    table.add_column("queries", overflow="fold")
    for label in LABELS.values():
        table.add_column(label, justify="right", overflow="fold")
    for usage in usages:
        table.add_row(usage, *(f"{scores[usage][m]:.4f}" for m in LABELS))
    return table


@command()
def make(
    out: Annotated[Path, typer.Argument(help="New or empty folder for the competition.")],
    gallery_size: Annotated[
        int, typer.Option(help="Pictures in the gallery, drawn from the held-out test split.")
    ] = 1000,
    num_queries: Annotated[int, typer.Option(help="Queries with at least one match.")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Seed of pictures and queries; keep it private for a class.")
    ] = 0,
) -> None:
    """Write gallery/, queries.csv, sample_submission.csv and the hidden solution/ folder."""
    from course_lib.competition.make import make_competition

    paths = make_competition(out, gallery_size, num_queries, seed, progress=console.print)
    for name, path in paths.items():
        console.print(f"{name}: {escape(str(path))}", highlight=False, soft_wrap=True)
    solution = escape(str(out / "solution"))
    console.print(
        f"Share gallery/, queries.csv and sample_submission.csv; keep {solution} hidden.",
        highlight=False,
        soft_wrap=True,
    )


@command()
def score(
    submission: Annotated[Path, typer.Argument(help="Submission CSV: query_id,image_ids.")],
    solution: Annotated[
        Path, typer.Option(help="Competition folder, its solution/ folder or solution.json.")
    ],
    private: Annotated[
        bool, typer.Option("--private/--public-only", help="Also show private and overall scores.")
    ] = True,
) -> None:
    """Check a submission's format and print mAP@10 (the ranking metric) and the other metrics.

    mAP@10 counts a picture as relevant when it fully matches the query (grade 2); nDCG@10 also
    credits partial matches (grade 1).
    """
    from course_lib.competition.scoring import load_solution, score_file

    scores = score_file(submission, load_solution(solution))
    usages = ("public", "private", "all") if private else ("public",)
    console.print(_score_table(f"{submission}", scores, usages))


@command()
def leaderboard(
    submissions: Annotated[
        Path, typer.Argument(help="Folder with one folder of timestamped CSVs per team.")
    ],
    solution: Annotated[
        Path, typer.Option(help="Competition folder, its solution/ folder or solution.json.")
    ],
    final: Annotated[
        bool, typer.Option("--final", help="Reveal private scores and rank by them.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for leaderboard.md and leaderboard.html (default SUBMISSIONS)."),
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the leaderboard page.")] = "Leaderboard",
) -> None:
    """Score every team's submissions (file names YYYYmmdd-HHMMSS.csv, else file time, UTC)."""
    from course_lib.competition.leaderboard import collect, rank, write_leaderboard
    from course_lib.competition.scoring import load_solution

    teams = collect(submissions, load_solution(solution))
    md, page = write_leaderboard(teams, out or submissions, final, title)
    usage = "private" if final else "public"
    table = Table("#", "team", f"{usage} mAP@10", "best submission", "entries", "errors")
    for column in table.columns:
        column.overflow = "fold"
    for k, t in enumerate(rank(teams, usage), start=1):
        best = t.best
        errors = sum(e.error is not None for e in t.history)
        value = f"{best.score(usage):.4f}" if best else "-"
        best_file = escape(str(best.file)) if best else "-"
        table.add_row(str(k), escape(t.name), value, best_file, str(len(t.history)), str(errors))
    console.print(table)
    console.print(f"Wrote {escape(str(md))} and {escape(str(page))}", highlight=False)


@command()
def baseline(
    name: Annotated[
        str,
        typer.Argument(
            help="random, jaccard, tfidf, dropbox-noisy-oracle, fused, oracle, or pixels (the "
            "gallery's pixels alone, with the course's shipped models; see the docs)."
        ),
    ],
    out_csv: Annotated[Path, typer.Argument(help="Submission CSV to write.")],
    competition: Annotated[Path, typer.Option(help="Competition folder of `make`.")],
    captions: Annotated[
        Path | None,
        typer.Option(help="Captions JSON for jaccard/tfidf/fused; default: the oracle captions."),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(help="Classifier scores .npy (pictures x classes) instead of the oracle."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random and noisy-oracle baselines.")] = 0,
    engine: Annotated[
        list[str] | None,
        typer.Option(
            help="pixels only: an engine to use (repeatable): captions, caption-graphs, "
            "classifier, detector, dual-encoder; default every installed one, fused."
        ),
    ] = None,
) -> None:
    """Write a baseline submission; caption baselines use oracle captions unless --captions."""
    from course_lib.competition.baselines import write_baseline

    if name == "pixels":
        from course_lib.competition.pixels import write_pixels

        path, used = write_pixels(out_csv, competition, engine or None)
        console.print(f"Engines: {escape(', '.join(used))}.", highlight=False, soft_wrap=True)
        console.print(f"Wrote {escape(str(path))}", highlight=False, soft_wrap=True)
        return

    path = write_baseline(
        name, out_csv, competition, captions=captions, class_scores=scores, seed=seed
    )
    if name in ("jaccard", "tfidf", "fused", "oracle"):
        source = "oracle captions" if captions is None or name == "oracle" else str(captions)
        console.print(f"Captions: {escape(source)}.", highlight=False, soft_wrap=True)
    console.print(f"Wrote {escape(str(path))}", highlight=False, soft_wrap=True)


@command("export-kaggle")
def export_kaggle(
    comp: Annotated[Path, typer.Argument(help="Competition folder of `make` (with solution/).")],
    out: Annotated[Path, typer.Argument(help="New or empty folder for the Kaggle files.")],
) -> None:
    """Write solution.csv, sample_submission.csv, queries.csv, gallery.zip and description.md.

    The metric is Kaggle's MAP@K with K = 10, which gives `score`'s mAP@10 on valid submissions.
    """
    from course_lib.competition.kaggle import export_kaggle as run_export

    paths = run_export(comp, out)
    for name, path in paths.items():
        console.print(f"{name}: {escape(str(path))}", highlight=False)
    console.print(
        "Kaggle: upload solution.csv as the solution (metric MAP@K, K = 10) and the other "
        "files as data; description.md holds the texts of the competition's pages.",
        highlight=False,
    )
