"""Sound comparisons for autograder tests (introduced with Lecture 01's grader, hardened in 2.0).

Every value a test compares comes from the student's code, so a plain comparison can be made to
lie: ``nan > 1e-5`` is False (an ``if error > tol: fail`` check passes a NaN), an empty array
equals ``pytest.approx`` of anything and ``np.all`` of nothing is True, broadcasting makes a
``(3,)`` array close to a ``(1, 3)`` one, and an object may answer ``==`` as it likes. The helpers
here check that a value is *plain data* of the expected kind before anything is compared, and
fail the test with one line the student can act on (which value, what was expected, what came):

- :func:`assert_close` compares a result with the judge's expected value (numbers or arrays);
- :func:`plain_array` checks and converts a value a test goes on computing with (gradients,
  weights, losses);
- :func:`plain_float` and :func:`plain_int` do the same for one number.

They refuse, by default: NaN and infinity, empty arrays, a shape other than the expected one, a
dtype of the wrong kind (a bool or string array for numbers, floats for indices), and anything
that is not plain data: a student object (``remote.Handle``: the runner keeps it, the judge only
holds a reference), an ``ndarray`` subclass, an object array, a ragged list, or any other class.
What the judge decodes from the runner is always plain (``course_lib.grading.protocol``); these
checks also hold where tests run beside the student's code (nbgrader, ``camp mutants``).

Examples::

    from course_lib.grading.compare import assert_close, plain_array, plain_float

    assert_close(sub.softmax(logits), tf.nn.softmax(logits).numpy(), rtol=1e-7,
                 what="softmax(logits)")
    loss = plain_float(sub.cross_entropy(logits, labels), what="cross_entropy(logits, labels)")
    grad = plain_array(grads["W1"], what="the gradient of W1", dtype="float", shape=(5, 4))

Failures are ``pytest.fail`` (a test failure, also to Hypothesis, which then shrinks the input).
"""

from __future__ import annotations

import numpy as np
import pytest

KINDS = {  # dtype= names and the numpy dtype kinds they accept.
    "number": "iuf",  # integers or floats; not bools, complex numbers or strings
    "float": "f",
    "integer": "iu",
    "bool": "b",
}
SHOWN = 4  # Significant digits of the numbers quoted in a failure message.


def _fail(what: str, problem: str, advice: str = "") -> None:
    pytest.fail(f"{what} {problem}" + (f" {advice}" if advice else ""), pytrace=False)


def _type_name(value) -> str:
    from course_lib.grading.access import type_name

    return type_name(value)


def _tensor_value(value):
    """A TensorFlow tensor's numpy value; None if ``value`` is no tensor (or has no value)."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is None or not isinstance(value, tf.Tensor) or type(value).__name__ != "EagerTensor":
        return None
    return value.numpy()


def _as_plain_array(value, what: str) -> np.ndarray:
    from course_lib.grading.remote import Handle

    if isinstance(value, Handle):
        _fail(what, f"is a {_type_name(value)} object, not plain numbers.", _PLAIN_ADVICE)
    tensor = _tensor_value(value)
    if tensor is not None:
        value = tensor
    if type(value) in (float, int, bool) or (
        isinstance(value, np.generic) and type(value).__module__ == "numpy"
    ):
        return np.asarray(value)
    if type(value) is np.ndarray:
        array = value
    elif type(value) in (list, tuple):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            _fail(what, "is a ragged list (rows of different lengths).", _PLAIN_ADVICE)
    else:
        _fail(what, f"is a {_type_name(value)}, not plain numbers.", _PLAIN_ADVICE)
    if array.dtype.kind not in "biufc":
        _fail(what, f"holds {array.dtype} values, not numbers.", _PLAIN_ADVICE)
    return array


_PLAIN_ADVICE = "Return a numpy array (or a float) of plain numbers."


def _kinds(dtype) -> tuple[str, str]:
    """The dtype kinds accepted for ``dtype`` and how to name them in a message."""
    if dtype in KINDS:
        return KINDS[dtype], f"{dtype} values"
    exact = np.dtype(dtype)
    return exact.str, str(exact)


def _shape_ok(shape: tuple, expected) -> bool:
    expected = tuple(expected)
    return len(shape) == len(expected) and all(
        want is None or got == want for got, want in zip(shape, expected, strict=True)
    )


def plain_array(
    value,
    *,
    what: str = "The result",
    dtype="number",
    shape=None,
    finite: bool = True,
    empty: bool = False,
    advice: str = "",
) -> np.ndarray:
    """Return ``value`` as a plain ``np.ndarray`` after checking it; fail the test otherwise.

    Args:
        value: what the student's code returned (an array, a number, a list of numbers).
        what: how the failure names the value, e.g. ``"softmax(logits)"``, ``"The gradient of
            W1"``; the message reads "``what`` is ...".
        dtype: ``"number"`` (integers or floats), ``"float"``, ``"integer"``, ``"bool"``, or an
            exact numpy dtype (``np.float32``), or None for any numeric kind including bools.
        shape: the exact shape, a tuple in which None matches any length (``(None, 3)``); None
            accepts any shape.
        finite: refuse NaN and infinity.
        empty: accept an array with no elements (refused by default: it compares equal to
            anything element by element).
        advice: a sentence added to any failure message.
    """
    array = _as_plain_array(value, what)
    if dtype is not None:
        kinds, name = _kinds(dtype)
        accepted = array.dtype.kind in kinds if dtype in KINDS else array.dtype.str == kinds
        if not accepted:
            _fail(what, f"holds {array.dtype} values; expected {name}.", advice)
    if not empty and array.size == 0:
        _fail(what, f"is empty (shape {array.shape}); expected values to compare.", advice)
    if shape is not None and not _shape_ok(array.shape, shape):
        wanted = tuple("any" if n is None else n for n in shape)
        _fail(what, f"has shape {array.shape}; expected {wanted}.", advice)
    if finite and array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        count = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        _fail(what, f"holds {count} NaN or infinite value(s); expected finite numbers.", advice)
    return array


def plain_float(value, *, what: str = "The result", finite: bool = True, advice: str = "") -> float:
    """Return ``value`` as a Python float if it is one plain real number; fail the test otherwise.

    Accepted: a Python ``float`` or ``int``, a numpy floating or integer scalar, a 0-d array of
    those. A bool, a 1-element array, a tensor of another shape or any object is refused.
    """
    array = _as_plain_array(value, what)
    if array.shape != ():
        _fail(what, f"has shape {array.shape}; expected a single number (a float).", advice)
    if array.dtype.kind not in "iuf":
        _fail(what, f"is a {array.dtype} value; expected a float.", advice)
    number = float(array)
    if finite and not np.isfinite(number):
        _fail(what, f"is {number}; expected a finite number.", advice)
    return number


def plain_int(value, *, what: str = "The result", advice: str = "") -> int:
    """Return ``value`` as a Python int if it is one plain integer; fail the test otherwise."""
    array = _as_plain_array(value, what)
    if array.shape != () or array.dtype.kind not in "iu":
        _fail(what, f"is {array.dtype} of shape {array.shape}; expected one integer.", advice)
    return int(array)


def _number(x) -> str:
    return (
        np.format_float_positional(x, precision=SHOWN, fractional=False, trim="-")
        if (np.isfinite(x))
        else str(x)
    )


def assert_close(
    actual,
    expected,
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    what: str = "The result",
    dtype=None,
    shape=None,
    advice: str = "",
) -> np.ndarray:
    """Check that the student's ``actual`` equals the judge's ``expected`` within tolerances.

    ``actual`` is first checked as :func:`plain_array` does, with the expected value's shape
    (or ``shape``), its kind of dtype (or ``dtype``), finite wherever ``expected`` is finite,
    empty only if ``expected`` is; then every element must satisfy
    ``|actual - expected| <= atol + rtol * |expected|`` (numpy's ``isclose``), and a non-finite
    expected element must be matched exactly. Returns the checked array.

    Args:
        actual: what the student's code returned.
        expected: the trusted value, computed by the judge (a number, an array, a list).
        rtol, atol: relative and absolute tolerances; ``rtol=0, atol=0`` asks for equality.
        what, advice: as for :func:`plain_array`.
        dtype: as for :func:`plain_array`; by default ``"float"`` values are accepted for
            floats (or integers) expected, ``"integer"`` for integers, ``"bool"`` for bools.
        shape: as for :func:`plain_array`; by default the expected shape.
    """
    expected = np.asarray(expected)
    if expected.dtype.kind not in "biuf":
        raise TypeError(f"assert_close compares numbers; the expected value is {expected.dtype}.")
    if dtype is None:
        dtype = {"b": "bool", "i": "integer", "u": "integer"}.get(expected.dtype.kind, "number")
    array = plain_array(
        actual,
        what=what,
        dtype=dtype,
        shape=expected.shape if shape is None else shape,
        finite=False,
        empty=expected.size == 0,
        advice=advice,
    )
    try:
        expected = np.broadcast_to(expected, array.shape)
    except ValueError:
        _fail(what, f"has shape {array.shape}; expected {expected.shape}.", advice)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)[np.isfinite(expected)]):
        _fail(what, "holds NaN or infinite values where finite numbers are expected.", advice)
    if array.dtype.kind == "b" or expected.dtype.kind == "b":
        close = array == expected
    else:
        close = np.isclose(array, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not np.all(close):
        a, e = array.astype(np.float64), expected.astype(np.float64)
        gap = np.where(close, -1.0, np.nan_to_num(np.abs(a - e), nan=np.inf, posinf=np.inf))
        index = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
        where = f" at index {tuple(int(i) for i in index)}" if index else ""
        count = f"{int(np.size(close) - np.count_nonzero(close))} of {np.size(close)} values"
        _fail(
            what,
            f"differs from the expected value{'s' if np.size(close) > 1 else ''} ({count} off, "
            f"tolerance rtol={rtol:g}, atol={atol:g}){where}: got {_number(a[index])}, "
            f"expected {_number(e[index])}.",
            advice,
        )
    return array
