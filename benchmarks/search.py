"""Exact top-k search over image embeddings: Lecture 05's reference against numpy and faiss.

Usage: ``python benchmarks/search.py [--images 100000] [--dim 512] [--queries 1000] [--k 10]``

Indexes ``--images`` random float32 embeddings (seeded, unit length, as image encodings are) and
answers ``--queries`` queries by inner product, three ways, in the same run:

- the lecture's reference ``inner_product_search`` (``lecture_module("05", prefer_student=False)``:
  batched float32 matrix products, ``np.argpartition`` per row in threads);
- a naive numpy baseline: the same batched matrix products, then a full ``np.argsort`` per row
  (timed on ``--naive-queries`` queries, since it is slow);
- faiss-cpu's exact inner-product index ``faiss.IndexFlatIP``.

Prints queries per second of each (best of ``--repeats``), the ratios, and how often the three
agree on the top k (float rounding may swap near-equal scores).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def best_time(function, repeats: int) -> tuple[float, object]:
    """Return the smallest wall time of ``repeats`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_search(queries: np.ndarray, database: np.ndarray, k: int, batch: int = 256):
    """Full stable argsort of every score row (the baseline), in batches of queries."""
    out = []
    for start in range(0, len(queries), batch):
        scores = queries[start : start + batch] @ database.T
        out.append(np.argsort(-scores, axis=1, kind="stable")[:, :k])
    return np.concatenate(out)


def unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean fraction of shared ids between the rows of two (Q, k) id arrays."""
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="Embeddings indexed.")
    parser.add_argument("--dim", type=int, default=512, help="Embedding size.")
    parser.add_argument("--queries", type=int, default=1000, help="Queries answered.")
    parser.add_argument("--naive-queries", type=int, default=200, help="Queries for the baseline.")
    parser.add_argument("--k", type=int, default=10, help="Results per query.")
    parser.add_argument("--batch-size", type=int, default=None, help="Reference's query batch.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs; the best counts.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random embeddings.")
    args = parser.parse_args()

    try:
        import faiss
    except ImportError:
        raise SystemExit(
            "benchmarks/search.py compares against faiss, from the package faiss-cpu: install it "
            "with `.venv/bin/pip install -e '.[bench]'` (./install.sh does)."
        ) from None

    from course_lib.student.lectures import lecture_module

    lecture = lecture_module("05", prefer_student=False, quiet=True)
    rng = np.random.default_rng(args.seed)
    database = unit_rows(rng, args.images, args.dim)
    queries = unit_rows(rng, args.queries, args.dim)
    threads = os.cpu_count() or 1
    print(
        f"{args.images:,} images × {args.dim} float32, {args.queries:,} queries, k={args.k}, "
        f"{threads} CPU cores, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads)"
    )

    options = {} if args.batch_size is None else {"batch_size": args.batch_size}

    def reference():
        return lecture.inner_product_search(queries, database, args.k, **options)[0]

    index = faiss.IndexFlatIP(args.dim)
    index.add(database)
    naive_queries = queries[: args.naive_queries]

    t_ref, ours = best_time(reference, args.repeats)
    t_faiss, (_, theirs) = best_time(lambda: index.search(queries, args.k), args.repeats)
    t_naive, naive = best_time(lambda: naive_search(naive_queries, database, args.k), 1)

    rates = {
        "lecture reference (argpartition)": args.queries / t_ref,
        "faiss IndexFlatIP": args.queries / t_faiss,
        "numpy full argsort": len(naive_queries) / t_naive,
    }
    for name, rate in rates.items():
        print(f"  {name:34s} {rate:10,.0f} queries/s")
    ref_rate, faiss_rate = rates["lecture reference (argpartition)"], rates["faiss IndexFlatIP"]
    print(f"reference time / faiss time: {faiss_rate / ref_rate:.2f} (target ≤ 1.5)")
    print(f"reference / naive speed-up:   {ref_rate / rates['numpy full argsort']:.1f}×")
    print(
        f"agreement on the top {args.k}: reference vs faiss {agreement(ours, theirs):.4f}, "
        f"reference vs naive {agreement(ours[: len(naive)], naive):.4f}"
    )


if __name__ == "__main__":
    main()
