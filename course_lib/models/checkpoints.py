"""Read PyTorch checkpoints into numpy arrays without PyTorch (introduced in Lecture 03).

Lecture 03 loads real ImageNet weights of EfficientNet-Lite0 that ship as a PyTorch checkpoint
(``.pth``). Installing PyTorch only to read 296 arrays would cost gigabytes, and ``torch.load``
of an untrusted file runs arbitrary code, so this module reads the two formats ``torch.save``
writes with a *restricted* unpickler:

- the legacy format (``_use_new_zipfile_serialization=False``, PyTorch < 1.6): five pickles in a
  row (magic number, protocol version, system info, the object whose tensors point to storages
  by persistent id, the list of storage keys), then for each key in that order an int64 element
  count followed by the storage's raw little-endian bytes;
- the zip format (PyTorch >= 1.6): ``<archive>/data.pkl`` plus one file per storage,
  ``<archive>/data/<key>``.

Only the globals a state dict needs are resolved (``collections.OrderedDict``, the tensor
rebuild functions and the storage types); any other global raises ``pickle.UnpicklingError``.

    from course_lib.models.checkpoints import load_state_dict
    weights = load_state_dict("efficientnet-lite0.pth")  # {"_conv_stem.weight": ndarray, ...}
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # First pickle of every legacy checkpoint.
PROTOCOL_VERSION = 1001  # Second pickle of a legacy checkpoint.
# Element types of torch's storage classes, little-endian (bfloat16 has no numpy type).
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands for ``torch.FloatStorage`` and its siblings: only the element type matters."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _StorageRef:
    """A storage named by a persistent id; its bytes are read after the pickle."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor as a view (offset, shape, strides in elements) into a storage."""

    def __init__(self, storage: _StorageRef, offset: int, shape: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


class _OrderedDict(collections.OrderedDict):
    """An OrderedDict that accepts (and drops) the ``_metadata`` attribute of state dicts."""

    def __setstate__(self, state) -> None:
        pass


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *_unused):
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError(f"Expected a storage; received {type(storage).__name__}.")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_unused):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of ``_ALLOWED``; storages come back as ``_StorageRef``."""

    def __init__(self, file, storages: dict[str, _StorageRef]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing global {module}.{name}: a checkpoint may only hold tensors, storages "
                "and (ordered) dicts."
            ) from None

    def persistent_load(self, pid):
        # pid = ("storage", storage type, key, location, numel[, view metadata]).
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"Expected a storage persistent id; received {pid!r}.")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
            raise pickle.UnpicklingError(f"Malformed storage persistent id {pid!r}.")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("Storage views (PyTorch < 0.4 files) are not supported.")
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        return self.storages[key]


def _safe_load(file, storages: dict[str, _StorageRef]):
    return _RestrictedUnpickler(file, storages).load()


def _materialize(obj):
    """Replace every ``_TensorRef`` in dicts, lists and tuples by a numpy array (a copy)."""
    if isinstance(obj, _TensorRef):
        data = obj.storage.data
        if data is None:
            raise ValueError(f"Storage {obj.storage.key} has no data in the checkpoint.")
        if any(s < 0 for s in obj.stride) or obj.offset < 0:
            raise ValueError(f"Expected non-negative strides and offset; received {obj.stride}.")
        if len(obj.stride) != len(obj.shape):
            raise ValueError(f"Expected one stride per dimension; received {obj.stride}.")
        if 0 in obj.shape:
            return np.zeros(obj.shape, data.dtype)
        last = obj.offset + sum((n - 1) * s for n, s in zip(obj.shape, obj.stride, strict=True))
        if last >= data.size:
            raise ValueError(
                f"Tensor of shape {obj.shape} with strides {obj.stride} at offset {obj.offset} "
                f"reaches element {last}; storage {obj.storage.key} has {data.size}."
            )
        view = np.lib.stride_tricks.as_strided(
            data[obj.offset :],
            shape=obj.shape,
            strides=[s * data.itemsize for s in obj.stride],
            writeable=False,
        )
        return np.array(view, order="C")  # A C-contiguous copy that owns its memory.
    if isinstance(obj, dict):
        return {key: _materialize(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(value) for value in obj)
    return obj


def _load_legacy(file) -> object:
    magic = _safe_load(file, {})
    if magic != MAGIC_NUMBER:
        raise ValueError(
            f"Expected a PyTorch checkpoint (magic {MAGIC_NUMBER:#x}); received {magic!r}."
        )
    protocol = _safe_load(file, {})
    if protocol != PROTOCOL_VERSION:
        raise ValueError(f"Expected protocol version {PROTOCOL_VERSION}; received {protocol!r}.")
    sys_info = _safe_load(file, {})
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ValueError("Expected a checkpoint saved on a little-endian machine.")
    storages: dict[str, _StorageRef] = {}
    result = _safe_load(file, storages)
    keys = _safe_load(file, {})
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise ValueError("The list of storage keys does not match the storages of the tensors.")
    for key in map(str, keys):
        storage = storages[key]
        numel = int(np.frombuffer(_read_exactly(file, 8), "<i8")[0])
        if numel != storage.numel:
            raise ValueError(
                f"Storage {key}: expected {storage.numel} elements; file says {numel}."
            )
        raw = _read_exactly(file, numel * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, storage.dtype)
    return result


def _read_exactly(file, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ValueError(f"Truncated checkpoint: expected {size} more bytes; found {len(data)}.")
    return data


def _load_zip(path: Path) -> object:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the zip; found {pickles}.")
        prefix = pickles[0][: -len("data.pkl")]
        storages: dict[str, _StorageRef] = {}
        result = _safe_load(io.BytesIO(archive.read(pickles[0])), storages)
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            if len(raw) < storage.numel * storage.dtype.itemsize:
                raise ValueError(
                    f"{path}: storage {key} is shorter than its {storage.numel} elements."
                )
            storage.data = np.frombuffer(
                raw[: storage.numel * storage.dtype.itemsize], storage.dtype
            )
    return result


def load_checkpoint(path: str | Path) -> object:
    """Read a ``torch.save`` file (legacy or zip format) without PyTorch or arbitrary code.

    Args:
        path: the ``.pth``/``.pt`` file.

    Returns:
        The saved object with every tensor replaced by a numpy array of the same shape and
        dtype; ``OrderedDict``s become plain dicts (their order is kept).
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _materialize(_load_zip(path))
    with open(path, "rb") as file:
        return _materialize(_load_legacy(file))


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a checkpoint that holds a state dict (name → tensor) as name → numpy array.

    A checkpoint that wraps its state dict as ``{"state_dict": ...}`` is unwrapped.
    """
    obj = load_checkpoint(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(
            f"{path}: expected a state dict of tensors; received {type(obj).__name__}."
        )
    return obj
