"""The notebook self-check: which tests belong to which function and what a check shows.

Fixed test files and namespaces with known outcomes; the real Lecture 01 notebook runs in a
kernel in ``test_notebooks_exec.py``.
"""

import pytest

from course_lib.student.check_map import graded_functions, owners_by_test, reached_names
from course_lib.student.checker import Checker

TESTS = """
import pytest


def _helper(sub):
    return sub.b(1)


@pytest.mark.points(2, hint="a adds one.")
def test_a(sub):
    assert sub.a(1) == 2


@pytest.mark.points(3, hint="b doubles.")
def test_a_and_b(sub):
    print("noise from a test")
    assert sub.a(_helper(sub)) == 3


@pytest.mark.points(1, hint="c returns <b>.")
def test_c(sub, tmp_path):
    assert tmp_path.is_dir()
    value = getattr(sub, "c")()
    if value != "<b>":
        pytest.fail(f"c returned {value!r}, expected '<b>'.")


@pytest.mark.points(4, hint="Engine wraps a.")
def test_engine(sub):
    assert sub.Engine().run() == 5
"""

EXERCISE = """
def a(x):
    # YOUR CODE HERE
    raise NotImplementedError("a: fill in the region marked YOUR CODE HERE")


def ungraded():
    return 1


class B:
    def method(self):
        ### BEGIN SOLUTION
        return 2
        ### END SOLUTION
"""

FUNCTIONS = ["a", "b", "c"]


def test_graded_functions_are_the_definitions_holding_a_region():
    assert graded_functions(EXERCISE) == ["a", "B"]


def test_reached_names_follow_helpers_and_constant_getattr():
    assert reached_names(TESTS) == {
        "test_a": ["a"],
        "test_a_and_b": ["a", "b"],
        "test_c": ["c"],
        "test_engine": ["Engine"],
    }


def test_a_test_belongs_to_the_last_graded_function_it_reaches_in_notebook_order():
    assert owners_by_test(TESTS, FUNCTIONS) == {
        "test_a": "a",
        "test_a_and_b": "b",
        "test_c": "c",
        "test_engine": None,
    }
    assert owners_by_test(TESTS, ["b", "a", "c"])["test_a_and_b"] == "a"


def _stub(name):
    def stub(*args):
        raise NotImplementedError(f"{name}: fill in the region marked YOUR CODE HERE")

    return stub


def _checker(**names):
    namespace = {"__name__": "__main__", **names}
    return namespace, Checker(namespace, "07", FUNCTIONS, TESTS)


def test_untouched_functions_score_zero_and_say_what_to_do():
    _, check = _checker(a=_stub("a"), b=_stub("b"), c=_stub("c"))
    report = check("b")
    assert (report.points, report.max_points) == (0, 3)
    assert report.headline() == (
        "b: 0 / 3 points. Not implemented yet: b. Fill in the region marked YOUR CODE HERE, "
        "run its cell, then run this check again."
    )
    assert [o.message for o in report.outcomes] == ["not implemented yet: b"]


def test_checks_read_the_namespace_live_and_total_every_test(capfd):
    namespace, check = _checker(a=lambda x: x + 1, b=_stub("b"), c=lambda: "<i>")
    assert check("a").headline() == "a: 2 / 2 points. The test passes."
    namespace["b"] = lambda x: 2 * x
    assert check("b").points == 3
    report = check()
    assert (report.title, report.points, report.max_points) == ("Lecture 07", 5, 10)
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["c: test_c"].message == "c returned '<i>', expected '<b>'."
    assert by_name["whole notebook: test_engine"].message == (
        "AttributeError: Engine is not defined in this notebook yet: run the cell that defines it."
    )
    assert capfd.readouterr() == ("", "")  # The test's print went nowhere.


def test_messages_and_hints_are_escaped_in_html():
    _, check = _checker(a=lambda x: x + 1, b=lambda x: 2 * x, c=lambda: "<script>")
    page = check("c")._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "c returns &lt;b&gt;." in page
    assert "0 / 1 points" in page


def test_a_graded_function_without_tests_of_its_own_names_the_check_that_runs_them():
    tests = TESTS.replace("def test_a(sub):", "def test_a_plus(sub):\n    sub.b\n")
    namespace = {"__name__": "__main__"}
    report = Checker(namespace, "07", FUNCTIONS, tests)("a")
    assert report.outcomes == []
    assert report.advice == (
        'No test checks a on its own: its tests need later functions; run check("b") once that '
        "works."
    )


def test_an_unknown_name_is_a_clear_error_and_an_import_checks_nothing():
    _, check = _checker()
    with pytest.raises(ValueError, match=r"check\('soft'\): Lecture 07 has no graded function"):
        check("soft")
    imported = Checker({"__name__": "camp_submission_07_0"}, "07", FUNCTIONS, TESTS)
    assert imported("a") is None
