"""``tf.data`` pipelines over COCO records (introduced in Lecture 02).

Three views of :class:`course_lib.data.coco.ImageRecord` lists, all built the same way:
decode (JPEG or PNG), resize, scale to [0, 1] float32 (or apply a given preprocessing
function to the 0-255 float image), optionally cache, shuffle with a seed, batch, prefetch.

- :func:`caption_dataset`: ``(image, caption)``, one element per caption.
- :func:`label_dataset`: ``(image, multi_hot)`` over the category table.
- :func:`box_dataset`: ``(image, {"boxes", "classes", "mask"})`` padded to ``max_boxes``.

Order is deterministic: records by image id, captions in file order; with ``shuffle_seed``
the shuffled order is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from course_lib.data.coco import Category, ImageRecord

Preprocess = Callable[[tf.Tensor], tf.Tensor]


def load_image(
    path: tf.Tensor, image_size: tuple[int, int], preprocess: Preprocess | None = None
) -> tf.Tensor:
    """Read, decode and resize one image to ``image_size`` (height, width), float32.

    Without ``preprocess`` the values lie in [0, 1]; with it, ``preprocess`` receives the
    resized image with values in [0, 255] (what ``keras.applications`` preprocessors expect).
    """
    data = tf.io.read_file(path)
    # The accurate integer DCT decodes JPEGs exactly as Pillow and libjpeg's default do.
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
    )
    image = tf.image.resize(image, image_size, method="bilinear", antialias=True)
    image = tf.ensure_shape(image, (*image_size, 3))
    if preprocess is None:
        return tf.clip_by_value(image / 255.0, 0.0, 1.0)
    return preprocess(image)


def _finish(
    ds: tf.data.Dataset,
    n: int,
    image_size: tuple[int, int],
    preprocess: Preprocess | None,
    batch_size: int | None,
    shuffle_seed: int | None,
    cache: bool | str,
    shuffle_buffer: int | None,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """Turn a dataset of ``(path, target)`` into ``(image, target)``, batched and prefetched."""
    if len(image_size) != 2:
        raise ValueError(f"Expected image_size (height, width); received {image_size!r}.")
    image_size = (int(image_size[0]), int(image_size[1]))
    buffer = max(1, shuffle_buffer or n)
    if shuffle_seed is not None and not cache:
        # Shuffling paths before decoding costs no memory, so the buffer can hold everything.
        ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda path, target: (load_image(path, image_size, preprocess), target),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
        if shuffle_seed is not None:
            ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def _paths(records: Sequence[ImageRecord]) -> list[str]:
    return [str(r.path) for r in records]


def caption_dataset(
    records: Sequence[ImageRecord],
    image_size: tuple[int, int] = (224, 224),
    batch_size: int | None = 32,
    *,
    shuffle_seed: int | None = None,
    preprocess: Preprocess | None = None,
    cache: bool | str = False,
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
    caption_fn: Callable[[str], str] | None = None,
) -> tf.data.Dataset:
    """Yield ``(image, caption)`` with one element per caption; captions are ``tf.string``.

    ``caption_fn`` (e.g. :func:`course_lib.data.coco.normalize_caption`) is applied to each
    caption; by default captions pass through unchanged.
    """
    paths, captions = [], []
    for r in records:
        for c in r.captions:
            paths.append(str(r.path))
            captions.append(caption_fn(c) if caption_fn is not None else c)
    if not paths:
        raise ValueError("Expected records with captions; received none (load captions_*.json).")
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(captions, tf.string)))
    return _finish(
        ds,
        len(paths),
        image_size,
        preprocess,
        batch_size,
        shuffle_seed,
        cache,
        shuffle_buffer,
        drop_remainder,
    )


def multi_hot(records: Sequence[ImageRecord], categories: Sequence[Category]) -> np.ndarray:
    """Return a float32 ``(len(records), len(categories))`` matrix: 1 where a category appears."""
    column = {c.id: i for i, c in enumerate(categories)}
    out = np.zeros((len(records), len(categories)), np.float32)
    for row, r in enumerate(records):
        for label in r.labels:
            if label not in column:
                raise ValueError(
                    f"Expected labels from the category table; image {r.image_id} has {label}."
                )
            out[row, column[label]] = 1.0
    return out


def label_dataset(
    records: Sequence[ImageRecord],
    categories: Sequence[Category],
    image_size: tuple[int, int] = (224, 224),
    batch_size: int | None = 32,
    *,
    shuffle_seed: int | None = None,
    preprocess: Preprocess | None = None,
    cache: bool | str = False,
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Yield ``(image, multi_hot)``; ``multi_hot`` is float32 over ``categories`` in order."""
    if not categories:
        raise ValueError("Expected a category table; received none (load instances_*.json).")
    if not records:
        raise ValueError("Expected at least one record; received none.")
    ds = tf.data.Dataset.from_tensor_slices((_paths(records), multi_hot(records, categories)))
    return _finish(
        ds,
        len(records),
        image_size,
        preprocess,
        batch_size,
        shuffle_seed,
        cache,
        shuffle_buffer,
        drop_remainder,
    )


def padded_boxes(
    records: Sequence[ImageRecord], categories: Sequence[Category], max_boxes: int | None = None
) -> dict[str, np.ndarray]:
    """Return padded arrays: ``boxes`` (n, M, 4) float32, ``classes`` (n, M) int32, ``mask``.

    Boxes are ``[x, y, w, h]`` divided by the image's width and height, so they stay valid after
    resizing; ``classes`` are positions in ``categories`` (-1 in padding); ``mask`` is True for
    real boxes. ``M`` is ``max_boxes`` (later boxes are dropped) or the largest box count.
    """
    column = {c.id: i for i, c in enumerate(categories)}
    m = max_boxes if max_boxes is not None else max([len(r.boxes) for r in records] + [1])
    if m < 1:
        raise ValueError(f"Expected max_boxes >= 1; received {max_boxes}.")
    boxes = np.zeros((len(records), m, 4), np.float32)
    classes = np.full((len(records), m), -1, np.int32)
    mask = np.zeros((len(records), m), bool)
    for row, r in enumerate(records):
        scale = np.array([r.width, r.height, r.width, r.height], np.float32)
        for j, (category_id, bbox) in enumerate(r.boxes[:m]):
            boxes[row, j] = np.asarray(bbox, np.float32) / scale
            classes[row, j] = column[category_id]
            mask[row, j] = True
    return {"boxes": boxes, "classes": classes, "mask": mask}


def box_dataset(
    records: Sequence[ImageRecord],
    categories: Sequence[Category],
    image_size: tuple[int, int] = (224, 224),
    batch_size: int | None = 32,
    *,
    max_boxes: int | None = None,
    shuffle_seed: int | None = None,
    preprocess: Preprocess | None = None,
    cache: bool | str = False,
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Yield ``(image, {"boxes", "classes", "mask"})`` as described in :func:`padded_boxes`."""
    if not records:
        raise ValueError("Expected at least one record; received none.")
    targets = padded_boxes(records, categories, max_boxes)
    ds = tf.data.Dataset.from_tensor_slices((_paths(records), targets))
    return _finish(
        ds,
        len(records),
        image_size,
        preprocess,
        batch_size,
        shuffle_seed,
        cache,
        shuffle_buffer,
        drop_remainder,
    )
