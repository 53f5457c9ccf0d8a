"""Probes for Lecture 02's grader (introduced with Lecture 02's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value.
"""

from __future__ import annotations

from unittest import mock

import keras


def record_fit_calls(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while recording every call of ``keras.Model.fit`` and
    of ``keras.utils.set_random_seed``.

    Returns:
        ``(result, calls, seeds)``: what ``function`` returned; one ``{"args": [...], "kwargs":
        {...}}`` per ``fit`` call, in order, with the arguments as passed (the model excluded);
        and the seeds passed to ``keras.utils.set_random_seed``, in order.
    """
    calls, seeds = [], []
    original_fit = keras.Model.fit
    original_seed = keras.utils.set_random_seed

    def recording_fit(self, *fit_args, **fit_kwargs):
        calls.append({"args": list(fit_args), "kwargs": dict(fit_kwargs)})
        return original_fit(self, *fit_args, **fit_kwargs)

    def recording_seed(seed):
        seeds.append(seed)
        return original_seed(seed)

    with (
        mock.patch.object(keras.Model, "fit", recording_fit),
        mock.patch.object(keras.utils, "set_random_seed", recording_seed),
    ):
        result = function(*args, **kwargs)
    return result, calls, seeds


def initial_learning_rate(model) -> float | None:
    """The step size of ``model``'s compiled optimizer at step 0 (a schedule evaluated there).

    Returns None when the model has no optimizer.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    rate = optimizer.get_config()["learning_rate"]
    if isinstance(rate, dict):
        rate = keras.optimizers.schedules.deserialize(rate)(0)
    return float(keras.ops.convert_to_numpy(rate))
