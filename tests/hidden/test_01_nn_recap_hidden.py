"""Hidden tests of Lecture 01 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_01_nn_recap.py``, whose seeded builders they reuse); their messages
never reach students. The references (``references_01.py``, beside this file) are the judge's
own code: central differences, TensorFlow's gradients, and numpy. The softmax test is
property-based (Hypothesis, derandomised: ``course_lib.grading.properties.GRADING``).
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.grading.compare import plain_float
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_01.py"))
public = public_tests("01")

LOGITS = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
    elements=st.floats(-1000, 1000, width=32),  # exp overflows beyond 88 (float32), 709.
)


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
    lr, size, epochs = 0.2, 16, 3
    result, calls, batches = public._sgd_calls(
        sub, x, labels, hidden_units=4, learning_rate=lr, epochs=epochs, batch_size=size, seed=11
    )
    params, losses = result
    current = {k: np.asarray(v) for k, v in sub.init_mlp(2, 4, 3, 11).items()}
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
