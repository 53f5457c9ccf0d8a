"""What autograder tests use to reach student objects (introduced with Lecture 01's grader).

A test's ``sub`` is the student's module in a sandboxed runner (``remote.Handle``) when graded by
``camp``, or the notebook's own namespace when nbgrader runs the same test inside the student's
kernel. These helpers work for both, so one test file serves both graders:

- ``library(sub, "keras")``: a library module *where the student's code runs*, to build objects
  that must live beside the student's (a model wrapping the student's layer, a dataset to fit);
- ``is_instance(sub, obj, "keras.layers.Dense")``: ``isinstance`` asked where ``obj`` lives;
- ``type_name(obj)``: the class name of a student object;
- ``arguments_after(sub.f, x)``: call, and see the arguments as the call left them (inputs
  modified in place);
- ``record_calls(sub, sub.train, "step", ...)``: call, recording in the judge each call the
  student's function makes to another function of the module;
- ``with float_errors_raised(sub):``: numpy overflow and invalid operations raise
  ``FloatingPointError`` in the student's code (``np.errstate`` in a test reaches the judge only).

These observations are made by the judge and the protocol, never by a helper module running
beside the student's code, which the student's code could replace. Whatever a test compares must
be a value checked by ``course_lib.grading.compare`` (``assert_close``, ``plain_array``,
``plain_float``): handles refuse ``==``, ``hash`` and ``bool``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
from unittest import mock

from course_lib.grading.remote import Handle


def library(sub, name: str):
    """The module ``name`` imported where the student's code runs."""
    if isinstance(sub, Handle):
        module = sub._camp_client.request("import", label=f"importing {name}", name=name)
        if isinstance(module, Handle):
            object.__setattr__(module, "_camp_name", name)
        return module
    return importlib.import_module(name)


def _resolve(kind):
    if isinstance(kind, str):
        module, _, attribute = kind.rpartition(".")
        return getattr(importlib.import_module(module), attribute)
    return kind


def is_instance(sub, obj, kind) -> bool:
    """``isinstance(obj, kind)`` where ``obj`` lives; ``kind``: a dotted name or a class of sub."""
    if isinstance(obj, Handle):
        return obj._camp("isinstance", kind=kind) is True
    if isinstance(kind, Handle):
        return False
    return isinstance(obj, _resolve(kind))


def type_name(obj) -> str:
    """The class name of ``obj`` (a student object or a value)."""
    if isinstance(obj, Handle):
        return str(obj._camp_type)
    return type(obj).__name__


def arguments_after(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)``; return ``(result, args, kwargs)`` as the call left them.

    A function that modifies its inputs in place shows it in the returned arguments. With the
    sandboxed runner the runner sends back its own copies of the arguments after the call, as
    part of the call's reply (no helper runs beside the student's code, so none can be swapped
    for one that hides the change); beside the student's code (nbgrader, ``camp mutants``) the
    arguments are the very objects passed.
    """
    if isinstance(function, Handle):
        label, name = function._camp_call_label(args, kwargs)
        reply = function._camp("call", label, name, args=list(args), kwargs=kwargs, observe=True)
        if type(reply) is not list or len(reply) != 3 or type(reply[1]) is not list:
            raise RuntimeError("The student's code answered a call with something else.")
        if type(reply[2]) is not dict:
            raise RuntimeError("The student's code answered a call with something else.")
        return reply[0], reply[1], reply[2]
    result = function(*args, **kwargs)
    return result, list(args), dict(kwargs)


def record_calls(sub, function, name: str, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while the judge records its calls to global ``name``.

    ``name`` is a module-level function of the student's module (for example ``tape_gradients``,
    which ``train_sgd`` calls). For the call, the module's ``name`` is replaced by a function of
    the judge that records the arguments, calls the student's own ``name`` and records and
    returns its result; the original is put back afterwards. The record is kept by the judge, so
    the student's code cannot edit it; a function that reaches ``name`` some other way than
    through the module's global records nothing.

    Returns:
        ``(result, calls)``: what ``function`` returned, and one ``{"arguments": {parameter:
        value}, "result": value}`` per call, in order (values as they were at the call).
    """
    if not isinstance(function, Handle):  # Beside the student's code: patch its globals.
        namespace = function.__globals__
        original = namespace[name]
        signature = inspect.signature(original)
        calls = []

        def local_recording(*call_args, **call_kwargs):
            bound = signature.bind(*call_args, **call_kwargs)
            bound.apply_defaults()
            arguments = copy.deepcopy(dict(bound.arguments))
            value = original(*call_args, **call_kwargs)
            calls.append({"arguments": arguments, "result": copy.deepcopy(value)})
            return value

        with mock.patch.dict(namespace, {name: local_recording}):
            return function(*args, **kwargs), calls
    original = getattr(sub, name)
    parameters = list(library(sub, "inspect").signature(original).parameters)
    calls = []

    def recording(*call_args, **call_kwargs):
        arguments = dict(zip(parameters, call_args, strict=False)) | call_kwargs
        value = original(*call_args, **call_kwargs)
        calls.append({"arguments": arguments, "result": value})
        return value

    setattr(sub, name, recording)
    try:
        return function(*args, **kwargs), calls
    finally:
        if sub._camp_client.stuck is None and sub._camp_client.dead is None:
            setattr(sub, name, original)


@contextlib.contextmanager
def float_errors_raised(sub, **settings):
    """Inside the block, numpy's floating-point warnings raise where the student's code runs.

    ``np.errstate`` in a test sets the judge's numpy only; this sets the runner's (or, beside the
    student's code, the local one) with ``np.seterr`` and restores it on leaving. By default
    overflow, invalid operations (0/0, inf - inf) and division by zero raise
    ``FloatingPointError`` in the student's code, which reaches the test as that exception;
    underflow stays quiet. Pass numpy's keywords to choose: ``float_errors_raised(sub,
    over="raise")``.
    """
    settings = settings or {"over": "raise", "invalid": "raise", "divide": "raise"}
    numpy_there = library(sub, "numpy")
    previous = numpy_there.seterr(**settings)
    try:
        yield
    finally:
        client = getattr(sub, "_camp_client", None) if isinstance(sub, Handle) else None
        if client is None or (client.stuck is None and client.dead is None):
            numpy_there.seterr(**previous)
