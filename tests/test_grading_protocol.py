"""The judge-runner protocol: values cross by value, exactly typed, and garbage is refused."""

import json
import math
import socket
import struct

import numpy as np
import pytest

from course_lib.grading.protocol import Channel, ChannelTimeout, ProtocolError, decode, encode


def _no_reference(value):
    raise TypeError(f"unexpected {type(value).__name__}")


def _round_trip(value):
    buffers = []
    node = encode(value, buffers, _no_reference)
    return decode(json.loads(json.dumps(node)), buffers, _no_reference)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        -3,
        2**70,
        1.5,
        "text [/bold]",
        b"\x00\xff",
        [1, [2, (3, "x")], {"a": {4, 5}}],
        {(1, 2): "tuple key", 3: None},
    ],
)
def test_plain_values_round_trip_exactly(value):
    assert _round_trip(value) == value
    assert type(_round_trip(value)) is type(value)


def test_special_floats_and_numpy_values_keep_their_type_and_shape():
    nan, inf = _round_trip(math.nan), _round_trip(-math.inf)
    assert math.isnan(nan) and inf == -math.inf
    for array in [np.arange(6.0).reshape(2, 3)[:, ::2], np.array(2.5), np.array(["ab", "c"])]:
        back = _round_trip(array)
        assert type(back) is np.ndarray and back.dtype == array.dtype
        assert back.shape == array.shape and np.array_equal(back, array)
    scalar = _round_trip(np.float32(1.25))
    assert type(scalar) is np.float32 and scalar == 1.25
    assert _round_trip(np.dtype("int16")) == np.dtype("int16")


def test_an_ndarray_subclass_arrives_as_a_plain_ndarray():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    back = _round_trip(np.zeros(3).view(Liar))
    assert type(back) is np.ndarray
    assert not np.array_equal(back, np.ones(3))


def test_other_objects_become_references():
    seen = []
    buffers = []
    node = encode([object()], buffers, lambda value: seen.append(value) or {"$": "handle"})
    assert node == [{"$": "handle"}] and len(seen) == 1


@pytest.mark.parametrize(
    "node, buffers, message",
    [
        ({"$": "nd", "dtype": "|O", "shape": [1], "buf": 0}, [b"x" * 8], "dtype object"),
        ({"$": "nd", "dtype": "<f8", "shape": [2], "buf": 0}, [b"x" * 8], "do not match"),
        ({"$": "nd", "dtype": "<f8", "shape": [-1], "buf": 0}, [b""], "shape"),
        ({"$": "dtype", "v": "O"}, [], "cannot be sent"),
        ({"$": "float", "v": "1e309"}, [], "malformed"),
        ({"$": "callback", "id": 0}, [], "unexpected value tagged 'callback'"),
        ({"no": "tag"}, [], "unexpected value"),
    ],
)
def test_malformed_values_are_protocol_errors(node, buffers, message):
    def refuse(node):
        raise ProtocolError(f"an unexpected value tagged {node.get('$')!r}")

    with pytest.raises(ProtocolError, match=message):
        decode(node, buffers, refuse)


def test_deep_nesting_is_refused():
    node = []
    for _ in range(200):
        node = [node]
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode(node, [], _no_reference)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"garbage!", "header of"),
        (struct.pack(">I", 5) + b"{nope", "not JSON"),
        (struct.pack(">I", 2) + b"[]", "buffer list"),
        (struct.pack(">I", 3) + b"{}", "closed"),
    ],
)
def test_garbage_on_the_channel_is_a_protocol_error(data, message):
    judge, runner = socket.socketpair()
    runner.sendall(data)
    runner.close()
    with pytest.raises(ProtocolError, match=message):
        Channel(judge).recv(timeout_s=5)


def test_a_silent_channel_times_out():
    judge, runner = socket.socketpair()
    with pytest.raises(ProtocolError, match="no answer in time"):
        Channel(judge).recv(timeout_s=0.2)
    runner.close()


def test_messages_carry_arrays_over_a_socket():
    judge, runner = socket.socketpair()
    buffers = []
    value = {"x": np.arange(5, dtype=np.int64)}
    Channel(runner).send({"kind": "reply", "value": encode(value, buffers, _no_reference)}, buffers)
    header, received = Channel(judge).recv(timeout_s=5)
    back = decode(header["value"], received, _no_reference)
    assert np.array_equal(back["x"], value["x"]) and back["x"].dtype == np.int64


def test_a_timeout_is_its_own_protocol_error_and_leaves_no_timeout_behind():
    judge, runner = socket.socketpair()
    channel = Channel(judge)
    with pytest.raises(ChannelTimeout):
        channel.recv(timeout_s=0.05)
    # A later wait without a deadline waits as long as it takes: the socket's timeout is reset.
    assert judge.gettimeout() is not None
    Channel(runner).send({"kind": "reply"}, [])
    channel.recv(timeout_s=None)
    assert judge.gettimeout() is None
    assert issubclass(ChannelTimeout, ProtocolError)
