"""A test's time limit counts the runner's CPU seconds, with a wall-clock backstop (issue 21)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from course_lib.grading import clock as clock_module
from course_lib.grading import protocol
from course_lib.grading.clock import WALL_BACKSTOP, Clock


class FakeCpu:
    """The CPU seconds ``cpu_seconds_of`` reports, set by the test."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds

    def __call__(self, pid: int) -> float | None:
        return self.seconds


def test_a_starved_runner_is_not_cut_short_while_its_cpu_time_is_left(monkeypatch):
    cpu = FakeCpu(100.0)
    monkeypatch.setattr(clock_module, "cpu_seconds_of", cpu)
    clock = Clock()
    clock.start_test(2.0)
    assert clock.remaining(7) == pytest.approx(2.0, abs=0.05)  # Nothing spent yet.
    clock.test_start -= 3.0  # Three seconds of wall time pass, with no CPU time spent...
    assert clock.remaining(7) == pytest.approx(2.0, abs=0.05)  # ...so the limit is still whole.
    cpu.seconds = 101.5
    assert clock.remaining(7) == pytest.approx(0.5, abs=0.05)
    cpu.seconds = 102.5
    assert clock.remaining(7) < 0
    message = str(clock.expired("relu(...)", "relu", 7))
    assert "relu(...) did not finish within the test's 2 s of CPU time" in message


def test_the_wall_clock_is_a_backstop_at_a_multiple_of_the_limit(monkeypatch):
    monkeypatch.setattr(clock_module, "cpu_seconds_of", FakeCpu(5.0))
    clock = Clock()
    clock.start_test(2.0)
    clock.remaining(7)  # The runner's CPU seconds at the test's start are read once.
    clock.test_start -= WALL_BACKSTOP * 2.0 + 0.1
    assert clock.remaining(7) < 0
    assert f"within {WALL_BACKSTOP * 2.0:g} s of wall time" in str(clock.expired("f(...)", "f", 7))


def test_without_a_cpu_counter_the_limit_is_wall_time(monkeypatch):
    monkeypatch.setattr(clock_module, "cpu_seconds_of", FakeCpu(None))
    clock = Clock()
    clock.start_test(2.0)
    clock.test_start -= 2.1
    assert clock.remaining(7) < 0
    assert "within the test's 2 s (an infinite" in str(clock.expired("f(...)", "f", 7))


def test_the_lecture_budget_applies_between_and_during_tests(monkeypatch):
    monkeypatch.setattr(clock_module, "cpu_seconds_of", FakeCpu(0.0))
    clock = Clock(budget_end=time.monotonic() + 1.0)
    assert clock.remaining(7) == pytest.approx(1.0, abs=0.05)
    clock.start_test(30.0)
    assert clock.remaining(7) == pytest.approx(1.0, abs=0.05)
    clock.budget_end = time.monotonic() - 0.1
    expired = clock.expired("f(...)", "f", 7)
    assert expired.spent and "lecture's time limit ran out" in str(expired)


class Waiting(protocol.Endpoint):
    """An endpoint whose deadline moves while it waits, as a CPU-time deadline does."""

    def __init__(self, channel, deadlines):
        super().__init__(channel)
        self.deadlines = deadlines

    def reply_timeout(self):
        return self.deadlines.pop(0) if len(self.deadlines) > 1 else self.deadlines[0]


def test_a_waiting_endpoint_reads_its_deadline_again_while_no_reply_has_come():
    judge_side, runner_side = socket.socketpair()
    endpoint = Waiting(protocol.Channel(judge_side), [0.2] * 20)  # Each read: 0.2 s left.
    runner = protocol.Channel(runner_side)

    def reply_late():
        runner.recv()
        time.sleep(1.0)  # Longer than any single deadline the endpoint read.
        runner.send({"kind": "reply", "values": {"value": 3}}, [])

    thread = threading.Thread(target=reply_late)
    thread.start()
    assert endpoint.request("call") == 3
    thread.join()
    endpoint.deadlines = [0.0]
    with pytest.raises(protocol.ChannelTimeout):
        endpoint.request("call")
