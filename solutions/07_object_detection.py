# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 07: Object detection
#
# **Builds on:** Lecture 02 (convolutions, batch normalisation, the photo collection and its
# COCO files), Lecture 03 (ResNet blocks as Keras layers: the detector's backbone is made of
# yours), Lecture 05 (search engines, scene-graph queries, ranking).
# **You will build:** intersection over union and box formats; the targets of an anchor-free,
# CenterNet-style detector (a Gaussian peak per object on a class heatmap, plus the box size and
# the sub-cell offset of its centre) and their decoding with 3×3 max-pool peak extraction; the
# detection head as a Keras layer on a backbone of Lecture 03 blocks; CenterNet's penalty-reduced
# focal loss and the L1 box losses; non-maximum suppression, plain and per class; training on the
# photo collection with a `tf.data` pipeline; COCO's mean average precision computed exactly as
# `pycocotools` computes it; and the step from boxes to meaning: spatial relations (on, in, next
# to, wearing, under) that turn detections into a scene graph, and a soft graph match that tells
# "a dog in a basket on a bike" from a dog next to a basket.
#
# A detector gives the search engine of Lecture 05 its second representation from pixels alone:
# which objects are in a photo, where, and how they relate.
#
# Fill in the regions marked `# YOUR CODE HERE`, then run `camp check 07`.

# %% [markdown]
# ## Setup

# %%
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from course_lib.data.cache import cached_collection
from course_lib.data.coco import load_coco
from course_lib.data.pipelines import box_dataset, load_image
from course_lib.data.relevance import ALIASES, parse_query
from course_lib.data.sprites import BY_NAME, CATEGORIES
from course_lib.demo import should_run_demo, show_figure

SEED = 0  # Fixes data generation, shuffling and weight initialisation.
IMAGE_SIZE = 64  # Pixels per side of the photos the detector sees.
STRIDE = 4  # Input pixels per cell of the output maps (CenterNet's output stride).
TRAIN_IMAGES = 4000  # Photos generated for training.
VAL_IMAGES = 500  # Photos generated for validation (the reported COCO mAP).
BACKBONE_WIDTHS = (16, 32, 64, 96)  # Channels of the stem and of the stages at strides 4, 8, 16.
NECK_CHANNELS = 48  # Channels of the feature map at stride 4 that the head reads.
HEAD_CHANNELS = 48  # Channels of the 3×3 convolution of each head branch.
BATCH_NORM_MOMENTUM = 0.9  # Momentum of every batch norm's moving statistics.
HEATMAP_PRIOR = 0.1  # Initial probability of every heatmap cell (sets the output bias).
SIZE_WEIGHT = 0.1  # Weight of the size loss in the total loss (CenterNet's 0.1).
OFFSET_WEIGHT = 1.0  # Weight of the offset loss in the total loss.
MIN_OVERLAP = 0.7  # The IoU that CenterNet's Gaussian radius aims at (its formula misses it).
LEARNING_RATE = 2e-3  # Adam's step size at the first step (cosine decay to 0).
CLIP_NORM = 10.0  # Adam clips each weight's gradient to this L2 norm (Keras' clipnorm).
EPOCHS = 12  # Passes over the training photos.
BATCH_SIZE = 32  # Photos per gradient step.
MAX_DETECTIONS = 100  # Most detections kept per photo.
SCORE_THRESHOLD = 0.05  # Detections below this heatmap score are dropped.
NMS_IOU = 0.6  # Class-wise NMS removes a box overlapping a better one of its class above this.
GRAPH_SCORE = 0.3  # Detections below this score stay out of a predicted scene graph.
WEARABLES = ("glasses", "hat")  # Categories that are worn.
WEARERS = ("dog", "cat", "person", "bear", "teddy bear", "sheep", "horse")  # Who wears them.
CONTAINERS = ("basket", "bowl")  # Categories that things are in.
CATEGORY_NAMES = tuple(c.name for c in CATEGORIES)  # Class index → name, the collection's order.


# %% [markdown]
# ## Boxes and intersection over union
#
# A detector answers *what* and *where*: a class, a score and a box per object. We store boxes
# as `[x_min, y_min, x_max, y_max]` in pixels (float32); COCO files store `[x, y, w, h]` (top-left
# corner, width, height). Two boxes are compared by their **intersection over union**,
#
# $$\mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|},$$
#
# 1 for identical boxes, 0 for disjoint ones. A box without area overlaps nothing: its IoU is 0.
# `box_iou` also reads COCO's `[x, y, w, h]` directly (`box_format="xywh"`), with the areas
# $w \cdot h$ as `pycocotools` computes them: converting to corners first gives the area
# $((x + w) - x)((y + h) - y)$, which in floating point can differ from $w h$ in the last bit.
# That can flip a match: of 200,000 random pairs of boxes with coordinates to a tenth of a
# pixel, 115,662 get another IoU, and 6 of them land on the other side of one of COCO's ten IoU
# thresholds (0.5, 0.55, ..., 0.95).


# %%
def xywh_to_xyxy(boxes, dtype=np.float32) -> np.ndarray:
    """COCO ``[x, y, w, h]`` boxes → ``[x_min, y_min, x_max, y_max]``.

    Args:
        boxes: (N, 4) array-like of numbers; dtype: of the result (COCO evaluation: float64).

    Returns:
        (N, 4) ``dtype`` (float32 by default): ``[x, y, x + w, y + h]``.
    """
    boxes = np.asarray(boxes, dtype=dtype).reshape(-1, 4)
    ### BEGIN SOLUTION
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    ### END SOLUTION


def xyxy_to_xywh(boxes) -> np.ndarray:
    """``[x_min, y_min, x_max, y_max]`` boxes → COCO ``[x, y, w, h]``.

    Args:
        boxes: (N, 4) array-like of numbers.

    Returns:
        (N, 4) float32: ``[x_min, y_min, x_max - x_min, y_max - y_min]``.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    ### BEGIN SOLUTION
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    ### END SOLUTION


def box_iou(boxes_a, boxes_b, dtype=np.float32, box_format: str = "xyxy") -> np.ndarray:
    """IoU of every box of ``boxes_a`` with every box of ``boxes_b``.

    Args:
        boxes_a: (N, 4) boxes in pixels, ``[x_min, y_min, x_max, y_max]`` by default.
        boxes_b: (M, 4) the same.
        dtype: the precision of the computation and the result (COCO evaluation: float64, so
            that an IoU next to a threshold compares as in pycocotools).
        box_format: ``"xyxy"``, or ``"xywh"`` for COCO's ``[x, y, w, h]``: then the areas are
            ``w · h`` and the far corners ``x + w``, ``y + h``, as pycocotools computes them
            (its ``maskUtils.iou`` on boxes), bit for bit.

    Returns:
        (N, M) ``dtype`` (float32 by default); 0 where the union has no area (a side below 0
        counts as 0). No loops: broadcast (N, 1) against (1, M).
    """
    if box_format not in ("xyxy", "xywh"):
        raise ValueError(f"Expected box_format 'xyxy' or 'xywh'; received {box_format!r}.")
    a = np.asarray(boxes_a, dtype=dtype).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=dtype).reshape(-1, 4)
    ### BEGIN SOLUTION
    if box_format == "xywh":
        # Areas from w and h themselves: ((x + w) - x) · ((y + h) - y) can differ in the last
        # bit, and an IoU next to a threshold then lands on the other side of it.
        area_a = np.clip(a[:, 2], 0.0, None) * np.clip(a[:, 3], 0.0, None)  # (N,)
        area_b = np.clip(b[:, 2], 0.0, None) * np.clip(b[:, 3], 0.0, None)  # (M,)
        a = np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)
        b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    else:
        area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)  # (N,)
        area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)  # (M,)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    sides = np.clip(bottom_right - top_left, 0.0, None)
    intersection = sides[..., 0] * sides[..., 1]  # (N, M)
    union = area_a[:, None] + area_b[None, :] - intersection
    safe = np.where(union > 0, union, 1.0)
    return np.where(union > 0, intersection / safe, 0.0).astype(dtype)
    ### END SOLUTION


# %% [markdown]
# ## Anchors, and why CenterNet has none
#
# Most detectors before CenterNet are *anchor-based*. Faster R-CNN (Ren et al., 2015), SSD and
# RetinaNet place a fixed set of reference boxes, the **anchors**, at every cell of their feature
# maps: RetinaNet puts 3 sizes × 3 aspect ratios (1:2, 1:1, 2:1), 9 anchors, at each cell of
# five pyramid levels, about 100,000 for one COCO image. Training assigns each true box to the
# anchors that overlap it enough (RetinaNet: IoU at least 0.5; below 0.4 an anchor is
# background, in between it is ignored), and for every anchor the network predicts class scores
# and the offsets $t_x = (x - x_a) / w_a$, $t_y = (y - y_a) / h_a$, $t_w = \log(w / w_a)$,
# $t_h = \log(h / h_a)$ that turn the anchor $(x_a, y_a, w_a, h_a)$ into the box. Several
# anchors fire on one object, and non-maximum suppression keeps the best.
#
# Anchors bring hyperparameters that must fit the dataset's boxes (their sizes and ratios, the
# IoU thresholds of the assignment) and a huge imbalance: nearly every anchor is background.
# **CenterNet** (Zhou et al., *Objects as Points*, 2019) is *anchor-free*: an object is one
# point, the centre of its box, and the cell under it predicts the box's width and height
# directly. There is no assignment by IoU to tune and one prediction per object; the Gaussian
# targets and the focal loss below deal with the imbalance, and a 3×3 max pooling does most of
# NMS's work. CornerNet and FCOS are anchor-free too; DETR needs neither anchors nor NMS.

# %% [markdown]
# ## Encoding boxes as targets
#
# **CenterNet** needs no anchors: an object is the point at its box centre. The network
# outputs three maps at output stride $R = 4$ (one cell per 4 × 4 input pixels):
#
# - a **heatmap** with one channel per class, 1 at each object's centre cell;
# - the **size** $(w, h)$ of the box, in cells ($w_{\text{pixels}} / R$), at the centre cell;
# - the **offset** of the exact centre from its cell's corner, $c / R - \lfloor c / R \rfloor$,
#   which the rounding down to a cell loses.
#
# A cell next to a centre is *almost* right, so the heatmap target is not a single 1 but a
# Gaussian peak $\exp(-(x^2 + y^2) / 2\sigma^2)$ with $\sigma = (2r + 1) / 6$. The radius $r$
# comes from CornerNet, which CenterNet copied: it is meant to be the largest shift of a box's
# corners that keeps its IoU with the true box at least `MIN_OVERLAP` = 0.7, the smallest of
# three cases, each a quadratic $a r^2 + b r + c = 0$ (both corners moved the same way, both
# inwards, both outwards). Peaks of the same class combine by element-wise maximum.
#
# **CenterNet's `gaussian_radius` has a known bug**, which we keep on purpose. It takes each root
# as $(b + \sqrt{b^2 - 4ac}) / 2$: the larger root instead of the smaller one in the first two
# cases, and a division by 2 instead of $2a$ in the third, which is always the one that decides.
# Its radius is 3.3 to 3.9 times the correct one (boxes of 1 to 40 cells a side), so a box whose
# corners move by it keeps an IoU of 0.21 at most in the worst case, and a box moved by $r$
# along both axes 0.26 to 0.36, not 0.7: the peaks are wider than the comment in CenterNet's
# code says (CornerNet issue #110 on GitHub derives the correct roots). We keep CenterNet's
# formula exactly for parity: the graded targets are compared with CenterNet's own code, and
# the shipped detector was trained on them. The correct radius is
# $\min\big(\frac{b_1 - \sqrt{b_1^2 - 4c_1}}{2}, \frac{b_2 - \sqrt{b_2^2 - 16c_2}}{8},
# \frac{-b_3' + \sqrt{b_3'^2 - 16 o\,c_3}}{8o}\big)$ with $b_3' = 2o(h + w)$ and the other
# coefficients as in `gaussian_radius`'s docstring; the cell after the targets compares the two.


# %%
def gaussian_radius(height: float, width: float, min_overlap: float = MIN_OVERLAP) -> float:
    """CenterNet's Gaussian radius of a box of ``height`` × ``width`` cells.

    With ``a1 = 1, b1 = h + w, c1 = w h (1 - o) / (1 + o)``, ``a2 = 4, b2 = 2 (h + w),
    c2 = (1 - o) w h`` and ``a3 = 4 o, b3 = -2 o (h + w), c3 = (o - 1) w h`` (``o`` the
    minimum overlap), returns ``min(r1, r2, r3)`` with ``r_i = (b_i + sqrt(b_i² - 4 a_i c_i))
    / 2``: CenterNet's code, bug included (the wrong root of the first two, a division by 2
    instead of 2 a_i; see above). Keep it so: the targets must equal CenterNet's.

    Returns:
        A float (not rounded).
    """
    ### BEGIN SOLUTION
    h, w, o = float(height), float(width), float(min_overlap)
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + np.sqrt(b2**2 - 4 * 4 * c2)) / 2
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return float(min(r1, r2, r3))
    ### END SOLUTION


def draw_gaussian(heatmap: np.ndarray, center, radius: int) -> np.ndarray:
    """Draw a Gaussian peak into one channel of a heatmap, in place, by element-wise maximum.

    Args:
        heatmap: (height, width) float32, modified in place.
        center: (x, y) integer cell of the peak.
        radius: int >= 0; the peak spans (2 radius + 1)² cells, cut at the borders.

    Returns:
        ``heatmap``. The value at cell (x + i, y + j) is at least ``exp(-(i² + j²) / (2 σ²))``
        with ``σ = (2 radius + 1) / 6``, for ``|i|, |j| <= radius``; values below
        ``np.finfo(np.float64).eps`` times the peak's maximum count as 0 (as in CenterNet).
    """
    ### BEGIN SOLUTION
    diameter = 2 * radius + 1
    sigma = diameter / 6
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    gaussian = np.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma * sigma))
    gaussian[gaussian < np.finfo(np.float64).eps * gaussian.max()] = 0
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    window = heatmap[y - top : y + bottom, x - left : x + right]
    patch = gaussian[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(window, patch.astype(heatmap.dtype), out=window)
    return heatmap
    ### END SOLUTION


def encode_targets(
    boxes, classes, image_size: int, num_classes: int, stride: int = STRIDE
) -> dict[str, np.ndarray]:
    """The training targets of one image.

    Args:
        boxes: (N, 4) ``[x_min, y_min, x_max, y_max]`` in input pixels (float32); N may be 0.
        classes: (N,) int class indices in ``[0, num_classes)``.
        image_size: input side in pixels, a multiple of ``stride``.
        num_classes: heatmap channels; stride: input pixels per output cell.

    Returns:
        ``{"heatmap": (S, S, num_classes), "sizes": (S, S, 2), "offsets": (S, S, 2),
        "mask": (S, S)}``, all float32, ``S = image_size // stride``. Boxes are first clipped to
        the image; boxes without width or height are skipped. For each box, in order: its centre
        in cells ``c = ((x_min + x_max) / 2 / stride, (y_min + y_max) / 2 / stride)``, its cell
        ``(min(floor(c_x), S - 1), min(floor(c_y), S - 1))``, the radius
        ``max(0, int(gaussian_radius(ceil(h / stride), ceil(w / stride))))`` of its peak on
        channel ``class``; at its cell, ``sizes = (w / stride, h / stride)``, ``offsets = c -
        cell`` and ``mask = 1`` (a later box at the same cell overwrites an earlier one).
    """
    if image_size % stride:
        raise ValueError(f"Expected image_size a multiple of {stride}; received {image_size}.")
    cells = image_size // stride
    boxes = np.clip(np.asarray(boxes, dtype=np.float32).reshape(-1, 4), 0, image_size)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    heatmap = np.zeros((cells, cells, num_classes), np.float32)
    sizes = np.zeros((cells, cells, 2), np.float32)
    offsets = np.zeros((cells, cells, 2), np.float32)
    mask = np.zeros((cells, cells), np.float32)
    ### BEGIN SOLUTION
    for box, cls in zip(boxes, classes, strict=True):
        width, height = (box[2] - box[0]) / stride, (box[3] - box[1]) / stride
        if width <= 0 or height <= 0:
            continue
        center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32) / stride
        cell = np.minimum(np.floor(center).astype(np.int64), cells - 1)  # (x, y)
        radius = max(0, int(gaussian_radius(np.ceil(height), np.ceil(width))))
        draw_gaussian(heatmap[:, :, cls], cell, radius)
        sizes[cell[1], cell[0]] = (width, height)
        offsets[cell[1], cell[0]] = center - cell
        mask[cell[1], cell[0]] = 1.0
    ### END SOLUTION
    return {"heatmap": heatmap, "sizes": sizes, "offsets": offsets, "mask": mask}


# %% [markdown]
# ### Seeing the targets, and the radius CenterNet meant
#
# Not graded. `correct_gaussian_radius` solves CornerNet's three quadratics with their correct
# roots, and `worst_corner_iou` measures what a radius guarantees: the lowest IoU with the true
# box when both corners move by the radius (the same way, both inwards or both outwards). The
# demo cell prints both radii for a few box sizes; `plot_targets` draws a photo with its heatmap
# target over it (the maximum over the classes) and the centres of its boxes (the demo at the
# end of the lecture draws one).


# %%
def correct_gaussian_radius(height: float, width: float, min_overlap: float = MIN_OVERLAP):
    """The radius CornerNet's derivation asks for: the smallest of the three correct roots."""
    h, w, o = float(height), float(width), float(min_overlap)
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    b3, c3 = 2 * o * (h + w), (o - 1) * w * h
    same_way = (b1 - np.sqrt(b1**2 - 4 * c1)) / 2  # Smaller root of r² - b1 r + c1 = 0.
    inwards = (b2 - np.sqrt(b2**2 - 16 * c2)) / 8  # Smaller root of 4 r² - b2 r + c2 = 0.
    outwards = (-b3 + np.sqrt(b3**2 - 16 * o * c3)) / (8 * o)  # Root > 0 of 4o r² + b3 r + c3.
    return float(min(same_way, inwards, outwards))


def worst_corner_iou(height: float, width: float, radius: float) -> float:
    """The lowest IoU with the true box of a box whose corners both move by ``radius``."""
    h, w, r = float(height), float(width), float(radius)
    kept = max(w - r, 0.0) * max(h - r, 0.0)
    same_way = kept / (2 * w * h - kept)
    inwards = max(w - 2 * r, 0.0) * max(h - 2 * r, 0.0) / (w * h)
    outwards = w * h / ((w + 2 * r) * (h + 2 * r))
    return min(same_way, inwards, outwards)


def plot_targets(image, boxes, targets: dict, path) -> Path:
    """Draw ``image`` (S, S, 3) in [0, 1] with its heatmap target and true ``boxes`` (xyxy)."""
    import matplotlib.pyplot as plt

    size = image.shape[0]
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    axes[0].imshow(image)
    for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4):
        axes[0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime"))
    cells = np.argwhere(targets["mask"] > 0)  # (K, 2) rows (y, x)
    centres = (cells[:, ::-1] + targets["offsets"][cells[:, 0], cells[:, 1]]) * STRIDE
    axes[0].scatter(*centres.T, s=18, color="red")
    axes[0].set_title("photo, boxes and their centres")
    axes[1].imshow(image)
    heat = targets["heatmap"].max(axis=-1)
    axes[1].imshow(heat, cmap="magma", alpha=0.75, extent=(0, size, size, 0), vmin=0, vmax=1)
    axes[1].set_title(f"heatmap target (max over classes), {heat.shape[0]}×{heat.shape[1]} cells")
    for axis in axes:
        axis.set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return Path(path)


# %%
if should_run_demo(__name__):
    for box_h, box_w in ((2, 2), (4, 6), (8, 8), (12, 5)):
        ours, meant = gaussian_radius(box_h, box_w), correct_gaussian_radius(box_h, box_w)
        print(
            f"{box_h}×{box_w} cells: CenterNet's radius {ours:.2f} (worst IoU "
            f"{worst_corner_iou(box_h, box_w, ours):.2f}), the correct one {meant:.2f} (worst IoU "
            f"{worst_corner_iou(box_h, box_w, meant):.2f})"
        )


# %% [markdown]
# ## Decoding: from maps to boxes
#
# At test time, a detection is a heatmap cell that is a local maximum: a 3 × 3 max pooling with
# stride 1 and "same" padding leaves a cell unchanged exactly when no neighbour beats it, so
# `heat * (maxpool(heat) == heat)` keeps the peaks and zeroes the rest: CenterNet's cheap
# replacement for non-maximum suppression. The `max_detections` highest peaks over all cells and
# classes become boxes: centre `((x + offset_x) R, (y + offset_y) R)`, size `(w R, h R)`.


# %%
def decode_detections(
    heatmap,
    sizes,
    offsets,
    stride: int = STRIDE,
    max_detections: int = MAX_DETECTIONS,
    score_threshold: float = SCORE_THRESHOLD,
) -> list[dict[str, np.ndarray]]:
    """Turn a batch of output maps into boxes, scores and classes.

    Args:
        heatmap: (B, S, S, C) probabilities; sizes, offsets: (B, S, S, 2) (w, h) and (dx, dy)
            in cells. Numpy arrays or tensors.
        stride: input pixels per cell; max_detections: most peaks kept per image;
        score_threshold: peaks with a lower score are dropped.

    Returns:
        One dict per image: ``"boxes"`` (K, 4) float32 ``[x_min, y_min, x_max, y_max]`` in
        input pixels, ``"scores"`` (K,) float32, best first, and ``"classes"`` (K,) int32; K <=
        ``max_detections``. Peaks: cells equal to the 3×3 max pooling (stride 1, "same") of
        their channel; ranked over every cell and class of the image. Negative predicted
        sizes count as 0.
    """
    heatmap = tf.convert_to_tensor(heatmap, tf.float32)
    sizes, offsets = np.asarray(sizes, np.float32), np.asarray(offsets, np.float32)
    ### BEGIN SOLUTION
    pooled = tf.nn.max_pool2d(heatmap, 3, 1, "SAME")
    peaks = (heatmap * tf.cast(tf.equal(pooled, heatmap), tf.float32)).numpy()
    batch, cells, _, num_classes = peaks.shape
    results = []
    for b in range(batch):
        flat = peaks[b].reshape(-1)  # (S * S * C,), index = (y * S + x) * C + c
        k = min(max_detections, flat.size)
        top = np.argsort(-flat, kind="stable")[:k]
        top = top[flat[top] >= score_threshold]
        cell, cls = np.divmod(top, num_classes)
        y, x = np.divmod(cell, cells)
        centre_x = (x + offsets[b, y, x, 0]) * stride
        centre_y = (y + offsets[b, y, x, 1]) * stride
        size = np.maximum(sizes[b, y, x], 0.0)  # (K, 2); a negative size means none.
        half_w, half_h = size[:, 0] * stride / 2, size[:, 1] * stride / 2
        boxes = np.stack(
            [centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=1
        )
        results.append(
            {
                "boxes": boxes.astype(np.float32).reshape(-1, 4),
                "scores": flat[top].astype(np.float32),
                "classes": cls.astype(np.int32),
            }
        )
    return results
    ### END SOLUTION


# %% [markdown]
# ## The detector
#
# The backbone is a small ResNet made of **your Lecture 03 `ResidualBlock`s**: a stem
# convolution (stride 2), then one stage at each of the strides 4, 8 and 16, each a block with
# stride 2 followed by a block with stride 1. Deep features know *what* but are coarse; the
# stride-4 features know *where*. A small feature pyramid joins them: a 1×1 convolution brings
# each stage to `neck_channels`, the coarser map is upsampled (nearest, ×2) and added, down to
# stride 4, where a 3×3 convolution with ReLU mixes the sum.
#
# The **head** has three branches of the same shape: a 3×3 convolution with ReLU, then a 1×1
# convolution to the outputs: `num_classes` heatmap channels (sigmoid), 2 size channels and 2
# offset channels (linear). The heatmap's last bias starts at $-\log((1 - \pi) / \pi)$, so every
# cell starts at probability $\pi$ = `HEATMAP_PRIOR` instead of 0.5: with thousands of empty
# cells per object, a start at 0.5 would drown the first steps in the background's loss
# (RetinaNet's prior trick).
#
# The blocks come from `backbone_blocks()`, your own Lecture 03 code once `camp check 03` gave it
# full marks, else the reference solutions. Any layer factory `block(filters, strides=...)` works
# too (the autograder passes a plain convolution).


# %%
def backbone_blocks():
    """Lecture 03's module: your own once it passed ``camp check 03``, else the reference."""
    from course_lib.student.lectures import lecture_module

    return lecture_module("03", quiet=True)


class DetectionHead(keras.layers.Layer):
    """CenterNet's head: three branches of Conv2D 3×3 (ReLU) → Conv2D 1×1.

    Args:
        num_classes: heatmap channels; head_channels: channels of each 3×3 convolution;
        prior: the initial heatmap probability (the heatmap's 1×1 bias starts at
            ``-log((1 - prior) / prior)``; the other biases start at 0).

    Sublayers (created in ``build``): ``heatmap_conv``, ``heatmap_out``, ``size_conv``,
    ``size_out``, ``offset_conv``, ``offset_out`` (``keras.layers.Conv2D``, "same" padding,
    with bias).

    Input: (batch, S, S, channels) features. Output: a list ``[heatmap, sizes, offsets]`` of
    (batch, S, S, num_classes) sigmoid probabilities and (batch, S, S, 2) linear outputs.
    """

    def __init__(
        self,
        num_classes: int,
        head_channels: int = HEAD_CHANNELS,
        prior: float = HEATMAP_PRIOR,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("num_classes", num_classes), ("head_channels", head_channels)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"Expected {name} to be a positive integer; received {value!r}.")
        if not 0 < prior < 1:
            raise ValueError(f"Expected prior strictly between 0 and 1; received {prior!r}.")
        self.num_classes, self.head_channels = int(num_classes), int(head_channels)
        self.prior = float(prior)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        bias = float(-np.log((1 - self.prior) / self.prior))

        def conv3(name):
            return keras.layers.Conv2D(
                self.head_channels, 3, padding="same", activation="relu", name=name
            )

        self.heatmap_conv, self.size_conv, self.offset_conv = (
            conv3("heatmap_conv"),
            conv3("size_conv"),
            conv3("offset_conv"),
        )
        self.heatmap_out = keras.layers.Conv2D(
            self.num_classes,
            1,
            bias_initializer=keras.initializers.Constant(bias),
            name="heatmap_out",
        )
        self.size_out = keras.layers.Conv2D(2, 1, name="size_out")
        self.offset_out = keras.layers.Conv2D(2, 1, name="offset_out")
        hidden = (*tuple(input_shape)[:-1], self.head_channels)
        for conv, out in (
            (self.heatmap_conv, self.heatmap_out),
            (self.size_conv, self.size_out),
            (self.offset_conv, self.offset_out),
        ):
            conv.build(input_shape)
            out.build(hidden)
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        heatmap = tf.sigmoid(self.heatmap_out(self.heatmap_conv(inputs)))  # (b, S, S, C)
        sizes = self.size_out(self.size_conv(inputs))  # (b, S, S, 2)
        offsets = self.offset_out(self.offset_conv(inputs))  # (b, S, S, 2)
        return [heatmap, sizes, offsets]
        ### END SOLUTION

    def compute_output_shape(self, input_shape):
        batch_and_grid = tuple(input_shape)[:-1]
        return [(*batch_and_grid, self.num_classes), (*batch_and_grid, 2), (*batch_and_grid, 2)]

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()
        config.update(
            num_classes=self.num_classes, head_channels=self.head_channels, prior=self.prior
        )
        return config
        ### END SOLUTION


def build_detector(
    num_classes: int,
    image_size: int = IMAGE_SIZE,
    widths=BACKBONE_WIDTHS,
    neck_channels: int = NECK_CHANNELS,
    head_channels: int = HEAD_CHANNELS,
    block=None,
) -> keras.Model:
    """Build (not compile) the detector with Keras' functional API.

    Layers: Input (image_size, image_size, 3) → stem Conv2D(widths[0], 3, strides=2, "same",
    no bias) → BatchNormalization → ReLU; stage ``k`` = 1, 2, 3: ``block(widths[k], strides=2)``
    then ``block(widths[k], strides=1)``, giving C4 (stride 4), C8 and C16. Neck: P16 =
    Conv2D(neck_channels, 1)(C16); P8 = UpSampling2D(2)(P16) + Conv2D(neck_channels, 1)(C8);
    P4 = UpSampling2D(2)(P8) + Conv2D(neck_channels, 1)(C4); features = Conv2D(neck_channels,
    3, "same", ReLU)(P4); then ``DetectionHead(num_classes, head_channels)``.

    Args:
        num_classes: object classes; image_size: a multiple of 16; widths: 4 channel counts;
        neck_channels, head_channels: as above;
        block: a layer factory ``block(filters, strides=...)``; default
            ``backbone_blocks().ResidualBlock`` (Lecture 03).

    Returns:
        A ``keras.Model`` named "detector" mapping (batch, image_size, image_size, 3) images in
        [0, 1] to ``[heatmap, sizes, offsets]`` at stride 4.
    """
    if image_size % 16:
        raise ValueError(f"Expected image_size a multiple of 16; received {image_size}.")
    if block is None:
        block = backbone_blocks().ResidualBlock
    ### BEGIN SOLUTION
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))  # (b, S/2, S/2, w0)
    stages = []
    for width in widths[1:]:
        x = block(width, strides=2)(x)
        x = block(width, strides=1)(x)
        stages.append(x)  # strides 4, 8, 16
    c4, c8, c16 = stages
    p16 = keras.layers.Conv2D(neck_channels, 1)(c16)
    p8 = keras.layers.Add()(
        [keras.layers.UpSampling2D(2)(p16), keras.layers.Conv2D(neck_channels, 1)(c8)]
    )
    p4 = keras.layers.Add()(
        [keras.layers.UpSampling2D(2)(p8), keras.layers.Conv2D(neck_channels, 1)(c4)]
    )
    features = keras.layers.Conv2D(neck_channels, 3, padding="same", activation="relu")(p4)
    outputs = DetectionHead(num_classes, head_channels, name="head")(features)
    return keras.Model(inputs, outputs, name="detector")
    ### END SOLUTION


def set_batch_norm_momentum(model: keras.Model, momentum: float = BATCH_NORM_MOMENTUM) -> None:
    """Set the momentum of every batch normalisation inside ``model``, blocks included.

    Keras' default (0.99) averages the moving statistics over ~100 steps: too slow for short
    trainings, whose inference-mode outputs would then differ from the training-mode ones.
    """
    for layer in model._flatten_layers(include_self=False):  # Also the layers inside blocks.
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


# %% [markdown]
# ## Losses
#
# Nearly every heatmap cell is background, so plain cross-entropy would be dominated by easy
# negatives. CenterNet's **penalty-reduced focal loss** (from CornerNet) down-weights easy cells
# by $(1 - \hat p)^\alpha$ or $\hat p^\alpha$ and the negatives near a centre by $(1 - y)^\beta$,
# where $y$ is the Gaussian target:
#
# $$L_{\text{heat}} = \frac{-1}{N}\sum_{cells, classes}\begin{cases}
# (1 - \hat p)^\alpha \log \hat p & y = 1\\
# (1 - y)^\beta\, \hat p^\alpha \log(1 - \hat p) & \text{otherwise}\end{cases}$$
#
# with $\alpha = 2$, $\beta = 4$, $N$ the number of objects (cells with $y = 1$) in the batch, or 1
# when there is none. Predictions are clipped to $[10^{-4}, 1 - 10^{-4}]$ before the logs, as
# in CenterNet. Sizes and offsets are learned with an L1 loss at the object centres only (the
# mask), averaged over those centres and both coordinates; the total is
# $L_{\text{heat}} + 0.1 L_{\text{size}} + L_{\text{offset}}$.


# %%
def focal_loss(y_true, y_pred, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced pixel-wise focal loss, summed and divided by the objects.

    Args:
        y_true: (B, S, S, C) Gaussian targets (exactly 1 at object centres).
        y_pred: (B, S, S, C) predicted probabilities; alpha, beta: the exponents.

    Returns:
        A scalar float32 tensor: ``-(sum of positive terms + sum of negative terms) /
        max(number of cells with y_true == 1, 1)`` over the whole batch.
    """
    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.clip_by_value(tf.convert_to_tensor(y_pred, tf.float32), 1e-4, 1 - 1e-4)
    ### BEGIN SOLUTION
    positive = tf.cast(tf.equal(y_true, 1.0), tf.float32)
    negative = 1.0 - positive
    positive_loss = tf.math.log(y_pred) * (1 - y_pred) ** alpha * positive
    negative_loss = tf.math.log(1 - y_pred) * y_pred**alpha * (1 - y_true) ** beta * negative
    objects = tf.maximum(tf.reduce_sum(positive), 1.0)
    return -(tf.reduce_sum(positive_loss) + tf.reduce_sum(negative_loss)) / objects
    ### END SOLUTION


def masked_l1_loss(y_true, y_pred, mask):
    """Mean absolute error at the object centres only.

    Args:
        y_true, y_pred: (B, S, S, 2) targets and predictions; mask: (B, S, S) 1 at centres.

    Returns:
        A scalar float32 tensor: ``sum(mask · |y_pred - y_true|) / max(2 · sum(mask), 1)``
        (the mean over the centres and both coordinates; 0 without objects).
    """
    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    mask = tf.convert_to_tensor(mask, tf.float32)
    ### BEGIN SOLUTION
    errors = tf.abs(y_pred - y_true) * mask[..., None]  # (B, S, S, 2)
    return tf.reduce_sum(errors) / tf.maximum(2.0 * tf.reduce_sum(mask), 1.0)
    ### END SOLUTION


def detection_loss(targets: dict, outputs, size_weight=SIZE_WEIGHT, offset_weight=OFFSET_WEIGHT):
    """Return ``(total, heatmap, size, offset)`` losses of ``outputs = [heatmap, sizes, offsets]``.

    ``targets`` holds the batched maps of ``encode_targets``; ``total = heatmap + size_weight ·
    size + offset_weight · offset``.
    """
    heatmap, sizes, offsets = outputs
    heat = focal_loss(targets["heatmap"], heatmap)
    size = masked_l1_loss(targets["sizes"], sizes, targets["mask"])
    offset = masked_l1_loss(targets["offsets"], offsets, targets["mask"])
    return heat + size_weight * size + offset_weight * offset, heat, size, offset


# %% [markdown]
# ## Non-maximum suppression
#
# Detectors with anchors, and CenterNet now and then, fire several overlapping boxes on one
# object. **Greedy NMS** keeps the best box, drops every remaining box that overlaps it with an
# IoU above the threshold, and repeats with the best box left, until `max_output_size` boxes are
# kept or none remain. `tf.image.non_max_suppression` does exactly this. Class-wise NMS runs it
# per class, so a dog does not suppress the basket it sits in.


# %%
def non_max_suppression(
    boxes, scores, iou_threshold: float = 0.5, max_output_size: int = MAX_DETECTIONS
) -> np.ndarray:
    """Greedy NMS in numpy, as ``tf.image.non_max_suppression``.

    Args:
        boxes: (N, 4) ``[x_min, y_min, x_max, y_max]``; scores: (N,).
        iou_threshold: a box is dropped when its IoU with a kept box is above this value;
        max_output_size: most boxes kept.

    Returns:
        (K,) int32 indices into ``boxes`` of the kept boxes, best score first.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    ### BEGIN SOLUTION
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order and len(keep) < max_output_size:
        best = order.pop(0)
        keep.append(best)
        if order:
            overlaps = box_iou(boxes[best : best + 1], boxes[order])[0]
            order = [i for i, o in zip(order, overlaps, strict=True) if o <= iou_threshold]
    return np.asarray(keep, dtype=np.int32)
    ### END SOLUTION


def batched_nms(
    boxes,
    scores,
    classes,
    iou_threshold: float = NMS_IOU,
    max_output_size: int = MAX_DETECTIONS,
) -> np.ndarray:
    """Class-wise NMS: boxes only suppress boxes of their own class.

    Args:
        boxes: (N, 4); scores: (N,); classes: (N,) ints; iou_threshold, max_output_size: as
            in ``non_max_suppression`` (``max_output_size`` counts all classes together).

    Returns:
        (K,) int32 indices of the kept boxes, best score first over all classes.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    ### BEGIN SOLUTION
    kept = []
    for cls in np.unique(classes):
        members = np.flatnonzero(classes == cls)
        chosen = non_max_suppression(boxes[members], scores[members], iou_threshold, len(members))
        kept.extend(members[chosen])
    kept = np.asarray(kept, dtype=np.int64)
    kept = kept[np.argsort(-scores[kept], kind="stable")][:max_output_size]
    return kept.astype(np.int32)
    ### END SOLUTION


def detect(
    model: keras.Model,
    images,
    score_threshold: float = SCORE_THRESHOLD,
    max_detections: int = MAX_DETECTIONS,
    iou_threshold: float = NMS_IOU,
    batch_size: int = 64,
) -> list[dict[str, np.ndarray]]:
    """Run ``model`` on (n, S, S, 3) images in [0, 1]: decoded peaks, then class-wise NMS.

    Returns one ``decode_detections`` dict per image (boxes in the model's input pixels).
    """
    results = []
    for start in range(0, len(images), batch_size):
        heatmap, sizes, offsets = model(np.asarray(images[start : start + batch_size]))
        for found in decode_detections(
            heatmap, sizes, offsets, STRIDE, max_detections, score_threshold
        ):
            keep = batched_nms(
                found["boxes"], found["scores"], found["classes"], iou_threshold, max_detections
            )
            results.append({key: value[keep] for key, value in found.items()})
    return results


# %% [markdown]
# ## Training on the photo collection
#
# The collection's COCO files hold every object's box. `course_lib.data.pipelines.box_dataset`
# gives `(image, {"boxes", "classes", "mask"})` with boxes as `[x, y, w, h]` fractions of the
# image; a `tf.numpy_function` turns them into the target maps of `encode_targets` on the fly
# (the maps of 4,000 photos would take 270 MB). Training is a `tf.function` step with
# `GradientTape`, Adam and a cosine decay of the step size. Adam clips the gradient of each
# weight to an L2 norm of at most `CLIP_NORM` = 10 (Keras' `clipnorm`, one norm per weight
# tensor; `global_clipnorm` would clip all of them together), a bound on the size of any one
# step should a batch give an unusually large gradient; the shipped detector was trained so.
# Seeds are fixed before anything is built, so a run can be repeated exactly.


# %%
def collection_dir(
    train_images: int = TRAIN_IMAGES,
    val_images: int = VAL_IMAGES,
    image_size: int = IMAGE_SIZE,
    seed: int = SEED,
    root: Path | None = None,
) -> Path:
    """Return a generated collection folder (train and val COCO files), generating it once."""
    splits = {"train": train_images, "val": val_images}
    return cached_collection("l07", splits, seed, image_size, root)


def category_index(categories) -> dict[int, int]:
    """Map COCO category ids to class indices (positions in the sorted category table)."""
    return {c.id: i for i, c in enumerate(sorted(categories, key=lambda c: c.id))}


def detection_dataset(
    folder,
    split: str = "train",
    image_size: int = IMAGE_SIZE,
    batch_size: int = BATCH_SIZE,
    shuffle_seed: int | None = None,
    stride: int = STRIDE,
) -> tf.data.Dataset:
    """Yield ``(images, targets)`` batches of a split for training.

    Args:
        folder: a collection folder with ``annotations/instances_<split>.json``.
        split, image_size, batch_size: as named; shuffle_seed: None keeps the file order.

    Returns:
        ``images`` (b, S, S, 3) float32 in [0, 1]; ``targets`` a dict of the batched maps of
        ``encode_targets`` (boxes scaled to ``image_size``). The decoded images are cached.
    """
    data = load_coco(folder, split, kinds=["instances"])
    num_classes = len(data.categories)
    ds = box_dataset(
        data.records,
        sorted(data.categories, key=lambda c: c.id),
        (image_size, image_size),
        batch_size=None,
        cache=True,
    )

    def encode(boxes, classes, mask):
        xyxy = xywh_to_xyxy(boxes[mask] * image_size)
        t = encode_targets(xyxy, classes[mask], image_size, num_classes, stride)
        return t["heatmap"], t["sizes"], t["offsets"], t["mask"]

    cells = image_size // stride

    def to_targets(image, target):
        maps = tf.numpy_function(
            encode,
            [target["boxes"], target["classes"], target["mask"]],
            [tf.float32] * 4,
        )
        shapes = [(cells, cells, num_classes), (cells, cells, 2), (cells, cells, 2), (cells, cells)]
        maps = [tf.ensure_shape(m, s) for m, s in zip(maps, shapes, strict=True)]
        return image, dict(zip(("heatmap", "sizes", "offsets", "mask"), maps, strict=True))

    if shuffle_seed is not None:
        ds = ds.shuffle(len(data.records), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_detector(
    model: keras.Model,
    folder,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    seed: int = SEED,
    verbose: int = 1,
    max_seconds: float | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on the ``train`` split of ``folder``.

    Args:
        model: the output of ``build_detector`` (its input size sets the image size).
        folder: a collection folder; epochs, batch_size: as named; learning_rate: Adam's step
            size at the first step, decaying along a cosine to 0 over ``epochs``; Adam clips
            each weight's gradient to the L2 norm ``CLIP_NORM`` (``clipnorm=CLIP_NORM``).
        seed: passed to ``keras.utils.set_random_seed`` first, and used to shuffle every epoch.
        verbose: 1 prints one line per epoch; max_seconds: stop after the epoch that passes it.

    Returns:
        ``{"loss", "heatmap", "size", "offset"}``: the mean of each loss over each epoch's
        steps, one float per epoch.
    """
    set_batch_norm_momentum(model)
    ### BEGIN SOLUTION
    keras.utils.set_random_seed(seed)
    image_size = int(model.input_shape[1])
    dataset = detection_dataset(folder, "train", image_size, batch_size, shuffle_seed=seed)
    steps = int(dataset.cardinality())
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, epochs * steps))
    optimizer = keras.optimizers.Adam(schedule, clipnorm=CLIP_NORM)

    @tf.function
    def train_step(images, targets):
        with tf.GradientTape() as tape:
            losses = detection_loss(targets, model(images, training=True))
        gradients = tape.gradient(losses[0], model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return losses

    history = {"loss": [], "heatmap": [], "size": [], "offset": []}
    started = time.perf_counter()
    for epoch in range(epochs):
        sums, count = np.zeros(4), 0
        for images, targets in dataset:
            sums += [float(v) for v in train_step(images, targets)]
            count += 1
        for key, value in zip(history, sums / max(count, 1), strict=True):
            history[key].append(float(value))
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f} (heatmap "
                f"{history['heatmap'][-1]:.4f}, size {history['size'][-1]:.4f}, offset "
                f"{history['offset'][-1]:.4f}), {time.perf_counter() - started:.0f} s"
            )
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
    return history
    ### END SOLUTION


# %% [markdown]
# ## COCO mean average precision
#
# COCO scores a detector with the **average precision** of each class, averaged over the
# classes and over ten IoU thresholds 0.50, 0.55, ..., 0.95 (mAP@[.5:.95]); AP50 and AP75 are
# the values at 0.5 and 0.75 alone. Exactly as `pycocotools.cocoeval.COCOeval` does it, for each
# image and class:
#
# 1. keep the (at most) 100 best detections, sorted by score (stable: ties keep their order);
# 2. at each IoU threshold $t$, visit them best first: each detection takes the unmatched
#    ground-truth box with the highest IoU, if that IoU is at least $t$ (among equal IoUs, the
#    later box), and is then a true positive; otherwise it is a false positive. The IoUs are
#    those of COCO's own `[x, y, w, h]` boxes in float64 (`box_iou(..., box_format="xywh")`).
#
# Then, for each class and threshold, all images' detections are sorted by score (stable, in
# image-id order), and cumulative true and false positives give recall ($TP / N_{gt}$) and
# precision ($TP / (TP + FP)$) after each detection. Precision is made non-increasing from the
# right (each value becomes the best precision at any higher recall), and read at the 101 recall
# levels 0, 0.01, ..., 1: at each level, the precision of the first detection whose recall
# reaches it, or 0 if none does. AP is the mean of those 101 values. Classes without ground
# truth are left out of the mean; a class with ground truth and no detection scores 0.
#
# **Object sizes.** COCO also reports the AP of small, medium and large objects (APs, APm,
# APl): areas up to $32^2$, from $32^2$ to $96^2$ and from $96^2$ pixels on (both ends
# included); plain mAP uses the range $[0, 10^{10}]$. Within a range, the ground truth outside
# it is *ignored*: it is not counted in $N_{gt}$, and a detection matched to it is ignored too,
# neither right nor wrong. A true box's area is its annotation's `area` (in real COCO the area
# of the object's mask, not of its box). Matching visits the truth that counts first, then the
# ignored, each in file order, and a detection that holds a box that counts never trades it
# for an ignored one. A detection that matches nothing and whose own area $w \cdot h$ lies
# outside the range is ignored as well: so a box with a negative side is ignored even by plain
# mAP. A class without truth in a range is left out of that range's mean, and a range in which
# no class has any scores -1, as in `pycocotools`: our photos are small, so at 64 pixels no
# object is large.
#
# **Average recall.** AR@k is the recall reached with at most $k$ detections per image and
# class ($TP / N_{gt}$ once all of them are counted), averaged over the ten thresholds and the
# classes; COCO reports AR@1, AR@10 and AR@100 on the range of all sizes. It says how many
# objects the detector finds at all, whatever its precision.
#
# Results are written as COCO's result files are: one dict per detection with `image_id`,
# `category_id`, `bbox` as `[x, y, w, h]` and `score`.


# %%
def detections_to_coco_results(image_ids, detections, category_ids, scale: float = 1.0):
    """Write detections as COCO results.

    Args:
        image_ids: (n,) COCO image ids; detections: n dicts from ``decode_detections``/``detect``.
        category_ids: class index → COCO category id; scale: multiplies the boxes (from the
            model's input pixels to the image's).

    Returns:
        A list of ``{"image_id": int, "category_id": int, "bbox": [x, y, w, h] (floats),
        "score": float}``, image by image, detections in their order.
    """
    ### BEGIN SOLUTION
    results = []
    for image_id, found in zip(image_ids, detections, strict=True):
        boxes = xyxy_to_xywh(np.asarray(found["boxes"], np.float32) * scale)
        for box, score, cls in zip(boxes, found["scores"], found["classes"], strict=True):
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(category_ids[int(cls)]),
                    "bbox": [float(v) for v in box],
                    "score": float(score),
                }
            )
    return results
    ### END SOLUTION


def match_detections(det_boxes, gt_boxes, iou_threshold: float, gt_ignore=None) -> np.ndarray:
    """COCO's greedy matching of one image and class at one IoU threshold.

    Args:
        det_boxes: (D, 4) COCO ``[x, y, w, h]``, sorted best first; gt_boxes: (G, 4) COCO
            ``[x, y, w, h]``, in file order.
        iou_threshold: the IoU a match needs (at least ``min(t, 1 - 1e-10)``).
        gt_ignore: (G,) bool, the true boxes to ignore (outside the area range evaluated);
            None ignores none.

    IoUs are ``box_iou(..., np.float64, box_format="xywh")``, as pycocotools computes them: in
    float32, or from corners, an IoU next to a threshold may fall on the other side of it. The
    true boxes that count are visited before the ignored ones (each group in file order); a
    detection takes the unmatched true box of highest IoU (the later one among equal IoUs), but
    once it holds a box that counts it stops before the ignored ones.

    Returns:
        (D,) int64: the index in ``gt_boxes`` of each detection's match, -1 where none.
    """
    gt_ignore = np.zeros(len(gt_boxes), bool) if gt_ignore is None else np.asarray(gt_ignore)
    ### BEGIN SOLUTION
    ious = box_iou(det_boxes, gt_boxes, np.float64, box_format="xywh")  # (D, G)
    order = np.argsort(gt_ignore, kind="stable")  # The truth that counts first.
    taken = np.zeros(len(order), bool)
    matched = np.full(len(ious), -1, np.int64)
    for d in range(len(ious)):
        best, best_iou = -1, min(iou_threshold, 1 - 1e-10)
        for g in order:
            if taken[g]:
                continue
            if best >= 0 and not gt_ignore[best] and gt_ignore[g]:
                break  # A match that counts is never traded for an ignored one.
            if ious[d, g] >= best_iou:
                best, best_iou = g, ious[d, g]
        if best >= 0:
            taken[best], matched[d] = True, best
    return matched
    ### END SOLUTION


def average_precision(scores, matched, num_gt: int) -> float:
    """COCO's 101-point interpolated average precision of one class at one IoU threshold.

    Args:
        scores: (D,) scores of all detections of the class, all images, in image-id order;
        matched: (D,) bool true positives; num_gt: ground-truth boxes of the class (> 0).

    Returns:
        The AP as a float (0 without detections).
    """
    ### BEGIN SOLUTION
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    hits = np.asarray(matched, bool)[order]
    tp, fp = np.cumsum(hits).astype(float), np.cumsum(~hits).astype(float)
    recall = tp / num_gt
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    levels = np.linspace(0.0, 1.0, 101)
    first = np.searchsorted(recall, levels, side="left")
    values = np.where(first < len(precision), precision[np.minimum(first, len(precision) - 1)], 0)
    return float(np.mean(values))
    ### END SOLUTION


AREA_RANGES = {  # COCO's object sizes, in pixels², both ends included.
    "all": (0.0, 1e10),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}
RECALL_DETECTIONS = (1, 10, 100)  # AR@k: the detections per image and class that recall counts.


def evaluate_coco_map(ground_truth: dict, results: list[dict], max_detections: int = 100) -> dict:
    """COCO's box AP and AR of ``results`` against a COCO instances dict.

    Args:
        ground_truth: a COCO instances dict (``images``, ``annotations`` with ``bbox`` [x, y, w,
            h] and ``area``, ``categories``); no crowd regions.
        results: COCO results (``detections_to_coco_results``).
        max_detections: best detections kept per image and class (COCO: 100).

    Returns:
        ``{"mAP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"}``, floats: with
        ``max_detections=100``, ``COCOeval(...).stats[0:9]``. The AP figures use the best
        ``max_detections`` of each image and class; ``AR<k>`` the best ``min(k,
        max_detections)``. A figure without any ground truth to measure is -1.
    """
    ### BEGIN SOLUTION
    thresholds = np.linspace(0.5, 0.95, 10)
    gts, dets = {}, {}
    for a in ground_truth["annotations"]:
        gts.setdefault((a["image_id"], a["category_id"]), []).append(a)
    for r in results:
        dets.setdefault((r["image_id"], r["category_id"]), []).append(r)
    image_ids = sorted(im["id"] for im in ground_truth["images"])
    aps = {name: [] for name in AREA_RANGES}  # Per range: one row of 10 APs per class.
    recalls = {k: [] for k in RECALL_DETECTIONS}  # Per k: one row of 10 recalls per class.
    for name, (low, high) in AREA_RANGES.items():
        for category in sorted(c["id"] for c in ground_truth["categories"]):
            scores, ranks, hits, ignored, num_gt = [], [], [], [], 0
            for image in image_ids:
                found, truth = dets.get((image, category), []), gts.get((image, category), [])
                if not found and not truth:
                    continue
                order = np.argsort([-d["score"] for d in found], kind="mergesort")
                order = order[:max_detections]
                boxes = np.array([found[i]["bbox"] for i in order], np.float64).reshape(-1, 4)
                truth_boxes = np.array([g["bbox"] for g in truth], np.float64).reshape(-1, 4)
                skip = np.array([not low <= g["area"] <= high for g in truth], bool)
                num_gt += int((~skip).sum())
                matches = np.array(
                    [match_detections(boxes, truth_boxes, t, skip) for t in thresholds]
                ).reshape(len(thresholds), len(order))  # (T, D) indices, -1 for none
                on_skipped = np.append(skip, False)[matches]  # Index -1 reads the False.
                area = boxes[:, 2] * boxes[:, 3]
                outside = (area < low) | (area > high)
                hits.append((matches >= 0) & ~on_skipped)
                ignored.append(on_skipped | ((matches < 0) & outside))
                scores += [found[i]["score"] for i in order]
                ranks += list(range(len(order)))
            if num_gt == 0:
                continue  # No truth of this class in this range: left out of the mean.
            scores, ranks = np.asarray(scores, np.float64), np.asarray(ranks, np.int64)
            hits = np.concatenate(hits, axis=1) if hits else np.zeros((10, 0), bool)
            ignored = np.concatenate(ignored, axis=1) if ignored else np.zeros((10, 0), bool)
            aps[name].append(
                [
                    average_precision(scores[~ignore], hit[~ignore], num_gt)
                    for hit, ignore in zip(hits, ignored, strict=True)
                ]
            )
            if name == "all":
                for k in RECALL_DETECTIONS:
                    recalls[k].append((hits & (ranks < k)).sum(axis=1) / num_gt)

    def mean(rows) -> float:
        return float(np.mean(rows)) if len(rows) else -1.0

    every = np.asarray(aps["all"]).reshape(-1, len(thresholds))
    return {
        "mAP": mean(every),
        "AP50": mean(every[:, 0]),
        "AP75": mean(every[:, 5]),
        "APs": mean(aps["small"]),
        "APm": mean(aps["medium"]),
        "APl": mean(aps["large"]),
        **{f"AR{k}": mean(recalls[k]) for k in RECALL_DETECTIONS},
    }
    ### END SOLUTION


def evaluate_detector(model: keras.Model, folder, split: str = "val", **detect_options) -> dict:
    """Detect on a split of a collection and return ``evaluate_coco_map`` of it (+ results)."""
    data = load_coco(folder, split, kinds=["instances"])
    size = int(model.input_shape[1])
    images = np.stack([load_image(str(r.path), (size, size)).numpy() for r in data.records])
    found = detect(model, images, **detect_options)
    ids = [c.id for c in sorted(data.categories, key=lambda c: c.id)]
    scale = data.records[0].width / size
    results = detections_to_coco_results([r.image_id for r in data.records], found, ids, scale)
    path = Path(folder) / "annotations" / f"instances_{split}.json"
    return {**evaluate_coco_map(json.loads(path.read_text()), results), "results": results}


# %% [markdown]
# ## From boxes to a scene graph
#
# A query like "a dog in a basket on a bike" is about relations, not just objects. The photo
# collection decides its relations when it composes a scene; from a photo we only have boxes,
# so we read the relations off their geometry, with rules that follow how the collection places
# things (`course_lib/data/layout.py`):
#
# - **wearing**: a hat or glasses whose box centre lies inside a wearer's box (a dog, a person...)
#   in its upper 70 % (or just above it), and whose box has less than half the wearer's area.
#   Each accessory has one wearer: the smallest box that qualifies.
# - **in**: a thing (not a hat or glasses) whose bottom centre lies inside a basket's or a
#   bowl's box, below the top of the container, and no wider than 1.3 times the container.
# - **on**: a thing that is not in a container, not a hat or glasses, of another category and at
#   most 0.75 times as wide as its support, whose bottom sits in the upper 60 % of the support's
#   box with its horizontal centre over the support, and whose top is above the support's top.
# - **next to**: exactly the collection's rule (`course_lib/data/scenes.py`, `_spatial`): the
#   first box's centre is left of the second's, they overlap horizontally by at most 30 % of the
#   narrower width, the gap between them is at most 12 % of the image, and they overlap
#   vertically by at least 30 % of the lower height; worn things and pairs already related by
#   on, in or wearing are left out; written once, as ``(lower index, "next to", higher)``.
# - **under**: the collection reads "A under B" as "B on A", so every `on` gives an `under`.
#
# Rules are not perfect (a cat drawn across a bed's top edge may be *on* it or merely in front
# of it), so we measure how often they agree with the collection's own relations.


# %%
def spatial_relations(boxes, categories, image_size: int) -> list[tuple[int, str, int]]:
    """Relations between detected objects, read off their boxes (see the rules above).

    Args:
        boxes: (N, 4) ``[x_min, y_min, x_max, y_max]`` in pixels; categories: N category names;
        image_size: the picture's side in pixels (for "next to").

    Returns:
        Sorted list of ``(subject, predicate, object)`` index triples, predicates among "on",
        "in", "next to", "wearing", "under"; ``(s, "under", o)`` for each ``(o, "on", s)``.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    categories = list(categories)
    ### BEGIN SOLUTION
    n = len(boxes)
    x0, y0, x1, y1 = boxes.T
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    out = set()
    worn = set()
    for j in range(n):  # Accessories find their wearer.
        if categories[j] not in WEARABLES:
            continue
        ax, ay = cx[j], (y0[j] + y1[j]) / 2
        wearers = [
            i
            for i in range(n)
            if categories[i] in WEARERS
            and x0[i] <= ax <= x1[i]
            and y0[i] - 0.1 * h[i] <= ay <= y0[i] + 0.7 * h[i]
            and w[j] * h[j] < 0.5 * w[i] * h[i]
        ]
        if wearers:
            out.add((min(wearers, key=lambda i: w[i] * h[i]), "wearing", j))
            worn.add(j)
    contained = set()
    for i in range(n):  # Things in containers.
        if categories[i] in WEARABLES or categories[i] in CONTAINERS:
            continue
        for j in range(n):
            if (
                categories[j] in CONTAINERS
                and x0[j] <= cx[i] <= x1[j]
                and y0[j] < y1[i] <= y1[j]
                and w[i] <= 1.3 * w[j]
            ):
                out.add((i, "in", j))
                contained.add(i)
    for i in range(n):  # Things on supports.
        if categories[i] in WEARABLES or i in contained:
            continue
        for j in range(n):
            if (
                categories[j] != categories[i]
                and categories[j] not in WEARABLES
                and w[i] <= 0.75 * w[j]
                and x0[j] <= cx[i] <= x1[j]
                and y0[j] <= y1[i] <= y0[j] + 0.6 * h[j]
                and y0[i] < y0[j]
            ):
                out.add((i, "on", j))
                out.add((j, "under", i))
    related = {(s, o) for s, _, o in out} | {(o, s) for s, _, o in out}
    for i in range(n):  # The collection's "next to".
        for j in range(n):
            if i == j or i in worn or j in worn or (i, j) in related:
                continue
            xover = min(x1[i], x1[j]) - max(x0[i], x0[j])
            yover = min(y1[i], y1[j]) - max(y0[i], y0[j])
            if (
                cx[i] < cx[j]
                and xover <= 0.3 * min(w[i], w[j])
                and x0[j] - x1[i] <= 0.12 * image_size
                and yover >= 0.3 * min(h[i], h[j])
            ):
                out.add((min(i, j), "next to", max(i, j)))
    return sorted(out, key=lambda r: (r[0], r[2], r[1]))
    ### END SOLUTION


def detections_to_scene_graph(
    boxes,
    scores,
    categories,
    image_size: int,
    scene: str | None = None,
    score_threshold: float = GRAPH_SCORE,
) -> dict:
    """A predicted scene graph in the collection's schema.

    Args:
        boxes: (N, 4) xyxy pixels; scores: (N,); categories: N category names;
        image_size: the picture's side; scene: a scene name, or None;
        score_threshold: detections with a lower score are left out.

    Returns:
        ``{"scene": scene, "width": image_size, "height": image_size, "objects": [...],
        "relations": [...]}``: one object per kept detection, in the given order, ``{"category",
        "category_id", "supercategory", "bbox": [x, y, w, h], "score", "attributes"}``
        (attributes: "small" when the longer side is at most 18 % of the image, "large" when at
        least 40 %); relations ``{"subject", "predicate", "object"}`` from
        ``spatial_relations`` on the kept objects, without "under" (graphs store it as "on").
    """
    ### BEGIN SOLUTION
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    keep = [k for k, s in enumerate(np.asarray(scores).reshape(-1)) if s >= score_threshold]
    kept_boxes, names = boxes[keep], [categories[k] for k in keep]
    objects = []
    for box, name, k in zip(xyxy_to_xywh(kept_boxes), names, keep, strict=True):
        longest = max(box[2], box[3])
        attributes = ["small"] if longest <= 0.18 * image_size else []
        attributes += ["large"] if longest >= 0.4 * image_size else []
        objects.append(
            {
                "category": name,
                "category_id": BY_NAME[name].id,
                "supercategory": BY_NAME[name].supercategory,
                "bbox": [float(v) for v in box],
                "score": float(np.asarray(scores).reshape(-1)[k]),
                "attributes": attributes,
            }
        )
    relations = [
        {"subject": s, "predicate": p, "object": o}
        for s, p, o in spatial_relations(kept_boxes, names, image_size)
        if p != "under"
    ]
    graph = {"scene": scene, "objects": objects, "relations": relations}
    graph["width"] = graph["height"] = image_size
    return graph
    ### END SOLUTION


# %% [markdown]
# ## Matching a query graph
#
# `course_lib.data.relevance_grade` says yes or no; a search engine needs a *score* that ranks
# photos, and detections come with confidences. The soft match of a query graph against a
# predicted graph averages one term per query object and one per query relation:
#
# - an **object** term: the best score of a detection of its category (or supercategory),
#   0 if none; halved when the query asks for an exact `count` and the number of such
#   detections differs;
# - a **relation** term: over the pairs of *different* detections matching its subject and
#   object for which the relation holds in the predicted graph (with the aliases of
#   `relevance.py`, "next to" in either direction, "on" through a chain of "in"/"on" ending
#   with "on"), the best ``min(subject score, object score)``; 0 if no pair.
#
# So a dog in a basket on a bike scores higher than a dog next to a basket beside a bike,
# even when every object is detected with the same confidence.


# %%
def relation_holds(graph: dict, subject: int, predicate: str, obj: int) -> bool:
    """Whether ``subject predicate obj`` holds among the relations of a scene graph.

    Reads the aliases of ``course_lib.data.relevance`` ("under" is "on" swapped...), "next to"
    in both directions, and "on" through a chain of "in"/"on" edges that ends with "on".
    """
    predicate, swap = ALIASES.get(predicate, (predicate, False))
    if swap:
        subject, obj = obj, subject
    edges = {(r["subject"], r["predicate"], r["object"]) for r in graph["relations"]}
    if predicate == "next to":
        return (subject, predicate, obj) in edges or (obj, predicate, subject) in edges
    if predicate != "on":
        return (subject, predicate, obj) in edges
    frontier, seen = [subject], {subject}
    while frontier:
        node = frontier.pop()
        for a, p, b in edges:
            if a == node and p in ("in", "on"):
                if b == obj and p == "on":
                    return True
                if b not in seen:
                    seen.add(b)
                    frontier.append(b)
    return False


def graph_match_score(query_graph: dict, predicted_graph: dict) -> float:
    """Soft match of a query graph with a predicted scene graph (see above), in [0, 1].

    Args:
        query_graph: the query schema of ``course_lib.data.relevance``.
        predicted_graph: ``detections_to_scene_graph``'s output (objects carry a ``score``;
            objects without one count as 1).

    Returns:
        A float: (sum of object terms + sum of relation terms) / (objects + relations) of the
        query; a query naming a scene that the graph contradicts (a graph ``scene`` that is not
        None and differs) scores half.
    """
    query = parse_query(query_graph)
    objects = predicted_graph["objects"]
    ### BEGIN SOLUTION
    score_of = [float(o.get("score", 1.0)) for o in objects]
    candidates = [
        [i for i, o in enumerate(objects) if q.category in (o["category"], o.get("supercategory"))]
        for q in query.objects
    ]
    terms = []
    for q, found in zip(query.objects, candidates, strict=True):
        best = max((score_of[i] for i in found), default=0.0)
        if q.count is not None and len(found) != q.count:
            best /= 2
        terms.append(best)
    for r in query.relations:
        pairs = [
            min(score_of[a], score_of[b])
            for a in candidates[r.subject]
            for b in candidates[r.object]
            if a != b and relation_holds(predicted_graph, a, r.predicate, b)
        ]
        terms.append(max(pairs, default=0.0))
    score = float(np.mean(terms)) if terms else 0.0
    scene = predicted_graph.get("scene")
    if query.scene is not None and scene is not None and scene != query.scene:
        score /= 2
    return score
    ### END SOLUTION


# %% [markdown]
# ## A search engine over detections
#
# The same interface as Lecture 05's engines: `index(images)` once, then `search(query, k)`. An
# indexed picture is a dict with an `id` and its predicted `scene_graph`; a query is a query
# graph (the competition's queries carry one).


# %%
class DetectionEngine:
    """Rank pictures by ``graph_match_score`` of a query graph with their predicted graphs."""

    name = "detections"

    def __init__(self) -> None:
        self.image_ids: list | None = None

    def index(self, images: list[dict]) -> "DetectionEngine":
        """Index picture dicts ``{"id", "scene_graph"}``; returns ``self``."""
        if not images:
            raise ValueError("Expected at least one image to index; received none.")
        self.image_ids = [image["id"] for image in images]
        self.graphs = [image["scene_graph"] for image in images]
        return self

    def score(self, queries: list[dict]) -> np.ndarray:
        """float (Q, N): the match score of every query graph with every indexed picture."""
        ### BEGIN SOLUTION
        return np.array(
            [[graph_match_score(q, g) for g in self.graphs] for q in queries], dtype=np.float64
        ).reshape(len(queries), len(self.graphs))
        ### END SOLUTION

    def search(self, query: dict, k: int = 10) -> list[tuple]:
        """The ``k`` best ``(image_id, score)`` pairs, best first; ties in index order."""
        if self.image_ids is None:
            raise ValueError("DetectionEngine: call index(images) before searching.")
        ### BEGIN SOLUTION
        scores = self.score([query])[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.image_ids[i], float(scores[i])) for i in order]
        ### END SOLUTION


# %% [markdown]
# ## Pictures of the results
#
# Not graded. `plot_detections` draws photos with their detections (class and score) and the
# true boxes dashed. `precision_recall` follows one class at one IoU threshold through the
# ranked detections of every photo, the curve whose area COCO's AP measures: the raw precision
# after each detection and the interpolated one (the best precision at any higher recall),
# which `average_precision` reads at the 101 recall levels. The demo below draws both for the
# trained detector.


# %%
def plot_detections(images, detections, path, truth_boxes=None, min_score=GRAPH_SCORE) -> Path:
    """Draw photos (n, S, S, 3) with their detections above ``min_score``, true boxes dashed."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3.2), squeeze=False)
    truth_boxes = truth_boxes if truth_boxes is not None else [()] * len(images)
    for axis, image, found, truth in zip(axes[0], images, detections, truth_boxes, strict=True):
        axis.imshow(image)
        for x0, y0, x1, y1 in np.asarray(truth, np.float32).reshape(-1, 4):
            box = plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", ls="--")
            axis.add_patch(box)
        for (x0, y0, x1, y1), score, cls in zip(
            found["boxes"], found["scores"], found["classes"], strict=True
        ):
            if score < min_score:
                continue
            axis.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="red"))
            label = f"{CATEGORY_NAMES[cls]} {score:.2f}"
            style = {"facecolor": "red", "alpha": 0.7, "pad": 1, "linewidth": 0}
            axis.text(x0, y0, label, color="white", fontsize=6, va="bottom", bbox=style)
        axis.set_axis_off()
    figure.suptitle(f"detections scored at least {min_score} (red), true boxes (dashed)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return Path(path)


def precision_recall(ground_truth: dict, results: list[dict], category_id: int, iou: float = 0.5):
    """Return (recall, precision, interpolated precision) after each detection of one class."""
    truth, found = {}, {}
    for a in ground_truth["annotations"]:
        if a["category_id"] == category_id:
            truth.setdefault(a["image_id"], []).append(a["bbox"])
    for r in results:
        if r["category_id"] == category_id:
            found.setdefault(r["image_id"], []).append(r)
    scores, hits = [], []
    for image in sorted(im["id"] for im in ground_truth["images"]):
        ranked = sorted(found.get(image, []), key=lambda r: -r["score"])[:100]
        matched = match_detections([r["bbox"] for r in ranked], truth.get(image, []), iou)
        scores += [r["score"] for r in ranked]
        hits += list(np.asarray(matched) >= 0)
    hits = np.asarray(hits, bool)[np.argsort(-np.asarray(scores), kind="mergesort")]
    true_positives = np.cumsum(hits)
    recall = true_positives / max(sum(len(boxes) for boxes in truth.values()), 1)
    precision = true_positives / np.arange(1, len(hits) + 1)
    return recall, precision, np.maximum.accumulate(precision[::-1])[::-1]


def plot_precision_recall(curves: dict, title: str, path) -> Path:
    """Draw ``{label: (recall, precision, interpolated)}`` curves, raw thin, interpolated bold."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4))
    for index, (label, (recall, precision, interpolated)) in enumerate(curves.items()):
        colour = f"C{index}"
        axis.plot(recall, precision, color=colour, linewidth=0.8, alpha=0.6)
        # The interpolated precision at recall r is the best at any recall >= r: a step down
        # after each recall reached, level from 0 to the first.
        steps = (np.r_[0.0, recall], np.r_[interpolated[:1], interpolated])
        axis.step(*steps, where="pre", color=colour, linewidth=2, label=label)
    axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return Path(path)


# %% [markdown]
# ## Train and evaluate
#
# Runs in a notebook or as a script (`python 07_object_detection.py`), never on import: about
# 20 seconds to generate the photos the first time, then a few minutes of training. The
# pictures are shown in a notebook and saved in the collection folder.

# %%
if should_run_demo(__name__):
    folder = collection_dir()
    val = load_coco(folder, "val", kinds=["instances"])
    classes_of = category_index(val.categories)
    photos = np.stack(
        [load_image(str(r.path), (IMAGE_SIZE, IMAGE_SIZE)).numpy() for r in val.records[:4]]
    )
    scale = IMAGE_SIZE / val.records[0].width
    truth = [xywh_to_xyxy([box for _, box in r.boxes]) * scale for r in val.records[:4]]
    record = val.records[0]
    maps = encode_targets(
        truth[0], [classes_of[c] for c, _ in record.boxes], IMAGE_SIZE, len(val.categories)
    )
    show_figure(plot_targets(photos[0], truth[0], maps, folder / "targets.png"))

    detector = build_detector(len(CATEGORY_NAMES))
    detector.summary()
    train_detector(detector, folder)
    scores = evaluate_detector(detector, folder)
    print(", ".join(f"{key} {value:.3f}" for key, value in scores.items() if key != "results"))
    print("(-1: no true box of that size; at 64 pixels no object is large)")
    found = detect(detector, photos)
    show_figure(plot_detections(photos, found, folder / "detections.png", truth))
    coco_truth = json.loads((folder / "annotations" / "instances_val.json").read_text())
    counts = {}
    for a in coco_truth["annotations"]:
        counts[a["category_id"]] = counts.get(a["category_id"], 0) + 1
    common = max(counts, key=counts.get)
    name = next(c.name for c in val.categories if c.id == common)
    curves = {
        f"IoU {t}": precision_recall(coco_truth, scores["results"], common, t) for t in (0.5, 0.75)
    }
    title = f"{name}: {counts[common]} true boxes in val"
    show_figure(plot_precision_recall(curves, title, folder / "pr.png"))
    print(f"Pictures: {folder / 'targets.png'}, {folder / 'detections.png'}, {folder / 'pr.png'}")
    names = [CATEGORY_NAMES[c] for c in found[0]["classes"]]
    graph = detections_to_scene_graph(found[0]["boxes"], found[0]["scores"], names, IMAGE_SIZE)
    print("Predicted scene graph of the first val photo:", graph)
