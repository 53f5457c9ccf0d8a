"""Hidden tests of Lecture 07 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_07_object_detection.py``, whose helpers they reuse); their messages
never reach students. The references (``references_07.py``): IoU loops, CenterNet's target
drawing and focal loss, ``tf.image.non_max_suppression`` and pycocotools, here also on a
detector the student's code trained.
"""

from pathlib import Path

import numpy as np
import pytest

from course_lib.grading.expected import module_at, public_tests

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
    for height, width in [(2.5, 9.0), (30.0, 31.0)]:
        expected = ref.centernet_radius((height, width), 0.6)
        assert float(sub.gaussian_radius(height, width, 0.6)) == pytest.approx(expected, rel=1e-6)
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
