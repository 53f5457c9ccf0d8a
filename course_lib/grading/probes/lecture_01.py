"""Probes for Lecture 01's grader (introduced with Lecture 01's mutant catalogue).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value. The judge cannot see
these effects itself: arguments cross to the runner as copies, and the runner's module globals
are out of its reach.
"""

from __future__ import annotations

import copy
import inspect
from unittest import mock


def arguments_after(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)``; return ``(result, args, kwargs)`` as they are after it.

    A function that modifies its inputs in place shows it in the returned arguments.
    """
    result = function(*args, **kwargs)
    return result, list(args), dict(kwargs)


def record_calls(function, name: str, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while recording each call it makes to global ``name``.

    ``name`` is a module-level function of the module that defines ``function`` (for example
    ``tape_gradients``, called by ``train_sgd``); it still runs as usual.

    Returns:
        ``(result, calls)``: what ``function`` returned, and one ``{"arguments": {parameter:
        value}, "result": value}`` per call, in order, copied at the time of the call.
    """
    namespace = function.__globals__
    original = namespace[name]
    signature = inspect.signature(original)
    calls = []

    def recording(*call_args, **call_kwargs):
        bound = signature.bind(*call_args, **call_kwargs)
        bound.apply_defaults()
        arguments = copy.deepcopy(dict(bound.arguments))
        value = original(*call_args, **call_kwargs)
        calls.append({"arguments": arguments, "result": copy.deepcopy(value)})
        return value

    with mock.patch.dict(namespace, {name: recording}):
        result = function(*args, **kwargs)
    return result, calls
