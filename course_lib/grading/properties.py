"""Property-based autograder tests with Hypothesis, deterministic (introduced with Lecture 01).

Same input, same grade: every property test that grades runs under ``GRADING``, a settings
object with ``derandomize=True`` (the examples are drawn from a seed derived from the test
itself, not from the clock), no example database (nothing read or written between runs), no
deadline (a slow judge or a loaded machine never fails a student) and a fixed number of
examples, without the shrinking phase, whose length depends on the failure. Use it as::

    from course_lib.grading.properties import GRADING

    @pytest.mark.points(1, hint="...", section="softmax")
    @GRADING
    @given(arrays(np.float64, (3, 4)))
    def test_softmax_property(sub, logits): ...

``sub`` is module scoped, so Hypothesis shares it between examples; the health check about
function-scoped fixtures is off because the project's own ``conftest.py`` adds a function-scoped
autouse fixture (a private ``CAMP_HOME``) to every test it collects, the judge's included.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

MAX_EXAMPLES = 40  # Examples per property test: each calls the student's code, in a runner.

GRADING = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=MAX_EXAMPLES,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=(
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ),
)
