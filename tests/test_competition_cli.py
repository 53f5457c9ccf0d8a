"""``camp competition``: make, score, leaderboard and baseline through Typer's CliRunner."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from course_lib.competition.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "competition"
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "comp"
    result = _run("make", out, "--gallery-size", 40, "--num-queries", 20, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "keep" in result.output and "hidden" in result.output
    return out


def test_make_refuses_a_used_folder(comp):
    result = _run("make", comp, "--gallery-size", 40, "--num-queries", 20)
    assert result.exit_code == 1
    assert "expected a new or empty folder for the competition" in result.output


def test_score_prints_every_metric(comp):
    result = _run("score", comp / "sample_submission.csv", "--solution", comp)
    assert result.exit_code == 0, result.output
    for label in ("mAP@10", "R@1", "R@5", "R@10", "MRR", "nDCG@10", "public", "private"):
        assert label in result.output
    result = _run("score", comp / "sample_submission.csv", "--solution", comp, "--public-only")
    assert "private" not in result.output


def test_score_reports_a_broken_submission(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,image_ids\nq1,[101]\nq2,\nq3,\n")
    result = _run("score", bad, "--solution", FIXTURE)
    assert result.exit_code == 1
    # Rich markup in user input is shown as written.
    assert f"{bad}, line 2: unknown image id '[101]' for query q1 (not in the gallery)." in (
        " ".join(result.output.split())
    )


def test_leaderboard_writes_both_pages(tmp_path):
    team = tmp_path / "subs" / "alpha"
    team.mkdir(parents=True)
    (team / "20250101-120000.csv").write_text("query_id,image_ids\nq1,101\nq2,103 104\nq3,105\n")
    result = _run("leaderboard", tmp_path / "subs", "--solution", FIXTURE, "--out", tmp_path / "lb")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lb" / "leaderboard.md").is_file()
    assert (tmp_path / "lb" / "leaderboard.html").is_file()
    assert "alpha" in result.output and "1.0000" in result.output
    result = _run("leaderboard", tmp_path / "subs", "--solution", FIXTURE, "--final")
    assert result.exit_code == 0 and "private mAP@10" in result.output
    assert (tmp_path / "subs" / "leaderboard.md").is_file()


def test_baseline_then_score(comp, tmp_path):
    out = tmp_path / "tfidf.csv"
    result = _run("baseline", "tfidf", out, "--competition", comp)
    assert result.exit_code == 0 and "Captions: oracle captions." in result.output
    assert _run("score", out, "--solution", comp / "solution").exit_code == 0
    public = tmp_path / "public"
    shutil.copytree(comp, public, ignore=shutil.ignore_patterns("solution"))
    result = _run("baseline", "jaccard", out, "--competition", public)
    assert result.exit_code == 1 and "the oracle captions are missing" in result.output
