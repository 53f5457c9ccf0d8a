"""Probes for Lecture 04's grader (introduced with Lecture 04's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value.
"""

from __future__ import annotations

import inspect

import numpy as np


def text_values(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` and return its output as nested Python lists.

    A string tensor cannot cross to the judge as it is (its numpy form holds Python objects);
    this returns ``np.asarray(output).tolist()``, so a tf.string tensor becomes lists of bytes,
    exactly what ``.numpy().tolist()`` gives.
    """
    return np.asarray(function(*args, **kwargs)).tolist()


def repeated_calls(function, times: int, *args, **kwargs) -> list:
    """Call ``function(*args, **kwargs)`` ``times`` times in a row; return the outputs in order.

    One request instead of ``times`` round trips between the judge and the runner (the same
    arguments each time: a random generator among them advances from call to call).
    """
    return [function(*args, **kwargs) for _ in range(int(times))]


def record_global_calls(function, name: str, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while recording its calls of the global ``name``.

    The global is looked up in ``function.__globals__`` (the student's module, or the notebook's
    namespace under nbgrader) and restored afterwards.

    Returns:
        ``(result, calls)``: what ``function`` returned, and for each call of ``name`` a dict of
        its arguments by parameter name, defaults filled in.
    """
    namespace = function.__globals__
    original = namespace[name]
    signature = inspect.signature(original)
    calls = []

    def recording(*call_args, **call_kwargs):
        bound = signature.bind(*call_args, **call_kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return original(*call_args, **call_kwargs)

    namespace[name] = recording
    try:
        result = function(*args, **kwargs)
    finally:
        namespace[name] = original
    return result, calls
