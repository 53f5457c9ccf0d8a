"""``camp competition export-kaggle``: Kaggle's files, and Kaggle's MAP@10 equal to the course's."""

import csv
import json
import re
import zipfile

import pytest
from typer.testing import CliRunner

from course_lib.competition import baselines, kaggle
from course_lib.competition.cli import app
from course_lib.competition.make import make_competition
from course_lib.competition.metrics import lecture
from course_lib.competition.scoring import (
    load_solution,
    perfect_rankings,
    score_file,
    write_submission,
)

runner = CliRunner()
BASELINES = ("random", "jaccard", "tfidf", "dropbox-noisy-oracle", "fused")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    out = tmp_path_factory.mktemp("kaggle") / "comp"
    make_competition(out, 60, 40, seed=0)
    return out


@pytest.fixture(scope="module")
def exported(comp, tmp_path_factory):
    out = tmp_path_factory.mktemp("kaggle") / "kaggle"
    result = _run("export-kaggle", comp, out)
    assert result.exit_code == 0, result.output
    assert "solution.csv" in result.output and "MAP@K" in result.output
    return out


def _rows(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _cli_map10(submission, comp):
    """Return {"public": x, "private": y}: the mAP@10 column that `camp competition score` shows."""
    result = _run("score", submission, "--solution", comp)
    assert result.exit_code == 0, result.output
    out = {}
    for usage in ("public", "private"):
        line = next(x for x in result.output.splitlines() if re.search(rf"\b{usage}\b", x))
        out[usage] = float(re.findall(r"\d\.\d{4}", line)[0])
    return out


def test_apk_worked_examples():
    # Kaggle's wiki examples: 3 relevant, hits at ranks 1 and 3 -> (1/1 + 2/3) / 3.
    assert kaggle.apk(["a", "c", "x"], ["a", "b", "c"], 10) == pytest.approx((1 + 2 / 3) / 3)
    assert kaggle.apk(["a", "b", "x"], ["a", "b", "c"], 10) == pytest.approx(2 / 3)
    assert kaggle.apk(["a", "c"], ["a", "b", "c"], 10) == pytest.approx((1 + 2 / 3) / 2)
    # Divided by min(m, k): 12 relevant, the first 10 all hits -> 1.
    relevant = [str(i) for i in range(12)]
    assert kaggle.apk(relevant, relevant[:10], 10) == 1.0
    # Hits after rank k do not count; no relevant id scores 0.
    assert kaggle.apk(["z"], [str(i) for i in range(10)] + ["z"], 10) == 0.0
    assert kaggle.apk([], ["a"], 10) == 0.0
    # A repeated id keeps its rank and scores once (the course refuses such submissions).
    assert kaggle.apk(["a", "b"], ["a", "a", "b"], 10) == pytest.approx((1 + 2 / 3) / 2)
    assert kaggle.mapk([["a"], ["b"]], [["a"], ["x", "b"]], 10) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Expected k >= 1"):
        kaggle.apk(["a"], ["a"], 0)


def test_apk_matches_the_course_definition_without_repeats():
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        ids = [str(i) for i in range(30)]
        relevant = set(rng.choice(ids, rng.integers(1, 15), replace=False).tolist())
        ranked = rng.permutation(ids)[: rng.integers(0, 30)].tolist()
        expected = lecture().average_precision_at_k(ranked, relevant, 10)
        assert kaggle.apk(sorted(relevant), ranked, 10) == pytest.approx(expected, abs=1e-12)


def test_export_writes_kaggle_files(comp, exported):
    solution = load_solution(comp)
    rows = _rows(exported / "solution.csv")
    assert list(rows[0]) == ["query_id", "image_ids", "Usage"]
    assert [r["query_id"] for r in rows] == solution.query_ids
    for r in rows:
        qid = r["query_id"]
        assert r["Usage"] == {"public": "Public", "private": "Private"}[solution.usage[qid]]
        full = {iid for iid, g in solution.grades[qid].items() if g == 2}
        assert set(r["image_ids"].split()) == full and full
    assert (exported / "sample_submission.csv").read_bytes() == (
        comp / "sample_submission.csv"
    ).read_bytes()
    assert (exported / "queries.csv").read_bytes() == (comp / "queries.csv").read_bytes()
    with zipfile.ZipFile(exported / "gallery.zip") as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(f"gallery/{i}.jpg" for i in solution.image_ids)
        assert archive.read(names[0]) == (comp / names[0]).read_bytes()
    text = (exported / "description.md").read_text()
    assert "MAP@10" in text and "min(m, 10)" in text and "30%" in text
    assert "solution" not in json.dumps(names)


@pytest.mark.parametrize("name", BASELINES)
def test_kaggle_map10_equals_course_score_on_baselines(comp, exported, tmp_path, name):
    submission = baselines.write_baseline(name, tmp_path / f"{name}.csv", comp)
    course = score_file(submission, load_solution(comp))
    on_kaggle = kaggle.kaggle_scores(exported / "solution.csv", submission)
    assert on_kaggle["Public"] == pytest.approx(course["public"]["map@10"], abs=1e-12)
    assert on_kaggle["Private"] == pytest.approx(course["private"]["map@10"], abs=1e-12)
    # The same numbers as `camp competition score` prints (four decimals).
    printed = _cli_map10(submission, comp)
    assert printed["public"] == round(on_kaggle["Public"], 4)
    assert printed["private"] == round(on_kaggle["Private"], 4)


def test_perfect_and_sample_submissions(comp, exported, tmp_path):
    solution = load_solution(comp)
    perfect = tmp_path / "perfect.csv"
    write_submission(perfect, perfect_rankings(solution), solution.query_ids)
    assert kaggle.kaggle_scores(exported / "solution.csv", perfect) == {
        "Public": 1.0,
        "Private": 1.0,
    }
    sample = exported / "sample_submission.csv"
    course = score_file(sample, solution)
    on_kaggle = kaggle.kaggle_scores(exported / "solution.csv", sample)
    assert on_kaggle["Private"] == pytest.approx(course["private"]["map@10"], abs=1e-12)


def test_export_is_reproducible(comp, exported, tmp_path):
    again = tmp_path / "again"
    kaggle.export_kaggle(comp, again)
    for name in ("solution.csv", "gallery.zip", "description.md"):
        assert (again / name).read_bytes() == (exported / name).read_bytes()


def test_bad_input_is_one_line(comp, tmp_path):
    result = _run("export-kaggle", tmp_path / "nowhere", tmp_path / "k")
    assert result.exit_code == 1
    assert "no such competition folder" in result.output
    assert "Traceback" not in result.output
    a_file = tmp_path / "out.txt"
    a_file.write_text("x")
    result = _run("export-kaggle", comp, a_file)
    assert result.exit_code == 1
    assert "expected a new or empty folder for the Kaggle files" in result.output
    public = tmp_path / "public"
    public.mkdir()
    (public / "gallery").mkdir()
    result = _run("export-kaggle", public, tmp_path / "k2")
    assert result.exit_code == 1 and "no solution.json there" in result.output
    # Markup in a path is shown as written.
    result = _run("export-kaggle", tmp_path / "[/bold]", tmp_path / "k3")
    assert result.exit_code == 1 and "[/bold]: no such competition folder" in result.output
