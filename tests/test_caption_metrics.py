"""Lecture 06's caption metrics against the COCO caption evaluation (pycocoevalcap).

The reference solution's ``corpus_bleu`` and ``cider_d`` must equal pycocoevalcap's ``Bleu(4)``
and ``Cider()`` on the same pre-tokenised captions (pycocoevalcap's PTB tokenizer needs Java, so
both sides get the lecture's ``tokenize_caption``): on the photo collection's captions with
perturbed candidates, and on real COCO captions where ``../shared/data/coco-mini`` exists. The
hidden tests' fallback references (used where pycocoevalcap is missing) are checked here too.
"""

import importlib.util
import shutil

import numpy as np
import pytest

from course_lib.data import generate_item
from course_lib.data.coco import load_coco
from course_lib.paths import coco_mini_dir, project_root
from course_lib.student.submission import import_lecture

pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402


@pytest.fixture(scope="module")
def lecture():
    return import_lecture(project_root() / "solutions", "06")


@pytest.fixture(scope="module")
def references():
    """The hidden tests' references of Lecture 06 (instructor side)."""
    path = project_root() / "tests" / "hidden" / "references_06.py"
    spec = importlib.util.spec_from_file_location("references_06", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _perturb(words, rng, other):
    """Return a candidate: the caption itself, a word dropped or swapped, truncated, or another."""
    words = list(words)
    kind = rng.integers(6)
    if kind == 1 and len(words) > 2:
        del words[rng.integers(len(words))]
    elif kind == 2 and len(words) > 3:
        i = rng.integers(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == 3:
        words = words[: max(1, len(words) // 2)]
    elif kind == 4:
        words = list(other)
    elif kind == 5:
        words = words + ["near", "a", "red", "car"]
    return words


def _corpus(lecture, captions_per_image, seed=0):
    rng = np.random.default_rng(seed)
    tokenised = [[lecture.tokenize_caption(c) for c in caps] for caps in captions_per_image]
    candidates, references = {}, {}
    for i, caps in enumerate(tokenised):
        other = tokenised[(i + 11) % len(tokenised)][0]
        candidates[i] = " ".join(_perturb(caps[0], rng, other)) or "a"
        references[i] = [" ".join(c) for c in caps[1:]]
    return candidates, references


def _compare(lecture, candidates, references):
    res = {k: [v] for k, v in candidates.items()}
    expected_bleu, _ = Bleu(4).compute_score(references, res, verbose=0)
    np.testing.assert_allclose(
        lecture.corpus_bleu(candidates, references), expected_bleu, atol=1e-6
    )
    expected_cider, expected_per_image = Cider().compute_score(references, res)
    score, per_image = lecture.cider_d(candidates, references)
    np.testing.assert_allclose(per_image, expected_per_image, atol=1e-6)
    assert score == pytest.approx(expected_cider, abs=1e-6)


def test_metrics_match_pycocoevalcap_on_the_photo_collection(lecture):
    captions = [generate_item(7, "val", i, 64)[2] for i in range(200)]
    _compare(lecture, *_corpus(lecture, captions, seed=1))


def test_metrics_match_pycocoevalcap_on_real_coco_captions(lecture):
    root = coco_mini_dir()
    if root is None:
        pytest.skip("../shared/data/coco-mini is absent (real COCO sample for tests only).")
    records = load_coco(root, "train2017", kinds=["captions"]).records
    captions = [r.captions for r in records if len(r.captions) >= 2]
    assert len(captions) >= 50
    _compare(lecture, *_corpus(lecture, captions, seed=2))


def test_perfect_candidates_score_higher(lecture):
    captions = [generate_item(8, "val", i, 64)[2] for i in range(40)]
    candidates, references = _corpus(lecture, captions, seed=3)
    perfect = {i: refs[0] for i, refs in references.items()}
    assert (
        lecture.corpus_bleu(perfect, references)[3] > lecture.corpus_bleu(candidates, references)[3]
    )
    assert lecture.cider_d(perfect, references)[0] > lecture.cider_d(candidates, references)[0]


def test_evaluate_captions_tokenises_raw_captions(lecture):
    captions = [generate_item(9, "val", i, 64)[2] for i in range(30)]
    raw_candidates = {i: caps[0].upper() + " !" for i, caps in enumerate(captions)}
    raw_references = {i: caps[1:] for i, caps in enumerate(captions)}
    scores = lecture.evaluate_captions(raw_candidates, raw_references)
    candidates = {i: " ".join(lecture.tokenize_caption(c)) for i, c in raw_candidates.items()}
    references = {
        i: [" ".join(lecture.tokenize_caption(r)) for r in refs]
        for i, refs in raw_references.items()
    }
    res = {k: [v] for k, v in candidates.items()}
    bleu, _ = Bleu(4).compute_score(references, res, verbose=0)
    assert [scores[f"BLEU-{n}"] for n in range(1, 5)] == pytest.approx(bleu, abs=1e-6)
    assert scores["CIDEr-D"] == pytest.approx(Cider().compute_score(references, res)[0], abs=1e-6)


def test_autograder_fallback_references_equal_pycocoevalcap(lecture, references):
    captions = [generate_item(10, "val", i, 64)[2] for i in range(60)]
    candidates, refs = _corpus(lecture, captions, seed=4)
    res = {k: [v] for k, v in candidates.items()}
    np.testing.assert_allclose(
        references.bleu(candidates, refs),
        Bleu(4).compute_score(refs, res, verbose=0)[0],
        rtol=1e-12,
    )
    expected, expected_per_image = Cider().compute_score(refs, res)
    score, per_image = references.cider(candidates, refs)
    np.testing.assert_allclose(per_image, expected_per_image, rtol=1e-12)


def test_meteor_through_pycocoevalcap(lecture):
    if shutil.which("java") is None:
        pytest.skip("METEOR needs Java (apt-get install default-jre-headless).")
    from course_lib.models.captioner import meteor

    captions = [generate_item(11, "val", i, 64)[2] for i in range(20)]
    candidates, references = _corpus(lecture, captions, seed=5)
    perfect = {i: refs[0] for i, refs in references.items()}
    good, noisy = meteor(perfect, references), meteor(candidates, references)
    assert 0.0 <= noisy < good <= 1.0
