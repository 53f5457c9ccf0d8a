"""Lecture 05's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs of the public tests
(``tests/autograder/test_05_search.py``, whose seeded builders it reuses) and ``camp generate``
writes the result to ``tests/autograder/expected/05_search.json``; the hidden tests
(``test_05_search_hidden.py``) compare the student's code with them on other inputs. The
references: scikit-learn (``average_precision_score``, ``ndcg_score``, ``TfidfVectorizer``,
``cosine_similarity``, ``minmax_scale``), numpy's stable ``argsort`` and loops over ranks.
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import average_precision_score, ndcg_score
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import minmax_scale

from course_lib.grading.expected import public_tests


def first_occurrences(ranking):
    """The ids of ``ranking`` in order, a repeated id kept only where it first appears."""
    seen, kept = set(), []
    for item in ranking:
        if item not in seen:
            seen.add(item)
            kept.append(item)
    return kept


def precision(ranking, relevant, k):
    return len([i for i in first_occurrences(ranking)[:k] if i in relevant]) / k


def recall(ranking, relevant, k):
    found = [i for i in first_occurrences(ranking)[:k] if i in relevant]
    return len(found) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranking, relevant, k=None):
    kept = first_occurrences(ranking)
    for rank, item in enumerate(kept if k is None else kept[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg(ranking, by_id, k):
    """nDCG@k with linear gains, item by item (scikit-learn's definition for a ranking)."""
    dcg = sum(
        by_id.get(item, 0) / np.log2(rank + 1)
        for rank, item in enumerate(first_occurrences(ranking)[:k], start=1)
    )
    best = sorted(by_id.values(), reverse=True)[:k]
    ideal = sum(grade / np.log2(rank + 1) for rank, grade in enumerate(best, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def ap(ranking, relevant, k, divide_by_m=False):
    """AP@k rank by rank; with ``divide_by_m``, the common mistake of dividing by m."""
    ranking = first_occurrences(ranking)
    hits, total = 0, 0.0
    for rank, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    if not relevant:
        return 0.0
    return total / (len(relevant) if divide_by_m else min(len(relevant), k))


def ndcg_exponential(ranking, by_id, grades, k):
    """nDCG@k with exponential gains 2^g - 1: a common mistake."""
    dcg = sum((2.0 ** by_id[i] - 1) / np.log2(r + 2) for r, i in enumerate(ranking[:k]))
    ideal = sorted((2.0**g - 1 for g in grades), reverse=True)[:k]
    return dcg / sum(g / np.log2(r + 2) for r, g in enumerate(ideal))


def top_k(scores, k):
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def tfidf_cosines(documents, queries, **options):
    """(Q, N) cosines of scikit-learn's TF-IDF vectors of queries and documents (IDF of these)."""
    vectorizer = TfidfVectorizer(
        tokenizer=str.split, token_pattern=None, lowercase=False, **options
    )
    doc_matrix = vectorizer.fit_transform(documents).toarray()
    return vectorizer.transform(queries).toarray() @ doc_matrix.T


def object_scores(similarity, detections):
    words, labels = similarity.shape
    if words == 0:
        return np.zeros(len(detections))
    return np.array(
        [
            np.mean(
                [
                    max(similarity[w, l] * detections[n, l] for l in range(labels))
                    for w in range(words)
                ]
            )
            for n in range(len(detections))
        ]
    )


def sparsify(similarity, top):
    expected = np.zeros_like(similarity)
    for row in range(len(similarity)):
        keep = np.argsort(-similarity[row], kind="stable")[:top]
        expected[row, keep] = np.maximum(similarity[row, keep], 0)
    return expected


def dropbox(similarity, category_scores, top):
    if len(similarity) == 0:
        return np.zeros(len(category_scores))
    return category_scores @ sparsify(similarity, top).mean(axis=0)


def zscore(rows, ddof=0):
    """z-scores of each row; a constant row (max = min) gives zeros, whatever its std rounds to."""
    rows = np.asarray(rows, dtype=np.float64)
    constant = (rows.max(1) == rows.min(1))[:, None]
    std = np.where(constant, 1.0, rows.std(1, ddof=ddof, keepdims=True))
    return np.where(constant, 0.0, (rows - rows.mean(1, keepdims=True)) / std)


def minmax(rows):
    return minmax_scale(rows, axis=1)


def report(scores, relevant, graded, k, depth=None):
    """The metrics @k of the stable-argsort rankings of ``scores`` cut at ``depth`` (default k)."""
    depth = k if depth is None else depth
    rankings = [[1000 + int(i) for i in np.argsort(-row, kind="stable")[:depth]] for row in scores]
    pairs = list(zip(rankings, relevant, strict=True))
    first = [
        next((1 / (r + 1) for r, i in enumerate(ranking[:k]) if i in rel), 0.0)
        for ranking, rel in pairs
    ]
    hits = [sum(i in rel for i in ranking[:k]) for ranking, rel in pairs]
    expected = {
        "map": np.mean([ap(r, s, k) for r, s in pairs]),
        "mrr": np.mean(first),
        "recall": np.mean([h / len(s) if s else 0.0 for h, s in zip(hits, relevant, strict=True)]),
        "precision": np.mean(hits) / k,
    }
    if graded is not None:
        full = np.array(
            [[g.get(1000 + i, 0) for i in range(scores.shape[1])] for g in graded], float
        )
        expected["ndcg"] = ndcg_score(full, scores, k=k)
    return expected


def report_skipping_empty(scores, relevant, graded, k):
    """``report`` of only the queries that have relevant ids: a mistake (they count as 0)."""
    keep = [q for q, s in enumerate(relevant) if s]
    return report(scores[keep], [relevant[q] for q in keep], [graded[q] for q in keep], k)


def expected():
    """The reference's values on the public tests' fixed inputs."""
    t = public_tests("05")
    values = {}
    values["average_precision_sklearn"] = [
        average_precision_score(labels, scores) for _, _, labels, scores in t._ap_cases()
    ]
    rankings, relevant = t._random_rankings(t._rng(2))
    pairs = list(zip(rankings, relevant, strict=True))
    values["mean_average_precision"] = {
        str(k): {
            "out": np.mean([ap(r, s, k) for r, s in pairs]),
            "skipped": np.mean([ap(r, s, k) for r, s in pairs if s]),
            "by_m": np.mean([ap(r, s, k, True) for r, s in pairs]),
        }
        for k in (1, 5, 10, 30)
    }
    values["ndcg"] = [
        {
            str(k): {
                "out": ndcg_score([grades], [scores], k=k),
                "exponential": ndcg_exponential(ranking, by_id, grades, k),
            }
            for k in (1, 3, 10, len(grades))
        }
        for ranking, by_id, grades, scores in t._ndcg_cases()
    ]
    values["top_k_boundaries"] = top_k(t._rng(13).normal(size=(3, 6)), 4)
    values["search_batch_ties"] = top_k(t._search_ties(), 25)
    values["top_k"] = [
        {str(k): top_k(scores, k) for k in (1, 3, 7, scores.shape[1], scores.shape[1] + 4)}
        for scores in t._top_k_cases()
    ]
    queries, database = t._search_inputs()
    full = queries @ database.T
    indices = top_k(full, 9)
    values["inner_product_search"] = {
        "indices": indices,
        "scores": np.take_along_axis(full, indices, axis=1),
    }
    images, queries = t.CAPTION_IMAGES, t.CAPTION_QUERIES
    documents = [" ".join(image["captions"]) for image in images]
    words = " ".join(documents).split()
    frequent = sorted({w for w in words if words.count(w) >= 2})
    values["caption_engine"] = {
        "out": tfidf_cosines(documents, queries),
        "frequent_words": tfidf_cosines(documents, queries, vocabulary=frequent),
        "unsmoothed": tfidf_cosines(documents, queries, smooth_idf=False),
    }
    similarity, detections = t._object_inputs()
    values["object_scores"] = {
        "out": object_scores(similarity, detections),
        "pooled_first": [
            (similarity.sum(0) * detections).max(1),
            (similarity.mean(0) * detections).max(1),
        ],
    }
    vectors = t._word_vectors()
    labels, matrix = t.OBJECT_LABELS, t._object_matrix()
    label_vectors = np.stack(
        [np.mean([vectors[w] for w in label.split()], axis=0) for label in labels]
    )
    query = np.stack([vectors["puppy"], vectors["bike"]]).astype(np.float64)
    similarity = np.maximum(cosine_similarity(query, label_vectors), 0)
    values["object_engine"] = (similarity[:, None, :] * matrix[None]).max(axis=2).mean(axis=0)
    similarity = t._sparsify_inputs()
    values["sparsify_top"] = {str(top): sparsify(similarity, top) for top in (1, 2, 3, 5, 12)}
    similarity, category_scores = t._dropbox_inputs()
    values["dropbox_scores"] = {
        str(top): dropbox(similarity, category_scores, top) for top in (3, 5)
    }
    values["dropbox_scores"]["dense"] = category_scores @ similarity.mean(axis=0)
    glove, categories, scores = t._classifier_inputs()
    query = np.stack([glove["puppy"], glove["bike"]]).astype(np.float64)
    category_vectors = np.stack([np.mean([glove[w] for w in c.split()], 0) for c in categories])
    similarity = cosine_similarity(query, category_vectors.astype(np.float64))
    values["classifier_engine"] = scores.astype(np.float64) @ sparsify(similarity, 3).mean(axis=0)
    scores = t._normalize_inputs()
    values["normalize_scores"] = {
        "minmax": minmax(scores[:3]),
        "minmax_columns": minmax_scale(scores, axis=0),
        "zscore": zscore(scores[:3]),
        "zscore_ddof_1": zscore(scores[:3], ddof=1),
    }
    scores = t._normalize_boundary_inputs()
    values["normalize_boundaries"] = {"minmax": minmax(scores), "zscore": zscore(scores)}
    small, large = t._fuse_inputs()
    flat = large.astype(np.float32)
    flat[1] = 7.0
    values["fuse_scores"] = {
        "minmax": 2.0 * minmax(small) + 0.5 * minmax(large),
        "unweighted": minmax(small) + minmax(large),
        "raw": 2.0 * small + 0.5 * large,
        "zscore": 2.0 * zscore(small) + 0.5 * zscore(large),
        "single": minmax(small),
        "large_only": minmax(large),
        "against": zscore(large) - zscore(small),
        "flat": zscore(small) + 3.0 * zscore(flat.astype(np.float64)),
    }
    scores, relevant, graded = t._engine_inputs()
    values["evaluate_engine"] = {
        "graded": report(scores, relevant, graded, 10),
        "binary": report(scores, relevant, [dict.fromkeys(r, 1) for r in relevant], 10),
        "k15": report(scores, relevant, None, 15),
        "k15_depth10": report(scores, relevant, None, 15, depth=10),
        "k2": report(scores, relevant, graded, 2),
        "no_relevant_k40": report(scores, [set(), *relevant[1:]], [{}, *graded[1:]], 40),
        "no_relevant_skipped": report_skipping_empty(
            scores, [set(), *relevant[1:]], [{}, *graded[1:]], 40
        ),
    }
    return values
