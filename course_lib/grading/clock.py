"""How long the judge waits on a runner: the test's limit in CPU seconds and the lecture's budget.

Introduced with Lecture 01's grader (issue 21: limits count the runner's own CPU time); split from
``course_lib.grading.remote``, whose every reply wait asks the ``Clock`` how long it may last.
"""

from __future__ import annotations

import time

from course_lib.grading.cgroups import Group, runner_cpu_group

# A student function that already ran out of time gets this long per call in later tests, so an
# endless loop costs one test's limit per function the judge calls and a few seconds per later
# test that calls it again, not the full limit each time.
REPEAT_LIMIT_S = 3.0
WALL_BACKSTOP = 3.0  # A test's wall-clock limit, in multiples of its CPU-time limit.


class TimeLimit(BaseException):
    """Student code did not answer within the test's time limit or the lecture's budget.

    A ``BaseException``, like ``KeyboardInterrupt``: a test's ``except Exception`` does not turn
    it into another failure, and Hypothesis does not retry or shrink on a runner that is stuck.
    ``function`` names the student's function that was running (empty if unknown); ``spent``
    is True when the lecture's whole budget, not the test's own limit, ran out.
    """

    def __init__(self, message: str, function: str = "", spent: bool = False):
        super().__init__(message)
        self.function, self.spent = function, spent


class Clock:
    """When the judge stops waiting for a runner: the lecture's budget and the test's limit.

    Times are ``time.monotonic()`` seconds. ``budget_end`` None means no budget (a test run
    outside ``camp``); between tests only the budget applies. A test's limit counts the CPU
    seconds of the runner and all it started (its cgroup), so a runner slowed down by a busy
    machine is not cut short; the wall clock is a backstop at ``WALL_BACKSTOP`` times the limit.
    Where the runner's CPU time cannot be read (no cgroup), the limit is wall time.
    """

    def __init__(self, budget_end: float | None = None):
        self.budget_end = budget_end
        self.test_start: float | None = None
        self.test_limit: float | None = None
        self.cpu_start: dict[int, float | None] = {}  # Runner pid: its CPU seconds at the start.

    def start_test(self, limit_s: float | None) -> None:
        self.test_limit, self.cpu_start = limit_s, {}
        self.test_start = None if limit_s is None else time.monotonic()

    def end_test(self) -> None:
        self.test_start = self.test_limit = None
        self.cpu_start = {}

    def budget_left(self) -> float | None:
        return None if self.budget_end is None else self.budget_end - time.monotonic()

    def cpu_used(self, pid: int) -> float | None:
        """CPU seconds runner ``pid`` spent in this test so far; None where they are unknown."""
        now = cpu_seconds_of(pid)
        start = self.cpu_start.setdefault(pid, now)
        return None if now is None or start is None else now - start

    def remaining(self, pid: int | None = None) -> float | None:
        """Seconds left before the budget or the test's limit (counted for runner ``pid``)."""
        now = time.monotonic()
        ends = [] if self.budget_end is None else [self.budget_end - now]
        if self.test_limit is not None:
            used = None if pid is None else self.cpu_used(pid)
            factor = WALL_BACKSTOP if used is not None else 1.0
            ends.append(self.test_start + factor * self.test_limit - now)
            if used is not None:
                ends.append(self.test_limit - used)
        return min(ends) if ends else None

    def expired(self, label: str, function: str, pid: int | None = None) -> TimeLimit:
        """The ``TimeLimit`` to raise now that waiting on ``label`` ran past a deadline."""
        left = self.budget_left()
        if self.test_limit is not None and (left is None or left > 0):
            used = None if pid is None else self.cpu_used(pid)
            if used is not None and used >= self.test_limit:
                what = f"the test's {self.test_limit:g} s of CPU time"
            elif used is not None:
                what = f"{WALL_BACKSTOP * self.test_limit:g} s of wall time"
            else:
                what = f"the test's {self.test_limit:g} s"
            return TimeLimit(
                f"{label} did not finish within {what} (an infinite loop, or much slower code "
                "than needed?).",
                function,
            )
        return TimeLimit(
            f"{label} was still running when the lecture's time limit ran out.", function, True
        )


def cpu_seconds_of(pid: int) -> float | None:
    """CPU time so far of runner ``pid`` and all it started (its cgroup's), or None if unknown.

    For the judge, to count a test's time in the runner's CPU seconds: a runner slowed down by
    a busy machine is then not cut short. The judge asks on every wait, so a runner's counter
    file is found once (``/proc`` and the mount table) and only read afterwards.
    """
    group = _CPU_GROUPS.get(pid) or runner_cpu_group(pid)
    if group is None:
        return None
    try:
        group.open_counters()
        try:
            seconds = group.cpu_seconds()
        finally:
            group.close_counters()
    except (OSError, ValueError):
        seconds = None
    if seconds is None:
        _CPU_GROUPS.pop(pid, None)  # The runner ended, or its pid now names another process.
    else:
        _CPU_GROUPS[pid] = group
    return seconds


_CPU_GROUPS: dict[int, Group] = {}  # Runner pid: its group, as ``runner_cpu_group`` found it.
