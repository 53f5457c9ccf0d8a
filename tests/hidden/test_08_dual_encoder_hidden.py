"""Hidden tests of Lecture 08 (instructor only): the references on inputs students never see.

Run by ``camp autograde``, ``camp gradescope`` and ``camp mutants`` beside the public tests
(``tests/autograder/test_08_dual_encoder.py``, whose helpers they reuse); their messages never
reach students. The references (``references_08.py``): numpy's InfoNCE (checked against
``tf.nn.softmax_cross_entropy_with_logits``), the projection head, ranking metrics, scipy and
scikit-learn.
"""

from pathlib import Path

import numpy as np
import pytest

from course_lib.grading.access import library
from course_lib.grading.expected import module_at, public_tests

ref = module_at(Path(__file__).with_name("references_08.py"))
public = public_tests("08")


@pytest.mark.points(1, hint="The loss of other batches.", section="info_nce")
def test_info_nce_on_other_batches(sub):
    rng = public._rng(80)
    for batch, dim, temperature in ((4, 6, 0.2), (11, 3, 0.9)):
        images = rng.normal(size=(batch, dim)) * 2
        texts = images + rng.normal(size=(batch, dim))
        expected = ref.info_nce(images, texts, temperature)
        assert expected == pytest.approx(ref.info_nce_tf(images, texts, temperature), rel=1e-9)
        value = float(np.asarray(sub.symmetric_info_nce(images, texts, temperature)))
        assert value == pytest.approx(expected, rel=1e-6)


@pytest.mark.points(1, hint="The projection head with other weights.", section="projection")
def test_projection_head_with_other_weights(sub):
    public._seed(sub, 4)
    head = sub.ProjectionHead(6, dropout_rate=0.3)
    head.build((None, 4))
    values = public._head_values(public._rng(81), 4, 6)
    for name, pair in values.items():
        for variable, value in zip(getattr(head, name).weights, pair, strict=True):
            variable.assign(value.astype("float32"))
    x = public._rng(82).normal(size=(5, 4)).astype("float32")
    expected = ref.head(x, values, ref.LAYER_NORM_EPSILON)
    np.testing.assert_allclose(np.asarray(head(x, training=False)), expected, atol=1e-4)


@pytest.mark.points(1, hint="Training and evaluation losses.", section="training")
def test_train_and_test_steps_match_the_reference_loss(sub):
    keras = library(sub, "keras")
    public._seed(sub)
    model = sub.DualEncoder(*public._toy_towers(sub, image_dropout=0.5), initial_temperature=0.3)
    images, texts = public._toy_pairs()
    image_embeddings, text_embeddings = model((images, texts), training=False)
    expected = ref.batch_losses(image_embeddings, text_embeddings, 0.3)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = model.evaluate(public._toy_dataset(sub), verbose=0, return_dict=True)
    assert float(logs["loss"]) == pytest.approx(expected, rel=1e-4)
    public._seed(sub)
    model = sub.DualEncoder(*public._toy_towers(sub), initial_temperature=0.2)
    image_embeddings, text_embeddings = model((images, texts), training=True)
    expected = ref.batch_losses(image_embeddings, text_embeddings, 0.2)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    history = model.fit(public._toy_dataset(sub), epochs=1, verbose=0, shuffle=False).history
    assert float(history["loss"][0]) == pytest.approx(expected, rel=1e-4)


@pytest.mark.points(1, hint="Evaluation of other embeddings.", section="evaluation")
def test_evaluation_on_other_embeddings(sub):
    from sklearn.decomposition import PCA

    public._use_lecture_05(sub)
    rng = public._rng(83)
    images = rng.normal(size=(7, 4)) * rng.uniform(0.5, 3, size=(7, 1))
    texts = images[[1, 1, 4, 6, 0]] + 0.6 * rng.normal(size=(5, 4))
    relevant = [{1}, {1, 2}, {4}, {6, 5}, {0}]
    report = sub.retrieval_report(texts, images, relevant, ks=(2,), map_k=3)
    for key, value in ref.report(texts, images, relevant, (2,), 3).items():
        assert float(report[key]) == pytest.approx(value, abs=1e-9), key
    owner = np.array([0, 1, 2, 3, 4, 5, 6, 0, 3, 3])
    captions = images[owner] + 1.5 * rng.normal(size=(10, 4))
    recall = sub.image_to_text_recall(images, captions, owner, ks=(1, 3))
    for key, value in ref.image_to_text(images, captions, owner, (1, 3)).items():
        assert float(recall[key]) == pytest.approx(value, abs=1e-9), key
    classes = rng.normal(size=(4, 4))
    np.testing.assert_allclose(
        sub.zero_shot_probabilities(images, classes, 0.5), ref.zero_shot(images, classes, 0.5),
        atol=1e-9,
    )  # fmt: skip
    points = np.asarray(sub.pca_2d(images * 3 + 1), np.float64)
    expected = PCA(2).fit_transform(images * 3 + 1)
    for axis in range(2):
        assert np.allclose(np.abs(points[:, axis]), np.abs(expected[:, axis]), atol=1e-8)
    prompts = rng.normal(size=(2, 4, 3)) * rng.uniform(0.5, 4, size=(2, 4, 1))
    np.testing.assert_allclose(
        sub.ensemble_class_embeddings(prompts), ref.ensemble(prompts), atol=1e-9
    )
