"""The zygote: a warm, clean process that forks the runners (Lecture 01's grader, since issue 21).

A runner must start warm (TensorFlow imported, about 5 s saved per runner), yet hold nothing of
the judge: no pytest ``Config`` (its arguments name every test file, hidden ones included), no
test module, no expected value, not even the judge's command line, which stays readable in the
memory of any process forked from it. So a zygote is never a fork of the judge:

- ``forkserver.serve`` forks a *factory* right after importing the libraries, before it reads any
  job. A judge forked from that server inherits a socket to the factory (its number is in
  ``CAMP_ZYGOTE_FD``) and asks it for a zygote of its own;
- without a fork server (``camp check``), the judge starts a fresh interpreter,
  ``python -m course_lib.grading.zygote FD``, with a clean command line and environment.

A zygote serves one judge, one student's lecture, so no submission reaches another student's
runner. It makes the cgroup of its runners (``sandbox.prepare``), forks a runner per request and
answers with its pid, its channel and its output; ``wait`` reaps a runner and removes its cgroup;
when the judge goes away it ends whatever is left. ``Zygote`` is the judge's side of it.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

from course_lib.grading import sandbox
from course_lib.grading.clock import Clock
from course_lib.grading.protocol import Channel
from course_lib.grading.remote import RunnerClient

PRELOAD = ("numpy", "tensorflow", "keras", "course_lib.grading.runner")
PRELOAD += ("course_lib.student.submission", "course_lib.grading.seccomp_filter")
FD_VARIABLE = "CAMP_ZYGOTE_FD"  # The factory's socket, in a judge forked from a fork server.
_KEPT: list[socket.socket] = []  # The fork server's end of its factory's socket.


def serve(control: socket.socket) -> None:
    """Fork runners on request; answer each with the runner's pid and its channel and output."""
    from course_lib.grading.runner import read_submission, run_runner

    sandbox.prepare()
    try:
        while data := control.recv(1 << 16):
            job = json.loads(data)
            if job.get("op") == "wait":
                pid, status = os.waitpid(job["pid"], 0 if job.get("block") else os.WNOHANG)
                code = os.waitstatus_to_exitcode(status) if pid else None
                if pid:
                    sandbox.release(pid)
                control.sendall(json.dumps({"code": code}).encode())
                continue
            job["bytes"] = read_submission(job["submission"])
            judge_end, runner_end = socket.socketpair()
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                control.close()
                judge_end.close()
                os.close(read_end)
                run_runner(runner_end, write_end, job)
            runner_end.close()
            os.close(write_end)
            socket.send_fds(
                control, [json.dumps({"pid": pid}).encode()], [judge_end.fileno(), read_end]
            )
            judge_end.close()
            os.close(read_end)
    finally:
        sandbox.release()  # Ends whatever runner is left, and removes the zygote's cgroup.
        os._exit(0)


def _factory(listener: socket.socket) -> None:
    """Fork a zygote for each socket a judge sends; never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # Zygotes are reaped by the kernel.
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(listener, 16, 1)
        except OSError:
            break
        if not message and not fds:
            break
        if fds and os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            serve(socket.socket(fileno=fds[0]))
        for descriptor in fds:
            os.close(descriptor)
    os._exit(0)


def fork_factory() -> None:
    """In the fork server, before any job: fork the factory and name its socket for judges."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        mine.close()
        sandbox.die_with_parent()
        _factory(theirs)
    theirs.close()
    _KEPT.append(mine)
    os.environ[FD_VARIABLE] = str(mine.fileno())


def _factory_socket() -> socket.socket | None:
    number = os.environ.get(FD_VARIABLE, "")
    try:
        if number.isdigit() and stat.S_ISSOCK(os.fstat(int(number)).st_mode):
            return socket.socket(fileno=os.dup(int(number)))
    except OSError:
        pass
    return None


def spawn() -> tuple[socket.socket, int | None]:
    """In the judge: a new zygote's control socket, and its pid if it is the judge's child."""
    control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    factory = _factory_socket()
    if factory is not None:
        try:
            with factory:
                socket.send_fds(factory, [b"zygote"], [theirs.fileno()])
            theirs.close()
            return control, None
        except OSError:  # The factory is gone: a fresh interpreter will do, only slower.
            pass
    from course_lib.grading.judge import grading_env

    process = subprocess.Popen(
        [sys.executable, "-m", "course_lib.grading.zygote", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        env=grading_env(),
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process.returncode = 0  # The judge reaps it (os.waitpid); Popen must not try again.
    theirs.close()
    return control, process.pid


class Zygote:
    """A clean, warm process (``course_lib.grading.zygote``) that forks the runners."""

    def __init__(self):
        self.control, self.pid = spawn()  # Never a fork of this judge: see the module docstring.
        self.lock = threading.Lock()

    def start(
        self, job: dict, timeout_s: float | None = None, clock: Clock | None = None
    ) -> RunnerClient:
        """Fork a runner for ``job`` (submission, name, lecture, slot, root, limits).

        ``timeout_s`` bounds the import of the student's file, ``clock`` every later reply.
        """
        with self.lock:
            self.control.sendall(json.dumps(job).encode())
            message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 2)
        pid = json.loads(message)["pid"]
        channel = Channel(socket.socket(fileno=fds[0]))
        return RunnerClient(channel, pid, fds[1], timeout_s, clock)

    def wait(self, pid: int, block: bool) -> int | None:
        """The runner's exit code (negative: signal), or None if it still runs and not block."""
        with self.lock:
            self.control.sendall(json.dumps({"op": "wait", "pid": pid, "block": block}).encode())
            return json.loads(self.control.recv(1 << 16))["code"]

    def finish(self, client: RunnerClient) -> int | None:
        """End a runner; return its exit code if it had ended by itself, else None."""
        code = self.wait(client.pid, block=False)
        ending = client.dead is not None and client.import_timeout is None
        for _ in range(50 if ending else 0):  # It is ending: get its status.
            if code is not None:
                break
            time.sleep(0.1)
            code = self.wait(client.pid, block=False)
        if code is None:
            try:
                os.kill(client.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(client.pid, block=True)
        client.channel.sock.close()
        client._drain.join(timeout=5)
        return code

    def close(self) -> None:
        self.control.close()
        if self.pid is not None:  # A fresh process of this judge's; else the factory reaps it.
            os.waitpid(self.pid, 0)


def main(argv: list[str]) -> None:
    """``FD``: be a zygote on the socket ``FD`` (a fresh interpreter started by ``spawn``)."""
    sandbox.die_with_parent()
    control = socket.socket(fileno=int(argv[0]))
    for module in PRELOAD:
        __import__(module)
    gc.freeze()  # As in the fork server: runners' collections skip the libraries' objects.
    serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
