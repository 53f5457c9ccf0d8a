"""The runner: the untrusted process that imports a student's lecture and answers the judge.

Introduced with Lecture 01's grader. A *zygote* that never was the judge (``zygote``: no test
code, expected value, test path or hidden-test text is ever in a runner's memory) forks one runner
per lecture and visibility (public or hidden tests) and hands the judge its end of the channel.
Each runner confines itself (``sandbox.confine``), imports the student's file from a copy in its
scratch folder, then answers requests: read an attribute, call, index, iterate, convert to a
value, import a library module, test ``isinstance``. Results go back by value when they are plain
data, else as handles to objects that stay in the runner.
"""

from __future__ import annotations

import builtins
import importlib
import itertools
import os
import random
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np

from course_lib.grading import sandbox
from course_lib.grading.protocol import Channel, Endpoint, ProtocolError

MAX_ITEMS = 1_000_000  # Items of one iteration sent to the judge, at most.
MAX_SUBMISSION_BYTES = 20 * 1024 * 1024  # A lecture file larger than this is not graded.
RUNNER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def _safe_text(value) -> str:
    try:
        return str(value)[:2000]
    except BaseException:  # noqa: B036 - a student's __str__ may raise anything.
        return f"<{type(value).__name__}>"


class RunnerEndpoint(Endpoint):
    """Answers the judge's requests about the student's module; id 0 is the module itself."""

    def __init__(self, channel: Channel, module):
        super().__init__(channel)
        self.objects = {0: module}

    def reference(self, value) -> dict:
        index = len(self.objects)
        self.objects[index] = value
        return {"$": "handle", "id": index, "type": type(value).__qualname__}

    def resolve(self, node: dict):
        if node.get("$") == "ref" and node.get("id") in self.objects:
            return self.objects[node["id"]]
        if node.get("$") == "callback" and type(node.get("id")) is int:
            return self._callback(node["id"])
        raise ProtocolError(f"an unexpected value tagged {node.get('$')!r}")

    def _callback(self, index: int):
        def call_judge(*args, **kwargs):
            return self.request("callback", target=index, args=list(args), kwargs=kwargs)

        return call_judge

    def remote_error(self, error: dict) -> BaseException:
        kind = getattr(builtins, str(error.get("type")), None)
        message = str(error.get("message", ""))
        if isinstance(kind, type) and issubclass(kind, Exception):
            return kind(message)
        return RuntimeError(message)

    def handle(self, op: str, fields: dict):
        header, buffers = fields["header"], fields["buffers"]
        target = self.objects.get(self.value(header, buffers, "target") or 0)
        if target is None:
            raise ProtocolError("a request about an unknown object")
        if op == "getattr":
            return getattr(target, str(self.value(header, buffers, "name")))
        if op == "setattr":
            setattr(
                target,
                str(self.value(header, buffers, "name")),
                self.value(header, buffers, "value"),
            )
            return None
        if op == "call":
            args = self.value(header, buffers, "args")
            kwargs = self.value(header, buffers, "kwargs")
            result = target(*args, **kwargs)
            # The judge may ask for the arguments back, to see what the call modified in place.
            return [result, args, kwargs] if self.value(header, buffers, "observe") else result
        if op == "getitem":
            return target[self.value(header, buffers, "key")]
        if op == "contains":
            return bool(self.value(header, buffers, "item") in target)
        if op == "import":
            return importlib.import_module(str(self.value(header, buffers, "name")))
        if op == "isinstance":
            kind = self.value(header, buffers, "kind")
            if isinstance(kind, str):
                module, _, name = kind.rpartition(".")
                kind = getattr(importlib.import_module(module), name)
            return bool(isinstance(target, kind))
        if op == "mro":
            return [f"{k.__module__}.{k.__qualname__}" for k in type(target).__mro__]
        conversions = {"len": len, "iter": _bounded_list, "str": str, "float": float, "int": int}
        conversions |= {"bool": bool, "array": np.asarray}
        if op in conversions:
            return conversions[op](target)
        raise ProtocolError(f"an unknown request {op!r}")


def _bounded_list(iterable) -> list:
    items = list(itertools.islice(iter(iterable), MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise ValueError(f"an iteration of more than {MAX_ITEMS} items")
    return items


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def serve(sock: socket.socket, job: dict, confinement: sandbox.Confinement) -> None:
    """In the confined runner: import the student's file, report, then answer requests.

    ``job`` holds the file's bytes, its name, the lecture, and the path to show in messages.
    """
    source, name, lecture = job["bytes"], job["name"], job["lecture"]
    from course_lib.student.submission import SubmissionError, import_lecture

    level = confinement.level
    scratch = Path(sandbox.SCRATCH if level == "namespaces" else tempfile.mkdtemp())
    sys.argv = [name]  # The judge's command line (report and test paths) is none of its business.
    os.environ.clear()
    os.environ.update(RUNNER_ENV, HOME=str(scratch), TMPDIR=str(scratch / "tmp"))
    os.environ.update(CAMP_SEED="0", PATH="/usr/local/bin:/usr/bin:/bin")
    (scratch / "tmp").mkdir(exist_ok=True)
    tempfile.tempdir = str(scratch / "tmp")
    os.chdir(scratch)
    path = scratch / "submission" / Path(name).name
    path.parent.mkdir()
    path.write_bytes(source)
    channel = Channel(sock)
    # Before any student code runs: the level, and each safeguard this machine lacks.
    channel.send({"kind": "confined", "isolation": level, "missing": confinement.missing}, [])
    _seed(0)
    try:
        module, error = import_lecture(path, lecture), None
    except SubmissionError as failure:
        module, error = None, str(failure).replace(str(path), job["shown_as"])
    channel.send({"kind": "ready", "error": error}, [])
    if module is None:
        return
    _seed(0)
    endpoint = RunnerEndpoint(channel, module)
    while True:
        header, buffers = channel.recv()
        if header.get("kind") != "request" or type(header.get("op")) is not str:
            raise ProtocolError("the judge sent something other than a request")
        endpoint.answer(header, buffers)


def _close_other_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def run_runner(sock: socket.socket, output: int, job: dict) -> None:
    """In a fresh fork of the zygote: redirect, confine, serve; never returns."""
    code = 0
    try:
        os.setsid()
        sandbox.die_with_parent()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        _close_other_fds(sock.fileno())
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        limits = sandbox.Limits(**job["limits"])
        confinement = sandbox.confine(job["root"], job["slot"], limits)
        serve(sock, job, confinement)
    except BaseException:  # noqa: B036 - whatever happens, never return into the zygote.
        code = 1
    finally:
        os._exit(code)


def read_submission(path: str) -> bytes:
    """The submission's bytes; a symbolic link or an oversized file gives a note instead."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        return f"raise ImportError({f'cannot read the submission: {error.strerror}'!r})".encode()
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_SUBMISSION_BYTES + 1)
    if len(data) > MAX_SUBMISSION_BYTES:
        return b"raise ImportError('the submission is larger than 20 MB')"
    return data
