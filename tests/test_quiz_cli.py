"""``camp quiz``: the Typer app driven through CliRunner, answers piped on stdin."""

from __future__ import annotations

import io
import json
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from course_lib.quiz import history as hist
from course_lib.quiz.bank import load_bank
from course_lib.quiz.cli import app
from course_lib.quiz.render import choice_order, correct_response, render
from course_lib.quiz.session import pick_due, pick_questions, run_quiz

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
    answers[1] = ""  # Enter skips: neither right nor wrong, and not recorded.
    answers[3] = "z" if chosen[3].kind in ("single", "multiple") else "-12345"
    result = runner.invoke(app, ["02", "--questions", "5", "--seed", "1"], input="\n".join(answers))
    assert result.exit_code == 0, result.output
    assert "Question 5/5" in result.output and "Enter skips" in result.output
    assert result.output.count("Skipped.") == 1 and result.output.count("Wrong.") == 1
    assert "Score: 3/5 (60%): 3 right, 1 wrong, 1 skipped." in result.output
    with hist.History() as h:
        reviews = h.reviews()
        assert h.card(chosen[1].id) is None  # The skipped question is still new.
    assert [qid for qid, _, _ in reviews] == [chosen[i].id for i in (0, 2, 3, 4)]
    assert [ok for _, ok, _ in reviews] == [True, True, False, True]

    # --due reflects them: nothing now, the wrong one a few minutes later.
    result = runner.invoke(app, ["--due"])
    assert result.exit_code == 0 and "Nothing is due now" in result.output
    later = hist.utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(hist, "utcnow", lambda: later)
    result = runner.invoke(app, ["--stats"])
    assert "1 question(s) due now" in result.output
    again = correct_response(render(chosen[3], 0, shuffle=True))
    result = runner.invoke(app, ["--due", "--seed", "0"], input=again)
    assert result.exit_code == 0, result.output
    assert "1 question(s) due now" in result.output and chosen[3].id in result.output
    assert "Score: 1/1" in result.output

    result = runner.invoke(app, ["--stats"])
    assert result.exit_code == 0, result.output
    assert "Convolutional" in result.output and "80% (5)" in result.output


def test_end_of_input_counts_the_rest_as_not_reached(home, bank):
    chosen, answers = _planned(bank, "04", 4, seed=3)
    result = runner.invoke(app, ["04", "-n", "4", "--seed", "3"], input=answers[0] + "\n")
    assert result.exit_code == 0, result.output
    assert "End of input" in result.output
    assert "Score: 1/4 (25%): 1 right, 0 wrong, 0 skipped, 3 not reached." in result.output
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


def test_stats_counts_what_due_asks_failed_checks_included(home, bank):
    """--stats reads new `camp check` results as --due does: both say the same count."""
    _write_check(home, "06", ["beam_search"])
    _write_check(home, "03", ["no_such_section"])
    beam = [q for q in bank.questions("06") if q.lecture_section == "beam_search"]
    assert beam
    stats = runner.invoke(app, ["--stats"])
    assert stats.exit_code == 0, stats.output
    assert f"{len(beam)} question(s) due now: run camp quiz --due." in stats.output
    row = next(line for line in stats.output.splitlines() if line.startswith("│ 06"))
    assert re.search(rf"│\s+{len(beam)} │", row), row
    with hist.History() as h:
        assert len(pick_due(bank, h, 100).due) == len(beam)
    due = runner.invoke(app, ["--due"], input="")
    assert f"{len(beam)} question(s) due now" in due.output


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


def _write_check(home, lecture, sections, status="graded"):
    tests = [{"name": f"test_{s}", "section": s, "passed": False} for s in sections]
    (home / "checks").mkdir(parents=True, exist_ok=True)
    report = {"lecture": lecture, "status": status, "tests": tests}
    (home / "checks" / f"{lecture}.json").write_text(json.dumps(report))


def test_due_only_asks_lectures_the_student_has_started(home, bank):
    started = bank.by_id()["02-conv-params"]
    earlier = hist.utcnow() - timedelta(hours=1)
    with hist.History() as h:
        h.record(started, False, "1", now=earlier)  # Lecture 02 started; the card is due again.
        h.make_due(bank.questions("06"), now=earlier)  # Due, but lecture 06 was never started.
        assert hist.started_lectures(h) == {"02"}
    answer = correct_response(render(started, 0, shuffle=True))
    result = runner.invoke(app, ["--due", "--seed", "0"], input=answer + "\n")
    assert result.exit_code == 0, result.output
    assert "1 question(s) due now" in result.output and "Question 1/1" in result.output
    assert "02-conv-params" in result.output and "06-" not in result.output
    skipped = len(bank.questions("06"))
    assert f"{skipped} due question(s) of lectures you have not started" in result.output
    assert "Score: 1/1" in result.output and "0 question(s) remain due" not in result.output
    assert "Nothing else is due now" in result.output

    # A saved `camp check` result starts a lecture too (but not one whose exercise is missing).
    _write_check(home, "06", [], status="missing")
    result = runner.invoke(app, ["--due"], input="")
    assert "Nothing is due now" in result.output and f"{skipped} due question(s)" in result.output
    _write_check(home, "06", [])
    result = runner.invoke(app, ["--due"], input="")
    assert f"{skipped} question(s) due now" in result.output
    assert "lectures you have not started" not in result.output


def test_due_asks_at_most_20_and_says_how_many_remain(home, bank):
    for lecture in ("01", "02"):
        _write_check(home, lecture, {q.lecture_section for q in bank.questions(lecture)})
    total = len(bank.questions("01")) + len(bank.questions("02"))
    assert total > 20
    result = runner.invoke(app, ["--due", "--seed", "3"], input="")
    assert result.exit_code == 0, result.output
    assert f"{total} question(s) due now" in result.output
    assert "This session asks 20 (at most 20" in result.output
    assert f"{total - 20} remain due after it" in result.output
    assert "Question 1/20" in result.output
    assert f"{total} question(s) remain due: run camp quiz --due again" in result.output

    with hist.History() as h:
        chosen = pick_due(bank, h, 3).chosen
    answers = [correct_response(render(q, 3, shuffle=True)) for q in chosen]
    result = runner.invoke(app, ["--due", "-n", "3", "--seed", "3"], input="\n".join(answers))
    assert result.exit_code == 0, result.output
    assert "This session asks 3 (at most 3" in result.output and "Question 3/3" in result.output
    assert "Score: 3/3" in result.output
    assert f"{total - 3} question(s) remain due" in result.output


def test_pick_due_keeps_the_most_overdue_first(home, bank):
    questions = bank.questions("03")[:5]
    start = hist.utcnow() - timedelta(days=1)
    with hist.History() as h:
        for minutes, q in enumerate(reversed(questions)):
            h.record(q, False, now=start + timedelta(minutes=minutes))
        plan = pick_due(bank, h, 2)
    assert [q.id for q in plan.chosen] == [questions[-1].id, questions[-2].id]
    assert len(plan.due) == 5 and plan.remaining == 3 and plan.skipped == 0
    with pytest.raises(ValueError, match="at least 1"):
        pick_due(bank, hist.History(), 0)


@pytest.mark.parametrize("args", [["--due"], ["02", "-n", "1"], ["--stats"]])
@pytest.mark.parametrize("variable", ["CAMP_HOME", "CAMP_QUIZ_DB"])
def test_history_path_that_cannot_be_created_is_one_error_line(
    tmp_path, monkeypatch, args, variable
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.delenv("CAMP_QUIZ_DB", raising=False)
    monkeypatch.delenv("CAMP_QUIZ_DIR", raising=False)
    target = blocker / "camp" if variable == "CAMP_HOME" else blocker / "camp" / "quiz.sqlite3"
    monkeypatch.setenv(variable, str(target))
    result = runner.invoke(app, args, input="")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(blocker / "camp") in lines[0]
    assert "Traceback" not in result.output


def test_asked_choices_follow_the_id_seeded_order(home, bank):
    q = bank.by_id()["01-dense-output-shape"]
    expected = [q.choices[i] for i in choice_order(q)]
    assert expected != q.choices  # The keyed answer, written first in the YAML, moves.
    for seed in (0, 1):
        out = io.StringIO()
        console = Console(file=out, width=200, color_system=None)
        line = correct_response(render(q, seed, shuffle=True)) + "\n"
        with hist.History() as h:
            score = run_quiz(
                [q], h, seed=seed, console=console, read_line=iter([line, ""]).__next__
            )
        shown = re.findall(r"^│\s+([a-d])\) (.*?)\s*│$", out.getvalue(), flags=re.M)
        assert [text for _, text in shown] == expected
        assert score.right == 1
