"""Caption-to-caption retrieval with every text representation of Lecture 04 (introduced there).

For each image, one caption is the query and another caption of the same image is the gallery
item to find; every other image's caption is a distractor. ``retrieval_table`` ranks the gallery
for every query with Jaccard overlap, bag-of-words cosine, TF-IDF cosine, mean GloVe vectors,
SIF-weighted GloVe vectors and the real all-MiniLM-L6-v2 encoder, and reports Recall@1/5/10::

    python -m course_lib.search.text_retrieval --source val        # the collection's val split
    python -m course_lib.search.text_retrieval --source coco-mini  # 80 real COCO images

All methods use the lecture's functions from ``lecture_module("04")`` (the student's own code
once it passed ``camp check``, else the reference solutions). Corpus statistics (the vocabulary,
IDF, SIF's word frequencies) come from the gallery captions only, never from the queries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from course_lib.errors import CourseError
from course_lib.paths import coco_mini_dir

KS = (1, 5, 10)
METHODS = ("Jaccard", "BoW cosine", "TF-IDF cosine", "mean GloVe", "SIF GloVe", "MiniLM")


def collection_captions(
    split: str = "val", num_images: int = 1000, seed: int = 0, image_size: int = 128
) -> list[list[str]]:
    """Return the five captions of each of the first ``num_images`` images of a collection split.

    The images are generated in memory exactly as ``course_lib.data.make_split`` writes them
    (same seed, split and size), so no files are needed; only the captions are kept.
    """
    from course_lib.data import generate_item

    if num_images < 1:
        raise ValueError(f"Expected at least 1 image; received {num_images}.")
    return [list(generate_item(seed, split, i, image_size)[2]) for i in range(num_images)]


def folder_captions(root: str | Path, split: str | None = None) -> list[list[str]]:
    """Return the captions of each image of a COCO-format folder (``annotations/captions_*.json``).

    ``split`` may be omitted when the folder holds exactly one captions file.
    """
    from course_lib.data.coco import load_coco

    root = Path(root)
    if split is None:
        found = sorted(p.name[len("captions_") : -5] for p in root.glob("annotations/captions_*"))
        if len(found) != 1:
            raise CourseError(
                f"{root}: expected exactly one annotations/captions_<split>.json; found "
                f"{found or 'none'}."
            )
        split = found[0]
    data = load_coco(root, split, kinds=["captions"], check_images=False)
    return [r.captions for r in data.records if len(r.captions) >= 2]


def load_caption_groups(source: str, num_images: int = 1000, seed: int = 0) -> list[list[str]]:
    """Captions per image of ``source``: ``"val"``/``"train"``/``"test"`` (the photo collection,
    generated in memory), ``"coco-mini"`` (the real COCO sample) or a COCO-format folder."""
    if source in ("train", "val", "test"):
        return collection_captions(source, num_images, seed)
    if source == "coco-mini":
        root = coco_mini_dir()
        if root is None:
            raise CourseError(
                "The real COCO sample ../shared/data/coco-mini is absent from this checkout."
            )
        return folder_captions(root, "train2017")[:num_images]
    if Path(source).is_dir():
        return folder_captions(source)[:num_images]
    raise CourseError(
        "Expected a source among val, train, test, coco-mini or a COCO folder; "
        f"received {source!r}."
    )


def query_gallery(groups: list[list[str]]) -> tuple[list[str], list[str]]:
    """Caption 0 of every image is its query and caption 1 the gallery item to find."""
    kept = [g for g in groups if len(g) >= 2]
    return [g[0] for g in kept], [g[1] for g in kept]


def method_scores(module: ModuleType, queries: list[str], gallery: list[str], minilm=None):
    """Yield ``(method, scores)``: (len(queries), len(gallery)) similarity matrices."""
    from course_lib.models.pretrained import load_glove_50d

    q_tokens, g_tokens = module.tokenize(queries), module.tokenize(gallery)
    yield "Jaccard", module.jaccard_similarity_matrix(q_tokens, g_tokens)
    vocabulary = module.build_vocabulary(g_tokens, min_count=1)
    q_counts = module.bag_of_words(q_tokens, vocabulary)
    g_counts = module.bag_of_words(g_tokens, vocabulary)
    yield "BoW cosine", module.cosine_similarity_matrix(q_counts, g_counts)
    idf = module.inverse_document_frequency(g_counts)
    yield (
        "TF-IDF cosine",
        module.cosine_similarity_matrix(module.tfidf(q_counts, idf), module.tfidf(g_counts, idf)),
    )
    glove = load_glove_50d()
    words = sorted({w for t in q_tokens + g_tokens for w in t if w in glove})
    vectors = np.stack([glove[w] for w in words]) if words else np.zeros((0, glove.dim))
    index = {w: i for i, w in enumerate(words)}
    mean_q = module.mean_word_vectors(q_tokens, index, vectors)
    mean_g = module.mean_word_vectors(g_tokens, index, vectors)
    yield "mean GloVe", module.cosine_similarity_matrix(mean_q, mean_g)
    probabilities = module.word_probabilities(g_tokens)
    both = module.sif_embeddings(q_tokens + g_tokens, index, vectors, probabilities)
    yield "SIF GloVe", module.cosine_similarity_matrix(both[: len(queries)], both[len(queries) :])
    if minilm is not None:
        from course_lib.models import minilm as minilm_lib

        model, text_tokenizer = minilm
        q_emb = minilm_lib.embed(model, text_tokenizer, queries)
        g_emb = minilm_lib.embed(model, text_tokenizer, gallery)
        yield "MiniLM", module.cosine_similarity_matrix(q_emb, g_emb)


def retrieval_table(
    source: str = "val",
    num_images: int = 1000,
    seed: int = 0,
    module: ModuleType | None = None,
    use_minilm: bool = True,
) -> list[dict]:
    """Recall@1/5/10 of each text representation on caption-to-caption retrieval.

    Args:
        source: ``"val"`` (the photo collection's val split), ``"coco-mini"`` (real COCO
            captions) or a COCO-format folder; see :func:`load_caption_groups`.
        num_images: how many images (queries) to use at most.
        seed: the collection's seed.
        module: the Lecture 04 module to use; default ``lecture_module("04")``.
        use_minilm: False leaves MiniLM out; it is also left out (with a note on stderr) when
            the package with its weights is not installed.

    Returns:
        One dict per method: ``{"method", "R@1", "R@5", "R@10", "queries"}``.
    """
    if module is None:
        from course_lib.student.lectures import lecture_module

        module = lecture_module("04")
    queries, gallery = query_gallery(load_caption_groups(source, num_images, seed))
    if not queries:
        raise CourseError(f"{source}: no image with at least two captions.")
    minilm = None
    if use_minilm:
        from course_lib.models import minilm as minilm_lib

        if minilm_lib.is_available():
            minilm = minilm_lib.load_minilm(module)
        else:
            print(f"MiniLM left out: `{minilm_lib.INSTALL}` to include it.", file=sys.stderr)
    rows = []
    for method, scores in method_scores(module, queries, gallery, minilm):
        recall = module.recall_at_k(np.asarray(scores), ks=KS)
        rows.append(
            {"method": method, **{f"R@{k}": float(recall[k]) for k in KS}, "queries": len(queries)}
        )
    return rows


def format_table(rows: list[dict], title: str = "") -> str:
    """Render rows of :func:`retrieval_table` as a Markdown table."""
    lines = [f"{title}\n"] if title else []
    lines.append("| method | " + " | ".join(f"R@{k}" for k in KS) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in KS) + " |")
    for row in rows:
        lines.append(
            f"| {row['method']} | " + " | ".join(f"{row[f'R@{k}']:.3f}" for k in KS) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the retrieval table (``python -m course_lib.search.text_retrieval --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", default="val", help="val, train, test, coco-mini, or a COCO-format folder."
    )
    parser.add_argument("--num-images", type=int, default=1000, help="Queries at most.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the photo collection.")
    parser.add_argument("--no-minilm", action="store_true", help="Leave the MiniLM row out.")
    parser.add_argument(
        "--reference", action="store_true", help="Use the reference solutions, not your code."
    )
    args = parser.parse_args(argv)
    module = None
    if args.reference:
        from course_lib.student.lectures import lecture_module

        module = lecture_module("04", prefer_student=False)
    try:
        rows = retrieval_table(
            args.source, args.num_images, args.seed, module, use_minilm=not args.no_minilm
        )
    except CourseError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    title = f"Caption retrieval on {args.source} ({rows[0]['queries']} queries)"
    print(format_table(rows, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
