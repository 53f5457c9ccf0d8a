"""The plain-data channel between the judge and the runner (introduced with Lecture 01's grader).

A message is a 4-byte big-endian length, a JSON header, then the raw bytes of the arrays it
carries. Values are numbers, strings, bools, None, bytes, numpy arrays and scalars, TensorFlow
tensors (sent as arrays), and lists, tuples, sets and dicts of them. Anything else travels as a
reference: the runner sends a *handle* to one of its objects, the judge sends a *callback* to one
of its functions.

The judge decodes what the runner sends strictly and by value: every container and array it gets
is an exact builtin or ``np.ndarray`` (never a subclass, never a pickle), with numeric, bool or
string dtypes only, and sizes checked against the bytes received. Why not pickle or rpyc:
unpickling runs code chosen by the sender, and rpyc's netref objects answer ``==`` in the remote
process, which is exactly what an always-equal object exploits.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import sys
import time

import numpy as np

MAX_HEADER_BYTES = 8 * 1024 * 1024  # A JSON header larger than this is a protocol error.
POLL_S = 0.5  # How often a waiting endpoint re-reads its deadline.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # Arrays of one message, in bytes, at most.
MAX_DEPTH = 64  # Nesting depth of containers in one value.
ALLOWED_KINDS = "biufcUS"  # numpy dtype kinds that may cross: numbers, bools and strings.


class ProtocolError(Exception):
    """The other side broke the protocol: garbage, a closed pipe, an oversized or bad value."""


class ChannelTimeout(ProtocolError):
    """No complete message arrived in the time allowed (the other side may still be working)."""


class Channel:
    """Framed messages over a connected stream socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, header: dict, buffers: list[bytes]) -> None:
        header = dict(header, buffers=[len(b) for b in buffers])
        data = json.dumps(header, allow_nan=False).encode()
        try:
            self.sock.sendall(struct.pack(">I", len(data)) + data)
            for buffer in buffers:
                self.sock.sendall(buffer)
        except OSError as error:
            raise ProtocolError(f"the other side closed the channel ({error})") from None

    def readable(self, timeout_s: float) -> bool:
        """True once a message has begun to arrive (or the socket broke) within ``timeout_s``."""
        try:
            return bool(select.select([self.sock], [], [], max(timeout_s, 0.0))[0])
        except (OSError, ValueError):
            return True  # recv then says how the channel broke.

    def _recv_exact(self, size: int, deadline: float | None) -> bytes:
        chunks, remaining = [], size
        while remaining:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(remaining, 1 << 20))
            except TimeoutError:
                raise ChannelTimeout("no answer in time") from None
            except OSError as error:
                raise ProtocolError(f"the channel broke ({error})") from None
            if not chunk:
                raise ProtocolError("the other side closed the channel")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def recv(self, timeout_s: float | None = None) -> tuple[dict, list[bytes]]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        (size,) = struct.unpack(">I", self._recv_exact(4, deadline))
        if size > MAX_HEADER_BYTES:
            raise ProtocolError(f"a message header of {size} bytes (at most {MAX_HEADER_BYTES})")
        try:
            header = json.loads(self._recv_exact(size, deadline))
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"a message that is not JSON ({error})") from None
        sizes = header.get("buffers") if isinstance(header, dict) else None
        if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
            raise ProtocolError("a message without a valid buffer list")
        if sum(sizes) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"a message of {sum(sizes)} bytes (at most {MAX_MESSAGE_BYTES})")
        return header, [self._recv_exact(s, deadline) for s in sizes]


def _array_fields(array: np.ndarray, buffers: list[bytes]) -> dict:
    array = np.asarray(array)
    if array.dtype.kind == "O":  # TensorFlow's string tensors hold bytes objects.
        try:
            array = array.astype(bytes)
        except (TypeError, ValueError):
            pass
    array = np.require(array, requirements="C")  # Keeps 0-d arrays 0-d.
    if array.dtype.kind not in ALLOWED_KINDS:
        raise TypeError(f"arrays of dtype {array.dtype} cannot be sent; use numbers or strings")
    buffers.append(array.tobytes())
    return {"dtype": array.dtype.str, "shape": list(array.shape), "buf": len(buffers) - 1}


def encode(value, buffers: list[bytes], reference, depth: int = 0):
    """Encode ``value`` as JSON-ready data; ``reference(obj)`` encodes anything not plain."""
    if depth > MAX_DEPTH:
        raise TypeError(f"values nested deeper than {MAX_DEPTH} levels cannot be sent")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 2**63 else {"$": "bigint", "v": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if type(value) is bytes:
        buffers.append(value)
        return {"$": "bytes", "buf": len(buffers) - 1}
    if isinstance(value, np.ndarray) and value.dtype.kind in ALLOWED_KINDS:
        return {"$": "nd", **_array_fields(value, buffers)}
    if isinstance(value, np.generic) and value.dtype.kind in ALLOWED_KINDS:
        return {"$": "npscalar", **_array_fields(np.asarray(value), buffers)}
    if isinstance(value, np.dtype):
        return {"$": "dtype", "v": value.str if value.kind in ALLOWED_KINDS else "O"}
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, tf.Tensor | tf.Variable):
        try:
            array = np.asarray(value.numpy())
        except Exception:  # A symbolic tensor has no value: it travels as a handle.
            return reference(value)
        return {"$": "tensor", **_array_fields(array, buffers)}
    if tf is not None and isinstance(value, tf.TensorShape):
        return {"$": "tuple", "items": list(value.as_list()) if value.rank is not None else []}
    if tf is not None and isinstance(value, tf.dtypes.DType):
        return {"$": "tfdtype", "v": value.name}
    if type(value) in (list, tuple, set, frozenset) or (
        isinstance(value, list | tuple) and not hasattr(value, "_fields")
    ):
        items = [encode(item, buffers, reference, depth + 1) for item in value]
        if isinstance(value, list):
            return items
        return {"$": "set" if isinstance(value, set | frozenset) else "tuple", "items": items}
    if isinstance(value, dict):
        pairs = [
            [encode(k, buffers, reference, depth + 1), encode(v, buffers, reference, depth + 1)]
            for k, v in value.items()
        ]
        return {"$": "dict", "items": pairs}
    return reference(value)


def _array(node: dict, buffers: list[bytes]) -> np.ndarray:
    try:
        dtype = np.dtype(str(node["dtype"]))
        shape = tuple(int(n) for n in node["shape"])
        data = buffers[int(node["buf"])]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ProtocolError(f"a malformed array ({error})") from None
    if dtype.kind not in ALLOWED_KINDS or any(n < 0 for n in shape) or dtype.hasobject:
        raise ProtocolError(f"an array of dtype {dtype} or shape {shape}")
    if math.prod(shape) * dtype.itemsize != len(data):
        raise ProtocolError(f"an array whose bytes do not match dtype {dtype} and shape {shape}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(node, buffers: list[bytes], resolve, depth: int = 0):
    """Decode ``node`` into exact builtin and numpy types; ``resolve(node)`` handles references."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"a value nested deeper than {MAX_DEPTH} levels")
    if node is None or type(node) in (bool, str, float):
        return node
    if type(node) is int:
        return node
    if type(node) is list:
        return [decode(item, buffers, resolve, depth + 1) for item in node]
    if type(node) is not dict or type(node.get("$")) is not str:
        raise ProtocolError(f"an unexpected value of type {type(node).__name__}")
    tag = node["$"]
    try:
        if tag in ("tuple", "set"):
            items = [decode(item, buffers, resolve, depth + 1) for item in node["items"]]
            return tuple(items) if tag == "tuple" else set(items)
        if tag == "dict":
            return {
                _key(decode(k, buffers, resolve, depth + 1)): decode(v, buffers, resolve, depth + 1)
                for k, v in node["items"]
            }
        if tag == "nd":
            return _array(node, buffers)
        if tag == "npscalar":
            return _array(node, buffers)[()]
        if tag == "tensor":
            array = _array(node, buffers)
            tf = sys.modules.get("tensorflow")
            return tf.constant(array) if tf is not None else array
        if tag == "bytes":
            return bytes(buffers[int(node["buf"])])
        if tag == "float":
            return float({"nan": "nan", "inf": "inf", "-inf": "-inf"}[node["v"]])
        if tag == "bigint":
            return int(str(node["v"]))
        if tag == "dtype":
            dtype = np.dtype(str(node["v"]))
            if dtype.kind not in ALLOWED_KINDS:
                raise ProtocolError(f"a dtype {dtype} that cannot be sent")
            return dtype
        if tag == "tfdtype":
            import tensorflow as tf

            return tf.as_dtype(str(node["v"]))
    except ProtocolError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ProtocolError(f"a malformed {tag!r} value ({error})") from None
    return resolve(node)


def _key(key):
    try:
        hash(key)
    except TypeError:
        raise ProtocolError("a dict key that cannot be hashed") from None
    return key


class Endpoint:
    """One side of the channel: sends requests, answers the other side's nested requests.

    Subclasses define ``reference`` (encode an object that is not plain data), ``resolve``
    (decode a reference) and ``handle`` (answer a request); a request may arrive while this side
    waits for its own reply (a callback), so waiting and answering share one loop.
    """

    passed_through: tuple[type[BaseException], ...] = (ProtocolError,)  # Never sent as replies.

    def __init__(self, channel: Channel):
        self.channel = channel

    def reference(self, value) -> dict:
        raise TypeError(f"a {type(value).__name__} cannot be sent")

    def resolve(self, node: dict):
        raise ProtocolError(f"an unexpected value tagged {node.get('$')!r}")

    def handle(self, op: str, fields: dict):
        raise ProtocolError(f"an unexpected request {op!r}")

    def remote_error(self, error: dict) -> BaseException:
        return RuntimeError(str(error.get("message", "")))

    def reply_timeout(self) -> float | None:
        """Seconds to wait for the next message of a reply; None waits as long as it takes."""
        return None

    def send(self, message: dict, values: dict) -> None:
        buffers: list[bytes] = []
        message["values"] = {k: encode(v, buffers, self.reference) for k, v in values.items()}
        self.channel.send(message, buffers)

    def value(self, header: dict, buffers: list[bytes], key: str):
        values = header.get("values")
        if type(values) is not dict:
            raise ProtocolError("a message without its values")
        return decode(values.get(key), buffers, self.resolve)

    def request(self, op: str, **values):
        self.send({"kind": "request", "op": op}, values)
        return self.wait()

    def wait(self):
        while True:
            timeout = self.reply_timeout()
            if timeout is not None and timeout <= 0:  # Even if the other side keeps calling back.
                raise ChannelTimeout("no answer in time")
            # Ask again every POLL_S: a deadline counted in CPU seconds moves with the load.
            if timeout is not None and not self.channel.readable(min(timeout, POLL_S)):
                continue
            header, buffers = self.channel.recv(timeout_s=timeout)
            kind = header.get("kind")
            if kind == "reply":
                if "error" in header:
                    error = header["error"]
                    if not isinstance(error, dict):
                        raise ProtocolError("a malformed error reply")
                    raise self.remote_error(error)
                return self.value(header, buffers, "value")
            if kind != "request" or type(header.get("op")) is not str:
                raise ProtocolError(f"an unexpected message kind {kind!r}")
            self.answer(header, buffers)

    def answer(self, header: dict, buffers: list[bytes]) -> None:
        try:
            result = self.handle(header["op"], {"header": header, "buffers": buffers})
            self.send({"kind": "reply"}, {"value": result})
        except self.passed_through:
            raise
        except BaseException as error:  # noqa: B036 - SystemExit in student code is an answer too.
            message = {"type": type(error).__name__, "message": str(error)[:2000]}
            self.channel.send({"kind": "reply", "error": message}, [])
