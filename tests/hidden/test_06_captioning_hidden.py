"""Hidden tests of Lecture 06 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_06_captioning.py``, whose helpers they reuse); their messages never
reach students. The references (``references_06.py``): numpy attention, Keras' GRUCell, the
decoder's own sublayers, beam search with Python lists, and COCO's caption metrics.
"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from course_lib.grading.expected import module_at, public_tests

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
