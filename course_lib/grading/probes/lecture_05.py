"""Probes for Lecture 05's grader (introduced with Lecture 05's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value: here, how
``inner_product_search`` splits its queries among calls of the lecture's ``top_k``. Those calls
run at the same time in the student's worker threads. The judge-side ``access.record_calls``
cannot follow them: each recorded call is a callback to the judge over the runner's one channel,
which serves one request at a time, and two threads calling back at once break it (tried with
``num_threads=2``; one thread works). So the scores are recorded here, beside the student's code.
"""

from __future__ import annotations

import threading

import numpy as np


def top_k_blocks(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` while recording the scores of each ``top_k`` call.

    The global ``top_k`` of ``function``'s module (the student's module, or the notebook's
    namespace under nbgrader) is replaced for the call by a wrapper that keeps a copy of the
    scores it gets, from whichever thread calls it, and returns what the original returns.

    Returns:
        ``(result, blocks)``: what ``function`` returned, and a float64 copy of the scores of
        every ``top_k`` call, in the order the calls began (threads run in any order; the judge
        tells from the values which queries each block holds).
    """
    namespace = function.__globals__
    original = namespace["top_k"]
    blocks, lock = [], threading.Lock()

    def recording(scores, k, *more, **options):
        with lock:
            blocks.append(np.array(scores, dtype=np.float64))
        return original(scores, k, *more, **options)

    namespace["top_k"] = recording
    try:
        result = function(*args, **kwargs)
    finally:
        namespace["top_k"] = original
    return result, blocks
