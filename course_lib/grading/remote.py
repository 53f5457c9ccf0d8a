"""The judge's side of the channel: runners, handles and callbacks (Lecture 01's grader).

``Zygote`` is a clean warm process (never a fork of the judge) that forks sandboxed runners on
request. ``RunnerClient`` talks to one runner: the ``sub`` fixture is its module ``Handle``, so a
test writes ``sub.softmax(x)`` as before and gets a plain value back. A ``Handle`` stands for an
object that stays in the runner (a Keras layer, a model, a function): reading an attribute,
calling it, indexing or iterating it asks the runner. It can never be compared, hashed or
truth-tested in the judge, so an object that claims to equal everything gets nowhere: a test must
turn it into a value (``np.asarray``, ``float``, ``int``, ``len``, ``str``), which the runner sends
by value and the judge decodes into exact builtin and numpy types.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import signal
import socket
import threading
import time
import types

from course_lib.grading.protocol import Channel, Endpoint, ProtocolError
from course_lib.grading.sandbox import LEVELS

OUTPUT_CAP = 1024 * 1024  # Bytes of a runner's printed output kept by the judge.
CALLBACK_TYPES = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    functools.partial,
)  # Judge objects that may be sent as callbacks: functions, never a layer or a model.


class RemoteError(Exception):
    """An exception raised by student code that has no builtin counterpart in the judge."""


class Handle:
    """An object that lives in the runner. See the module docstring."""

    def __init__(self, client: RunnerClient, index: int, type_name: str):
        object.__setattr__(self, "_camp_client", client)
        object.__setattr__(self, "_camp_id", index)
        object.__setattr__(self, "_camp_type", type_name)

    def _camp(self, op: str, **values):
        return self._camp_client.request(op, target=self._camp_id, **values)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._camp("getattr", name=name)

    def __mro_entries__(self, bases):
        raise TypeError(
            f"A class from the student's code ({self._camp_type}) cannot be subclassed in the "
            "judge; build the subclass where it lives: library(sub, 'builtins').type(...)."
        )

    def __setattr__(self, name: str, value) -> None:
        self._camp("setattr", name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._camp("call", args=list(args), kwargs=kwargs)

    def __getitem__(self, key):
        return self._camp("getitem", key=key)

    def __contains__(self, item) -> bool:
        return _exact(self._camp("contains", item=item), bool)

    def __len__(self) -> int:
        return _exact(self._camp("len"), int)

    def __iter__(self):
        return iter(_exact(self._camp("iter"), list))

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        value = self._camp("array")
        if isinstance(value, Handle):
            raise TypeError(f"A {self._camp_type} from the student's code is not an array.")
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
        return value.astype(dtype) if dtype is not None else value

    def __float__(self) -> float:
        return float(_exact(self._camp("float"), float))

    def __int__(self) -> int:
        return _exact(self._camp("int"), int)

    __index__ = __int__

    def __str__(self) -> str:
        return _exact(self._camp("str"), str)

    def __repr__(self) -> str:
        return f"<{self._camp_type} from the student's code>"

    def _refuse(self, *_):
        raise TypeError(
            f"A {self._camp_type} from the student's code cannot be compared or truth-tested; "
            "the test must compare its value (np.asarray, float, int, str, len)."
        )

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __hash__ = _refuse


def _exact(value, kind: type):
    if type(value) is not kind and not (kind is float and type(value) is int):
        raise TypeError(f"Expected a {kind.__name__} from the student's code; received {value!r}.")
    return value


class RunnerClient(Endpoint):
    """The judge's connection to one runner."""

    def __init__(self, channel: Channel, pid: int, output_fd: int):
        super().__init__(channel)
        self.pid, self.callbacks, self.dead = pid, {}, None
        self.output = bytearray()
        self._drain = threading.Thread(target=self._read_output, args=(output_fd,), daemon=True)
        self._drain.start()
        self.isolation, self.import_error = None, None
        self.module = Handle(self, 0, "module")
        try:
            header, _ = channel.recv(timeout_s=None)
            if header.get("kind") != "confined" or header.get("isolation") not in LEVELS:
                raise ProtocolError("the runner did not confine itself")
            self.isolation = header["isolation"]
            header, _ = channel.recv(timeout_s=None)
            if header.get("kind") != "ready":
                raise ProtocolError("the runner sent something other than its greeting")
        except ProtocolError as error:
            self.dead = f"while importing the student's file: {error}"
            return
        error = header.get("error")
        self.import_error = str(error)[:2000] if error is not None else None

    def _read_output(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                if len(self.output) < OUTPUT_CAP:
                    self.output += chunk[: OUTPUT_CAP - len(self.output)]

    def reference(self, value) -> dict:
        if isinstance(value, Handle) and value._camp_client is self:
            return {"$": "ref", "id": value._camp_id}
        if isinstance(value, CALLBACK_TYPES):
            self.callbacks[len(self.callbacks)] = value
            return {"$": "callback", "id": len(self.callbacks) - 1}
        raise TypeError(f"A {type(value).__name__} cannot be sent to the student's code.")

    def resolve(self, node: dict):
        if node.get("$") == "handle" and type(node.get("id")) is int:
            return Handle(self, node["id"], str(node.get("type", "object"))[:200])
        raise ProtocolError(f"an unexpected value tagged {node.get('$')!r}")

    def handle(self, op: str, fields: dict):
        header, buffers = fields["header"], fields["buffers"]
        target = self.value(header, buffers, "target")
        if op != "callback" or type(target) is not int or target not in self.callbacks:
            raise ProtocolError(f"an unexpected request {op!r} from the runner")
        args = self.value(header, buffers, "args")
        kwargs = self.value(header, buffers, "kwargs")
        if type(args) is not list or type(kwargs) is not dict:
            raise ProtocolError("a callback without argument lists")
        return self.callbacks[target](*args, **{str(k): v for k, v in kwargs.items()})

    def remote_error(self, error: dict) -> BaseException:
        kind, message = str(error.get("type", "")), str(error.get("message", ""))[:2000]
        builtin = getattr(builtins, kind, None)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            return builtin(message)
        tf_errors = getattr(__import__("sys").modules.get("tensorflow"), "errors", None)
        tf_kind = getattr(tf_errors, kind, None) if tf_errors is not None else None
        if isinstance(tf_kind, type) and issubclass(tf_kind, tf_errors.OpError):
            return tf_kind(None, None, message)
        return RemoteError(f"{kind}: {message}")

    def request(self, op: str, **values):
        if self.dead is not None:
            raise RuntimeError(f"The student's code stopped earlier ({self.dead}).")
        try:
            return super().request(op, **values)
        except ProtocolError as error:
            self.dead = str(error)
            raise RuntimeError(f"The student's code broke the grading channel: {error}.") from None


class Zygote:
    """A clean, warm process (``course_lib.grading.zygote``) that forks the runners."""

    def __init__(self):
        from course_lib.grading import zygote

        self.control, self.pid = zygote.spawn()  # Never a fork of this judge: see zygote.
        self.lock = threading.Lock()

    def start(self, job: dict) -> RunnerClient:
        """Fork a runner for ``job`` (submission, name, lecture, slot, root, limits)."""
        with self.lock:
            self.control.sendall(json.dumps(job).encode())
            message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 2)
        pid = json.loads(message)["pid"]
        return RunnerClient(Channel(socket.socket(fileno=fds[0])), pid, fds[1])

    def wait(self, pid: int, block: bool) -> int | None:
        """The runner's exit code (negative: signal), or None if it still runs and not block."""
        with self.lock:
            self.control.sendall(json.dumps({"op": "wait", "pid": pid, "block": block}).encode())
            return json.loads(self.control.recv(1 << 16))["code"]

    def finish(self, client: RunnerClient) -> int | None:
        """End a runner; return its exit code if it had ended by itself, else None."""
        code = self.wait(client.pid, block=False)
        for _ in range(50 if client.dead is not None else 0):  # It is ending: get its status.
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
