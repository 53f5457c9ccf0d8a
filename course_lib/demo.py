"""When a lecture's demo cells run (introduced with Lecture 01).

Demo cells (training, plots) run in a notebook or when a lecture file is run as a script, never
on import. ``CAMP_SKIP_DEMOS=1`` skips them in notebooks too: nbgrader round trips and benchmarks
set it, so that grading measures the tests, not the demos.
"""

import os


def should_run_demo(module_name: str) -> bool:
    """Return True in a notebook or script run (``__name__ == "__main__"``) unless skipped."""
    return module_name == "__main__" and os.environ.get("CAMP_SKIP_DEMOS") != "1"
