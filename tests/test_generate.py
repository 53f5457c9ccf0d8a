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
