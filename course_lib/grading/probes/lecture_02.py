"""Probes for Lecture 02's grader (introduced with Lecture 02's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value.
"""

from __future__ import annotations

from unittest import mock

import keras


def record_fit_calls(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while recording every call of ``keras.Model.fit``.

    Returns:
        ``(result, calls)``: what ``function`` returned, and one ``{"args": [...], "kwargs":
        {...}}`` per ``fit`` call, in order, with the arguments as passed (the model excluded).
    """
    calls = []
    original_fit = keras.Model.fit

    def recording_fit(self, *fit_args, **fit_kwargs):
        calls.append({"args": list(fit_args), "kwargs": dict(fit_kwargs)})
        return original_fit(self, *fit_args, **fit_kwargs)

    with mock.patch.object(keras.Model, "fit", recording_fit):
        result = function(*args, **kwargs)
    return result, calls
