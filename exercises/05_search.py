# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 05: The image search engine
#
# **Builds on:** Lecture 02 (a multi-label classifier of the photo collection's categories),
# Lecture 03 (image encodings) and Lecture 04 (tokenizing, TF-IDF, cosine similarity, GloVe).
# **You will build:** the ranking metrics every search competition uses (Precision@K,
# Recall@K, AP@K and mAP@K, reciprocal rank, nDCG@K with graded relevance), checked against
# scikit-learn; a vectorised top-k over a whole collection (as fast as faiss' exact index); a
# search-engine interface and three ways to represent a picture for a text query: its
# captions, its detected objects matched through word vectors, and its classifier scores
# matched the way Dropbox's image search does it; late fusion of the three; and an evaluation
# of every engine on the photo collection.
#
# This is what the course builds towards: a text query and a photo collection go in, the
# pictures ordered by relevance come out. The competition of this lecture is scored with the
# metrics you write here.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 05`.

# %% [markdown]
# ## Setup

# %%
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from course_lib.demo import should_run_demo
from course_lib.search.helpers import (
    EXAMPLE_QUERIES,
    category_names,
    model_outputs,
    oracle_category_scores,
    oracle_detections,
    phrase_vectors,
    query_words,
    relevance_grades,
)

SEED = 0  # Fixes the photo collection and the oracle classifier's noise.
NUM_IMAGES = 1000  # Pictures of the val split indexed by the demos.
VISION = "models"  # What the engines index: "models" (the course's shipped models) or "oracle".
K = 10  # Cut-off of the metrics reported by the demos (mAP@10, nDCG@10...).
TOP_CATEGORIES = 3  # Dropbox: a query word keeps its this many most similar categories.
QUERY_BATCH = 256  # Queries scored per matrix product in inner_product_search.
NUM_THREADS = os.cpu_count() or 1  # Threads that select the top k of a batch's rows.
FUSION_WEIGHTS = (1.0, 1.0, 1.0)  # Weights of the captions, objects and classifier engines.
STOP_WORDS = frozenset(
    "a an the in on of at to with and or is are was were its it this that there some".split()
    + "by for from into onto near next under over top up down his her their".split()
)  # Words a query ignores when matching word vectors: they say nothing about the picture.

# %% [markdown]
# ## Data
#
# We search the val split of the photo collection. Every picture has a scene graph (its
# objects, their attributes and relations) and five human-style captions: ground truth, which
# decides what is relevant. A search engine may only index what a model sees in the pixels, so
# `load_collection` runs the course's shipped models on every picture (cached after the first
# run): the captions of the Lecture 06 captioner (several decodings per picture), the
# detections of the Lecture 07 detector and the scores of the Lecture 02 multi-label
# classifier (categories only). With `vision="oracle"` the same fields come from the ground
# truth instead: the true captions, a perfect detector (confidence lower for small, occluded
# or truncated objects) and a noisy but good classifier. Oracles are upper bounds: they show
# what the engines could do with perfect vision, and how much of the gap the models leave.
#
# Each picture is a dict: `id`, `path`, `captions` (strings), `true_captions` (the 5 ground-truth
# captions), `graph`, `detections` (a list of `(category, confidence)`), `category_scores`
# (float32 vector, one score per category of `category_names()`).


# %%
def load_collection(
    split: str = "val",
    num_images: int = NUM_IMAGES,
    seed: int = SEED,
    folder=None,
    vision: str = VISION,
) -> list[dict]:
    """Write (once) and read the photo collection's ``split``, with vision outputs added.

    Args:
        split: "val", "test" or "train"; num_images: how many pictures; seed: the collection's.
        folder: the folder that holds collections; default ``data/generated`` in the course
            checkout (written there on first use by ``cached_collection``).
        vision: "models" (the shipped models' outputs; a model whose weights are missing is
            replaced by its oracle, with a note) or "oracle" (ground truth, an upper bound).

    Returns:
        ``num_images`` picture dicts (see above), in id order.
    """
    from course_lib.data import read_split
    from course_lib.data.cache import cached_collection

    if vision not in ("models", "oracle"):
        raise ValueError(f'Expected vision "models" or "oracle"; received {vision!r}.')
    folder = cached_collection("l05", {split: num_images}, seed, root=folder)
    images = read_split(folder, split)
    outputs = {}
    if vision == "models":
        outputs = model_outputs([image["path"] for image in images], cache_folder=folder)
        for field in ("captions", "detections", "category_scores"):
            if field not in outputs:
                print(f"No shipped model gives {field}: using the oracle's (an upper bound).")
    categories = category_names()
    for index, image in enumerate(images):
        image["true_captions"] = image["captions"]
        oracle = {
            "captions": image["captions"],
            "detections": oracle_detections(image["graph"]),
            "category_scores": oracle_category_scores(
                image["graph"], categories, seed, image["id"]
            ),
        }
        for field, value in oracle.items():
            image[field] = outputs[field][index] if field in outputs else value
    return images


# %% [markdown]
# ## Metrics
#
# A search engine returns a *ranking*: image ids, best first. Ground truth says which ids are
# relevant. With `rel(k)` = 1 when the k-th result is relevant, `m` relevant items in all:
#
# - **Precision@K**: the fraction of the top K that is relevant, $\frac{1}{K}\sum_{k \le K}
#   rel(k)$ (always divided by K, even when the ranking is shorter).
# - **Recall@K**: the fraction of the relevant items found in the top K, divided by m
#   (0 when m = 0).
# - **AP@K** (average precision, as Kaggle defines it):
#   $\mathrm{AP@K} = \frac{1}{\min(m, K)} \sum_{k=1}^{K} P(k)\, rel(k)$, the precision at each
#   rank where a relevant item appears, averaged. Dividing by min(m, K), not by K, gives a
#   perfect ranking AP = 1 even when there are fewer than K relevant items; dividing by m
#   would punish K < m. When K covers the whole collection, AP@K is scikit-learn's
#   `average_precision_score`. **mAP@K** is the mean of AP@K over queries.
# - **Reciprocal rank**: 1 / (rank of the first relevant result), 0 if none is retrieved; its
#   mean over queries is the MRR.
# - **nDCG@K** with graded relevance $g$ (here 2 = the picture matches the whole query, 1 = the
#   right objects but not all relations): $\mathrm{DCG@K} = \sum_{k \le K} g_k / \log_2(k + 1)$
#   with **linear gains** $g_k$ (as scikit-learn's `ndcg_score`; some papers use
#   $2^{g} - 1$), divided by the DCG of the ideal ranking (all graded items sorted by grade),
#   so a perfect ranking scores 1. 0 when no item has a grade above 0.
#
# A ranking never lists an id twice; if it does, only the first occurrence counts (`_unique`
# keeps the first occurrences, in order). An id may be of any hashable type (int, str). The
# cut-off k is an integer >= 1 (a numpy integer too); every metric refuses anything else (0, a
# negative number, a float, a bool) with a ValueError: call `_check_k(k)` first.


# %%
def precision_at_k(ranked_ids: list, relevant_ids: set, k: int) -> float:
    """Fraction of the first ``k`` ranked ids that are relevant (divided by ``k``).

    Args:
        ranked_ids: (n,) ids, best first; relevant_ids: the set of relevant ids; k: an integer
            >= 1 (else ValueError).

    Returns:
        A float in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError("precision_at_k: fill in the region marked YOUR CODE HERE")


def recall_at_k(ranked_ids: list, relevant_ids: set, k: int) -> float:
    """Fraction of the relevant ids found among the first ``k`` ranked ids (0 if none exist).

    Args:
        ranked_ids: (n,) ids, best first; relevant_ids: the set of relevant ids; k: an integer
            >= 1 (else ValueError).

    Returns:
        A float in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError("recall_at_k: fill in the region marked YOUR CODE HERE")


def average_precision_at_k(ranked_ids: list, relevant_ids: set, k: int) -> float:
    """AP@K, Kaggle's definition: sum over ranks k' <= k of P(k')·rel(k'), over min(m, k).

    Args:
        ranked_ids: (n,) ids, best first; relevant_ids: the m relevant ids; k: an integer >= 1
            (else ValueError).

    Returns:
        A float in [0, 1]; 0 when there is no relevant id.
    """
    # YOUR CODE HERE
    raise NotImplementedError("average_precision_at_k: fill in the region marked YOUR CODE HERE")


def mean_average_precision_at_k(rankings: list[list], relevant: list[set], k: int) -> float:
    """mAP@K: the mean of AP@K over queries, computed for all queries at once.

    Build a (Q, k) 0/1 matrix of hits (rankings shorter than k are padded with misses) and
    compute every query's AP from it with ``np.cumsum``, no Python loop over ranks.

    Args:
        rankings: Q rankings (lists of ids, best first); relevant: Q sets of relevant ids;
        k: an integer >= 1 (else ValueError).

    Returns:
        A float in [0, 1]; queries without relevant ids count as AP 0.
    """
    if len(rankings) != len(relevant):
        raise ValueError(
            f"Expected one set of relevant ids per ranking; received {len(rankings)} rankings "
            f"and {len(relevant)} sets."
        )
    if not rankings:
        raise ValueError("Expected at least one query; received none.")
    # YOUR CODE HERE
    raise NotImplementedError(
        "mean_average_precision_at_k: fill in the region marked YOUR CODE HERE"
    )


def reciprocal_rank(ranked_ids: list, relevant_ids: set, k: int | None = None) -> float:
    """1 / rank of the first relevant id among the first ``k`` (all if None), else 0.

    Args:
        ranked_ids: (n,) ids, best first; relevant_ids: set; k: None (no cut-off) or an
            integer >= 1 (else ValueError).

    Returns:
        A float in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError("reciprocal_rank: fill in the region marked YOUR CODE HERE")


def ndcg_at_k(ranked_ids: list, relevance_by_id: dict, k: int) -> float:
    """nDCG@K with linear gains and graded relevance, as ``sklearn.metrics.ndcg_score(k=k)``.

    Args:
        ranked_ids: (n,) ids, best first; relevance_by_id: id → grade >= 0 (ids absent have
            grade 0; the ideal ranking sorts *all* these grades, retrieved or not); k: an
            integer >= 1 (else ValueError).

    Returns:
        DCG@K / ideal DCG@K, a float in [0, 1]; 0 when every grade is 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ndcg_at_k: fill in the region marked YOUR CODE HERE")


def mean_reciprocal_rank(rankings: list[list], relevant: list[set], k: int | None = None) -> float:
    """MRR: the mean of ``reciprocal_rank`` over queries."""
    return float(
        np.mean([reciprocal_rank(r, s, k) for r, s in zip(rankings, relevant, strict=True)])
    )


def hit_matrix(rankings: list[list], relevant: list[set], k: int) -> np.ndarray:
    """float64 (Q, k): entry [q, i] is 1 when ranking q's (i+1)-th id is relevant to q."""
    hits = np.zeros((len(rankings), k))
    for row, (ranking, relevant_ids) in enumerate(zip(rankings, relevant, strict=True)):
        for col, item in enumerate(_unique(ranking)[:k]):
            hits[row, col] = item in relevant_ids
    return hits


def _unique(ranked_ids) -> list:
    """The ids in order, each kept at its first occurrence only."""
    return list(dict.fromkeys(ranked_ids))


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"Expected an integer k >= 1; received {k!r}.")


# %% [markdown]
# ## Top k over the whole collection
#
# Every engine below produces a (queries, images) matrix of scores; the answer is each row's
# k best columns. A full `np.argsort` of each row costs O(n log n); `np.argpartition(row, n-k)`
# moves the k largest values to the end in O(n), unordered, and only those k need sorting.
# Results must be *deterministic*: among equal scores, the lower image index comes first,
# exactly as a stable sort of `-scores` orders them. `argpartition` does not promise which of
# several equal values at the cut-off it keeps, so check the boundary and fix the rare rows
# where a tie straddles it.
#
# For embeddings (Lecture 03's image encodings, normalised, so the inner product is the cosine
# similarity), the scores of a batch of queries against the collection are one matrix product.
# A thousand queries against 100,000 images is a 400 MB float32 score matrix: score the queries
# in batches of `QUERY_BATCH`, so memory stays bounded and the matrix fits in cache-friendly
# pieces, and select the rows' top k in parallel threads (numpy releases the GIL while it
# partitions).


# %%
def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row, best first, ties broken by the lower column index.

    Must equal ``np.argsort(-scores, axis=1, kind="stable")[:, :k]`` without sorting whole rows:
    use ``np.argpartition``.

    Args:
        scores: (Q, N) finite scores (no NaN); k: >= 1; a k above N returns all N columns.

    Returns:
        indices: int64 (Q, min(k, N)) column indices; values: (Q, min(k, N)) their scores,
        same dtype as ``scores``.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"Expected scores of shape (queries, items); received {scores.shape}.")
    _check_k(k)
    # YOUR CODE HERE
    raise NotImplementedError("top_k: fill in the region marked YOUR CODE HERE")


def inner_product_search(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    batch_size: int = QUERY_BATCH,
    num_threads: int = NUM_THREADS,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact maximum-inner-product search: each query's ``k`` best database rows.

    Scores ``queries @ database.T`` in float32, ``batch_size`` queries at a time, and keeps
    each batch's ``top_k`` (rows split among ``num_threads`` threads). Same answer as
    ``top_k(queries @ database.T, k)`` and as faiss' ``IndexFlatIP`` (up to float rounding).

    Args:
        queries: (Q, dim); database: (N, dim); k: >= 1 (above N: N results).
        batch_size: queries per matrix product; num_threads: >= 1.

    Returns:
        indices: int64 (Q, min(k, N)); scores: float32 (Q, min(k, N)), best first.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    database = np.ascontiguousarray(database, dtype=np.float32)
    if queries.ndim != 2 or database.ndim != 2 or queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"Expected queries (Q, dim) and database (N, dim) with the same dim; received "
            f"{queries.shape} and {database.shape}."
        )
    _check_k(k)
    # YOUR CODE HERE
    raise NotImplementedError("inner_product_search: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## A search-engine interface
#
# Every engine has the same two steps: `index(images)` computes and stores what it needs about
# each picture (once, offline), and `score(queries)` gives a (queries, images) matrix of
# relevance scores. Searching is then the same for all: take each row's top k and return
# `(image id, score)` pairs. Write `search_batch` once in the base class.


# %%
class SearchEngine:
    """Base class: ``index(images)`` once, then ``search(query, k)`` → ``[(image_id, score)]``.

    Subclasses implement ``encode_images(images)`` (store what scoring needs) and
    ``score(queries)`` (return float (Q, N) relevance scores, N = indexed images).
    """

    name = "engine"

    def __init__(self) -> None:
        self.image_ids: list | None = None

    def index(self, images: list[dict]) -> "SearchEngine":
        """Index ``images`` (picture dicts with at least an ``id``); returns ``self``."""
        if not images:
            raise ValueError("Expected at least one image to index; received none.")
        self.image_ids = [image["id"] for image in images]
        self.encode_images(images)
        return self

    def encode_images(self, images: list[dict]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define encode_images(images).")

    def score(self, queries: list[str]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define score(queries).")

    def search(self, query: str, k: int = K) -> list[tuple]:
        """Return the ``k`` best ``(image_id, score)`` pairs for one text query, best first."""
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: list[str], k: int = K) -> list[list[tuple]]:
        """Return, for each query, its ``k`` best ``(image_id, score)`` pairs, best first.

        ``score`` gets the queries as a list (of any sequence given here); whatever numbers it
        returns (float32, nested lists, integers, bools) are ranked as float64 scores.

        Args:
            queries: (Q,) text queries; k: >= 1 (above the number of images: all of them).

        Returns:
            Q lists of ``min(k, N)`` tuples ``(image_id, float score)``; equal scores in the
            order the images were indexed.
        """
        if self.image_ids is None:
            raise ValueError(f"{type(self).__name__}: call index(images) before searching.")
        # YOUR CODE HERE
        raise NotImplementedError(
            "SearchEngine.search_batch: fill in the region marked YOUR CODE HERE"
        )


# %% [markdown]
# ## Representation 1: captions
#
# If every picture had a description, image search would be text search. The collection's
# ground-truth captions play the part of perfect descriptions here (an oracle); after
# Lecture 06, your captioner's output takes their place. A picture's document is its captions
# joined together; query and documents are compared with Lecture 04's tools: TF-IDF vectors
# (IDF fitted on the indexed documents) or mean GloVe vectors (stop words removed), and
# cosine similarity. `lecture_module("04")` gives your own Lecture 04 code once it passed
# `camp check 04`, else the reference solutions.


# %%
def text_lecture():
    """Lecture 04's module (tokenize, build_vocabulary, bag_of_words, tfidf, cosine...)."""
    from course_lib.student.lectures import lecture_module

    return lecture_module("04", quiet=True)


class CaptionEngine(SearchEngine):
    """Match the query with each picture's captions by TF-IDF or mean-GloVe cosine similarity.

    Args:
        method: ``"tfidf"`` or ``"glove"``.
        word_vectors: for ``"glove"``: word → (dim,) vector (``WordVectors`` or a dict).
    """

    name = "captions"

    def __init__(self, method: str = "tfidf", word_vectors=None) -> None:
        super().__init__()
        if method not in ("tfidf", "glove"):
            raise ValueError(f"Expected method 'tfidf' or 'glove'; received {method!r}.")
        if method == "glove" and word_vectors is None:
            raise ValueError("Expected word_vectors for method 'glove'; received None.")
        self.method = method
        self.word_vectors = word_vectors

    def _glove(self, token_lists: list[list[str]]) -> np.ndarray:
        """(n, dim) mean GloVe vector of each text's known words, stop words removed."""
        text = text_lecture()
        kept = [[w for w in tokens if w not in STOP_WORDS] for tokens in token_lists]
        words = sorted({w for tokens in kept for w in tokens if w in self.word_vectors})
        vectors = phrase_vectors(words, self.word_vectors)  # (words, dim)
        return text.mean_word_vectors(kept, {w: i for i, w in enumerate(words)}, vectors)

    def encode_images(self, images: list[dict]) -> None:
        """Store ``self.documents``: (N, features) TF-IDF or mean-GloVe rows, one per picture.

        For TF-IDF also store what queries need: ``self.vocabulary`` (``build_vocabulary`` of the
        documents' tokens with ``min_count=1``: a word seen once is kept) and ``self.idf``
        (``inverse_document_frequency`` of the documents' counts, smoothed as by default); the
        documents are ``tfidf`` rows with its defaults (raw counts, unit L2 norm), as
        scikit-learn's ``TfidfVectorizer()`` computes them.
        """
        text = text_lecture()
        tokens = text.tokenize([" ".join(image["captions"]) for image in images])
        if self.method == "glove":
            self.documents = self._glove(tokens)
            return
        # YOUR CODE HERE
        raise NotImplementedError(
            "CaptionEngine.encode_images: fill in the region marked YOUR CODE HERE"
        )

    def score(self, queries: list[str]) -> np.ndarray:
        """float (Q, N): cosine similarity of each query with each picture's document.

        For TF-IDF, a query is counted over ``self.vocabulary`` (words outside it are ignored)
        and weighted with ``self.idf``, the IDF fitted on the documents in ``encode_images``
        (never refitted on the queries); rows are queries, columns pictures in index order.
        """
        text = text_lecture()
        tokens = text.tokenize(list(queries))
        if self.method == "glove":
            return text.cosine_similarity_matrix(self._glove(tokens), self.documents)
        # YOUR CODE HERE
        raise NotImplementedError("CaptionEngine.score: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Representation 2: detected objects
#
# A detector lists the objects of a picture with a confidence each ("dog" 0.9, "bicycle" 0.7).
# A query word rarely *is* a label ("bike", "puppy", "kitten"), so compare them through word
# vectors: the similarity of word $w$ and label $l$ is the cosine of their GloVe vectors
# (a two-word label such as "teddy bear" is the mean of its words), clipped at 0. Each query
# word looks for its best match among the picture's detections, weighted by confidence, and
# the picture's score is the mean over the query's words (stop words removed):
#
# $$\mathrm{score}(q, n) = \frac{1}{|W_q|} \sum_{w \in W_q} \max_l \; \mathrm{sim}(w, l)\,
# D_{n,l}$$
#
# where $D$ (images, labels) holds each picture's highest confidence per label, 0 for labels it
# lacks. Computed for every picture at once, no loop over pictures.


# %%
def object_scores(similarity: np.ndarray, detection_scores: np.ndarray) -> np.ndarray:
    """Score every picture for one query from word-label similarities and detections.

    Args:
        similarity: (W, L) similarity of each of the query's W words with each label.
        detection_scores: (N, L) each picture's confidence per label, 0 where absent.

    Returns:
        float (N,): ``mean over w of max over l of similarity[w, l] * detection_scores[n, l]``;
        zeros when W = 0.
    """
    similarity, detection_scores = np.asarray(similarity), np.asarray(detection_scores)
    if similarity.shape[1:] != detection_scores.shape[1:]:
        raise ValueError(
            f"Expected similarity (W, L) and detection_scores (N, L) with the same L; received "
            f"{similarity.shape} and {detection_scores.shape}."
        )
    # YOUR CODE HERE
    raise NotImplementedError("object_scores: fill in the region marked YOUR CODE HERE")


class ObjectEngine(SearchEngine):
    """Match query words with each picture's detected labels through word vectors.

    Args:
        word_vectors: word → (dim,) vector (``WordVectors`` or a dict).
    """

    name = "objects"

    def __init__(self, word_vectors) -> None:
        super().__init__()
        self.word_vectors = word_vectors

    def encode_images(self, images: list[dict]) -> None:
        """Store ``labels``, their vectors and the (N, L) ``detection_scores`` matrix."""
        self.labels = sorted({label for image in images for label, _ in image["detections"]})
        column = {label: j for j, label in enumerate(self.labels)}
        self.detection_scores = np.zeros((len(images), len(self.labels)))
        for row, image in enumerate(images):
            for label, confidence in image["detections"]:
                j = column[label]
                self.detection_scores[row, j] = max(self.detection_scores[row, j], confidence)
        self.label_vectors = phrase_vectors(self.labels, self.word_vectors)  # (L, dim)

    def score(self, queries: list[str]) -> np.ndarray:
        """float (Q, N) object-match scores."""
        text = text_lecture()
        rows = []
        for query in queries:
            words = [w for w in query_words(query, STOP_WORDS) if w in self.word_vectors]
            vectors = phrase_vectors(words, self.word_vectors)  # (W, dim)
            similarity = np.zeros((len(words), len(self.labels)))
            if words and self.labels:
                similarity = text.cosine_similarity_matrix(vectors, self.label_vectors)
            rows.append(object_scores(np.maximum(similarity, 0.0), self.detection_scores))
        return np.stack(rows)


# %% [markdown]
# ## Representation 3: classifier scores, as Dropbox does it
#
# Dropbox's image search (2017) needs no captions and no boxes: its classifier gives every
# picture a vector $j$ of scores over C categories, computed once at upload. At query time each
# query word $w$ becomes a vector $q_w$ over the same categories: the cosine similarity of
# $w$'s word vector with each category name's, keeping only the `TOP_CATEGORIES` most similar
# categories (and no negative values), zero elsewhere. "bike" lights up bicycle, motorcycle
# and skateboard. The relevance of a picture is $q \cdot j$ with $q$ the mean of the query
# words' vectors $q_w$ (stop words removed): for all pictures at once, one matrix-vector
# product.


# %%
def sparsify_top(similarity: np.ndarray, top: int = TOP_CATEGORIES) -> np.ndarray:
    """Keep each row's ``top`` largest values (clipped at 0), zero elsewhere.

    Args:
        similarity: (W, C) word-category similarities; top: >= 1 (above C: keep all).

    Returns:
        float (W, C): ``max(similarity, 0)`` at each row's ``top`` largest entries (ties: lower
        column first), 0 elsewhere.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    # YOUR CODE HERE
    raise NotImplementedError("sparsify_top: fill in the region marked YOUR CODE HERE")


def dropbox_scores(
    similarity: np.ndarray, category_scores: np.ndarray, top: int = TOP_CATEGORIES
) -> np.ndarray:
    """Dropbox relevance of every picture for one query.

    Args:
        similarity: (W, C) cosine similarity of each query word with each category name.
        category_scores: (N, C) each picture's classifier scores j.
        top: categories kept per word.

    Returns:
        float (N,): ``j_n · q`` with ``q`` the mean over words of ``sparsify_top`` rows;
        zeros when W = 0.
    """
    similarity, category_scores = np.asarray(similarity), np.asarray(category_scores)
    if similarity.shape[1:] != category_scores.shape[1:]:
        raise ValueError(
            f"Expected similarity (W, C) and category_scores (N, C) with the same C; received "
            f"{similarity.shape} and {category_scores.shape}."
        )
    # YOUR CODE HERE
    raise NotImplementedError("dropbox_scores: fill in the region marked YOUR CODE HERE")


class ClassifierEngine(SearchEngine):
    """Dropbox's search: classifier score vectors of the pictures against query-word vectors.

    Args:
        word_vectors: word → (dim,) vector; categories: (C,) names of the score columns
            (default ``category_names()``); top: categories kept per query word.
    """

    name = "classifier"

    def __init__(self, word_vectors, categories=None, top: int = TOP_CATEGORIES) -> None:
        super().__init__()
        self.word_vectors = word_vectors
        self.categories = list(categories) if categories is not None else category_names()
        self.top = top
        self.category_vectors = phrase_vectors(self.categories, word_vectors)  # (C, dim)

    def encode_images(self, images: list[dict]) -> None:
        """Store the (N, C) matrix of the pictures' ``category_scores``."""
        scores = np.stack([np.asarray(image["category_scores"]) for image in images])
        if scores.shape[1] != len(self.categories):
            raise ValueError(
                f"Expected {len(self.categories)} category scores per image; received "
                f"{scores.shape[1]}."
            )
        self.category_scores = scores.astype(np.float64)

    def score(self, queries: list[str]) -> np.ndarray:
        """float (Q, N) Dropbox relevance scores."""
        text = text_lecture()
        rows = []
        for query in queries:
            words = [w for w in query_words(query, STOP_WORDS) if w in self.word_vectors]
            similarity = np.zeros((0, len(self.categories)))
            if words:
                vectors = phrase_vectors(words, self.word_vectors)  # (W, dim)
                similarity = text.cosine_similarity_matrix(vectors, self.category_vectors)
            rows.append(dropbox_scores(similarity, self.category_scores, self.top))
        return np.stack(rows)


# %% [markdown]
# ## Late fusion
#
# Each engine is right about different things; combine them. Their scores live on different
# scales (TF-IDF cosines near 0.3, object matches near 0.8, Dropbox products near 2), so adding
# raw scores lets the largest scale win. Normalise each engine's scores *per query* first:
# min-max maps a row to [0, 1] (a constant row becomes all 0); z-score subtracts the row's mean
# and divides by its standard deviation (a constant row becomes all 0). Then take the weighted
# sum.


# %%
def normalize_scores(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise each row (one query's scores over all pictures) on its own.

    Args:
        scores: (Q, N); method: ``"minmax"`` → (s - min) / (max - min) or ``"zscore"`` →
            (s - mean) / std (population std, ``ddof=0``).

    Returns:
        float64 (Q, N); a constant row (all its scores equal) becomes zeros, also when its
        computed mean or standard deviation rounds off; the scores given are not changed.
    """
    if method not in ("minmax", "zscore"):
        raise ValueError(f"Expected method 'minmax' or 'zscore'; received {method!r}.")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"Expected scores of shape (queries, items); received {scores.shape}.")
    # YOUR CODE HERE
    raise NotImplementedError("normalize_scores: fill in the region marked YOUR CODE HERE")


def fuse_scores(score_list: list, weights=None, method: str = "minmax") -> np.ndarray:
    """Weighted sum of per-query normalised score matrices.

    Args:
        score_list: E matrices (Q, N), one per engine; weights: E floats (default all 1);
        method: passed to ``normalize_scores``.

    Returns:
        float64 (Q, N): ``sum_e weights[e] * normalize_scores(score_list[e], method)``.
    """
    if not score_list:
        raise ValueError("Expected at least one score matrix; received none.")
    weights = [1.0] * len(score_list) if weights is None else list(weights)
    if len(weights) != len(score_list):
        raise ValueError(
            f"Expected one weight per score matrix ({len(score_list)}); received {len(weights)}."
        )
    # YOUR CODE HERE
    raise NotImplementedError("fuse_scores: fill in the region marked YOUR CODE HERE")


class FusionEngine(SearchEngine):
    """Late fusion of several engines: per-query normalised scores, weighted sum.

    Args:
        engines: the engines (not yet indexed); weights: one each; method: "minmax"/"zscore".
    """

    name = "fusion"

    def __init__(self, engines: list, weights=None, method: str = "minmax") -> None:
        super().__init__()
        self.engines, self.weights, self.method = list(engines), weights, method

    def encode_images(self, images: list[dict]) -> None:
        for engine in self.engines:
            engine.index(images)

    def score(self, queries: list[str]) -> np.ndarray:
        scores = [engine.score(list(queries)) for engine in self.engines]
        return fuse_scores(scores, self.weights, self.method)


# %% [markdown]
# ## Evaluating an engine
#
# The competition ranks engines by mAP@10 over a set of text queries whose relevant pictures
# come from the scene graphs (`course_lib.data.relevance`: a picture is relevant when its
# scene graph satisfies the query's graph, not only the picture the query was written for).
# Report mAP@K, MRR (within the top K), mean Recall@K and, with graded relevance, nDCG@K.


# %%
def evaluate_engine(
    engine: SearchEngine,
    queries: list[str],
    relevant: list[set],
    k: int = K,
    graded: list[dict] | None = None,
) -> dict[str, float]:
    """Search every query with ``engine`` (already indexed) and score the rankings.

    Args:
        engine: an indexed ``SearchEngine``; queries: (Q,) texts; relevant: Q sets of relevant
            image ids; k: the cut-off; graded: optional Q dicts id → grade for nDCG. Lists of
            other lengths than ``queries`` raise ValueError.

    Returns:
        ``{"map": mAP@k, "mrr": MRR@k, "recall": mean Recall@k, "precision": mean
        Precision@k}`` plus ``"ndcg"`` (mean nDCG@k) when ``graded`` is given.
    """
    # YOUR CODE HERE
    raise NotImplementedError("evaluate_engine: fill in the region marked YOUR CODE HERE")


# %% [markdown]
# ## Searching the photo collection
#
# Index the val split with each engine, on what the course's models see in the pixels
# (`VISION`; set it to "oracle" for the upper bound of perfect vision), and search it. Runs in
# a notebook or when this file is run as a script (`python 05_search.py`), never on import.

# %%
if should_run_demo(__name__):
    from course_lib.models.pretrained import load_glove_50d

    images = load_collection()
    glove = load_glove_50d()
    by_id = {image["id"]: image for image in images}
    # A query without any relevant picture in this split scores 0 with every engine: skip it.
    graded_queries = [(text, relevance_grades(graph, images)) for text, graph in EXAMPLE_QUERIES]
    graded_queries = [(t, g) for t, g in graded_queries if 2 in g.values()]
    texts = [text for text, _ in graded_queries]
    graded = [grades for _, grades in graded_queries]
    relevant = [{i for i, g in grades.items() if g == 2} for grades in graded]
    engines = {
        "captions (TF-IDF)": CaptionEngine("tfidf"),
        "captions (GloVe)": CaptionEngine("glove", glove),
        "objects (GloVe)": ObjectEngine(glove),
        "classifier (Dropbox)": ClassifierEngine(glove),
        "fusion": FusionEngine(
            [CaptionEngine("tfidf"), ObjectEngine(glove), ClassifierEngine(glove)],
            FUSION_WEIGHTS,
        ),
    }
    for engine in engines.values():
        engine.index(images)
    print(f"{len(images)} pictures; relevant pictures per query:")
    for text, relevant_ids in zip(texts, relevant, strict=True):
        print(f"  {len(relevant_ids):3d}  {text}")
    for name, engine in engines.items():
        report = evaluate_engine(engine, texts, relevant, K, graded)
        print(f"{name:22s} " + "  ".join(f"{m}@{K} {v:.3f}" for m, v in report.items()))
    for text, relevant_ids in zip(texts[:2], relevant[:2], strict=True):
        print(f"\nQuery: {text!r}")
        for name, engine in engines.items():
            print(f"  {name}:")
            for image_id, score in engine.search(text, k=5):
                mark = "relevant" if image_id in relevant_ids else ""
                print(f"    {by_id[image_id]['path'].name}  {score:.3f}  {mark}")
