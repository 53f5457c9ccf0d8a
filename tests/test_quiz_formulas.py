"""Each parametrised layer formula of the bank against an independent computation (Keras)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from course_lib.quiz.bank import load_bank  # noqa: E402
from course_lib.quiz.render import render  # noqa: E402

SEEDS = range(5)


def _height(*layers, h, c=1):
    shape = (None, h, h, c)
    for layer in layers:
        shape = layer.compute_output_shape(shape)
    return shape[1]


def _params(layer, c_in, h=9):
    layer.build((None, h, h, c_in))
    return layer.count_params()


def _receptive_field(layers):
    """Walk (kernel, stride) pairs from the input: r grows by (k − 1)·jump."""
    r, jump = 1, 1
    for k, s in layers:
        r, jump = r + (k - 1) * jump, jump * s
    return r


L = keras.layers
REFERENCES = {
    "01-dense-params": lambda p: _params(L.Dense(p["n_out"]), p["n_in"]),
    "02-conv-output-size": lambda p: _height(
        L.ZeroPadding2D(p["p"]), L.Conv2D(1, p["k"], strides=p["s"]), h=p["h"]
    ),
    "02-same-padding": lambda p: (
        (
            _height(L.Conv2D(1, p["k"], padding="same"), h=20)
            == _height(L.ZeroPadding2D(int(p["answer"])), L.Conv2D(1, p["k"]), h=20)
        )
        and p["answer"]
    ),
    "02-same-stride-two": lambda p: _height(L.Conv2D(16, 3, strides=2, padding="same"), h=p["h"]),
    "02-pool-output-size": lambda p: _height(L.MaxPooling2D(pool_size=p["q"]), h=p["h"]),
    "02-maxpool-value": lambda p: _run(
        L.MaxPooling2D(2), [[[p["a"]], [p["b"]]], [[p["c"]], [p["d"]]]]
    ),
    "02-conv-1d-value": lambda p: _run(_conv1d([1, 0, -1]), [[p["a"]], [p["b"]], [p["c"]]]),
    "02-receptive-field-stack": lambda p: _receptive_field([(p["k"], 1)] * p["n"]),
    "02-conv-params": lambda p: _params(L.Conv2D(p["c_out"], p["k"]), p["c_in"]),
    "02-dense-on-pixels": lambda p: _params(L.Dense(p["u"]), p["h"] * p["h"] * 3),
    "02-flatten-length": lambda p: L.Flatten().compute_output_shape((None, p["h"], p["h"], p["c"]))[
        1
    ],
    "03-vgg-two-3x3": lambda p: _params(L.Conv2D(p["c"], 3, use_bias=False), p["c"]) * 2,
    "03-resnet-projection-params": lambda p: _params(
        L.Conv2D(p["c_out"], 1, strides=2, use_bias=False), p["c_in"]
    ),
    "03-separable-params": lambda p: _params(
        L.SeparableConv2D(p["c_out"], p["k"], use_bias=False), p["c_in"]
    ),
    "03-expansion-channels": lambda p: L.Conv2D(p["c"] * p["t"], 1).compute_output_shape(
        (None, 8, 8, p["c"])
    )[-1],
    "03-global-pool-length": lambda p: L.GlobalAveragePooling2D().compute_output_shape(
        (None, p["h"], p["h"], p["c"])
    )[-1],
    "06-decoder-output-params": lambda p: _params_dense(p["v"], p["u"]),
}


def _run(layer, example):
    """Apply ``layer`` to one example (a nested list) and return the single output value."""
    out = keras.ops.convert_to_numpy(layer(np.array([example], dtype="float32")))
    assert out.size == 1, out.shape
    return float(out.reshape(-1)[0])


def _conv1d(kernel):
    layer = L.Conv1D(1, len(kernel), use_bias=False)
    layer.build((None, len(kernel), 1))
    layer.set_weights([np.array(kernel, dtype="float32").reshape(len(kernel), 1, 1)])
    return layer


def _params_dense(units, inputs):
    layer = L.Dense(units)
    layer.build((None, inputs))
    return layer.count_params()


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_every_parametrised_layer_question_has_a_reference(bank):
    layer_sections = {"dense", "padding_stride", "pooling", "receptive_field", "parameters"}
    layer_sections |= {"keras_cnn", "vgg", "resnet", "mobilenet", "encodings"}
    expected = {
        q.id for q in bank.questions() if q.parametrised and q.lecture_section in layer_sections
    }
    assert expected <= set(REFERENCES), sorted(expected - set(REFERENCES))


@pytest.mark.parametrize("qid", sorted(REFERENCES))
def test_formula_matches_keras(bank, qid):
    question = bank.by_id()[qid]
    for seed in SEEDS:
        r = render(question, seed)
        params = dict(r.params) | {"answer": r.value}
        assert REFERENCES[qid](params) == r.value, f"{qid} with {dict(r.params)}"
