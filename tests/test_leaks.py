"""The leak scan of ``camp release``: reference implementations and hints that state answers.

A planted leak (a reference of ``tests/hidden`` pasted into a public test, a hint that holds an
expression of a graded region) is found, and ``camp release`` refuses the edition; the course's
own public tests and hints carry none.
"""

import shutil

import pytest

from course_lib.authoring import release
from course_lib.authoring.leaks import (
    find_leaks,
    hint_leaks,
    reference_functions,
    secret_expressions,
    secret_fragments,
)
from course_lib.errors import CourseError
from course_lib.paths import project_root

ROOT = project_root()


def _reference(name="forward"):
    """The body of one of Lecture 01's reference implementations."""
    return next(lines for lecture, found, lines in reference_functions(ROOT) if found == name)


def test_references_are_secret_whatever_is_released():
    functions = {(lecture, name) for lecture, name, _ in reference_functions(ROOT)}
    assert {("01", "forward"), ("01", "tape_gradients")} <= functions
    assert not any(name.startswith("expected") for _, name in functions)  # The generators.
    for released in (set(), {"01", "02"}):
        labels = set(secret_fragments(ROOT, released).values())
        assert "01, reference forward of tests/hidden" in labels


def test_a_reference_pasted_into_a_public_test_is_a_leak(tmp_path):
    test = tmp_path / "tests" / "autograder" / "test_01_nn_recap.py"
    test.parent.mkdir(parents=True)
    test.write_text("def _forward(x, params):\n" + "\n".join(_reference()) + "\n")
    leaks = find_leaks(tmp_path, secret_fragments(ROOT, set()))
    assert leaks and {lecture for _, lecture, _ in leaks} == {
        "01, reference forward of tests/hidden"
    }
    assert {file for file, _, _ in leaks} == {"tests/autograder/test_01_nn_recap.py"}


def test_a_hint_or_message_that_states_an_answer_is_a_leak(tmp_path):
    secret = secret_expressions(ROOT, set())
    expression = next(text for text, where in secret.items() if where == "01")
    test = tmp_path / "test_01_demo.py"
    test.write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.points(1, hint='Write {expression}.', section='x')\n"
        "def test_a(sub):\n"
        f"    pytest.fail(f'Use {expression} ' f'here.')\n"
        "    pytest.fail('A message that names the mistake only.')\n"
    )
    leaks = hint_leaks(tmp_path, secret)
    assert [(where, lecture) for where, lecture, _ in leaks] == [
        ("test_01_demo.py:4", "01"),
        ("test_01_demo.py:6", "01"),
    ]


def test_expressions_shown_by_the_exercises_are_not_secret():
    secret = secret_expressions(ROOT, set())
    # The exercise's docstring of gradient_check says how the coordinates are drawn.
    assert "min(num_checks,x.size)" not in secret
    assert all(len(text) >= 14 and " " not in text for text in secret)


def test_the_course_public_tests_carry_no_reference():
    assert find_leaks(ROOT / "tests" / "autograder", secret_fragments(ROOT, set())) == []


@pytest.mark.parametrize(
    "lecture", sorted({p.name[5:7] for p in ROOT.glob("tests/autograder/test_*")})
)
def test_no_hint_or_message_of_the_public_tests_states_an_answer(tmp_path, lecture):
    test = next((ROOT / "tests" / "autograder").glob(f"test_{lecture}_*.py"))
    shutil.copy2(test, tmp_path / test.name)
    assert hint_leaks(tmp_path, secret_expressions(ROOT, set())) == []


def test_release_refuses_a_hint_that_states_an_answer(tmp_path, monkeypatch):
    expression = next(t for t, where in secret_expressions(ROOT, set()).items() if where == "01")
    planted = (
        f"\n\n@pytest.mark.points(1, hint='Write {expression}.', section='backprop')\n"
        "def test_planted(sub):\n    sub.relu(0.0)\n"
    )
    monkeypatch.setattr(release.shutil, "copy2", _planted_copy(planted))
    out = tmp_path / "student"
    message = (
        r"Refusing to release answers: course_lib/edition/tests/autograder/test_01_nn_recap"
        r"\.py:\d+ \(Lecture 01: "
    )
    with pytest.raises(CourseError, match=message):
        release.build_edition(out)
    assert list(out.iterdir()) == []


def _planted_copy(planted: str):
    """``shutil.copy2`` that appends ``planted`` to Lecture 01's public tests as it ships."""
    original = shutil.copy2

    def copy(source, target, **kwargs):
        result = original(source, target, **kwargs)
        if str(source).endswith("test_01_nn_recap.py"):
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(planted)
        return result

    return copy


def test_release_refuses_a_public_test_carrying_a_reference_and_leaves_nothing(
    tmp_path, monkeypatch
):
    planted = "\n\ndef _forward(x, params):\n" + "\n".join(_reference()) + "\n"
    monkeypatch.setattr(release.shutil, "copy2", _planted_copy(planted))
    out = tmp_path / "student"
    message = (
        r"Refusing to release answers: course_lib/edition/tests/autograder/test_01_nn_recap\.py "
        r"\(Lecture 01, reference forward of tests/hidden"
    )
    with pytest.raises(CourseError, match=message):
        release.build_edition(out)
    assert list(out.iterdir()) == []


def test_release_refuses_expected_values_out_of_sync_with_the_references(tmp_path, monkeypatch):
    stale = ROOT / "tests" / "autograder" / "expected" / "01_nn_recap.json"
    monkeypatch.setattr(release, "generate_expected", lambda root, check: [stale])
    with pytest.raises(CourseError, match=r"out of sync with their references \(tests/autograder/"):
        release.build_edition(tmp_path / "student")
    assert not (tmp_path / "student").exists()
