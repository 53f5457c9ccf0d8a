"""``camp quiz``: the Typer app driven through CliRunner, answers piped on stdin."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from course_lib.quiz import history as hist
from course_lib.quiz.bank import load_bank
from course_lib.quiz.cli import app
from course_lib.quiz.render import correct_response, render
from course_lib.quiz.session import pick_questions

FIXTURES = Path(__file__).parent / "fixtures" / "quiz"
runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAMP_QUIZ_DB", str(tmp_path / "home" / "quiz.sqlite3"))
    monkeypatch.delenv("CAMP_QUIZ_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def _planned(bank, lecture, count, seed):
    """The questions `camp quiz` will ask (fresh history) and a correct answer for each."""
    with hist.History() as h:
        chosen = pick_questions(bank, lecture, count, seed, h)
    return chosen, [correct_response(render(q, seed, shuffle=True)) for q in chosen]


def test_quiz_from_a_pipe_prints_a_score_and_records_history(home, bank, monkeypatch):
    chosen, answers = _planned(bank, "02", 5, seed=1)
    answers[1] = ""  # An empty answer counts as wrong.
    answers[3] = "z" if chosen[3].kind in ("single", "multiple") else "-12345"
    result = runner.invoke(app, ["02", "--questions", "5", "--seed", "1"], input="\n".join(answers))
    assert result.exit_code == 0, result.output
    assert "Question 5/5" in result.output
    assert "Score: 3/5" in result.output and "2 wrong, 0 unanswered" in result.output
    with hist.History() as h:
        reviews = h.reviews()
    assert [qid for qid, _, _ in reviews] == [q.id for q in chosen]
    assert [ok for _, ok, _ in reviews] == [True, False, True, False, True]

    # --due reflects them: nothing now, the two wrong ones a few minutes later.
    result = runner.invoke(app, ["--due"])
    assert result.exit_code == 0 and "Nothing is due now" in result.output
    later = hist.utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(hist, "utcnow", lambda: later)
    wrong = [chosen[1], chosen[3]]
    again = [correct_response(render(q, 0, shuffle=True)) for q in wrong]
    result = runner.invoke(app, ["--due", "--seed", "0"], input="\n".join(again))
    assert result.exit_code == 0, result.output
    assert "2 question(s) due now" in result.output
    assert wrong[0].id in result.output and wrong[1].id in result.output
    assert "Score: 2/2" in result.output

    result = runner.invoke(app, ["--stats"])
    assert result.exit_code == 0, result.output
    assert "Convolutional" in result.output and "71% (7)" in result.output


def test_end_of_input_counts_the_rest_as_unanswered(home, bank):
    chosen, answers = _planned(bank, "04", 4, seed=3)
    result = runner.invoke(app, ["04", "-n", "4", "--seed", "3"], input=answers[0] + "\n")
    assert result.exit_code == 0, result.output
    assert "End of input" in result.output
    assert "Score: 1/4" in result.output and "3 unanswered" in result.output
    with hist.History() as h:
        assert len(h.reviews()) == 1


def test_unreadable_answer_is_asked_again(home, bank):
    chosen, answers = _planned(bank, "03", 1, seed=5)
    bad = "?" if chosen[0].kind != "text" else ""
    result = runner.invoke(app, ["03", "-n", "1", "--seed", "5"], input=f"{bad}\n{answers[0]}\n")
    assert result.exit_code == 0, result.output
    if bad:
        assert "Try again" in result.output
        assert "Score: 1/1" in result.output


def test_options_before_the_lecture_and_ask_subcommand(home, bank):
    first = runner.invoke(app, ["--seed", "4", "-n", "2", "06"], input="")
    second = runner.invoke(app, ["ask", "6", "--seed", "4", "--questions", "2"], input="")
    assert first.exit_code == second.exit_code == 0
    assert "Question 1/2" in first.output
    assert first.output == second.output


def test_export_subcommand_and_help(home, tmp_path):
    out = tmp_path / "bank.gift.txt"
    result = runner.invoke(app, ["export", "--format", "gift", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and "Wrote" in result.output
    assert runner.invoke(app, ["export", "--format", "pdf", str(out)]).exit_code == 2
    result = runner.invoke(app, [])
    assert result.exit_code == 0 and "export" in result.output and "--due" in result.output


def test_unknown_lecture_exits_1_with_a_message(home):
    result = runner.invoke(app, ["42"])
    assert result.exit_code == 1
    assert (
        "Unknown lecture '42'" in result.stderr and "02 (Convolutional networks)" in result.stderr
    )
    assert "Traceback" not in result.output


def test_yaml_error_exits_1_naming_file_and_line(home, monkeypatch):
    monkeypatch.setenv("CAMP_QUIZ_DIR", str(FIXTURES / "yaml_syntax"))
    result = runner.invoke(app, ["00"])
    assert result.exit_code == 1
    assert "00_fixture.yaml: YAML syntax error at line 9" in result.stderr


def test_corrupted_history_is_reported_and_replaced(home):
    home.mkdir(parents=True)
    (home / "quiz.sqlite3").write_bytes(bytes(random.Random(0).randrange(256) for _ in range(4096)))
    result = runner.invoke(app, ["--stats"])
    assert result.exit_code == 0, result.output
    assert "could not be read" in result.stderr and "corrupt-" in result.stderr
    assert len(list(home.glob("quiz.sqlite3.corrupt-*"))) == 1
    assert runner.invoke(app, ["--stats"]).stderr == ""


def test_due_reads_failed_checks(home, bank):
    (home / "checks").mkdir(parents=True)
    report = {"lecture": "06", "tests": [{"name": "t", "section": "beam_search", "passed": False}]}
    (home / "checks" / "06.json").write_text(json.dumps(report))
    beam = [q for q in bank.questions("06") if q.lecture_section == "beam_search"]
    result = runner.invoke(app, ["--due"], input="")
    assert result.exit_code == 0, result.output
    assert f"{len(beam)} question(s) due now" in result.output
    assert "beam_search" in result.output and "End of input" in result.output


def test_mounted_under_a_parent_app(home, tmp_path):
    parent = typer.Typer()

    @parent.command()
    def version() -> None:
        typer.echo("0.1.0")

    parent.add_typer(app, name="quiz")
    forms = [
        (["quiz", "02", "--questions", "1", "--seed", "1"], "Question 1/1"),
        (["quiz", "--due"], "Nothing is due now"),
        (["quiz", "--stats"], "Quiz history"),
        (["quiz", "export", "--format", "moodle-xml", str(tmp_path / "q.xml")], "Wrote"),
    ]
    for args, expected in forms:
        result = runner.invoke(parent, args, input="")
        assert result.exit_code == 0, (args, result.output)
        assert expected in result.output, (args, result.output)
