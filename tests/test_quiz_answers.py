"""Every question of the bank, rendered for every parameter combination, against an independent
answer (numpy, plain loops, the lecture's definitions), so a wrong ``answer_formula`` fails.

Parametrised numeric questions are rendered for every combination of their parameters when there
are at most ``EXHAUSTIVE`` of them, else for their corners and a seeded sample (``SAMPLE`` in all).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import numpy as np
import pytest

from course_lib.quiz import formula
from course_lib.quiz.bank import load_bank
from course_lib.quiz.render import LETTERS, is_correct, normalise_text, parse_response, render

EXHAUSTIVE = 1100
SAMPLE = 50


def softmax(z) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


def cosine(u, v) -> float:
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def ap_at_k(relevance, m: int, k: int) -> float:
    """Kaggle's AP@K: the precision at each relevant rank within K, summed, over min(m, K)."""
    hits, total = 0, 0.0
    for rank, rel in enumerate(relevance[:k], start=1):
        if rel:
            hits += 1
            total += hits / rank
    return total / min(m, k)


def ndcg_at_k(relevance, m: int, k: int) -> float:
    dcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(relevance[:k]))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(m, k)))
    return dcg / ideal


def receptive_field(layers) -> int:
    """Walk (kernel, stride) pairs from the input: r grows by (k − 1)·jump."""
    r, jump = 1, 1
    for k, s in layers:
        r, jump = r + (k - 1) * jump, jump * s
    return r


def positions(length: int, window: int, stride: int) -> int:
    """How many windows fit, counted by sliding one (no output-size formula)."""
    return len(range(0, length - window + 1, stride))


def hit_list(first_hit: int, length: int = 10) -> list[int]:
    return [int(i == first_hit - 1) for i in range(length)]


def skipgram_pairs(n: int, w: int) -> int:
    return sum(1 for c in range(n) for o in range(n) if 0 < abs(c - o) <= w)


def jaccard(a: int, b: int, i: int) -> float:
    first, second = set(range(a)), set(range(a - i, a - i + b))
    return len(first & second) / len(first | second)


def masked_mean(r: int, s: int, p: int) -> float:
    losses = np.r_[np.full(r, s / r), np.full(p, 99.0)]  # Padding losses must not count.
    mask = np.r_[np.ones(r), np.zeros(p)]
    return float((losses * mask).sum() / mask.sum())


def clipped_unigram_precision(candidate: str, reference: str) -> float:
    cand, ref = Counter(candidate.split()), Counter(reference.split())
    return sum(min(n, ref[w]) for w, n in cand.items()) / sum(cand.values())


def recall(m: int, r: int) -> float:
    relevant = set(range(m))
    top10 = list(range(r)) + [100 + i for i in range(10 - r)]
    return len(relevant & set(top10)) / len(relevant)


def one_hot(index: int, size: int) -> np.ndarray:
    v = np.zeros(size)
    v[index] = 1
    return v


# Parametrised questions: p holds the drawn parameters.
FORMULAS = {
    "00-scores-per-query": lambda p: np.zeros((p["n"], p["c"])).size,
    "01-dense-params": lambda p: p["n_in"] * p["n_out"] + p["n_out"],
    "01-relu-value": lambda p: float(np.maximum(p["x"], 0)),
    "01-softmax-two": lambda p: softmax([p["a"], p["b"]])[0],
    "01-cross-entropy-value": lambda p: -np.log(p["p"] / 100),
    "01-cross-entropy-uniform": lambda p: -np.log(softmax(np.zeros(p["c"]))[0]),
    "01-backprop-chain": lambda p: (
        (((p["w"] + 1e-3) * p["x"]) ** 2 - ((p["w"] - 1e-3) * p["x"]) ** 2) / 2e-3
    ),
    "01-sgd-step": lambda p: p["w"] - p["lr"] * p["g"],
    "01-steps-per-epoch": lambda p: len(range(0, p["n"], p["b"])),
    "02-conv-1d-value": lambda p: np.correlate([p["a"], p["b"], p["c"]], [1, 0, -1], "valid")[0],
    "02-conv-output-size": lambda p: positions(p["h"] + 2 * p["p"], p["k"], p["s"]),
    "02-same-padding": lambda p: next(
        pad for pad in range(10) if positions(20 + 2 * pad, p["k"], 1) == 20
    ),
    "02-same-stride-two": lambda p: len(range(0, p["h"], 2)),
    "02-pool-output-size": lambda p: positions(p["h"], p["q"], p["q"]),
    "02-maxpool-value": lambda p: np.max([[p["a"], p["b"]], [p["c"], p["d"]]]),
    "02-receptive-field-stack": lambda p: receptive_field([(p["k"], 1)] * p["n"]),
    "02-conv-params": lambda p: p["k"] * p["k"] * p["c_in"] * p["c_out"] + p["c_out"],
    "02-dense-on-pixels": lambda p: p["h"] * p["h"] * 3 * p["u"] + p["u"],
    "02-flatten-length": lambda p: np.zeros((p["h"], p["h"], p["c"])).reshape(-1).size,
    "03-vgg-two-3x3": lambda p: 2 * (3 * 3 * p["c"] * p["c"]),
    "03-resnet-projection-params": lambda p: 1 * 1 * p["c_in"] * p["c_out"],
    "03-inception-concat": lambda p: np.concatenate(
        [np.zeros((4, 4, p[name])) for name in "abcd"], axis=-1
    ).shape[-1],
    "03-separable-params": lambda p: p["k"] * p["k"] * p["c_in"] + p["c_in"] * p["c_out"],
    "03-expansion-channels": lambda p: p["c"] * p["t"],
    # The lecture's layer_multiply_adds for Conv2D: H'·W'·F · kh·kw·C, one FLOP per multiply-add.
    "03-conv-macs": lambda p: (p["h"] * p["h"]) * p["c_out"] * (p["k"] * p["k"]) * p["c_in"],
    "03-global-pool-length": lambda p: np.zeros((p["h"], p["h"], p["c"])).mean(axis=(0, 1)).size,
    "04-one-hot-length": lambda p: one_hot(0, p["v"]).size,
    "04-tfidf-weight": lambda p: p["tf"] * (np.log(p["n"]) - np.log(p["df"])),
    "04-cosine-2d": lambda p: cosine([p["a"], p["b"]], [p["c"], p["d"]]),
    "04-jaccard": lambda p: jaccard(p["a"], p["b"], p["i"]),
    "04-skipgram-pairs": lambda p: skipgram_pairs(p["n"], p["w"]),
    "04-sif-weight": lambda p: 1e-3 / (1e-3 + p["p"] * 1e-4),
    "04-pc-removal-value": lambda p: (
        np.array([p["a"], p["b"]])
        - (np.array([p["a"], p["b"]]) @ [0.6, 0.8]) * np.array([0.6, 0.8])
    )[0],
    "04-temperature-value": lambda p: softmax(np.array([p["a"], 0]) / p["t"])[0],
    "05-precision-at-k": lambda p: np.mean(([1] * p["r"] + [0] * p["k"])[: p["k"]]),
    "05-recall-at-k": lambda p: recall(p["m"], p["r"]),
    "05-ap-single-hit": lambda p: ap_at_k(hit_list(p["r"]), 1, 10),
    "05-mrr": lambda p: np.mean(
        [1 / (np.argmax(hit_list(p[q])) + 1) for q in "abc"],
    ),
    "05-dropbox-score": lambda p: float(
        np.dot([0.8, 0.1, 0.3], np.array([p["a"], p["b"], p["c"]]) / 10)
    ),
    "05-fusion-score": lambda p: (p["w"] / 10) * (p["a"] / 10) + (1 - p["w"] / 10) * (p["b"] / 10),
    "05-public-count": lambda p: p["n"] - p["n"] * p["p"] / 100,
    "06-grid-locations": lambda p: np.zeros((p["h"], p["h"], p["c"])).reshape(-1, p["c"]).shape[0],
    "06-attention-softmax": lambda p: softmax([p["a"], p["b"], 0])[0],
    "06-context-length": lambda p: (softmax(np.zeros(49)) @ np.zeros((49, p["c"]))).size,
    "06-decoder-output-params": lambda p: p["u"] * p["v"] + p["v"],
    "06-masked-mean": lambda p: masked_mean(p["r"], p["s"], p["p"]),
    "06-beam-candidates": lambda p: np.zeros((p["b"], p["v"])).size,
    "06-length-normalised-score": lambda p: -p["s"] / p["n"],
    # The lecture's corpus_bleu: brevity = min(1, e^(1 − r/c)), c candidate, r reference words.
    "06-bleu-brevity": lambda p: min(1.0, math.exp(1 - p["r"] / p["c"])),
    "08-l2-norm-value": lambda p: (
        float(np.array([p["a"], p["b"]]) @ [1, 0]) / float(np.linalg.norm([p["a"], p["b"]]))
    ),
    "08-logits-shape": lambda p: np.zeros((p["b"], p["b"])).size,
    "08-negatives-per-pair": lambda p: int((1 - np.eye(p["b"]))[0].sum()),
    "08-chance-loss": lambda p: -math.log(softmax(np.zeros(p["b"]))[0]),
    "08-clip-max": lambda p: 1 / float(np.exp(np.clip(p["s"], 0, math.log(100)))),
    "08-image-tower-grid": lambda p: np.zeros((64, 64))[:: 2 ** p["n"], :: 2 ** p["n"]].shape[0],
    "08-zero-shot-softmax": lambda p: softmax(np.array([0.30, 0.20]) / p["t"])[0],
}

# Questions with a fixed answer whose value can be recomputed from the text.
FIXED = {
    "01-sigmoid-zero": 1 / (1 + math.exp(-0)),
    "01-softmax-sum": float(softmax(np.arange(10.0)).sum()),
    "02-receptive-field-pool": receptive_field([(3, 1), (2, 2), (3, 1)]),
    "03-vgg-receptive-field": receptive_field([(3, 1)] * 3),
    "04-one-hot-cosine": cosine(one_hot(3, 10), one_hot(7, 10)),
    "04-idf-everywhere": 3 * math.log(500 / 500),
    "05-ap-at-k": ap_at_k([1, 0, 1, 0, 0], m=2, k=5),
    "05-ap-at-k-missed": ap_at_k([0, 1, 0], m=4, k=3),
    "05-map": float(np.mean([1.0, 0.7, 0.1])),
    "05-ndcg": ndcg_at_k([0, 1, 1], m=2, k=3),
    "06-attention-sum": float(softmax([0.3, -1.2, 2.0, 0.0]).sum()),
    "06-bleu-clipping": clipped_unigram_precision("the the the the", "the cat is on the mat"),
    "08-temperature-scale": 1 / 0.07,
}

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}
_DECIMALS = re.compile(r"\b(one|two|three|four|\d) decimals?\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def combinations(q) -> list[dict]:
    """Every parameter combination, or the corners and a seeded sample (``SAMPLE`` in all)."""
    if not q.params:
        return [{}]
    if formula.grid_size(q.params) <= EXHAUSTIVE:
        return formula.grid(q.params)
    rng = random.Random(f"answers:{q.id}")
    combos = formula.corners(q.params)[: SAMPLE // 2]
    while len(combos) < SAMPLE:
        combos.append(formula.draw(q.params, rng))
    return combos


def asked_decimals(text: str) -> int | None:
    """The number of decimals a question asks for ("Three decimals", "to 3 decimals"), if any."""
    match = _DECIMALS.search(text)
    if match is None:
        return None
    word = match.group(1).lower()
    return _WORDS[word] if word in _WORDS else int(word)


def numeric_problems(q) -> list[str]:
    """Every rendered instance of ``q`` whose answer disagrees with the reference."""
    problems = []
    for values in combinations(q):
        r = render(q, 0, values=values) if q.params else render(q, 0)
        if q.id in FORMULAS:
            expected = float(FORMULAS[q.id](dict(r.params)))
            if not math.isclose(expected, r.value, rel_tol=1e-7, abs_tol=1e-9):
                problems.append(f"{q.id} {dict(r.params)}: answer {r.value}, expected {expected}")
        else:
            expected = float(FIXED[q.id])
            if not is_correct(r, expected):
                problems.append(f"{q.id}: keyed {r.value} ± {r.tolerance}, exact {expected}")
        decimals = asked_decimals(r.text)
        if decimals is not None and not is_correct(r, round(r.value, decimals)):
            problems.append(f"{q.id} {dict(r.params)}: {decimals} decimals are not accepted")
        if decimals is None and abs(r.value * 1e4 - round(r.value * 1e4)) > 1e-6:
            problems.append(f"{q.id} {dict(r.params)}: {r.value} needs a rounding instruction")
    return problems


def test_every_numeric_question_has_an_independent_answer(bank):
    numeric = {q.id for q in bank.questions() if q.kind == "numeric"}
    parametrised = {q.id for q in bank.questions() if q.kind == "numeric" and q.parametrised}
    assert parametrised <= set(FORMULAS), sorted(parametrised - set(FORMULAS))
    assert set(FORMULAS) | set(FIXED) <= numeric, sorted(set(FORMULAS) | set(FIXED) - numeric)
    assert len(FIXED) >= 10


def test_every_parametrised_question_renders_every_combination(bank):
    for q in bank.questions():
        if not q.params:
            continue
        combos, size = combinations(q), formula.grid_size(q.params)
        assert len(combos) == (size if size <= EXHAUSTIVE else SAMPLE), q.id
        for values in combos:
            r = render(q, 0, values=values)
            assert dict(r.params) == values, q.id
            assert not re.search(r"\{\w+\}", r.text + r.explanation), q.id
            assert r.text == q.text.format(**{k: str(v) for k, v in values.items()}), q.id


@pytest.mark.parametrize("qid", sorted(FORMULAS) + sorted(FIXED))
def test_numeric_answer_matches_the_reference(bank, qid):
    q = bank.by_id()[qid]
    assert numeric_problems(q) == []


@pytest.mark.parametrize(
    ("qid", "wrong"),
    [
        ("02-conv-output-size", "floor((h + p - k) / s) + 1"),
        ("02-pool-output-size", "ceil(h / q)"),
        ("01-softmax-two", "exp(b) / (exp(a) + exp(b))"),
        ("06-attention-softmax", "exp(a) / (exp(a) + exp(b))"),
        ("05-ap-single-hit", "1 / (r + 1)"),
        ("04-cosine-2d", "(a * c + b * d) / (a * a + b * b)"),
        ("03-conv-macs", "2 * h * h * k * k * c_in * c_out"),
    ],
)
def test_a_wrong_formula_is_caught(bank, qid, wrong):
    q = bank.by_id()[qid].model_copy(update={"answer_formula": wrong})
    assert numeric_problems(q), f"{qid}: the wrong formula {wrong!r} went unnoticed"


def test_a_wrong_fixed_answer_or_a_missing_rounding_instruction_is_caught(bank):
    ap = bank.by_id()["05-ap-at-k"]
    assert numeric_problems(ap.model_copy(update={"answer": 0.75}))
    recall = bank.by_id()["05-recall-at-k"]
    unrounded = recall.text.replace("(Three decimals.)", "")
    assert numeric_problems(recall.model_copy(update={"text": unrounded}))
    assert numeric_problems(recall.model_copy(update={"text": recall.text.replace("Three", "Two")}))


def test_choice_and_text_questions_render_their_key(bank):
    for q in bank.questions():
        if q.kind in ("single", "multiple"):
            for shuffle in (False, True):
                r = render(q, 0, shuffle=shuffle)
                assert sorted(r.choices) == sorted(q.choices), q.id
                assert {r.choices[i] for i in r.correct} == set(q.accepted), q.id
                letters = ",".join(LETTERS[i] for i in r.correct)
                assert is_correct(r, parse_response(r, letters)), q.id
        elif q.kind == "text":
            r = render(q, 0)
            for accepted in q.accepted:
                assert is_correct(r, parse_response(r, accepted)), (q.id, accepted)
                assert is_correct(r, parse_response(r, f"  {accepted.upper()}. ")), (q.id, accepted)
                assert normalise_text(accepted), (q.id, accepted)
