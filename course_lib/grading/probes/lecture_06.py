"""Probes for Lecture 06's grader (introduced with Lecture 06's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value: here, the progress
bars ``train_captioner`` shows. A ``keras.utils.Progbar`` is reached through the ``keras``
package (or imported from ``keras.utils`` under any name), so no global of the student's module
can be swapped for a recording one; the class's own methods are wrapped instead. Recording is
started and stopped by two calls, so that the judge's ``access.record_calls`` can run the
student's function in between.
"""

from __future__ import annotations

import io
import sys

import keras


class ProgressBars:
    """Records every ``keras.utils.Progbar`` made until ``stop()``; keeps what is printed."""

    def __init__(self):
        self.bars, self.printed = [], io.StringIO()
        progbar = keras.utils.Progbar
        self._originals = (progbar.__init__, progbar.update, sys.stdout)
        original_init, original_update, _ = self._originals
        bars = self.bars

        def init(bar, target, *args, **kwargs):
            original_init(bar, target, *args, **kwargs)
            record = {"target": target, "verbose": int(bar.verbose), "updates": []}
            bars.append(record)
            bar._camp_record = record

        def update(bar, current, *args, **kwargs):
            record = getattr(bar, "_camp_record", None)
            if record is not None:
                record["updates"].append(int(current))
            return original_update(bar, current, *args, **kwargs)

        progbar.__init__, progbar.update = init, update
        sys.stdout = self.printed

    def stop(self):
        """Restore Progbar and stdout; return ``{"bars": [...], "printed": text}``.

        One ``{"target", "verbose", "updates"}`` dict per bar made, in order; ``updates``: the
        ``current`` value of each ``update`` call.
        """
        progbar = keras.utils.Progbar
        progbar.__init__, progbar.update, sys.stdout = self._originals
        return {"bars": self.bars, "printed": self.printed.getvalue()}


def record_progress_bars() -> ProgressBars:
    """Start recording the progress bars; call ``stop()`` on the result to end and read it."""
    return ProgressBars()
