"""The leaderboard: ranking, history, broken submissions, the final reveal, escaping."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from course_lib.competition.leaderboard import collect, rank, submission_time, write_leaderboard
from course_lib.competition.scoring import load_solution

FIXTURE = Path(__file__).parent / "fixtures" / "competition"
PERFECT = "query_id,image_ids\nq1,101 102\nq2,103 104\nq3,105\n"
# Perfect on the public query q1, nothing right on the private ones.
PUBLIC_ONLY = "query_id,image_ids\nq1,101\nq2,105\nq3,\n"
HALF = "query_id,image_ids\nq1,102 101\nq2,103 104\nq3,105\n"
EVIL = "<b>beta & co"  # Folder names cannot hold "/".


@pytest.fixture()
def submissions(tmp_path):
    root = tmp_path / "subs"
    for team, files in {
        "alpha": {"20250102-100000.csv": PERFECT, "20250101-100000.csv": HALF},
        EVIL: {"20250101-090000.csv": PUBLIC_ONLY, "20250103-120000.csv": "id,images\n"},
        "gamma": {"latest.csv": HALF},
        "delta": {"20250101-000000.csv": "query_id,image_ids\nq1,101\n"},
    }.items():
        (root / team).mkdir(parents=True)
        for name, text in files.items():
            (root / team / name).write_text(text)
    stamp = datetime(2025, 1, 5, 8, 0, 0, tzinfo=UTC).timestamp()
    os.utime(root / "gamma" / "latest.csv", (stamp, stamp))
    (root / "notes.txt").write_text("not a team")
    return root


def test_time_from_name_else_mtime(submissions):
    assert submission_time(submissions / "alpha" / "20250102-100000.csv") == datetime(
        2025, 1, 2, 10, 0, 0, tzinfo=UTC
    )
    assert submission_time(submissions / "gamma" / "latest.csv") == datetime(
        2025, 1, 5, 8, 0, 0, tzinfo=UTC
    )


def test_public_ranking_ties_go_to_the_earlier_submission(submissions):
    teams = collect(submissions, load_solution(FIXTURE))
    assert [t.name for t in teams] == [EVIL, "alpha", "gamma", "delta"]
    evil, alpha = teams[0], teams[1]
    assert evil.best.score("public") == alpha.best.score("public") == 1.0
    assert evil.best.file == "20250101-090000.csv" and alpha.best.file == "20250102-100000.csv"
    assert teams[2].best.score("public") == pytest.approx(0.5)
    assert teams[3].best is None


def test_history_keeps_every_submission_and_broken_ones(submissions):
    teams = {t.name: t for t in collect(submissions, load_solution(FIXTURE))}
    assert [e.file for e in teams["alpha"].history] == [
        "20250101-100000.csv",
        "20250102-100000.csv",
    ]
    broken = teams[EVIL].history[1]
    assert broken.scores is None
    assert broken.error == (
        "20250103-120000.csv, line 1: expected the header 'query_id,image_ids'; found 'id,images'."
    )
    assert teams["delta"].history[0].error == (
        "20250101-000000.csv: 2 of 3 queries have no line (q2, q3); every query of queries.csv "
        "needs one."
    )


def test_final_ranks_by_private_score(submissions, tmp_path):
    teams = collect(submissions, load_solution(FIXTURE))
    assert [t.name for t in rank(teams, "private")] == ["alpha", "gamma", EVIL, "delta"]
    md, page = write_leaderboard(teams, tmp_path / "out", final=True)
    text = md.read_text()
    assert "private mAP@10" in text and "final (private scores revealed)" in text
    ranking = text.split("## History")[0]
    assert ranking.index("| 1 | alpha |") < ranking.index("| 2 | gamma |")
    public_md, _ = write_leaderboard(teams, tmp_path / "public")
    assert "private" not in public_md.read_text().split("## History")[0].replace(
        "private scores", ""
    )


def test_html_and_markdown_escape_team_names(submissions, tmp_path):
    teams = collect(submissions, load_solution(FIXTURE))
    md, page = write_leaderboard(teams, tmp_path / "out", title="Camp <2025>")
    html = page.read_text()
    assert EVIL not in html and "&lt;b&gt;beta &amp; co" in html
    assert "<title>Camp &lt;2025&gt;</title>" in html
    assert "&#x27;id,images&#x27;" in html  # Error messages are escaped too.
    assert "\\<b\\>beta & co" in md.read_text()


def test_output_is_deterministic(submissions, tmp_path):
    teams = collect(submissions, load_solution(FIXTURE))
    a = write_leaderboard(teams, tmp_path / "a")
    b = write_leaderboard(collect(submissions, load_solution(FIXTURE)), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
