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

import contextlib
import io
import math
from collections import Counter
from itertools import product

import keras
import numpy as np
import tensorflow as tf

from course_lib.grading.expected import public_tests


def attention(features, hidden, values, mask=None):
    """Additive attention in numpy; a masked location scores -1e9, as the lecture says, so a row
    with no location left gets equal weights everywhere."""
    energy = np.tanh(
        features @ values["features_kernel"]
        + (hidden @ values["hidden_kernel"])[:, None, :]
        + values["bias"]
    )
    scores = energy @ values["score_vector"]  # (batch, locations)
    if mask is not None:
        scores = np.where(np.asarray(mask, bool), scores, -1e9)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return (weights[:, :, None] * features).sum(axis=1), weights


def encoder_forward(w, images, training=False):
    """The encoder of the lecture with ``tf.nn``: (grid, pooled, logits, max-pooled logits).

    ``w``: ``{"blocks": [{"conv": {"kernel"}, "norm": {"gamma", "beta", "moving_mean",
    "moving_variance"}}, ...], "logits": {"kernel", "bias"}}``. In training mode batch norm uses
    the batch's statistics (biased variance, as Keras); dropout is left out (the tests find its
    mask from the logits).
    """
    x = tf.constant(np.asarray(images, np.float32))
    for block in w["blocks"]:
        x = tf.nn.conv2d(x, block["conv"]["kernel"], strides=1, padding="SAME")
        norm = block["norm"]
        if training:
            mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        else:
            mean, variance = norm["moving_mean"], norm["moving_variance"]
        x = tf.nn.batch_normalization(x, mean, variance, norm["beta"], norm["gamma"], 1e-3)
        x = tf.nn.max_pool2d(tf.nn.relu(x), 2, 2, padding="SAME")
    grid = x.numpy()
    pooled, peak = grid.mean(axis=(1, 2)), grid.max(axis=(1, 2))
    head = w["logits"]
    return (
        grid,
        pooled,
        pooled @ head["kernel"] + head["bias"],
        peak @ head["kernel"] + head["bias"],
    )


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
    """One decoding step: (logits, new state, attention weights, [output, context])."""
    context, weights = attention(features, state, w["attention"])
    inputs = np.concatenate([w["embedding"]["embeddings"][tokens], context], axis=-1)
    output, new_state = gru_step(w["cell"], inputs, state)
    hidden = np.concatenate([output, context], axis=-1)
    logits = hidden @ w["output_layer"]["kernel"] + w["output_layer"]["bias"]
    return logits, new_state, weights, hidden


def teacher_forcing(w, features, tokens):
    """Logits, weights and dropout inputs ([output, context]) of the decoder fed the true
    previous word at every step."""
    projected = np.maximum(features @ w["projection"]["kernel"] + w["projection"]["bias"], 0)
    decoder = w["decoder"]
    init = decoder["init_state"]
    state = np.tanh(projected.mean(axis=1) @ init["kernel"] + init["bias"])
    all_logits, all_weights, all_hidden = [], [], []
    for step in range(tokens.shape[1] - 1):
        logits, state, weights, hidden = decoder_step(decoder, tokens[:, step], state, projected)
        all_logits.append(logits)
        all_weights.append(weights)
        all_hidden.append(hidden)
    stacked = (np.stack(values, axis=1) for values in (all_logits, all_weights, all_hidden))
    return tuple(stacked)


class KerasCaptioner:
    """The captioner built from Keras' own layers (Dense, Embedding, GRUCell) carrying named
    weights, differentiable: the reference of the training tests."""

    def __init__(self, w):
        decoder = w["decoder"]
        vocab, embedding = decoder["embedding"]["embeddings"].shape
        units = decoder["cell"]["recurrent_kernel"].shape[0]
        self.projection = keras.layers.Dense(w["projection"]["bias"].shape[0], "relu")
        self.embedding = keras.layers.Embedding(vocab, embedding)
        self.cell = keras.layers.GRUCell(units)
        self.init_state = keras.layers.Dense(units, "tanh")
        self.output_layer = keras.layers.Dense(vocab)
        feature_dim = w["projection"]["kernel"].shape[0]
        projected_dim = w["projection"]["kernel"].shape[1]
        shapes = {
            self.projection: (None, feature_dim),
            self.embedding: (None,),
            self.cell: (None, embedding + projected_dim),
            self.init_state: (None, projected_dim),
            self.output_layer: (None, units + projected_dim),
        }
        for layer, shape in shapes.items():
            layer.build(shape)
        self.projection.set_weights([w["projection"]["kernel"], w["projection"]["bias"]])
        self.embedding.set_weights([decoder["embedding"]["embeddings"]])
        cell = decoder["cell"]
        self.cell.set_weights([cell["kernel"], cell["recurrent_kernel"], cell["bias"]])
        for layer, name in ((self.init_state, "init_state"), (self.output_layer, "output_layer")):
            layer.set_weights([decoder[name]["kernel"], decoder[name]["bias"]])
        self.attention = {
            name: tf.Variable(np.asarray(value, np.float32), name=name)
            for name, value in decoder["attention"].items()
        }
        self.layers = [self.projection, self.embedding, self.cell, self.init_state]
        self.layers.append(self.output_layer)

    @property
    def variables(self):
        layers = [v for layer in self.layers for v in layer.trainable_variables]
        return layers + list(self.attention.values())

    def weights(self):
        """The current values by the tests' names (``_captioner_weights``' layout)."""
        decoder = {
            "embedding": {"embeddings": self.embedding.get_weights()[0]},
            "attention": {name: v.numpy() for name, v in self.attention.items()},
            "cell": dict(
                zip(("kernel", "recurrent_kernel", "bias"), self.cell.get_weights(), strict=True)
            ),
        }
        for layer, name in ((self.init_state, "init_state"), (self.output_layer, "output_layer")):
            decoder[name] = dict(zip(("kernel", "bias"), layer.get_weights(), strict=True))
        projection = dict(zip(("kernel", "bias"), self.projection.get_weights(), strict=True))
        return {"projection": projection, "decoder": decoder}

    def logits(self, features, tokens):
        a = self.attention
        projected = self.projection(tf.constant(features, tf.float32))
        state = self.init_state(tf.reduce_mean(projected, axis=1))
        steps = []
        for step in range(tokens.shape[1] - 1):
            energy = tf.tanh(
                projected @ a["features_kernel"]
                + (state @ a["hidden_kernel"])[:, None, :]
                + a["bias"]
            )
            weights = tf.nn.softmax(tf.linalg.matvec(energy, a["score_vector"]), axis=-1)
            context = tf.reduce_sum(weights[:, :, None] * projected, axis=1)
            inputs = tf.concat([self.embedding(tokens[:, step]), context], axis=-1)
            output, state = self.cell(inputs, state)
            state = state[0] if isinstance(state, list | tuple) else state
            steps.append(self.output_layer(tf.concat([output, context], axis=-1)))
        return tf.stack(steps, axis=1)

    def loss(self, features, tokens):
        targets = tf.constant(tokens[:, 1:], tf.int32)
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=targets, logits=self.logits(features, tokens)
        )
        mask = tf.cast(targets != 0, tf.float32)
        return tf.reduce_sum(per_token * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def train_reference(w, batches, epochs, optimizer):
    """Train ``KerasCaptioner(w)`` on ``batches`` with ``optimizer``: (mean loss of each epoch,
    loss of each step, weights at the end)."""
    model = KerasCaptioner(w)
    epoch_losses, step_losses = [], []
    for _ in range(epochs):
        for features, tokens in batches:
            with tf.GradientTape() as tape:
                loss = model.loss(features, tokens)
            gradients = tape.gradient(loss, model.variables)
            optimizer.apply_gradients(zip(gradients, model.variables, strict=True))
            step_losses.append(float(loss))
        epoch_losses.append(float(np.mean(step_losses[-len(batches) :])))
    return epoch_losses, step_losses, model.weights()


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


def beam(tables, image, beam_width, max_length, alpha, end, start, steps=None):
    """Beam search as the lecture describes it, one image at a time, with plain Python lists.

    ``steps``: a list to which the number of steps run (calls of the step function) is added.
    """
    vocab = tables.shape[-1]
    # A hypothesis: (score, words written, <end> included, finished).
    hypotheses = [(0.0 if slot == 0 else -np.inf, [], False) for slot in range(beam_width)]
    run = 0
    for _ in range(max_length):
        run += 1
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
    if steps is not None:
        steps.append(run)
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
    with contextlib.redirect_stdout(io.StringIO()):  # Its scorer prints its counts.
        return Bleu(4).compute_score(references, res, verbose=0)[0]


def trusted_cider(candidates, references, max_n=4, sigma=6.0):
    """pycocoevalcap's ``Cider``: (mean, per-image scores in the order of ``candidates``)."""
    try:
        from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_refs, cook_test
    except ImportError:
        return cider(candidates, references, max_n, sigma)
    if max_n == 4:  # COCO's own entry point, Cider().compute_score, orders by the references.
        from pycocoevalcap.cider.cider import Cider

        res = {k: [v] for k, v in candidates.items()}
        score, per_image = Cider(n=max_n, sigma=sigma).compute_score(references, res)
        by_image = dict(zip(references, per_image, strict=True))
        return float(score), np.array([by_image[k] for k in candidates], dtype=np.float64)
    # Cider(n=...) cooks its captions with n = 4 whatever n says (an IndexError for n < 4), so
    # the scorer is filled with captions cooked at max_n.
    scorer = CiderScorer(n=max_n, sigma=sigma)
    for key, caption in candidates.items():
        scorer.crefs.append(cook_refs(references[key], max_n))
        scorer.ctest.append(cook_test(caption, max_n))
    score, per_image = scorer.compute_score()
    return float(score), np.asarray(per_image, dtype=np.float64)


def lecture_bleu(candidates, references):
    """COCO's BLEU-1..4, with 0 for an order that has no candidate n-gram or no match anywhere
    in the corpus (and for the orders above it), as the lecture's docstring says: COCO's scorer
    divides (matches + 1e-15) by (n-grams + 1e-9) and leaves a small positive value there."""
    scores = list(trusted_bleu(candidates, references))
    correct, guessed = Counter(), Counter()
    for key, caption in candidates.items():
        words = caption.split()
        best = Counter()
        for ref in references[key]:
            best |= _grams(ref.split(), 4)
        for gram, count in _grams(words, 4).items():
            correct[len(gram)] += min(count, best[gram])
        for n in range(1, 5):
            guessed[n] += max(len(words) - n + 1, 0)
    for n in range(1, 5):
        if correct[n] == 0 or guessed[n] == 0:
            scores[n - 1 :] = [0.0] * (5 - n)
            break
    return [float(x) for x in scores]


def expected():
    """The reference's values on the public tests' fixed inputs and named weights."""
    t = public_tests("06")
    values = {}
    w = t._encoder_weights()
    grid, _, logits, max_logits = encoder_forward(w, t._encoder_images())
    train_grid, train_pooled, _, _ = encoder_forward(w, t._encoder_images(), training=True)
    values["encoder"] = {
        "grid": grid,
        "logits": logits,
        "max_logits": max_logits,
        "train_grid": train_grid,
        "train_pooled": train_pooled,
    }
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
    tokens, state, features = t._decoder_inputs()
    logits, new_state, weights, hidden = decoder_step(t._decoder_weights(), tokens, state, features)
    values["decoder_step"] = {
        "logits": logits,
        "state": new_state,
        "weights": weights,
        "hidden": hidden,
    }
    targets, logits = t._loss_inputs()
    ones = np.where(targets == 0, 1, targets)
    values["masked_loss"] = {
        "out": masked_loss(targets, logits),
        "unmasked": masked_loss(targets, logits, pad_id=-1),
        "pad_1": masked_loss(ones, logits, pad_id=1),
    }
    targets, logits, _ = t._padding_inputs()
    values["masked_loss_padding"] = masked_loss(targets, logits)
    values["masked_loss_extreme"] = masked_loss(*t._extreme_loss_inputs())
    features, tokens = t._teacher_inputs()
    logits, weights, _ = teacher_forcing(t._captioner_weights(13, 1), features, tokens)
    values["teacher_forcing"] = {"logits": logits, "weights": weights}
    logits, weights, hidden = teacher_forcing(t._captioner_weights(16, 4), features, tokens)
    values["teacher_forcing_dropout"] = {"logits": logits, "weights": weights, "hidden": hidden}
    features, tokens = t._toy_captions()
    halves = [(features[:4], tokens[:4]), (features[4:], tokens[4:])]
    _, step_losses, weights = train_reference(
        t._captioner_weights(9, 2), halves, 1, keras.optimizers.SGD(0.5)
    )
    values["train_step"] = {"losses": step_losses, "weights": weights}
    quiet = teacher_forcing(t._captioner_weights(9, 3), features, tokens)[0]
    values["train_step_noisy_quiet"] = masked_loss(tokens[:, 1:], quiet)
    batches = [(features[i : i + 2], tokens[i : i + 2]) for i in range(0, len(features), 2)]
    clipped = keras.optimizers.Adam(0.05, global_clipnorm=5.0)
    losses, _, _ = train_reference(t._captioner_weights(9, 2), batches, 3, clipped)
    plain, _, _ = train_reference(
        t._captioner_weights(9, 2), batches, 1, keras.optimizers.Adam(0.05)
    )
    values["train_captioner"] = {"losses": losses, "first_without_clipping": plain[0]}
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
    tables = t._as_second_order(t.TIES, t.ENDS_FIRST, t.END_SOON)
    values["beam_boundaries"] = {}
    for width, alpha, length in t.BEAM_BOUNDARIES:
        steps = []
        captions = [beam(tables, i, width, length, alpha, t.END, t.START, steps) for i in range(3)]
        values["beam_boundaries"][f"{width}-{alpha}-{length}"] = {
            "captions": captions,
            "steps": max(steps),  # The batch runs until its last image has finished.
        }
    words = ["Café", "café", "猫", "naïve", "café", "猫", "x"]
    values["ngram_counts"] = {" ".join(gram): count for gram, count in _grams(words, 4).items()}
    candidates, references = t._caption_corpus()
    values["corpus_bleu"] = trusted_bleu(candidates, references)
    candidates, references = t._caption_corpus(images=20, seed=5)
    score, per_image = trusted_cider(candidates, references)
    values["cider_d"] = {
        "score": score,
        "per_image": per_image,
        "sigma_2": trusted_cider(candidates, references, sigma=2.0)[0],
    }
    values["bleu_edges"], values["cider_edges"] = {}, {}
    for name, (candidates, references) in t._edge_corpora().items():
        values["bleu_edges"][name] = lecture_bleu(candidates, references)
        score, per_image = trusted_cider(candidates, references)
        values["cider_edges"][name] = {"score": score, "per_image": per_image}
    candidates, references = t._edge_corpora()["non_ascii"]
    values["cider_edges"]["max_n_2_sigma_3"] = trusted_cider(candidates, references, 2, 3.0)[0]
    return values
