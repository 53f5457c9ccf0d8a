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


def dropout_mask(index: int, shape, rate: float) -> np.ndarray:
    """The judge's fixed dropout mask for the ``index``-th dropout call: float32 ``shape``.

    Each element is kept (scaled by ``1 / (1 - rate)``, as Keras' Dropout scales) or zeroed
    (0), drawn from a generator seeded by ``index`` only, so the judge can rebuild the mask.
    """
    keep = np.random.default_rng([4040, int(index)]).random(tuple(shape)) >= rate
    return (keep / (1.0 - rate)).astype(np.float32)


def with_fixed_dropout(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` with every ``keras.layers.Dropout`` made deterministic.

    While the call lasts, a Dropout layer called in training mode multiplies its input by
    ``dropout_mask(i, shape, rate)`` (``i`` counts the calls, from 0) instead of a random mask;
    in inference mode it returns its input, as Keras' does. So a layer's output in training
    mode can be compared with a reference that applies the same masks where the lecture puts
    its dropouts.

    Returns:
        ``(output, calls)``: the output as a numpy array, and one ``{"shape": tuple, "rate":
        float}`` per dropout call in training mode, in order.
    """
    import keras

    original = keras.layers.Dropout.call
    calls = []

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        shape = tuple(int(n) for n in inputs.shape)
        mask = dropout_mask(len(calls), shape, float(self.rate))
        calls.append({"shape": shape, "rate": float(self.rate)})
        return inputs * keras.ops.convert_to_tensor(mask, dtype=inputs.dtype)

    keras.layers.Dropout.call = call
    try:
        output = function(*args, **kwargs)
    finally:
        keras.layers.Dropout.call = original
    return np.asarray(output), calls
