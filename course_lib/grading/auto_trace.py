"""Tracing a graded function's outputs, to find equivalent mutants (introduced with Lecture 01's
grader; issue 22).

``camp mutants --auto`` (``course_lib.grading.auto_report``) grades each surviving mutant once
more with two lines appended to its source, ``trace(globals(), "f", PATH)``: ``f`` (a function,
or ``Class.method``) is wrapped so that every call the tests make appends one line to ``PATH``,
a digest of what it returned and of the numpy arrays it was given (after the call, so an input
modified in place shows). The same is done for the unmutated solution; equal files mean the
tests' inputs cannot tell the mutant from the solution. Floats are compared to 6 decimals,
tensors by value, Keras layers and models by configuration and weight shapes, symbolic tensors
(graph mode) not at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import types

MAX_TRACED_CALLS = 200  # Calls recorded per function and run; later calls are not compared.


def trace(namespace: dict, function: str, path: str) -> None:
    """Wrap ``function`` (``f``, ``Class.method``) of a module to append a digest of each call."""
    parts = function.split(".")
    owner, name = namespace, parts[0]
    if len(parts) > 1 and isinstance(namespace.get(parts[0]), type):  # A method, not a closure.
        owner, name = namespace[parts[0]], parts[1]
    get = owner.get if isinstance(owner, dict) else vars(owner).get
    original = get(name)
    calls, limit, digest, is_array = [0], MAX_TRACED_CALLS, _digest, _is_array

    def wrap(inner):
        def wrapper(*args, **kwargs):
            result = inner(*args, **kwargs)
            if calls[0] < limit:
                calls[0] += 1
                line = f"{digest(result)} | {digest([a for a in args if is_array(a)])}"
                with open(path, "a", encoding="utf-8") as out:
                    out.write(line + "\n")
            return result

        # The wrapper sees the module's globals, as the function did: a test that patches them
        # through ``f.__globals__`` (``access.record_calls``) patches the module's.
        code, closure = wrapper.__code__, wrapper.__closure__
        clone = types.FunctionType(code, inner.__globals__, inner.__name__, None, closure)
        return functools.update_wrapper(clone, inner)

    if isinstance(original, property):
        wrapped = property(wrap(original.fget), original.fset, original.fdel)
    elif isinstance(original, staticmethod | classmethod):
        wrapped = type(original)(wrap(original.__func__))
    elif callable(original):
        wrapped = wrap(original)
    else:
        return
    if isinstance(owner, dict):
        owner[name] = wrapped
    else:
        setattr(owner, name, wrapped)


def _is_array(value) -> bool:
    return type(value).__module__.split(".")[0] == "numpy"


def _digest(value, depth: int = 0) -> str:
    """A short text that equals another's when the values are equal (floats to 6 decimals)."""
    import numpy as np

    if depth > 4:
        return type(value).__name__
    if hasattr(value, "numpy") and callable(value.numpy):  # A tensor or a variable.
        try:
            value = value.numpy()
        except Exception:  # A symbolic tensor, traced in graph mode: nothing to compare.
            return "symbolic"
    if isinstance(value, np.ndarray | np.generic | float | int | bool):
        array = np.asarray(value)
        if array.dtype.kind in "fc":
            array = np.round(array.astype(np.complex128), 6) + 0.0  # -0.0 and 0.0 agree.
        elif array.dtype.kind not in "biu":
            return f"{array.dtype}{array.shape}"
        return f"{array.shape}:{hashlib.sha1(array.tobytes()).hexdigest()[:12]}"
    if value is None or isinstance(value, str | bytes):
        return repr(value)[:80]
    if isinstance(value, list | tuple):
        return "[" + ",".join(_digest(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_digest(v, depth + 1)}" for k, v in value.items()) + "}"
    if hasattr(value, "history") and isinstance(value.history, dict):  # keras History.
        return _digest(value.history, depth + 1)
    if hasattr(value, "get_config") and hasattr(value, "weights"):  # A keras layer or model.
        try:
            config = json.dumps(value.get_config(), sort_keys=True, default=str)
        except Exception:
            config = ""
        shapes = [tuple(w.shape) for w in value.weights]
        return f"{type(value).__name__}:{hashlib.sha1(f'{config}{shapes}'.encode()).hexdigest()}"
    return type(value).__name__
