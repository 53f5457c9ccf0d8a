"""Lecture 06's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs and named weights of the public tests
(``tests/autograder/test_06_captioning.py``, whose seeded builders it reuses) and ``camp
generate`` writes the result to ``tests/autograder/expected/06_captioning.json``; the hidden
tests (``test_06_captioning_hidden.py``) compare the student's code with them on other inputs.
The references: numpy, Keras' own GRUCell, an exhaustive search over every sequence, a beam
search written with plain Python lists, and pycocoevalcap's ``Bleu(4)`` and ``Cider()``
scorers (where pycocoevalcap is not installed, transcriptions of them written here).
"""

import math
from collections import Counter
from itertools import product

import keras
import numpy as np

from course_lib.grading.expected import public_tests


def attention(features, hidden, values, mask=None):
    energy = np.tanh(
        features @ values["features_kernel"]
        + (hidden @ values["hidden_kernel"])[:, None, :]
        + values["bias"]
    )
    scores = energy @ values["score_vector"]  # (batch, locations)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return (weights[:, :, None] * features).sum(axis=1), weights


def gru_step(values, inputs, state):
    """Keras' own GRUCell with ``values`` (kernel, recurrent_kernel, bias)."""
    cell = keras.layers.GRUCell(state.shape[-1])
    cell.build((None, inputs.shape[-1]))
    cell.set_weights([values["kernel"], values["recurrent_kernel"], values["bias"]])
    output, new_state = cell(inputs.astype(np.float32), state.astype(np.float32))
    return np.asarray(output), np.asarray(
        new_state[0] if isinstance(new_state, list) else new_state
    )


def decoder_step(w, tokens, state, features):
    """One decoding step: (logits, new state, attention weights)."""
    context, weights = attention(features, state, w["attention"])
    inputs = np.concatenate([w["embedding"]["embeddings"][tokens], context], axis=-1)
    output, new_state = gru_step(w["cell"], inputs, state)
    hidden = np.concatenate([output, context], axis=-1)
    logits = hidden @ w["output_layer"]["kernel"] + w["output_layer"]["bias"]
    return logits, new_state, weights


def teacher_forcing(w, features, tokens):
    """Logits and weights of the decoder fed the true previous word at every step."""
    projected = np.maximum(features @ w["projection"]["kernel"] + w["projection"]["bias"], 0)
    decoder = w["decoder"]
    init = decoder["init_state"]
    state = np.tanh(projected.mean(axis=1) @ init["kernel"] + init["bias"])
    all_logits, all_weights = [], []
    for step in range(tokens.shape[1] - 1):
        logits, state, weights = decoder_step(decoder, tokens[:, step], state, projected)
        all_logits.append(logits)
        all_weights.append(weights)
    return np.stack(all_logits, axis=1), np.stack(all_weights, axis=1)


def masked_loss(targets, logits, pad_id=0):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    mask = targets != pad_id
    return float((nll * mask).sum() / max(mask.sum(), 1))


def greedy(tables, image, max_length, end, start):
    before, previous, words = start, start, []
    for _ in range(max_length):
        token = int(np.argmax(tables[image, before, previous]))
        if token == end:
            break
        words.append(token)
        before, previous = previous, token
    return words


def beam(tables, image, beam_width, max_length, alpha, end, start):
    """Beam search as the lecture describes it, one image at a time, with plain Python lists."""
    vocab = tables.shape[-1]
    # A hypothesis: (score, words written, <end> included, finished).
    hypotheses = [(0.0 if slot == 0 else -np.inf, [], False) for slot in range(beam_width)]
    for _ in range(max_length):
        candidates = []
        for slot, (score, words, finished) in enumerate(hypotheses):
            before, previous = ([start, start] + words)[-2:]
            for token in range(vocab):
                if finished:
                    gain = 0.0 if token == end else -np.inf
                else:
                    gain = tables[image, before, previous, token]
                key = (-(score + gain), slot, token)  # Ties: the lower slot, then the lower id.
                candidates.append((key, score + gain, words + [token], finished or token == end))
        candidates.sort(key=lambda c: c[0])
        hypotheses = [(s, w, f) for _, s, w, f in candidates[:beam_width]]
        if all(finished for _, _, finished in hypotheses):
            break
    best, best_score = None, -np.inf
    for score, words, _ in hypotheses:
        length = words.index(end) + 1 if end in words else len(words)
        normalised = score / length**alpha
        if best is None or normalised > best_score:
            best, best_score = words[: length - (end in words)], normalised
    return best


def brute_force_best(tables, image, max_length, alpha, end, start):
    """The best length-normalised sequence of one image among all sequences (exhaustive)."""
    vocab = tables.shape[-1]
    best, best_score = None, -np.inf
    for length in range(1, max_length + 1):
        for words in product(range(vocab), repeat=length):
            if end in words[:-1]:
                continue  # A sequence stops at its first <end>.
            before, previous, total = start, start, 0.0
            for token in words:
                total += tables[image, before, previous, token]
                before, previous = previous, token
            if words[-1] != end and length < max_length:
                continue  # Unfinished sequences only count at max_length.
            score = total / length**alpha
            if score > best_score + 1e-12:
                best, best_score = [t for t in words if t != end], score
    return best


def _grams(words, max_n):
    return Counter(
        tuple(words[i : i + n]) for n in range(1, max_n + 1) for i in range(len(words) - n + 1)
    )


def bleu(candidates, references, max_n=4):
    """BLEU as pycocoevalcap's BleuScorer computes it (option 'closest')."""
    tiny, small = 1e-15, 1e-9
    correct, guess, test_length, ref_length = [0] * max_n, [0] * max_n, 0, 0
    for key, caption in candidates.items():
        words = caption.split()
        counts, max_counts, lengths = _grams(words, max_n), Counter(), []
        for ref in references[key]:
            lengths.append(len(ref.split()))
            max_counts |= _grams(ref.split(), max_n)
        test_length += len(words)
        ref_length += min((abs(length - len(words)), length) for length in lengths)[1]
        for gram, count in counts.items():
            correct[len(gram) - 1] += min(max_counts[gram], count)
        for n in range(max_n):
            guess[n] += max(0, len(words) - n)
    scores, product_so_far = [], 1.0
    for n in range(max_n):
        product_so_far *= (correct[n] + tiny) / (guess[n] + small)
        scores.append(product_so_far ** (1.0 / (n + 1)))
    ratio = (test_length + tiny) / (ref_length + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def cider(candidates, references, max_n=4, sigma=6.0):
    """CIDEr-D as pycocoevalcap's CiderScorer computes it: (mean, per image)."""
    keys = list(candidates)
    ref_counts = {k: [_grams(r.split(), max_n) for r in references[k]] for k in keys}
    df = Counter(g for k in keys for g in set().union(*ref_counts[k]))
    log_n = np.log(float(len(keys)))

    def vec(counts):
        v = [{} for _ in range(max_n)]
        norm, length = np.zeros(max_n), 0
        for gram, tf_ in counts.items():
            n = len(gram) - 1
            v[n][gram] = tf_ * (log_n - np.log(max(1.0, df[gram])))
            norm[n] += v[n][gram] ** 2
            length += tf_ if n == 1 else 0
        return v, np.sqrt(norm), length

    scores = []
    for k in keys:
        v_h, n_h, l_h = vec(_grams(candidates[k].split(), max_n))
        total = np.zeros(max_n)
        for counts in ref_counts[k]:
            v_r, n_r, l_r = vec(counts)
            for n in range(max_n):
                val = sum(
                    min(w, v_r[n].get(g, 0.0)) * v_r[n].get(g, 0.0) for g, w in v_h[n].items()
                )
                if n_h[n] != 0 and n_r[n] != 0:
                    val /= n_h[n] * n_r[n]
                total[n] += val * np.e ** (-((l_h - l_r) ** 2) / (2 * sigma**2))
        scores.append(total.mean() / len(ref_counts[k]) * 10.0)
    return float(np.mean(scores)), np.array(scores)


def trusted_bleu(candidates, references):
    try:
        from pycocoevalcap.bleu.bleu import Bleu
    except ImportError:
        return bleu(candidates, references)
    res = {k: [v] for k, v in candidates.items()}
    return Bleu(4).compute_score(references, res, verbose=0)[0]


def trusted_cider(candidates, references):
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        return cider(candidates, references)
    res = {k: [v] for k, v in candidates.items()}
    score, per_image = Cider().compute_score(references, res)
    return float(score), np.asarray(per_image, dtype=np.float64)


def expected():
    """The reference's values on the public tests' fixed inputs and named weights."""
    t = public_tests("06")
    values = {}
    grid = t._rng(2).normal(size=(2, 3, 4, 5))
    values["flatten_grid"] = {
        "out": grid.reshape(2, 12, 5),
        "columns": grid.transpose(0, 2, 1, 3).reshape(2, 12, 5),
    }
    for name, seed, masked in (("attention", 5, False), ("attention_mask", 8, True)):
        features, hidden, attention_values = t._attention_inputs(seed=seed)
        mask = t._attention_mask() if masked else None
        context, weights = attention(features, hidden, attention_values, mask)
        values[name] = {"context": context, "weights": weights}
    weights = t._decoder_weights()
    tokens, state, features = t._decoder_inputs()
    logits, new_state, attention_weights = decoder_step(weights, tokens, state, features)
    values["decoder_step"] = {"logits": logits, "state": new_state, "weights": attention_weights}
    targets, logits = t._loss_inputs()
    ones = np.where(targets == 0, 1, targets)
    values["masked_loss"] = {
        "out": masked_loss(targets, logits),
        "unmasked": masked_loss(targets, logits, pad_id=-1),
        "pad_1": masked_loss(ones, logits, pad_id=1),
    }
    targets, logits, _ = t._padding_inputs()
    values["masked_loss_padding"] = masked_loss(targets, logits)
    features, tokens = t._teacher_inputs()
    logits, attention_weights = teacher_forcing(t._captioner_weights(13, 1), features, tokens)
    values["teacher_forcing"] = {"logits": logits, "weights": attention_weights}
    features, tokens = t._toy_captions()
    values["train_step"] = {
        "first": masked_loss(
            tokens[:, 1:], teacher_forcing(t._captioner_weights(9, 2), features, tokens)[0]
        ),
        "noisy_quiet": masked_loss(
            tokens[:, 1:], teacher_forcing(t._captioner_weights(9, 3), features, tokens)[0]
        ),
    }
    tables = t._second_order_tables(images=3, vocab=4, seed=1)
    values["greedy_decode"] = [greedy(tables, image, 6, t.END, t.START) for image in range(3)]
    tables = t._second_order_tables(images=3, vocab=4, seed=4, end_bias=1.0)
    values["beam_exhaustive"] = [
        brute_force_best(tables, image, 3, 0.7, t.END, t.START) for image in range(3)
    ]
    values["beam"] = {}
    for seed, end_bias in t.BEAM_TABLES:
        tables = t._second_order_tables(images=4, vocab=4, seed=seed, end_bias=end_bias)
        values["beam"][str(seed)] = {
            f"{width}-{alpha}": [beam(tables, i, width, 6, alpha, t.END, t.START) for i in range(4)]
            for width, alpha in t.BEAM_SETTINGS
        }
    candidates, references = t._caption_corpus()
    values["corpus_bleu"] = trusted_bleu(candidates, references)
    candidates, references = t._caption_corpus(images=20, seed=5)
    score, per_image = trusted_cider(candidates, references)
    values["cider_d"] = {
        "score": score,
        "per_image": per_image,
        "sigma_2": cider(candidates, references, sigma=2.0)[0],
    }
    return values
