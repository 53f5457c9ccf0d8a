"""What autograder tests use to reach student objects (introduced with Lecture 01's grader).

A test's ``sub`` is the student's module in a sandboxed runner (``remote.Handle``) when graded by
``camp``, or the notebook's own namespace when nbgrader runs the same test inside the student's
kernel. These helpers work for both, so one test file serves both graders:

- ``library(sub, "keras")``: a library module *where the student's code runs*, to build objects
  that must live beside the student's (a model wrapping the student's layer, a dataset to fit);
- ``is_instance(sub, obj, "keras.layers.Dense")``: ``isinstance`` asked where ``obj`` lives;
- ``type_name(obj)``: the class name of a student object.

Whatever a test compares must be a value (``np.asarray``, ``float``, ``int``, ``str``, ``len``):
handles refuse ``==``, ``hash`` and ``bool``.
"""

from __future__ import annotations

import importlib

from course_lib.grading.remote import Handle


def library(sub, name: str):
    """The module ``name`` imported where the student's code runs."""
    if isinstance(sub, Handle):
        return sub._camp_client.request("import", name=name)
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
