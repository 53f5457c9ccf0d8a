"""Lecture 07's reference implementations: the instructor's side of the autograder.

Never shipped (``camp release`` leaves ``tests/hidden`` out and refuses an edition that carries
their text). ``expected()`` runs them on the fixed inputs of the public tests
(``tests/autograder/test_07_object_detection.py``, whose seeded builders it reuses) and ``camp
generate`` writes the result to ``tests/autograder/expected/07_object_detection.json``; the
hidden tests (``test_07_object_detection_hidden.py``) compare the student's code with them on
other inputs and on a trained detector. The references: IoU by plain loops; CenterNet's own
``gaussian_radius``, ``gaussian2D`` and ``draw_umich_gaussian`` (transcribed from
github.com/xingyizhou/CenterNet, src/lib/utils/image.py) and its focal loss
(src/lib/models/losses.py) in numpy; ``tf.nn``; ``tf.image.non_max_suppression``; Keras' own
parameter counts; and ``pycocotools`` for IoU and COCO mAP.
"""

import contextlib
import io
import json
import math

import keras
import numpy as np
import tensorflow as tf

from course_lib.grading.expected import public_tests


def iou_loops(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
            out[i, j] = iw * ih / union if union > 0 else 0.0
    return out


def coco_iou(detections, truth):
    from pycocotools import mask as mask_utils

    return mask_utils.iou(np.asarray(detections).tolist(), np.asarray(truth).tolist(),
                          [0] * len(truth))  # fmt: skip


# CenterNet's target drawing, as published (src/lib/utils/image.py).
def centernet_radius(det_size, min_overlap=0.7):
    height, width = det_size
    a1, b1 = 1, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def centernet_gaussian2d(shape, sigma=1):
    m, n = [(ss - 1.0) / 2.0 for ss in shape]
    y, x = np.ogrid[-m : m + 1, -n : n + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h


def centernet_draw(heatmap, center, radius):
    diameter = 2 * radius + 1
    gaussian = centernet_gaussian2d((diameter, diameter), sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    masked_heatmap = heatmap[y - top : y + bottom, x - left : x + right]
    masked_gaussian = gaussian[radius - top : radius + bottom, radius - left : radius + right]
    if min(masked_gaussian.shape) > 0 and min(masked_heatmap.shape) > 0:
        np.maximum(masked_heatmap, masked_gaussian, out=masked_heatmap)
    return heatmap


def targets(boxes, classes, image_size, num_classes, stride):
    cells = image_size // stride
    heat = np.zeros((cells, cells, num_classes), np.float32)
    sizes = np.zeros((cells, cells, 2), np.float32)
    offsets = np.zeros((cells, cells, 2), np.float32)
    mask = np.zeros((cells, cells), np.float32)
    for box, cls in zip(np.clip(boxes, 0, image_size), classes, strict=True):
        w, h = (box[2] - box[0]) / stride, (box[3] - box[1]) / stride
        if w <= 0 or h <= 0:
            continue
        ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32) / stride
        cell = np.minimum(np.floor(ct).astype(int), cells - 1)
        radius = max(0, int(centernet_radius((math.ceil(h), math.ceil(w)))))
        channel = heat[:, :, cls].copy()
        heat[:, :, cls] = centernet_draw(channel, cell, radius)
        sizes[cell[1], cell[0]] = (w, h)
        offsets[cell[1], cell[0]] = ct - cell
        mask[cell[1], cell[0]] = 1
    return heat, sizes, offsets, mask


def decode(heat, sizes, offsets, stride=4, k=100, threshold=0.05):
    pooled = tf.nn.max_pool2d(heat, 3, 1, "SAME").numpy()
    peaks = np.where(pooled == heat, heat, 0.0)
    out = []
    for b in range(len(heat)):
        flat = peaks[b].reshape(-1)
        top = np.argsort(-flat, kind="stable")[:k]
        top = top[flat[top] >= threshold]
        cell, cls = np.divmod(top, heat.shape[-1])
        y, x = np.divmod(cell, heat.shape[1])
        cx, cy = (x + offsets[b, y, x, 0]) * stride, (y + offsets[b, y, x, 1]) * stride
        w, h = np.maximum(sizes[b, y, x, 0], 0) * stride, np.maximum(sizes[b, y, x, 1], 0) * stride
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        out.append({"boxes": boxes.reshape(-1, 4), "scores": flat[top], "classes": cls})
    return out


def head_outputs(features, weights):
    """The head's three branches with tf.nn: heatmap logits, sizes, offsets."""
    out = {}
    for name, (conv, conv_bias, last, last_bias) in weights.items():
        hidden = tf.nn.relu(tf.nn.conv2d(features, conv, 1, "SAME") + conv_bias)
        out[name] = (tf.nn.conv2d(hidden, last, 1, "SAME") + last_bias).numpy()
    return out


def detector(num_classes, image_size, widths, neck, head_channels):
    """The documented architecture with plain 3×3 convolutions as blocks."""
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    stages = []
    for width in widths[1:]:
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(width, 3, strides=1, padding="same", activation="relu")(x)
        stages.append(x)
    p = keras.layers.Conv2D(neck, 1)(stages[2])
    for skip in (stages[1], stages[0]):
        p = keras.layers.UpSampling2D(2)(p) + keras.layers.Conv2D(neck, 1)(skip)
    x = keras.layers.Conv2D(neck, 3, padding="same", activation="relu")(p)
    branches = [
        keras.layers.Conv2D(out, 1)(keras.layers.Conv2D(head_channels, 3, padding="same")(x))
        for out in (num_classes, 2, 2)
    ]
    return keras.Model(inputs, branches)


def detector_forward(images, weights, widths, training):
    """The documented detector with plain 3×3 ReLU convolutions as blocks, in ``tf.nn``.

    ``weights``: ``{"stem": kernel, "bn": [gamma, beta, mean, variance], ("conv", shape):
    [kernel, bias], name: [kernel, bias]}`` for the head's sublayers; batch norm uses the batch's
    statistics in training mode, the moving ones otherwise (Keras' epsilon 1e-3).
    """

    def conv(x, kernel, bias, strides=1):
        return tf.nn.conv2d(x, kernel, strides, "SAME") + bias

    x = tf.nn.conv2d(tf.constant(images, tf.float32), weights["stem"], 2, "SAME")
    gamma, beta, mean, variance = weights["bn"]
    if training:
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    x = tf.nn.relu(tf.nn.batch_normalization(x, mean, variance, beta, gamma, 1e-3))
    stages, previous = [], widths[0]
    for width in widths[1:]:
        x = tf.nn.relu(conv(x, *weights[("conv", (3, 3, previous, width))], 2))
        x = tf.nn.relu(conv(x, *weights[("conv", (3, 3, width, width))]))
        stages.append(x)
        previous = width
    neck = weights["features"][0].shape[-1]
    p = conv(stages[2], *weights[("conv", (1, 1, widths[3], neck))])
    for skip, width in ((stages[1], widths[2]), (stages[0], widths[1])):
        up = tf.repeat(tf.repeat(p, 2, axis=1), 2, axis=2)  # Nearest-neighbour upsampling ×2.
        p = up + conv(skip, *weights[("conv", (1, 1, width, neck))])
    x = tf.nn.relu(conv(p, *weights["features"]))
    out = []
    for name in ("heatmap", "size", "offset"):
        hidden = tf.nn.relu(conv(x, *weights[f"{name}_conv"]))
        out.append(conv(hidden, *weights[f"{name}_out"]))
    return [tf.sigmoid(out[0]).numpy(), out[1].numpy(), out[2].numpy()]


def focal(gt, pred, alpha=2, beta=4):
    """CenterNet's ``_neg_loss`` in numpy (predictions clipped as its ``_sigmoid`` does)."""
    pred = np.clip(pred.astype(np.float64), 1e-4, 1 - 1e-4)
    pos, neg = gt == 1, gt < 1
    pos_loss = (np.log(pred) * (1 - pred) ** alpha)[pos].sum()
    neg_loss = (np.log(1 - pred) * pred**alpha * (1 - gt) ** beta)[neg].sum()
    num_pos = pos.sum()
    return -neg_loss if num_pos == 0 else -(pos_loss + neg_loss) / num_pos


def detection_losses(heat_t, sizes_t, offsets_t, mask, heat, sizes, offsets):
    """``(total, heatmap, size, offset)`` of CenterNet's losses (weights 1, 0.1, 1), in numpy."""
    count = max(2 * float(mask.sum()), 1.0)
    size = float(np.abs(sizes - sizes_t)[mask == 1].sum() / count)
    offset = float(np.abs(offsets - offsets_t)[mask == 1].sum() / count)
    heatmap = float(focal(heat_t, heat))
    return heatmap + 0.1 * size + offset, heatmap, size, offset


def nms(boxes, scores, threshold, limit):
    return tf.image.non_max_suppression(boxes, scores, limit, threshold).numpy()


def batched_nms(boxes, scores, classes, threshold, limit):
    kept = []
    for cls in np.unique(classes):
        members = np.flatnonzero(classes == cls)
        kept += list(members[nms(boxes[members], scores[members], threshold, len(members))])
    kept = np.asarray(kept, dtype=np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")][:limit]


def _cocoeval(ground_truth, results, max_detections=None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = json.loads(json.dumps(ground_truth))
        truth.createIndex()
        detections = truth.loadRes(json.loads(json.dumps(results))) if results else COCO()
        evaluation = COCOeval(truth, detections, "bbox")
        if max_detections is not None:
            evaluation.params.maxDets = sorted({1, 10, max_detections, 100})
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def coco_stats(ground_truth, results):
    """COCOeval's ``stats[0:9]``: AP, AP50, AP75, APs, APm, APl, AR@1, AR@10, AR@100."""
    return [float(v) for v in _cocoeval(ground_truth, results).stats[:9]]


def coco_map(ground_truth, results, max_detections=100):
    """COCOeval's mAP, AP50 and AP75 with ``max_detections`` per image (summarize()'s way)."""
    evaluation = _cocoeval(ground_truth, results, max_detections)
    column = evaluation.params.maxDets.index(max_detections)
    precision = evaluation.eval["precision"][:, :, :, 0, column]  # (thresholds, recalls, classes)
    values = []
    for rows in (precision, precision[:1], precision[5:6]):
        valid = rows[rows > -1]
        values.append(float(valid.mean()) if valid.size else -1.0)
    return values


def expected():
    """The reference's values on the public tests' fixed inputs."""
    t = public_tests("07")
    values = {}
    a, b = t._iou_inputs()
    values["box_iou"] = iou_loops(a.astype(np.float64), b.astype(np.float64))
    found, truth = t._xywh_inputs()
    values["box_iou_xywh"] = {
        "out": coco_iou(found, truth),
        "edges": [float(coco_iou([det], [gt])[0, 0]) for _, det, gt in t.EDGE_PAIRS],
    }
    values["gaussian_radius"] = [
        [centernet_radius((h, w), overlap) for overlap in (0.7, 0.5)] for h, w in t._radius_sizes()
    ]
    values["draw_gaussian"] = [
        {
            "out": centernet_draw(t._drawing_heatmap(), center, radius),
            "swapped": centernet_draw(t._drawing_heatmap(), center[::-1], radius),
        }
        for center, radius in t.GAUSSIAN_CASES
    ]
    values["encode_targets"] = [
        dict(zip(("heatmap", "sizes", "offsets", "mask"), targets(*case), strict=True))
        for case in t._encode_cases()
    ]
    heat, sizes, offsets = t._decode_inputs()
    values["decode_detections"] = {
        "ten": decode(heat, sizes, offsets, 4, 10, 0.05),
        "two": decode(heat, sizes, offsets, 8, 2, 0.55),
    }
    features, weights = t._head_inputs()
    values["detection_head"] = head_outputs(features, weights)
    values["build_detector"] = [detector(*config).count_params() for config in t.DETECTOR_CONFIGS]
    truth, predictions = t._focal_inputs()
    values["focal_loss"] = {
        "out": focal(truth, predictions),
        "per_image": float(np.mean([focal(truth[i], predictions[i]) for i in range(2)])),
        "other": focal(truth, predictions, 1.5, 2.0),
        "empty": focal(np.zeros_like(truth), predictions),
    }
    truth, pred, mask = t._l1_inputs()
    values["masked_l1_loss"] = float(np.abs(pred - truth)[mask == 1].sum() / max(2 * mask.sum(), 1))
    values["nms"] = [nms(*case) for case in t._nms_cases()]
    boxes, scores = t.NMS_TIE
    values["nms_tie"] = nms(boxes, scores, float(np.float32(1 / 3)), 5)
    boxes, scores, classes = t._batched_inputs()
    values["batched_nms"] = {
        "out": batched_nms(boxes, scores, classes, 0.4, 30),
        "plain": nms(boxes, scores, 0.4, 30),
    }
    values["match_edges"] = [
        0 if coco_iou([det], [gt])[0, 0] >= threshold else -1 for threshold, det, gt in t.EDGE_PAIRS
    ]
    values["coco_map"] = [coco_stats(*t._coco_case(700 + seed)) for seed in range(6)]
    truth, results = t._coco_case(720, images=3)
    many = [{**r, "image_id": truth["images"][0]["id"]} for r in results * 3]
    values["coco_map_two_detections"] = coco_map(truth, many, max_detections=2)
    values["coco_sizes"] = {name: coco_stats(*case) for name, case in t._size_cases().items()}
    return values
