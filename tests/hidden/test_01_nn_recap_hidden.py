"""Hidden tests of Lecture 01 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_01_nn_recap.py``, whose seeded builders they reuse); their messages
never reach students. The references (``references_01.py``, beside this file) are the judge's
own code: central differences, TensorFlow's gradients and sigmoid, Keras' own layers and fit,
and numpy. The numeric kernels are also tested on generated inputs (Hypothesis, derandomised:
``course_lib.grading.properties.GRADING``), with numpy's warnings raised where the student's code
runs; the Keras network is compared, in both modes, with Keras' layers carrying its weights.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.grading.access import float_errors_raised
from course_lib.grading.compare import plain_array, plain_float
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_01.py"))
public = public_tests("01")

LOGITS = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
    elements=st.floats(-1000, 1000, width=32),  # exp overflows beyond 88 (float32), 709.
)


# Values where the activations change case or overflow: 0 and -0, around 1, float32's exp limit.
EDGES = st.sampled_from([0.0, -0.0, 1e-3, -1e-3, 0.5, 1.0, -1.0, 88.5, -88.5, 709.0, -745.0])
ACTIVATIONS = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
    elements=st.one_of(st.floats(-1000, 1000, width=32), EDGES),
)


@st.composite
def batches(draw):
    """Logits (batch 1-5, classes 1-6) whose rows sit at different heights, and labels."""
    batch, classes = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    values = hnp.arrays(np.float64, (batch, classes), elements=st.floats(-30, 30))
    shifts = hnp.arrays(np.float64, (batch, 1), elements=st.sampled_from([-1000.0, 0.0, 990.0]))
    logits = (draw(values) + draw(shifts)).astype(dtype)
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    return logits, labels


@st.composite
def networks(draw):
    """Small networks with integer weights (so pre-activations are often exactly 0) and labels
    drawn from fewer classes than the logits have."""
    batch, features = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    hidden, classes = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    ints = st.integers(-2, 2).map(float)
    params = {
        "W1": draw(hnp.arrays(np.float64, (features, hidden), elements=ints)),
        "b1": draw(hnp.arrays(np.float64, (hidden,), elements=ints)),
        "W2": draw(hnp.arrays(np.float64, (hidden, classes), elements=ints)) * 0.5,
        "b2": draw(hnp.arrays(np.float64, (classes,), elements=ints)),
    }
    x = draw(hnp.arrays(np.float64, (batch, features), elements=ints))
    top = draw(st.integers(0, classes - 1))
    labels = np.array(draw(st.lists(st.integers(0, top), min_size=batch, max_size=batch)))
    return x, labels, params


@st.composite
def checks(draw):
    """A cubic loss at a float64 or integer point, a gradient wrong by known factors (exact 0
    where the loss does not move), and gradient_check's settings."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    size = int(np.prod(shape))
    if draw(st.booleans()):
        magnitudes = st.integers(1, 3).map(float)
        dtype = np.int64
    else:
        magnitudes, dtype = st.floats(0.5, 2.0), np.float64
    x = draw(hnp.arrays(np.float64, shape, elements=magnitudes))
    x = (x * draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))).astype(
        dtype
    )
    c = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, -1.5, 0.7, 2.0])))
    factors = 1 + 0.01 * np.arange(1, size + 1).reshape(shape)
    analytic = 3 * c * x.astype(np.float64) ** 2 * factors

    def loss(v):
        return float(np.sum(c * np.asarray(v, dtype=np.float64) ** 3))

    num_checks, seed = draw(st.integers(1, size + 2)), draw(st.integers(0, 2**16))
    step = draw(st.sampled_from([1e-5, 1e-4, 1e-3]))
    return loss, x, analytic, num_checks, step, seed


@pytest.mark.points(
    1, hint="ReLU and sigmoid on arrays of other shapes and dtypes.", section="activations"
)
@GRADING
@given(z=ACTIVATIONS)
def test_activations_match_tf_on_generated_arrays(sub, z):
    with float_errors_raised(sub):
        rectified, squashed = sub.relu(z.copy()), sub.sigmoid(z.copy())
    rectified = plain_array(rectified, what="relu(z)", dtype="float", shape=z.shape, empty=True)
    np.testing.assert_array_equal(rectified, np.maximum(z, 0))
    squashed = plain_array(squashed, what="sigmoid(z)", dtype="float", shape=z.shape, empty=True)
    rtol, atol = (1e-6, 1e-37) if z.dtype == np.float32 else (1e-7, 1e-300)
    np.testing.assert_allclose(squashed, ref.sigmoid(z), rtol=rtol, atol=atol)


@pytest.mark.points(1, hint="A dense layer on other shapes and dtypes.", section="dense")
@GRADING
@given(data=st.data())
def test_dense_forward_on_generated_arrays(sub, data):
    batch, features, units = (data.draw(st.integers(low, 4)) for low in (0, 1, 1))
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    values = st.floats(-100, 100, width=32)
    x = data.draw(hnp.arrays(dtype, (batch, features), elements=values))
    w = data.draw(hnp.arrays(dtype, (features, units), elements=values))
    b = data.draw(hnp.arrays(dtype, (units,), elements=values))
    out = plain_array(sub.dense_forward(x, w, b), what="dense_forward", empty=True)
    assert out.shape == (batch, units)
    x64, w64, b64 = (v.astype(np.float64) for v in (x, w, b))
    scale = np.abs(x64) @ np.abs(w64) + np.abs(b64)  # Rounding is relative to these terms.
    tolerance = (1e-5 if dtype == np.float32 else 1e-12) * scale + 1e-30
    assert np.all(np.abs(out - (x64 @ w64 + b64)) <= tolerance)


@pytest.mark.points(
    1, hint="Cross-entropy of rows at very different heights.", section="cross_entropy"
)
@GRADING
@given(batch=batches())
def test_cross_entropy_matches_tf_on_generated_batches(sub, batch):
    logits, labels = batch
    with float_errors_raised(sub):
        value = sub.cross_entropy(logits.copy(), labels.copy())
    value = plain_float(value, what="cross_entropy")
    rtol, atol = (1e-5, 1e-3) if logits.dtype == np.float32 else (1e-9, 1e-9)
    assert value == pytest.approx(ref.cross_entropy(logits, labels), rel=rtol, abs=atol)


@pytest.mark.points(
    1, hint="Backpropagation through ReLUs at exactly 0, on other networks.", section="backprop"
)
@GRADING
@given(network=networks())
def test_backprop_matches_the_tape_on_generated_networks(sub, network):
    x, labels, params = network
    expected = ref.tape_gradients(x, labels, params)
    with float_errors_raised(sub):
        _, cache = sub.mlp_forward(x, params)
        backward = sub.mlp_backward(cache, labels, params)
        taped = sub.tape_gradients(x, labels, params)
    for name, value in expected.items():
        for grads, what in ((backward, "mlp_backward"), (taped, "tape_gradients")):
            got = plain_array(grads[name], what=f"{what}'s {name}", dtype=np.float64)
            np.testing.assert_allclose(got, value, rtol=1e-6, atol=1e-10, err_msg=what + name)


@pytest.mark.points(1, hint="The gradient check on generated points.", section="backprop")
@GRADING
@given(check=checks())
def test_gradient_check_matches_the_reference_on_generated_points(sub, check):
    loss, x, analytic, num_checks, step, seed = check
    expected = ref.gradient_check(loss, x.astype(np.float64), analytic, num_checks, step, seed)
    with float_errors_raised(sub):
        got = sub.gradient_check(loss, x.copy(), analytic, num_checks, step, seed)
    got = plain_float(got, what="gradient_check")
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-12)


@pytest.mark.points(1, hint="Softmax on arrays of other shapes and dtypes.", section="softmax")
@GRADING
@given(logits=LOGITS)
def test_softmax_matches_numpy_on_generated_arrays(sub, logits):
    out = np.asarray(sub.softmax(logits.copy()))
    assert out.shape == logits.shape
    rtol, atol = (1e-4, 1e-7) if logits.dtype == np.float32 else (1e-10, 1e-300)
    np.testing.assert_allclose(out, ref.softmax(logits), rtol=rtol, atol=atol)


@pytest.mark.points(1, hint="The forward pass on another network.", section="backprop")
def test_mlp_forward_on_other_inputs(sub):
    params = public._params(in_features=7, hidden=9, classes=2, offset=30)
    x = public._rng(31).normal(size=(11, 7)) * 2
    logits, cache = sub.mlp_forward(x, params)
    expected, z1, h1 = ref.forward(x, params)
    np.testing.assert_allclose(logits, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cache["z1"], z1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cache["h1"], h1, rtol=1e-10, atol=1e-12)


@pytest.mark.points(1, hint="The backward pass on another network.", section="backprop")
def test_mlp_backward_on_other_inputs(sub):
    params = public._params(in_features=6, hidden=7, classes=5, offset=32)
    x, labels = public._rng(33).normal(size=(9, 6)), public._rng(34).integers(0, 5, size=9)
    grads = public._backward(sub, x, labels, params)
    for name, value in params.items():

        def loss_of(v, name=name):
            return ref.mean_loss(x, labels, {**params, name: v})

        numeric = ref.numerical_gradient(loss_of, value)
        error = np.max(np.abs(np.asarray(grads[name]) - numeric)) / np.max(np.abs(numeric))
        assert error <= 1e-6, f"Gradient {name}: error {error:.2e} of its largest entry"


@pytest.mark.points(1, hint="The gradient check on another loss.", section="backprop")
def test_gradient_check_on_other_inputs(sub):
    loss, x, gradient = public._cubic(40, (3, 7))
    wrong = gradient * (1 - 0.02 * np.arange(21).reshape(3, 7))
    for num_checks, seed in ((4, 3), (21, 8), (10, 11), (1, 0)):
        expected = ref.gradient_check(loss, x, wrong, num_checks, 1e-4, seed)
        got = sub.gradient_check(loss, x.copy(), wrong, num_checks=num_checks, step=1e-4, seed=seed)
        got = plain_float(got)  # An empty array would equal pytest.approx of anything.
        assert got == pytest.approx(expected, rel=1e-5), (num_checks, seed)


@pytest.mark.points(1, hint="The tape's gradients on another network.", section="gradient_tape")
def test_tape_gradients_on_other_inputs(sub):
    params = public._params(in_features=4, hidden=6, classes=3, offset=35)
    x, labels = public._rng(36).normal(size=(8, 4)), public._rng(37).integers(0, 3, size=8)
    grads = sub.tape_gradients(x, labels, params)
    for name, expected in ref.tape_gradients(x, labels, params).items():
        np.testing.assert_allclose(grads[name], expected, rtol=1e-6, atol=1e-10, err_msg=name)


@pytest.mark.points(1, hint="SGD with other settings.", section="sgd")
def test_train_sgd_follows_the_reference(sub):
    x, labels = public._blobs(41, 38)
    labels = np.where(labels == 1, 3, labels)  # Classes 0, 2 and 3: class 1 never appears.
    lr, size, epochs = 0.2, 16, 3
    result, calls, batches = public._sgd_calls(
        sub, x, labels, hidden_units=4, learning_rate=lr, epochs=epochs, batch_size=size, seed=11
    )
    params, losses = result
    current = {k: np.asarray(v) for k, v in sub.init_mlp(2, 4, 4, 11).items()}
    batch_losses = []
    for step, call in enumerate(calls):
        used = call["arguments"]["params"]
        for name in current:
            np.testing.assert_allclose(used[name], current[name], rtol=1e-10, atol=1e-12)
        index = batches[step]
        batch_losses.append(ref.mean_loss(x[index], labels[index], current))
        grads = call["result"]
        current = {k: current[k] - lr * np.asarray(grads[k]) for k in current}
    for name in current:
        np.testing.assert_allclose(params[name], current[name], rtol=1e-10, atol=1e-12)
    per_epoch = -(-len(x) // size)
    expected = [np.mean(batch_losses[i : i + per_epoch]) for i in range(0, len(calls), per_epoch)]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)


@pytest.mark.points(
    1, hint="The Keras network against Keras' own layers, in both modes.", section="keras"
)
def test_keras_mlp_matches_keras_layers_in_both_modes(sub):
    model = sub.build_keras_mlp(in_features=9, hidden_units=3, num_classes=5, dropout_rate=0.3)
    weights = [plain_array(w, what="A weight", dtype=np.float32) for w in model.get_weights()]
    x = public._rng(44).normal(size=(12, 9)).astype(np.float32)
    out = plain_array(model(x, training=False), what="The logits", dtype=np.float32)
    np.testing.assert_allclose(out, public._keras_logits(weights, x), rtol=1e-4, atol=1e-5)
    public._check_hidden_dropout(sub, sizes=(9, 3, 5), rate=0.3, offset=45)


@pytest.mark.points(1, hint="Keras training with other settings.", section="keras")
def test_train_keras_mlp_with_other_settings(sub):
    x, y, _, _ = public._digits(240)
    model = sub.build_keras_mlp(dropout_rate=0.0)
    start = [np.asarray(w) for w in model.get_weights()]
    history = sub.train_keras_mlp(model, x, y, epochs=3, batch_size=64, verbose=0, seed=6)
    weights, judged = public._judge_fit(start, x, y, seed=6, epochs=3, batch_size=64)
    assert public._same_weights(model.get_weights(), weights)
    assert history.params["epochs"] == 3 and history.params["steps"] == 4
    assert history.params["verbose"] == 0
    for key in ("loss", "accuracy"):
        logged = plain_array(history.history[key], what=key, dtype="float", shape=(3,))
        np.testing.assert_allclose(logged, judged[key], rtol=1e-4, atol=1e-6, err_msg=key)
