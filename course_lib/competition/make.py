"""Make a text-to-image search competition from held-out pictures (the Lecture 05 competition).

``make_competition(out, gallery_size=1000, num_queries=1000, seed=0)`` writes::

    OUT/README.md                     the task, formats and metric, for participants (public)
    OUT/gallery/<image id>.jpg        the pictures to search (public)
    OUT/queries.csv                   query_id,query (public)
    OUT/sample_submission.csv         query_id,image_ids: a valid, random submission (public)
    OUT/solution/solution.json        hidden: every query's graph, kind, public/private usage and
                                      the relevance grade of every gallery picture (non-zero ones)
    OUT/solution/solution.csv         hidden: the same grades, one row per (query, picture)
    OUT/solution/gallery.json         hidden: each picture's scene graph and its five captions

The gallery is the collection's ``test`` split (``make_split(..., "test", gallery_size, seed)``),
which no lecture trains on: its image ids (30000001, ...) never occur in train or val, and every
picture is drawn from its own generator, so no training picture can leak into the gallery. Half
the queries are caption-style queries read off a gallery picture's scene graph, half come from the
query grammar; each is written together with its query graph, and every (query, picture) pair is
graded with ``relevance_grade`` (2 full match, 1 partial, 0 none). Queries without any full match
are dropped. 30% of the queries, fixed by the seed, score the public leaderboard, 70% the private
one. The seed fixes everything: the same arguments give byte-identical files. Anyone can regenerate
the test split of a known seed, so a class competition should use a seed kept private.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from course_lib.competition.grammar import caption_query, grammar_query
from course_lib.data import make_split, read_split, relevance_grade
from course_lib.errors import CourseError

PUBLIC_SHARE = 0.3
CAPTION_SHARE = 0.5
MAX_IDS = 100
QUERY_SEED = 5  # Queries use their own generator stream, separate from the pictures'.


README = """# Image search competition

Find the pictures that match a text query. `gallery/` holds {gallery_size} pictures, named by
their image id; `queries.csv` holds {num_queries} queries (`query_id,query`).

Submit a UTF-8 CSV file with the header `query_id,image_ids` and one line per query: at most
{max_ids} image ids (file names without `.jpg`), best first, separated by spaces, as in
`sample_submission.csv`. Files over 100 MB are refused.

A picture is relevant to a query when it shows everything the query asks for: the objects, how
many, their size, how they relate (a dog *in* a basket *on* a bike) and the place. Many pictures
can be relevant to one query. The leaderboard ranks by mAP@10 (relevant or not); Recall@1/5/10,
MRR and nDCG@10 (which also gives partial credit to pictures with the right objects in the wrong
arrangement) are shown as well. The public leaderboard uses 30% of the queries; the final
ranking uses the other 70%, revealed at the end.
"""


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=1) + "\n", "utf-8")


class _Grader:
    """Grade queries against every gallery picture, skipping pictures that lack a category."""

    def __init__(self, ids: list[str], graphs: list[dict]) -> None:
        self.ids, self.graphs = ids, graphs
        self.present = [
            {o["category"] for o in g["objects"]} | {o["supercategory"] for o in g["objects"]}
            for g in graphs
        ]

    def grades(self, query: dict) -> dict[str, int]:
        """Return ``{image id: grade}`` for the pictures with a grade above 0."""
        wanted = {o["category"] for o in query["objects"]}
        out = {}
        for iid, graph, present in zip(self.ids, self.graphs, self.present, strict=True):
            # relevance_grade is 0 whenever a queried category or the scene is missing.
            if wanted <= present and query.get("scene", graph["scene"]) == graph["scene"]:
                grade = relevance_grade(query, graph)
                if grade:
                    out[iid] = grade
        return out


def _queries(grader: _Grader, num_queries: int, rng: np.random.Generator) -> list[dict]:
    """Draw caption-style and grammar queries with at least one fully relevant picture."""
    seen: set[str] = set()
    out: list[dict] = []

    def keep(text, query, kind, source) -> None:
        if text in seen:
            return
        grades = grader.grades(query)
        if 2 in grades.values():
            seen.add(text)
            out.append(
                {"query": text, "graph": query, "kind": kind, "source": source, "grades": grades}
            )

    n_grammar = num_queries - round(num_queries * CAPTION_SHARE)
    for _ in range(40 * n_grammar):
        if len(out) >= n_grammar:
            break
        keep(*grammar_query(rng), None)
    # Caption-style queries fill the rest, each picture in turn, as often as needed.
    order = rng.permutation(len(grader.ids))
    for k in range(50 * num_queries):
        if len(out) >= num_queries:
            break
        i = int(order[k % len(order)])
        text, query, kind = caption_query(grader.graphs[i], rng)
        keep(text, query, f"caption-{kind}", grader.ids[i])
    if len(out) < num_queries:
        raise CourseError(
            f"Could only write {len(out)} different queries for a gallery of {len(grader.ids)} "
            f"pictures; expected {num_queries}. Ask for fewer queries or a larger gallery."
        )
    return out


def make_competition(
    out: str | Path,
    gallery_size: int = 1000,
    num_queries: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write a competition into the new or empty folder ``out``; return the paths written.

    Raises CourseError for a folder that is not empty, or counts or a seed out of range.
    """
    out = Path(out)
    say = progress or (lambda _message: None)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseError(f"{out}: expected a new or empty folder for the competition.")
    if not isinstance(gallery_size, int) or not 10 <= gallery_size <= 100_000:
        raise CourseError(f"Expected a gallery of 10 to 100000 pictures; received {gallery_size}.")
    if not isinstance(num_queries, int) or not 1 <= num_queries <= 100_000:
        raise CourseError(f"Expected 1 to 100000 queries; received {num_queries}.")
    work = out / "solution" / "collection"
    say(f"Drawing {gallery_size} held-out pictures (test split, seed {seed})")
    make_split(work, "test", gallery_size, seed)
    items = read_split(work, "test")
    (out / "gallery").mkdir()
    ids = [str(item["id"]) for item in items]
    for iid, item in zip(ids, items, strict=True):
        shutil.move(item["path"], out / "gallery" / f"{iid}.jpg")
    shutil.rmtree(work)
    graphs = [{k: v for k, v in item["graph"].items() if k != "file_name"} for item in items]
    say(f"Writing {num_queries} queries and grading them against every picture")
    rng = np.random.default_rng([seed, QUERY_SEED])
    queries = _queries(_Grader(ids, graphs), num_queries, rng)
    order = rng.permutation(len(queries))
    queries = [queries[i] for i in order]
    n_public = round(PUBLIC_SHARE * len(queries))
    public = set(rng.permutation(len(queries))[:n_public].tolist())
    for k, q in enumerate(queries):
        q["query_id"] = f"q{k + 1:04d}"
        q["usage"] = "public" if k in public else "private"
    paths = {
        "readme": out / "README.md",
        "gallery": out / "gallery",
        "queries": out / "queries.csv",
        "sample_submission": out / "sample_submission.csv",
        "solution": out / "solution" / "solution.json",
        "solution_csv": out / "solution" / "solution.csv",
        "gallery_truth": out / "solution" / "gallery.json",
    }
    _write_csv(
        paths["queries"], ["query_id", "query"], [[q["query_id"], q["query"]] for q in queries]
    )
    sample = []
    for q in queries:
        picks = rng.permutation(len(ids))[: min(MAX_IDS, len(ids))]
        sample.append([q["query_id"], " ".join(ids[i] for i in picks)])
    _write_csv(paths["sample_submission"], ["query_id", "image_ids"], sample)
    meta = {
        "gallery_size": gallery_size,
        "num_queries": num_queries,
        "seed": seed,
        "source": "course photo collection, test split",
        "public_share": PUBLIC_SHARE,
        "max_ids": MAX_IDS,
    }
    paths["readme"].write_text(README.format(**meta), "utf-8")
    _dump(paths["solution"], {**meta, "image_ids": ids, "queries": queries})
    rows = [
        [q["query_id"], iid, str(grade), q["usage"]]
        for q in queries
        for iid, grade in sorted(q["grades"].items())
    ]
    _write_csv(paths["solution_csv"], ["query_id", "image_id", "grade", "usage"], rows)
    gallery = [
        {"image_id": iid, "captions": item["captions"], "graph": graph}
        for iid, item, graph in zip(ids, items, graphs, strict=True)
    ]
    _dump(paths["gallery_truth"], {**meta, "images": gallery})
    return paths
