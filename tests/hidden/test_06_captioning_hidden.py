"""Hidden tests of Lecture 06 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_06_captioning.py``, whose helpers they reuse); their messages never
reach students. The references (``references_06.py``): numpy attention, Keras' GRUCell, the
decoder's own sublayers, ``tf.nn`` for the encoder, a captioner of Keras layers trained with a
GradientTape, beam search with Python lists, and COCO's caption metrics (pycocoevalcap). The
property tests draw their inputs with Hypothesis under ``GRADING`` (derandomised).
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.grading.access import arguments_after, float_errors_raised, library, type_name
from course_lib.grading.compare import assert_close, plain_array
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_06.py"))
public = public_tests("06")


@pytest.mark.points(1, hint="Attention with other sizes.", section="attention")
def test_attention_on_other_inputs(sub):
    layer, features, hidden, values = public._attention_layer(sub, 4, 3, 6, seed=40)
    mask = public._rng(41).random((3, 10)) < 0.5
    mask[:, 3] = True
    for attention_mask in (None, mask):
        context, weights = layer(features, hidden, attention_mask=attention_mask)
        expected_context, expected_weights = ref.attention(features, hidden, values, attention_mask)
        np.testing.assert_allclose(np.asarray(weights), expected_weights, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.asarray(context), expected_context, rtol=1e-4, atol=1e-5)


@pytest.mark.points(1, hint="The decoder and teacher forcing with their own weights.",
                    section="decoder")  # fmt: skip
def test_decoder_and_teacher_forcing_with_their_own_weights(sub):
    model = public._tiny_captioner(sub, vocab=10)
    rng = public._rng(42)
    features = rng.normal(size=(3, 4, 3)).astype("float32")
    tokens = np.array([[1, 4, 6, 2, 0], [1, 9, 8, 7, 2], [1, 2, 0, 0, 0]], np.int32)
    logits, weights = sub.teacher_forcing_logits(model, features, tokens)
    projected = model.encode(features)
    state = model.decoder.initial_state(projected)
    for step in range(4):
        context, expected_weights = model.decoder.attention(projected, state)
        cell_inputs = tf.concat([model.decoder.embedding(tokens[:, step]), context], axis=-1)
        output, state = model.decoder.cell(cell_inputs, state)
        expected = model.decoder.output_layer(tf.concat([output, context], axis=-1))
        np.testing.assert_allclose(np.asarray(logits)[:, step], np.asarray(expected), atol=1e-5)
        np.testing.assert_allclose(np.asarray(weights)[:, step], np.asarray(expected_weights),
                                   atol=1e-5)  # fmt: skip
    loss = float(np.asarray(sub.masked_loss(tokens[:, 1:], logits)))
    assert loss == pytest.approx(ref.masked_loss(tokens[:, 1:], np.asarray(logits)), rel=1e-5)


@pytest.mark.points(1, hint="Decoding other tables.", section="beam_search")
def test_decoding_other_tables(sub):
    tables = public._second_order_tables(images=3, vocab=5, seed=43, end_bias=0.5)
    step_fn = public._second_order_step(tables)
    state = (np.arange(3), np.full(3, public.START))
    start, end = public.START, public.END
    greedy = public._rows(sub.greedy_decode(step_fn, state, start, end, max_length=5))
    assert greedy == [ref.greedy(tables, i, 5, end, start) for i in range(3)]
    for width, alpha in ((2, 0.5), (4, 1.0)):
        out = public._rows(sub.beam_search(step_fn, state, start, end, width, 5, alpha))
        assert out == [ref.beam(tables, i, width, 5, alpha, end, start) for i in range(3)]


@pytest.mark.points(1, hint="Caption metrics of another corpus.", section="metrics")
def test_caption_metrics_on_another_corpus(sub):
    candidates, references = public._caption_corpus(images=16, seed=44)
    received = [float(np.asarray(x)) for x in sub.corpus_bleu(candidates, references)]
    np.testing.assert_allclose(received, ref.trusted_bleu(candidates, references), atol=1e-6)
    score, per_image = sub.cider_d(candidates, references)
    expected, expected_per_image = ref.trusted_cider(candidates, references)
    np.testing.assert_allclose(np.asarray(per_image, float), expected_per_image, atol=1e-6)
    assert float(np.asarray(score)) == pytest.approx(expected, abs=1e-6)


@st.composite
def attention_cases(draw):
    """Sizes, seeded inputs and weights, and a mask (None, booleans or 0/1 numbers) in which
    whole rows may be masked."""
    batch, locations = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    feature_dim, hidden_dim, units = (draw(st.integers(1, 4)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    features = rng.normal(size=(batch, locations, feature_dim)).astype("float32")
    hidden = rng.normal(size=(batch, hidden_dim)).astype("float32")
    values = {
        "features_kernel": rng.normal(scale=0.7, size=(feature_dim, units)),
        "hidden_kernel": rng.normal(scale=0.7, size=(hidden_dim, units)),
        "bias": rng.normal(scale=0.5, size=units),
        "score_vector": rng.normal(size=units),
    }
    values = {name: value.astype("float32") for name, value in values.items()}
    kind = draw(st.sampled_from(["none", "bool", "int"]))
    mask = None
    if kind != "none":
        mask = draw(hnp.arrays(bool, (batch, locations)))
        mask = mask if kind == "bool" else mask.astype("int32")
    return features, hidden, values, mask


@pytest.mark.points(1, hint="Attention with generated sizes and masks.", section="attention")
@GRADING
@given(case=attention_cases())
def test_attention_on_generated_inputs(sub, case):
    features, hidden, values, mask = case
    layer = sub.BahdanauAttention(values["bias"].shape[0])
    layer.build(features.shape, hidden.shape)
    for name, value in values.items():
        getattr(layer, name).assign(value)
    context, weights = layer(features, hidden, attention_mask=mask)
    expected_context, expected_weights = ref.attention(features, hidden, values, mask)
    assert_close(weights, expected_weights, rtol=1e-4, atol=1e-6, shape=expected_weights.shape)
    assert_close(context, expected_context, rtol=1e-4, atol=1e-5, shape=expected_context.shape)


@st.composite
def loss_cases(draw):
    """Targets (padding anywhere, whole rows of it too), logits and a pad id."""
    vocab = draw(st.integers(2, 6))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    targets = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, vocab - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1.0, 30.0, 1000.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    logits = (rng.normal(size=(*shape, vocab)) * scale).astype(dtype)
    return targets, logits, draw(st.integers(0, vocab - 1))


@pytest.mark.points(1, hint="The masked loss of generated batches.", section="teacher_forcing")
@GRADING
@given(case=loss_cases())
def test_masked_loss_on_generated_batches(sub, case):
    targets, logits, pad_id = case
    with float_errors_raised(sub):
        out, args, _ = arguments_after(sub.masked_loss, targets.copy(), logits.copy(), pad_id)
    assert np.array_equal(args[0], targets) and np.array_equal(args[1], logits)
    value = plain_array(out, what="The loss", dtype=np.float32, shape=())
    expected = ref.masked_loss(targets, logits.astype(np.float32), pad_id)
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-5)


ALPHABET = ["a", "dog", "Café", "café", "猫", "naïve"]
CAPTION = st.lists(st.sampled_from(ALPHABET), max_size=6).map(" ".join)
REFERENCE = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=6).map(" ".join)


@pytest.mark.points(1, hint="N-grams, BLEU and CIDEr-D of generated corpora.", section="metrics")
@GRADING
@given(
    candidates=st.lists(CAPTION, min_size=1, max_size=4),
    references=st.lists(st.lists(REFERENCE, min_size=1, max_size=3), min_size=4, max_size=4),
    max_n=st.integers(1, 5),
)
def test_caption_metrics_on_generated_corpora(sub, candidates, references, max_n):
    candidates = {10 + i: caption for i, caption in enumerate(candidates)}
    references = {key: references[i] for i, key in enumerate(reversed(list(candidates)))}
    for caption in candidates.values():
        counts = dict(sub.ngram_counts(caption.split(), max_n=max_n))
        assert counts == dict(ref._grams(caption.split(), max_n))
    received = [float(np.asarray(x)) for x in sub.corpus_bleu(candidates, references)]
    np.testing.assert_allclose(received, ref.lecture_bleu(candidates, references), atol=1e-6)
    score, per_image = sub.cider_d(candidates, references)
    expected, expected_per_image = ref.trusted_cider(candidates, references)
    assert_close(per_image, expected_per_image, atol=1e-6, rtol=0, shape=(len(candidates),))
    assert float(np.asarray(score)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.points(1, hint="Greedy and beam search on generated tables.", section="beam_search")
@GRADING
@given(
    images=st.integers(1, 3),
    vocab=st.integers(3, 5),
    seed=st.integers(0, 2**16),
    end_bias=st.sampled_from([-1.0, 0.0, 1.5]),
    width=st.integers(1, 4),
    max_length=st.integers(1, 4),
    alpha=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
)
def test_decoding_on_generated_tables(sub, images, vocab, seed, end_bias, width, max_length, alpha):
    tables = public._second_order_tables(images, vocab, seed, end_bias)
    state = (np.arange(images), np.full(images, public.START))
    start, end = public.START, public.END
    greedy = [ref.greedy(tables, i, max_length, end, start) for i in range(images)]
    out = public._rows(
        sub.greedy_decode(public._second_order_step(tables), state, start, end, max_length)
    )
    assert out == greedy
    one = public._rows(
        sub.beam_search(public._second_order_step(tables), state, start, end, 1, max_length, alpha)
    )
    assert one == greedy, "beam_width=1 must be greedy decoding"
    calls, steps = [], []
    step_fn = public._second_order_step(tables)

    def counting(tokens, memory):
        calls.append(len(np.asarray(tokens)))
        return step_fn(tokens, memory)

    out = public._rows(sub.beam_search(counting, state, start, end, width, max_length, alpha))
    expected = [
        ref.beam(tables, i, width, max_length, alpha, end, start, steps) for i in range(images)
    ]
    assert out == expected
    assert calls == [images * width] * max(steps)


def _encoder_values(filters, classes, seed):
    """Seeded values of an encoder's blocks and Dense layer, by name (positive betas)."""
    rng, previous, blocks = np.random.default_rng([6000, seed]), 3, []
    for count in filters:
        norm = {
            "gamma": rng.uniform(0.5, 1.5, count),
            "beta": rng.uniform(0.2, 0.6, count),
            "moving_mean": rng.normal(scale=0.3, size=count),
            "moving_variance": rng.uniform(0.5, 2.0, count),
        }
        kernel = rng.normal(scale=0.4, size=(3, 3, previous, count))
        blocks.append(
            {
                "conv": {"kernel": kernel.astype("float32")},
                "norm": {k: v.astype("float32") for k, v in norm.items()},
            }
        )
        previous = count
    head = {"kernel": rng.normal(size=(previous, classes)), "bias": rng.normal(size=classes)}
    return {"blocks": blocks, "logits": {k: v.astype("float32") for k, v in head.items()}}


@pytest.mark.points(1, hint="The encoder with three blocks, in both modes.", section="encoder")
def test_encoder_with_three_blocks_in_both_modes(sub):
    public._seed(sub, 3)
    classifier, grid_model = sub.build_encoder_cnn(
        image_size=24, num_classes=9, block_filters=(4, 3, 6), dropout_rate=0.3
    )
    blocks = [layer for layer in classifier.layers if type_name(layer) == "ConvBlock"]
    dense = [layer for layer in classifier.layers if type_name(layer) == "Dense"]
    assert len(blocks) == 3 and len(dense) == 1
    values = _encoder_values((4, 3, 6), 9, 21)
    for block, block_values in zip(blocks, values["blocks"], strict=True):
        public._assign_named(block, block_values, "block")
    public._assign_named(dense[0], values["logits"], "logits")
    images = public._rng(21).random((5, 24, 24, 3)).astype("float32")
    grid, _, logits, _ = ref.encoder_forward(values, images)
    assert_close(grid_model(images, training=False), grid, atol=1e-4, rtol=0, shape=(5, 3, 3, 6))
    assert_close(classifier(images), logits, atol=1e-4, rtol=0, shape=(5, 9))
    grid, pooled, _, _ = ref.encoder_forward(values, images, training=True)
    assert_close(grid_model(images, training=True), grid, atol=1e-4, rtol=0, shape=(5, 3, 3, 6))
    head = values["logits"]
    dropped = classifier(images, training=True)
    public._dropout_mask(dropped, pooled, head["kernel"], head["bias"], 0.3, "Logits")


@pytest.mark.points(1, hint="Teacher forcing in training mode, other sizes.", section="decoder")
def test_teacher_forcing_dropout_with_other_sizes(sub):
    public._seed(sub, 4)
    model = sub.Captioner(
        20, projection_dim=5, embedding_dim=3, units=6, attention_units=4, dropout_rate=0.25
    )
    model.encode(np.zeros((1, 7, 2), np.float32))
    model.decoder.build((None,), (None, 6), (None, 7, 5))
    layout = {
        "projection": {"kernel": (2, 5), "bias": (5,)},
        "decoder": public._decoder_layout(20, 3, 6, 4, 5),
    }
    values = public._named_weights(layout, 22)
    public._assign_named(model, values)
    rng = public._rng(22)
    features = rng.normal(size=(3, 7, 2)).astype("float32")
    tokens = np.array([[1, 7, 19, 2], [1, 2, 0, 0], [1, 4, 4, 2]], np.int32)
    logits, weights, hidden = ref.teacher_forcing(values, features, tokens)
    quiet, _ = sub.teacher_forcing_logits(model, features, tokens)
    assert_close(quiet, logits, atol=1e-5, rtol=0, shape=(3, 3, 20))
    dropped, dropped_weights = sub.teacher_forcing_logits(model, features, tokens, training=True)
    assert_close(dropped_weights, weights, atol=1e-5, rtol=0, shape=(3, 3, 7))
    output = values["decoder"]["output_layer"]
    dropped = plain_array(dropped, what="The logits", shape=(3, 3, 20))
    for step in range(3):
        public._dropout_mask(
            dropped[:, step],
            hidden[:, step],
            output["kernel"],
            output["bias"],
            0.25,
            f"Step {step}",
        )


@pytest.mark.points(1, hint="One train step of another model.", section="teacher_forcing")
def test_train_step_of_another_model(sub):
    model = public._tiny_captioner(sub, vocab=11, weights=23)
    rng = public._rng(23)
    features = rng.normal(size=(3, 4, 3)).astype("float32")
    tokens = np.array([[1, 10, 3, 2, 0], [1, 5, 2, 0, 0], [1, 6, 7, 8, 2]], np.int32)
    step = sub.make_train_step(model, library(sub, "keras").optimizers.SGD(0.3))
    loss = step(tf.constant(features), tf.constant(tokens))
    losses, _, weights = ref.train_reference(
        public._captioner_weights(11, 23), [(features, tokens)], 1, keras.optimizers.SGD(0.3)
    )
    assert float(np.asarray(loss)) == pytest.approx(losses[0], rel=1e-5)
    trained = public._read_named(model, weights)
    assert public._first_difference(trained, weights, atol=1e-5) is None
