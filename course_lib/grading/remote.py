"""The judge's side of the channel: runners, handles and callbacks (Lecture 01's grader).

A ``course_lib.grading.zygote.Zygote``, a clean warm process (never a fork of the judge), forks the
sandboxed runners. ``RunnerClient`` talks to one runner: the ``sub`` fixture is its module
``Handle``, so a test writes ``sub.softmax(x)`` as before and gets a plain value back. A ``Handle``
stands for an object that stays in the runner (a Keras layer, a model, a function): reading an
attribute, calling it, indexing or iterating it asks the runner. It can never be compared, hashed
or truth-tested in the judge, so an object that claims to equal everything gets nowhere: a test
must turn it into a value (``np.asarray``, ``float``, ``int``, ``len``, ``str``), which the runner
sends by value and the judge decodes into exact builtin and numpy types.

The judge never waits on student code for ever: every reply is awaited until the current test's
time limit or the end of the lecture's time budget (``course_lib.grading.clock.Clock``), whichever
comes first. Past it, the call raises ``TimeLimit`` naming the student's function, the runner is
killed and a fresh one (the same file imported again) serves the next test.
"""

from __future__ import annotations

import builtins
import functools
import os
import threading
import time
import types

from course_lib.grading.clock import REPEAT_LIMIT_S, Clock, TimeLimit
from course_lib.grading.protocol import Channel, ChannelTimeout, Endpoint, ProtocolError
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


class RunnerGone(RuntimeError):
    """A request to a runner that had already stopped (the lecture's status says how)."""


class Handle:
    """An object that lives in the runner. See the module docstring."""

    def __init__(self, client: RunnerClient, index: int, type_name: str, name: str = ""):
        object.__setattr__(self, "_camp_client", client)
        object.__setattr__(self, "_camp_id", index)
        object.__setattr__(self, "_camp_type", type_name)
        object.__setattr__(self, "_camp_name", name)  # How messages name it: "relu", "model.fit"
        object.__setattr__(self, "_camp_student", index == 0)  # Reached from the student's module
        object.__setattr__(self, "_camp_generation", client.generation)

    def _camp(self, op: str, label: str = "", function: str = "", **values):
        client = self._camp_client
        if self._camp_id != 0 and self._camp_generation != client.generation:
            raise RuntimeError(
                f"This {self._camp_type} came from the student's code before it was restarted "
                "(after a time limit); get it again."
            )
        label = label or f"{op} on {self._camp_name or self._camp_type}"
        function = function or (self._camp_name if self._camp_student else "")
        return client.request(op, label=label, function=function, target=self._camp_id, **values)

    def _camp_named(self, value, name: str):
        if isinstance(value, Handle) and not value._camp_name:
            object.__setattr__(value, "_camp_name", name)
            object.__setattr__(value, "_camp_student", self._camp_student)
        return value

    def _camp_call_label(self, args, kwargs) -> tuple[str, str]:
        """How a call is named if it runs out of time, and the student's function it runs."""
        name = self._camp_name or self._camp_type
        if self._camp_student:
            return f"{name}(...)", name
        for value in [*args, *kwargs.values()]:  # A library helper running a student function.
            if isinstance(value, Handle) and value._camp_student and value._camp_name:
                return f"{value._camp_name}(...), run by {name},", value._camp_name
        return f"{name}(...)", ""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        full = f"{self._camp_name}.{name}" if self._camp_name else name
        return self._camp_named(self._camp("getattr", label=f"reading {full}", name=name), full)

    def __mro_entries__(self, bases):
        raise TypeError(
            f"A class from the student's code ({self._camp_type}) cannot be subclassed in the "
            "judge; build the subclass where it lives: library(sub, 'builtins').type(...)."
        )

    def __setattr__(self, name: str, value) -> None:
        self._camp("setattr", name=name, value=value)

    def __call__(self, *args, **kwargs):
        label, function = self._camp_call_label(args, kwargs)
        result = self._camp("call", label, function, args=list(args), kwargs=kwargs)
        return self._camp_named(result, f"{self._camp_name or self._camp_type}(...)")

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
    """The judge's connection to one runner.

    Args:
        timeout_s: how long to wait for the runner to import the student's file; past it,
            ``import_timeout`` holds those seconds (None: wait as long as it takes).
        clock: the deadlines of every later reply (``Clock``); None: no limit.
    """

    def __init__(
        self,
        channel: Channel,
        pid: int,
        output_fd: int,
        timeout_s: float | None = None,
        clock: Clock | None = None,
    ):
        super().__init__(channel)
        self.pid, self.callbacks, self.dead = pid, {}, None
        self.clock, self.generation, self.stuck = clock or Clock(), 0, None
        # Student functions that ran out of time, kept across restarts, and when the wait on a
        # call to one of them ends (REPEAT_LIMIT_S after it was sent).
        self.timed_out: set[str] = set()
        self.call_end: float | None = None
        self.output = bytearray()
        self._drain = threading.Thread(target=self._read_output, args=(output_fd,), daemon=True)
        self._drain.start()
        self.isolation, self.import_error, self.import_timeout = None, None, None
        self.module = Handle(self, 0, "module")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            header, _ = channel.recv(timeout_s=timeout_s)
            if header.get("kind") != "confined" or header.get("isolation") not in LEVELS:
                raise ProtocolError("the runner did not confine itself")
            self.isolation = header["isolation"]
            left = None if deadline is None else deadline - time.monotonic()
            header, _ = channel.recv(timeout_s=left)
            if header.get("kind") != "ready":
                raise ProtocolError("the runner sent something other than its greeting")
        except ChannelTimeout:
            self.import_timeout = timeout_s
            self.dead = f"while importing the student's file: no answer within {timeout_s:g} s"
            return
        except ProtocolError as error:
            self.dead = f"while importing the student's file: {error}"
            return
        error = header.get("error")
        self.import_error = str(error)[:2000] if error is not None else None

    passed_through = (ProtocolError, TimeLimit)

    def adopt(self, fresh: RunnerClient) -> None:
        """Go on with ``fresh``, a new runner of the same file, after this one was stopped.

        The module handle stays valid; every other handle belongs to the old runner and is
        refused from now on.
        """
        self.channel, self.pid, self.output, self._drain = (
            fresh.channel,
            fresh.pid,
            fresh.output,
            fresh._drain,
        )
        self.callbacks, self.dead, self.stuck = {}, fresh.dead, None
        self.import_error, self.import_timeout = fresh.import_error, fresh.import_timeout
        self.isolation = fresh.isolation or self.isolation
        self.generation += 1

    def reply_timeout(self) -> float | None:
        remaining = self.clock.remaining(self.pid)
        if self.call_end is None:
            return remaining
        left = self.call_end - time.monotonic()
        return left if remaining is None else min(left, remaining)

    def _read_output(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                if len(self.output) < OUTPUT_CAP:
                    self.output += chunk[: OUTPUT_CAP - len(self.output)]

    def reference(self, value) -> dict:
        if isinstance(value, Handle) and value._camp_client is self:
            if value._camp_id != 0 and value._camp_generation != self.generation:
                raise RuntimeError("An object from before the runner was restarted was sent.")
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

    def request(self, op: str, *, label: str = "", function: str = "", **values):
        """Send a request and wait for its reply; ``label`` names it if time runs out."""
        if self.stuck is not None:
            raise TimeLimit(*self.stuck)
        if self.dead is not None:
            raise RunnerGone(f"The student's code stopped earlier ({self.dead}).")
        outer_end = self.call_end
        repeat = bool(function) and function in self.timed_out and outer_end is None
        if repeat:
            self.call_end = time.monotonic() + REPEAT_LIMIT_S
        try:
            return super().request(op, **values)
        except ChannelTimeout:
            if self.stuck is not None:  # A nested request (a callback's) ran out first.
                raise TimeLimit(*self.stuck) from None
            label = label or f"The student's code ({op})"
            remaining = self.clock.remaining(self.pid)
            if repeat and (remaining is None or remaining > 0):
                expired = TimeLimit(
                    f"{label} did not finish within {REPEAT_LIMIT_S:g} s; it already ran out of "
                    "time in an earlier test.",
                    function,
                )
            else:
                expired = self.clock.expired(label, function, self.pid)
            if expired.function and not expired.spent:
                self.timed_out.add(expired.function)
            self.stuck = (str(expired), expired.function, expired.spent)
            raise expired from None
        except ProtocolError as error:
            self.dead = str(error)
            raise RuntimeError(f"The student's code broke the grading channel: {error}.") from None
        finally:
            self.call_end = outer_end
