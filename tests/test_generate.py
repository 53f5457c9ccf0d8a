"""Exercise generation: fixed inputs with known outputs, and the committed tree in sync."""

import pytest

from course_lib.authoring.generate import generate, strip_solutions
from course_lib.errors import CourseError
from course_lib.paths import project_root

SOURCE = """def f(x):
    \"\"\"Doc.\"\"\"
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION


class A:
    def g(self):
        ### BEGIN SOLUTION
        return 2
        ### END SOLUTION
"""

EXPECTED = """def f(x):
    \"\"\"Doc.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError("f: fill in the region marked YOUR CODE HERE")


class A:
    def g(self):
        # YOUR CODE HERE
        raise NotImplementedError("A.g: fill in the region marked YOUR CODE HERE")
"""


def test_strip_solutions_replaces_regions_at_their_indentation():
    assert strip_solutions(SOURCE) == EXPECTED


def test_stubs_name_their_function_when_called():
    namespace = {}
    exec(strip_solutions(SOURCE), namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"](1)
    assert str(raised.value) == "f: fill in the region marked YOUR CODE HERE"
    with pytest.raises(NotImplementedError, match=r"^A\.g: fill in the region marked YOUR CODE"):
        namespace["A"]().g()


def test_long_stubs_are_wrapped_as_ruff_formats_them():
    name = "a_function_with_a_name_long_enough_to_push_the_stub_past_one_hundred_chars"
    source = f"def {name}():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert strip_solutions(source) == (
        f"def {name}():\n    # YOUR CODE HERE\n    raise NotImplementedError(\n"
        f'        "{name}: fill in the region marked YOUR CODE HERE"\n    )\n'
    )


def test_a_solution_that_is_not_python_is_reported_with_file_and_line():
    with pytest.raises(CourseError, match=r"^lec\.py:2: not valid Python"):
        strip_solutions("x = 1\ndef f(:\n", "lec.py")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n", "lec.py:1: ### BEGIN SOLUTION is never closed"),
        ("x = 1\n### END SOLUTION\n", "lec.py:2: ### END SOLUTION without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n", "lec.py:2: nested ### BEGIN SOLUTION"),
    ],
)
def test_unbalanced_fences_are_reported_with_file_and_line(text, message):
    with pytest.raises(CourseError, match=message):
        strip_solutions(text, "lec.py")


def test_generate_writes_then_reports_in_sync(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01_demo.py").write_text(SOURCE)
    (tmp_path / "solutions" / "notes.py").write_text("ignored = True\n")
    written = generate(tmp_path / "solutions", tmp_path / "exercises")
    assert [p.name for p in written] == ["01_demo.py"]
    assert (tmp_path / "exercises" / "01_demo.py").read_text() == EXPECTED
    assert generate(tmp_path / "solutions", tmp_path / "exercises", check=True) == []
    (tmp_path / "exercises" / "02_stale.py").write_text("")
    stale = generate(tmp_path / "solutions", tmp_path / "exercises", check=True)
    assert [p.name for p in stale] == ["02_stale.py"]


def test_committed_exercises_are_in_sync_with_solutions():
    root = project_root()
    out_of_sync = generate(root / "solutions", root / "exercises", check=True)
    assert out_of_sync == [], "exercises/ is out of sync with solutions/: run `camp generate`."


def test_every_solution_has_an_autograder_and_every_graded_function_a_fence():
    root = project_root()
    for solution in sorted((root / "solutions").glob("[0-9][0-9]_*.py")):
        assert (root / "tests" / "autograder" / f"test_{solution.name}").is_file()
        assert "### BEGIN SOLUTION" in solution.read_text()


REFERENCES = """
import numpy as np


def double(x):
    return 2 * x


def expected():
    return {"double": double(np.arange(3.0)), "pair": (1, "a"), "nested": {"x": [np.float32(0.5)]}}
"""


def _checkout(root, references=REFERENCES):
    """A fake checkout with Lecture 01's public tests and the instructor's references."""
    (root / "tests" / "autograder").mkdir(parents=True)
    (root / "tests" / "hidden").mkdir()
    (root / "tests" / "autograder" / "test_01_demo.py").write_text("")
    (root / "tests" / "hidden" / "references_01.py").write_text(references)
    return root / "tests" / "autograder" / "expected" / "01_demo.json"


def test_expected_values_are_written_as_json_then_reported_in_sync(tmp_path, monkeypatch):
    from course_lib.authoring.expected_data import generate_expected
    from course_lib.grading import expected

    monkeypatch.setenv("CAMP_ROOT", str(tmp_path))
    target = _checkout(tmp_path)
    assert generate_expected(tmp_path, check=True) == [target]  # Missing.
    assert generate_expected(tmp_path) == [target] and target.is_file()
    assert generate_expected(tmp_path, check=True) == []
    assert expected.load("01") == {
        "double": [0.0, 2.0, 4.0],
        "pair": [1, "a"],
        "nested": {"x": [0.5]},
    }
    assert '  "double": [0.0, 2.0, 4.0],' in target.read_text()  # One line per innermost list.


def test_a_value_changed_beyond_the_tolerance_is_out_of_sync(tmp_path):
    from course_lib.authoring.expected_data import generate_expected, same

    target = _checkout(tmp_path)
    generate_expected(tmp_path)
    text = target.read_text()
    target.write_text(text.replace("4.0", "4.000001"))  # Last bits of a float32 reference.
    assert generate_expected(tmp_path, check=True) == []
    target.write_text(text.replace("4.0", "4.1"))
    assert generate_expected(tmp_path, check=True) == [target]
    assert not same([1], [1.5]) and not same({"a": 1}, {"b": 1}) and not same(True, 1)
    assert same(float("nan"), float("nan")) and not same([1, 2], [1])
    stale = target.with_name("09_gone.json")
    stale.write_text("{}")
    assert generate_expected(tmp_path, check=True) == [target, stale]


def test_a_reference_without_expected_or_with_odd_values_is_one_clear_error(tmp_path):
    from course_lib.authoring.expected_data import generate_expected

    _checkout(tmp_path, "def double(x):\n    return 2 * x\n")
    with pytest.raises(CourseError, match=r"references_01\.py: expected a function expected\(\)"):
        generate_expected(tmp_path)
    (tmp_path / "tests" / "hidden" / "references_01.py").write_text(
        "def expected():\n    return {'f': object()}\n"
    )
    with pytest.raises(CourseError, match=r"expected\(\)\['f'\]: cannot store a object"):
        generate_expected(tmp_path)


def test_missing_expected_values_name_the_file_and_the_command(tmp_path, monkeypatch):
    from course_lib.grading import expected

    monkeypatch.setenv("CAMP_ROOT", str(tmp_path))
    _checkout(tmp_path)
    with pytest.raises(CourseError, match=r"Expected values of Lecture 01 not found: .*01_demo"):
        expected.load("01")
