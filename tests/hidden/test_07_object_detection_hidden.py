"""Hidden tests of Lecture 07 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_07_object_detection.py``, whose helpers they reuse); their messages
never reach students. The references (``references_07.py``): IoU loops, CenterNet's target
drawing and focal loss, ``tf.image.non_max_suppression`` and pycocotools, here also on a
detector the student's code trained.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.grading.access import float_errors_raised, library, type_name
from course_lib.grading.compare import plain_array
from course_lib.grading.expected import module_at, public_tests
from course_lib.grading.properties import GRADING

ref = module_at(Path(__file__).with_name("references_07.py"))
public = public_tests("07")


def _trained_detections(sub, tmp_path):
    """The tiny trained detector's detections on its own photos, decoded here, as COCO results."""
    from course_lib.data.pipelines import load_image

    model, truth, _, _ = public._trained_detector(sub, tmp_path)
    images = np.stack(
        [
            load_image(str(tmp_path / "tiny" / "images" / im["file_name"]), (64, 64)).numpy()
            for im in truth["images"]
        ]
    )
    outputs = [np.asarray(o) for o in model(images)]
    ids = sorted(c["id"] for c in truth["categories"])
    results = []
    for image, found in zip(truth["images"], ref.decode(*outputs), strict=True):
        for box, score, cls in zip(found["boxes"], found["scores"], found["classes"], strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            results.append(
                {
                    "image_id": image["id"],
                    "category_id": ids[int(cls)],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(score),
                }
            )
    return truth, results


@pytest.mark.points(
    2,
    hint="The same computation on a trained detector's output must still equal pycocotools.",
    section="evaluation",
)
@public._quiet
def test_evaluate_coco_map_on_a_trained_detector(sub, tmp_path):
    truth, results = _trained_detections(sub, tmp_path)
    expected = ref.coco_stats(truth, results)
    public._compare_coco_stats(sub.evaluate_coco_map(truth, results), expected, "trained detector")
    # Measured with the reference over 10 seeds of the model: COCO mAP on the training photos
    # 0.559-0.766; untrained 0.000, a tenth of the learning rate 0.001. Bar: 0.3.
    assert expected[0] > 0.3, "After training, COCO mAP on the training photos is too low."


@pytest.mark.points(1, hint="Boxes, targets and decoding of other inputs.", section="encoding")
@public._quiet
def test_boxes_targets_and_decoding_on_other_inputs(sub):
    rng = public._rng(70)
    a, b = public._random_boxes(rng, 9, 0, 30), public._random_boxes(rng, 4, 0, 30)
    np.testing.assert_allclose(
        sub.box_iou(a, b), ref.iou_loops(a.astype(float), b.astype(float)), rtol=1e-5, atol=1e-6
    )
    # A square box too: there a discriminant is 0 and must not round below it.
    for height, width in [(2.5, 9.0), (30.0, 31.0), (11.0, 11.0)]:
        expected = ref.centernet_radius((height, width), 0.6)
        with float_errors_raised(sub):
            received = float(sub.gaussian_radius(height, width, 0.6))
        assert received == pytest.approx(expected, rel=1e-6)
    boxes = public._random_boxes(rng, 5, 0, 40, 3, 20)
    classes = rng.integers(0, 2, size=5)
    received = sub.encode_targets(boxes, classes, 48, 2, 4)
    for key, want in zip(
        ("heatmap", "sizes", "offsets", "mask"), ref.targets(boxes, classes, 48, 2, 4), strict=True
    ):
        np.testing.assert_allclose(np.asarray(received[key]), want, rtol=1e-5, atol=1e-5)
    heat = rng.uniform(0, 1, size=(1, 6, 6, 2)).astype(np.float32)
    sizes = rng.uniform(-1, 4, size=(1, 6, 6, 2)).astype(np.float32)
    offsets = rng.uniform(0, 1, size=(1, 6, 6, 2)).astype(np.float32)
    got = sub.decode_detections(heat, sizes, offsets, 4, 7, 0.2)[0]
    want = ref.decode(heat, sizes, offsets, 4, 7, 0.2)[0]
    np.testing.assert_allclose(np.asarray(got["boxes"]).reshape(-1, 4), want["boxes"], atol=1e-4)


@pytest.mark.points(1, hint="Losses and NMS of other inputs.", section="nms")
@public._quiet
def test_losses_and_nms_on_other_inputs(sub):
    rng = public._rng(71)
    truth = rng.uniform(0, 0.9, size=(3, 4, 4, 2)).astype(np.float32) ** 2
    truth[0, 1, 1, 0] = truth[2, 3, 0, 1] = 1.0
    predictions = rng.uniform(0.01, 0.99, size=truth.shape).astype(np.float32)
    received = float(sub.focal_loss(truth, predictions, alpha=2.5, beta=3.0))
    assert received == pytest.approx(ref.focal(truth, predictions, 2.5, 3.0), rel=1e-4)
    for _ in range(4):
        n = int(rng.integers(5, 30))
        boxes = public._random_boxes(rng, n, 0, 30, 4, 25)
        scores = rng.permutation(n).astype(np.float32) / n + 0.01
        classes = rng.integers(0, 4, size=n)
        np.testing.assert_array_equal(
            sub.non_max_suppression(boxes, scores, 0.45, 6), ref.nms(boxes, scores, 0.45, 6)
        )
        np.testing.assert_array_equal(
            sub.batched_nms(boxes, scores, classes, 0.45, 9),
            ref.batched_nms(boxes, scores, classes, 0.45, 9),
        )


@pytest.mark.points(1, hint="COCO mAP of other cases.", section="evaluation")
@public._quiet
def test_evaluate_coco_map_on_other_cases(sub):
    for seed in (750, 751, 752):
        truth, results = public._coco_case(seed, images=5, size=120, sides=(4, 60))
        expected = ref.coco_stats(truth, results)
        public._compare_coco_stats(sub.evaluate_coco_map(truth, results), expected, f"{seed}")


def _repeated_photo(sub, tmp_path, copies=3, seed=13):
    """A train split that lists one 64-pixel photo ``copies`` times, here and where the student's
    code runs: every batch holds the same photo, whatever the shuffle, so the loss of each step
    is the loss of that photo. Returns ``(folder there, photo path here, COCO dict)``."""
    from course_lib.data.writer import make_split

    here = tmp_path / "repeated"
    make_split(here, "train", 1, seed, 64)
    path = here / "annotations" / "instances_train.json"
    one = json.loads(path.read_text())
    (image,) = one["images"]
    truth = {**one, "images": [], "annotations": []}
    for k in range(copies):
        truth["images"].append({**image, "id": k + 1})
        for a in one["annotations"]:
            truth["annotations"].append(
                {**a, "id": len(truth["annotations"]) + 1, "image_id": k + 1}
            )
    text = json.dumps(truth)
    path.write_text(text)
    there = library(sub, "tempfile").mkdtemp()
    library(sub, "course_lib.data.writer").make_split(there, "train", 1, seed, 64)
    library(sub, "pathlib").Path(there, "annotations", "instances_train.json").write_text(text)
    return there, here / "images" / image["file_name"], truth


@pytest.mark.points(
    2,
    hint="Return the mean of each loss over each epoch's steps; run the model in training mode; "
    "use the learning_rate, epochs and max_seconds you are given.",
    section="training",
)
@public._quiet
def test_train_detector_returns_the_mean_losses_of_training_mode(sub, tmp_path):
    """At learning rate 0 the weights never move, so every step of every epoch has the loss of the
    reference on the photo, in training mode (batch statistics); a 32-pixel detector reads the
    64-pixel photos resized."""
    from course_lib.data.pipelines import load_image

    folder, photo, truth = _repeated_photo(sub, tmp_path)
    ids = sorted(c["id"] for c in truth["categories"])
    library(sub, "keras").utils.set_random_seed(4)
    model = sub.build_detector(len(ids), 32, (8, 12, 16, 20), 12, 10, block=public._conv_block(sub))
    history = sub.train_detector(
        model,
        folder,
        epochs=2,
        batch_size=2,
        learning_rate=0.0,
        seed=3,
        verbose=0,
        max_seconds=600,
    )
    for key in ("loss", "heatmap", "size", "offset"):
        if key not in history or len(history[key]) != 2:
            pytest.fail(f"Train for `epochs` epochs (2 here) and return history[{key!r}] of each.")
    image = load_image(str(photo), (32, 32)).numpy()[None]
    outputs = [np.asarray(o) for o in model(image, training=True)]
    boxes = np.array([a["bbox"] for a in truth["annotations"] if a["image_id"] == 1], np.float32)
    boxes = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1) * 0.5
    classes = [ids.index(a["category_id"]) for a in truth["annotations"] if a["image_id"] == 1]
    targets = [t[None] for t in ref.targets(boxes, classes, 32, len(ids), 4)]
    expected = ref.detection_losses(*targets[:3], targets[3], *outputs)
    received = np.array([history[k] for k in ("loss", "heatmap", "size", "offset")], np.float64)
    # Measured: the reference returns them to a relative 2e-8 (sum and mean differ by 2).
    if np.allclose(received[:, 0], 2 * np.asarray(expected), rtol=1e-4):
        pytest.fail("Return the mean over the epoch's steps, not their sum.")
    np.testing.assert_allclose(received, np.tile(np.asarray(expected)[:, None], 2), rtol=1e-4)
    stopped = sub.train_detector(
        model, folder, epochs=3, batch_size=2, learning_rate=0.0, seed=3, verbose=0, max_seconds=0
    )
    assert len(stopped["loss"]) == 1, "max_seconds=0: stop after the first epoch."


@pytest.mark.points(1, hint="Training that follows its seed argument.", section="training")
@public._quiet
def test_train_detector_follows_its_seed(sub, tmp_path):
    """From the same start, the same seed trains the same weights and another seed (another
    order of the photos) other weights."""
    truth = public._tiny_split(tmp_path / "tiny", count=12)
    folder = public._runner_split(sub, count=12)
    library(sub, "keras").utils.set_random_seed(6)
    classes = len(truth["categories"])
    model = sub.build_detector(classes, 32, (8, 12, 16, 20), 12, 10, block=public._conv_block(sub))
    start = model.get_weights()

    def trained(seed):
        model.set_weights(start)
        sub.train_detector(
            model, folder, epochs=1, batch_size=4, learning_rate=1e-2, seed=seed, verbose=0
        )
        return [plain_array(w, what="A trained weight", dtype="float") for w in model.get_weights()]

    def apart(weights, others):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(weights, others, strict=True))

    first, again, other = trained(3), trained(3), trained(4)
    # Measured with the reference: the same seed gives the same weights exactly, seeds 3 and 4
    # weights up to 0.039 apart.
    if apart(first, again) > 1e-4:
        pytest.fail("The same seed must train the same weights: use the seed argument.")
    if apart(first, other) < 1e-4:
        pytest.fail("Another seed trained the same weights: shuffle every epoch with the seed.")


def _detector_weights(widths, neck, head, num_classes, seed=77):
    """Seeded weights for every layer of the documented detector, by the keys of
    ``ref.detector_forward``; each convolution's kernel shape is unique for these sizes."""
    rng = np.random.default_rng(seed)

    def conv(shape, bias=True):
        kernel = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[:3])), shape).astype(np.float32)
        return [kernel, rng.normal(0, 0.1, shape[-1]).astype(np.float32)] if bias else [kernel]

    w0 = widths[0]
    weights = {"stem": conv((3, 3, 3, w0), bias=False)[0]}
    weights["bn"] = [
        rng.uniform(0.5, 1.5, w0).astype(np.float32),
        rng.normal(0, 0.2, w0).astype(np.float32),
        rng.normal(0, 0.2, w0).astype(np.float32),
        rng.uniform(0.3, 1.5, w0).astype(np.float32),
    ]
    previous = w0
    for width in widths[1:]:
        for shape in ((3, 3, previous, width), (3, 3, width, width), (1, 1, width, neck)):
            weights[("conv", shape)] = conv(shape)
        previous = width
    weights["features"] = weights[("conv", (3, 3, neck, neck))] = conv((3, 3, neck, neck))
    for name, out in (("heatmap", num_classes), ("size", 2), ("offset", 2)):
        weights[f"{name}_conv"] = conv((3, 3, neck, head))
        weights[f"{name}_out"] = conv((1, 1, head, out))
    return weights


@pytest.mark.points(
    2,
    hint="The detector must compute the documented architecture, in training and in inference "
    "mode: stem, batch norm and ReLU; two blocks per stage (strides 2 then 1); 1×1 laterals, "
    "nearest upsampling ×2 and additions; the 3×3 ReLU convolution; the head.",
    section="detector",
)
@public._quiet
def test_build_detector_computes_the_documented_architecture(sub):
    """The student's detector carries the reference's seeded weights (each convolution found by
    its kernel's shape, the head's by name) and must give ``tf.nn``'s outputs in both modes."""
    widths, neck, head, classes = (4, 6, 8, 10), 7, 5, 3
    library(sub, "keras").utils.set_random_seed(6)
    model = sub.build_detector(classes, 32, widths, neck, head, block=public._conv_block(sub))
    weights = _detector_weights(widths, neck, head, classes)
    for layer in model.layers:
        kind, current = type_name(layer), layer.get_weights()
        if not current:
            continue
        if kind == "BatchNormalization":
            layer.set_weights(weights["bn"])
        elif kind == "DetectionHead":
            for name in ("heatmap", "size", "offset"):
                for part in ("conv", "out"):
                    getattr(layer, f"{name}_{part}").set_weights(weights[f"{name}_{part}"])
        elif kind == "Conv2D" and len(current) == 1 and current[0].shape == (3, 3, 3, widths[0]):
            layer.set_weights([weights["stem"]])
        elif kind == "Conv2D" and ("conv", current[0].shape) in weights:
            layer.set_weights(weights[("conv", current[0].shape)])
        else:
            pytest.fail(
                f"Unexpected layer with weights: a {kind} of shapes "
                f"{[w.shape for w in current]}; follow the documented architecture."
            )
    images = public._rng(72).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    for training in (False, True):
        expected = ref.detector_forward(images, weights, widths, training)
        received = [np.asarray(o) for o in model(images, training=training)]
        for name, got, want in zip(
            ("heatmap", "sizes", "offsets"), received, expected, strict=True
        ):
            # Measured: the solution gives the reference's values to 1e-12 in both modes;
            # bilinear upsampling, the strides of a stage swapped or no ReLU after the
            # stem's batch norm move them by 0.09 to 0.74. Bar: 1e-4.
            np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{name}, training={training}")


@st.composite
def grid_boxes(draw, max_boxes=6):
    """Boxes with integer corners in [-8, 12] and sides in [-2, 16]: negative coordinates, boxes
    without area or turned inside out, duplicates and touching boxes all come up, and every IoU
    is a quotient of small integers, so any correct order of operations rounds it alike."""
    n = draw(st.integers(0, max_boxes))
    corners = draw(st.lists(st.tuples(*[st.integers(-8, 12)] * 2), min_size=n, max_size=n))
    sides = draw(st.lists(st.tuples(*[st.integers(-2, 16)] * 2), min_size=n, max_size=n))
    boxes = [[x, y, x + w, y + h] for (x, y), (w, h) in zip(corners, sides, strict=True)]
    if n > 1 and draw(st.booleans()):
        boxes[-1] = list(boxes[0])  # A duplicate.
    return np.asarray(boxes, np.float64).reshape(-1, 4)


@pytest.mark.points(1, hint="IoU of generated boxes, in both precisions.", section="boxes")
@GRADING
@given(a=grid_boxes(), b=grid_boxes(), dtype=st.sampled_from(["float64", "float32"]))
def test_box_iou_matches_loops_on_generated_boxes(sub, a, b, dtype):
    with float_errors_raised(sub):
        received = sub.box_iou(a, b, dtype)
    received = plain_array(received, dtype=np.dtype(dtype), shape=(len(a), len(b)), empty=True)
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(received, ref.iou_loops(a, b), rtol=tolerance, atol=tolerance)


@pytest.mark.points(1, hint="NMS of generated boxes, as TensorFlow's.", section="nms")
@GRADING
@given(
    boxes=grid_boxes(max_boxes=10),
    threshold=st.sampled_from([0.0, 0.25, float(np.float32(1 / 3)), 0.5, 0.7, 1.0]),
    data=st.data(),
)
def test_nms_matches_tf_on_generated_boxes(sub, boxes, threshold, data):
    n = len(boxes)
    # Inside-out sides become 0: TensorFlow would flip such a box, the lecture gives it no area.
    low = np.minimum(boxes[:, :2], boxes[:, 2:])
    boxes = np.concatenate([low, np.maximum(boxes[:, 2:], low)], axis=1).astype(np.float32)
    ranks = np.asarray(data.draw(st.permutations(range(n))), np.float32).reshape(-1)
    scores = (ranks + 1) / np.float32(n + 1)  # Distinct: TensorFlow's order of ties is its own.
    limit = data.draw(st.integers(0, n + 1))
    received = sub.non_max_suppression(boxes, scores, threshold, limit)
    received = plain_array(received, dtype=np.int32, shape=(None,), empty=True)
    np.testing.assert_array_equal(received, ref.nms(boxes, scores, threshold, limit))
