"""When a lecture's demo cells run (introduced with Lecture 01).

Demo cells (training, plots) run in a notebook or when a lecture file is run as a script, never
on import. ``CAMP_SKIP_DEMOS=1`` skips them in notebooks too: nbgrader round trips and benchmarks
set it, so that grading measures the tests, not the demos. Their plots are files that also show
under the cell in Jupyter and Colab (``show_figure``); outside a kernel matplotlib draws into files
only (``in_kernel``), and the grader sets ``MPLBACKEND=Agg`` for its own processes.
"""

import os
import sys


def should_run_demo(module_name: str) -> bool:
    """Return True in a notebook or script run (``__name__ == "__main__"``) unless skipped."""
    return module_name == "__main__" and os.environ.get("CAMP_SKIP_DEMOS") != "1"


def in_kernel() -> bool:
    """Return True inside a Jupyter or Colab kernel, where plots can show under the cell."""
    return "ipykernel" in sys.modules


def show_figure(path) -> None:
    """Show a saved figure under the notebook cell in a kernel; elsewhere it stays a file."""
    if in_kernel():
        from IPython.display import Image, display

        display(Image(filename=str(path)))
