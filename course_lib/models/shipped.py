"""Shipped reference weights: float16 arrays and a config file side by side (Lecture 06 on).

Every shipped model of the course (the Lecture 02 classifier, the Lecture 06 captioner, the
Lecture 07 detector, the Lecture 08 dual encoder) is a folder under ``course_lib/assets/``
holding ``weights.npz`` (each Keras model's ``get_weights()`` in order, float16, compressed,
keys ``<model>/<index>``) and ``config.json`` (the lecture's constructor arguments and the
measured figures). This module writes and reads that format once for all of them; the loaders
build the lecture's own classes and hand them to ``assign_weights``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError

WEIGHTS_FILE, CONFIG_FILE = "weights.npz", "config.json"


def save_shipped(out_dir: str | Path, models: Mapping[str, object], config: dict) -> Path:
    """Write each Keras model's weights as float16 under its name, and ``config.json``.

    Args:
        out_dir: the asset folder (created if needed).
        models: ``{name: keras model or layer}``; names are the keys' prefixes in the file.
        config: JSON-ready dict (constructor arguments and measured figures).

    Returns:
        ``out_dir`` as a Path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {
        f"{name}/{index:03d}": np.asarray(value).astype(np.float16)
        for name, model in models.items()
        for index, value in enumerate(model.get_weights())
    }
    np.savez_compressed(out_dir / WEIGHTS_FILE, **arrays)
    write_config(out_dir, config)
    return out_dir


def write_config(out_dir: str | Path, config: dict) -> Path:
    """Write (or rewrite, with the measured figures) the folder's ``config.json``."""
    path = Path(out_dir) / CONFIG_FILE
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def read_config(asset_dir: Path, what: str, script: str, extra: Sequence[str] = ()) -> dict:
    """Return the folder's config; a missing file stops with a CourseError naming the script.

    Args:
        asset_dir: the asset folder; what: e.g. "reference detector"; script: the training
            command to suggest; extra: other files the folder must hold (a vocabulary).
    """
    needed = (WEIGHTS_FILE, CONFIG_FILE, *extra)
    missing = [name for name in needed if not (asset_dir / name).is_file()]
    if missing:
        raise CourseError(
            f"{asset_dir}: the {what} lacks {', '.join(missing)}; train it with `{script}`."
        )
    try:
        return json.loads((asset_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CourseError(f"{asset_dir / CONFIG_FILE}: cannot read the config ({err}).") from None


def assign_weights(asset_dir: Path, models: Mapping[str, object], script: str) -> None:
    """Load ``weights.npz`` of ``asset_dir`` into each named model (float32).

    Raises:
        CourseError: when the stored shapes do not fit a model (the lecture's code changed).
    """
    path = asset_dir / WEIGHTS_FILE
    with np.load(path) as stored:
        for name, model in models.items():
            keys = sorted(k for k in stored.files if k.startswith(name + "/"))
            values = [stored[k].astype(np.float32) for k in keys]
            expected = [tuple(w.shape) for w in model.get_weights()]
            if [v.shape for v in values] != expected:
                raise CourseError(
                    f"{path}: the {name} weights do not fit the lecture's model (expected "
                    f"shapes {expected}); retrain with `{script}`."
                )
            model.set_weights(values)
