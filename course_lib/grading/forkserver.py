"""A warm judge process for ``camp autograde`` (introduced with Lecture 01's grader).

Starting Python and importing TensorFlow costs about 5 s, more than grading Lecture 01 itself.
The fork server imports pytest, numpy, TensorFlow and Keras once, then forks one child per
grading job. Each child is as isolated as a fresh process: its own session (killed as a group on
timeout), standard streams redirected to a file (it cannot reach the server's pipes), an address
space limit and no core dumps; it runs pytest in-process and exits. The server itself never runs
student code or a TensorFlow operation, so every child starts from the same clean state. Before
it reads any job it forks the factory of zygotes (``course_lib.grading.zygote``), which its
judges ask for the warm processes that fork their runners.

Protocol (JSON lines): the client writes ``{"args", "cwd", "output", "memory_mb", "env"}``; the
server answers ``{"pid": ...}`` at once, then ``{"returncode": ...}`` when the child ends
(negative: killed by that signal).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys

# Imported once, shared by forks: the libraries, the judge's plugin and what its tests import.
PRELOAD = ("numpy", "pytest", "tensorflow", "keras", "sklearn", "hypothesis")
PRELOAD += ("course_lib.grading.plugin", "course_lib.grading.remote", "course_lib.grading.compare")


def _run_child(job: dict) -> None:
    """In the forked child: confine, redirect, run pytest, exit without returning."""
    import resource

    import pytest

    try:
        os.setsid()
        os.chdir(job["cwd"])
        output = os.open(job["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        limit = job["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.environ.update(job["env"])
        code = int(pytest.main(job["args"]))
    except BaseException:  # Whatever happens, the child must never return into the server loop.
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    """Server loop: one job at a time, read from stdin, answered on stdout."""
    from course_lib.grading import zygote

    for module in (*PRELOAD, *zygote.PRELOAD):
        __import__(module)
    # The libraries' objects live as long as the server: the garbage collectors of its judges and
    # runners need not walk them again (pytest collects five times as it ends, ~0.2 s each).
    gc.freeze()
    zygote.fork_factory()  # Before any job: the factory's zygotes never see a test path.
    reply = sys.stdout
    reply.write(json.dumps({"ready": True}) + "\n")
    reply.flush()
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(job)
        reply.write(json.dumps({"pid": pid}) + "\n")
        reply.flush()
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        reply.flush()


class ForkServer:
    """Client side: start a server process and run grading jobs through it."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course_lib.grading.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,
        )
        if self._read(timeout_s=300) != {"ready": True}:
            raise RuntimeError("The grading fork server did not start.")

    def _read(self, timeout_s: float | None) -> dict | None:
        """Read one reply; None when ``timeout_s`` passes first."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("The grading fork server stopped.")
        return json.loads(line)

    def run(self, job: dict, timeout_s: float) -> int | None:
        """Run one job; return its exit code, or None when it timed out (it is then killed)."""
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        pid = self._read(timeout_s=60)["pid"]
        reply = self._read(timeout_s=timeout_s)
        kill_session(pid)
        if reply is None:
            self._read(timeout_s=60)
            return None
        return reply["returncode"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def kill_session(pid: int) -> None:
    """Kill the child's session: the child itself, or anything it left running."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def launch(argv: list[str]) -> None:
    """``--limit MB -- COMMAND...``: set the address-space limit, then become COMMAND.

    The limits are set in this small launcher rather than in a ``preexec_fn``, which is unsafe
    when the parent runs threads (``camp autograde`` grades from a thread pool).
    """
    import resource

    if len(argv) < 4 or argv[0] != "--limit" or argv[2] != "--":
        raise SystemExit("usage: python -m course_lib.grading.forkserver --limit MB -- COMMAND")
    limit = int(argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(argv[3], argv[3:])


if __name__ == "__main__":
    launch(sys.argv[1:]) if sys.argv[1:] else serve()
