"""camp mutants: catalogue validation, stale mutants, and a tiny fake lecture graded end to end."""

import ast

import pytest
import yaml
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.grading import mutants
from course_lib.paths import project_root

SOLUTION = '''\
"""A fake lecture."""


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


def halve(x):
    """Half of x."""
    factor = 2
    ### BEGIN SOLUTION
    return x / factor
    ### END SOLUTION
'''

TESTS = """\
import pytest


@pytest.mark.points(1, hint="Twice x.", section="basics")
def test_double(sub):
    if sub.double(3) == 3:
        pytest.fail("double returned x itself: multiply by 2.")
    assert sub.double(3) == 6


@pytest.mark.points(1, hint="Half of x.", section="basics")
def test_halve_even(sub):
    assert sub.halve(4) == 2
"""

CATALOGUE = """\
- id: double-identity
  function: double
  misunderstanding: Returns x unchanged instead of doubling it.
  find: "return 2 * x"
  replace: "return x"
  tests: [test_double]
- id: double-square
  function: double
  misunderstanding: Squares x, which agrees with doubling at x = 2 only.
  find: "return 2 * x"
  replace: "return x * x"
  tests: [test_double]
- id: halve-floor
  function: halve
  misunderstanding: Uses floor division, which only differs on odd numbers.
  find: "return x / factor"
  replace: "return x // factor"
  tests: [test_halve_even]
"""


def _lecture(root, catalogue=CATALOGUE, solution=SOLUTION):
    """Write a fake checkout with lecture 01: solution, autograder tests and a catalogue."""
    for folder in ("solutions", "tests/autograder", "tests/mutants"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "solutions" / "01_fake.py").write_text(solution)
    (root / "tests" / "autograder" / "test_01_fake.py").write_text(TESTS)
    path = root / "tests" / "mutants" / "01_fake.yaml"
    path.write_text(catalogue)
    return path


def _load(tmp_path, text):
    return mutants.load_catalogue(_lecture(tmp_path, text), {"test_double", "test_halve_even"})


def test_the_fake_catalogue_loads(tmp_path):
    loaded = _load(tmp_path, CATALOGUE)
    assert [m.id for m in loaded] == ["double-identity", "double-square", "halve-floor"]
    assert loaded[2] == mutants.Mutant(**yaml.safe_load(CATALOGUE)[2])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CATALOGUE.replace("  tests: [test_double]\n", "", 1),
            "01_fake.yaml: mutant 'double-identity', field 'tests': Field required",
        ),
        (
            CATALOGUE.replace("[test_halve_even]", "[test_halve_odd]"),
            "01_fake.yaml: mutant 'halve-floor', field 'tests': no such test test_halve_odd",
        ),
        (
            CATALOGUE.replace("id: double-square", "id: double-identity"),
            "mutant 'double-identity', field 'id': used by an earlier mutant too",
        ),
        (
            CATALOGUE.replace('replace: "return x"\n', 'replace: "return 2 * x"\n'),
            "mutant 'double-identity': Value error, replace equals find: the mutant changes "
            "nothing",
        ),
        (
            CATALOGUE.replace("id: halve-floor", "id: Halve_Floor"),
            "mutant 'Halve_Floor', field 'id': String should match pattern",
        ),
        (CATALOGUE + "  colour: red\n", "field 'colour': Extra inputs are not permitted"),
        ("id: lonely\n", "01_fake.yaml: expected a non-empty list of mutants; found dict."),
        ("- id: [unclosed\n", "01_fake.yaml: YAML syntax error at line 2"),
    ],
)
def test_catalogue_problems_are_one_line_each_naming_file_and_mutant(tmp_path, text, message):
    with pytest.raises(CourseError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_several_problems_are_listed_together(tmp_path):
    text = CATALOGUE.replace("[test_double]", "[test_nothing]")
    with pytest.raises(CourseError) as info:
        _load(tmp_path, text)
    lines = str(info.value).splitlines()
    assert lines[0] == "2 problems:"
    assert all(line.startswith("- ") and "no such test test_nothing" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("find", "function", "reason"),
    [
        ("return 2 * x", "double", ""),
        ("x", "double", "find text occurs 6 times in the solution (expected exactly once)"),
        ("return 3 * x", "double", "find text occurs 0 times in the solution"),
        ("factor = 2", "halve", "find text is outside every ### BEGIN/END SOLUTION region"),
        ("return x / factor", "double", "find text is in halve, not in double"),
    ],
)
def test_apply_reports_stale_mutants(find, function, reason):
    mutant = mutants.Mutant(
        id="m",
        function=function,
        misunderstanding="A mistake.",
        find=find,
        replace="pass",
        tests=["test_double"],
    )
    mutated, why = mutants.apply(SOLUTION, mutant)
    assert reason in why and (mutated is None) == bool(reason)
    if not reason:
        assert mutated == SOLUTION.replace("return 2 * x", "pass")


def _run(tmp_path, monkeypatch, *args):
    monkeypatch.setenv("CAMP_ROOT", str(tmp_path))
    return CliRunner().invoke(app, ["mutants", *args])


def test_a_surviving_mutant_fails_the_run(tmp_path, monkeypatch):
    _lecture(tmp_path)
    result = _run(tmp_path, monkeypatch, "01")
    assert result.exit_code == 1, result.output
    out = result.output
    assert (
        "caught    double-identity (failed test_double, targeted hint): double returned x "
        "itself: multiply by 2." in out
    )
    assert "caught    double-square (failed test_double, generic message): assert" in out
    assert (
        "survived  halve-floor in halve: Uses floor division, which only differs on odd numbers."
        in out
    )
    assert "Lecture 01: 2/3 mutants caught, mutation score 67 %, 0 stale" in out


def test_every_mutant_caught_passes_and_a_stale_one_fails(tmp_path, monkeypatch):
    _lecture(tmp_path, CATALOGUE.rsplit("- id: halve-floor", 1)[0])
    result = _run(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "Lecture 01: 2/2 mutants caught, mutation score 100 %, 0 stale" in result.output

    _lecture(tmp_path, CATALOGUE.replace('find: "return x / factor"', 'find: "x / 3"'))
    result = _run(tmp_path, monkeypatch, "1")
    assert result.exit_code == 1
    assert "stale     halve-floor in halve: find text occurs 0 times in the solution" in (
        result.output
    )
    assert "2/2 mutants caught, mutation score 100 %, 1 stale" in result.output


def test_timeouts_and_crashes_count_as_caught(tmp_path, monkeypatch):
    loop = CATALOGUE.replace('replace: "return x"', 'replace: "while True: pass"')
    crash = loop.replace('replace: "return x * x"', 'replace: "import os; os._exit(7)"')
    _lecture(tmp_path, crash.rsplit("- id: halve-floor", 1)[0])
    result = _run(tmp_path, monkeypatch, "01", "--timeout", "3")
    assert result.exit_code == 0, result.output
    assert "caught    double-identity (timeout: no answer within 3 s)" in result.output
    assert "caught    double-square (crashed: exit code 7)" in result.output


def test_a_failing_baseline_fails_the_run(tmp_path, monkeypatch):
    _lecture(tmp_path, solution=SOLUTION.replace("factor = 2", "factor = 3"))
    result = _run(tmp_path, monkeypatch, "01")
    assert result.exit_code == 1
    assert "baseline  the unmutated solution fails: failed test_halve_even" in result.output


def test_cli_errors_are_one_line(tmp_path, monkeypatch):
    _lecture(tmp_path, CATALOGUE.replace("[test_double]", "[test_triple]", 1))
    result = _run(tmp_path, monkeypatch, "01")
    assert result.exit_code == 1
    assert "error: " in result.output and "no such test test_triple" in result.output
    assert "Traceback" not in result.output
    result = _run(tmp_path, monkeypatch, "07")
    assert result.exit_code == 1
    assert "Lecture 07 has no mutant catalogue" in result.output
    result = _run(tmp_path, monkeypatch, "01", "--jobs", "0")
    assert result.exit_code == 1 and "--jobs must be at least 1" in result.output


def _shipped(path):
    root = project_root()
    tests = set(mutants.catalogue_tests(root, path.stem[:2]))  # Public and hidden tests.
    source = (root / "solutions" / f"{path.stem}.py").read_text()
    return mutants.load_catalogue(path, tests), source


def test_a_broken_test_file_is_one_error_line(tmp_path, monkeypatch):
    _lecture(tmp_path)
    tests = tmp_path / "tests" / "autograder" / "test_01_fake.py"
    tests.write_text("import no_such_module\n\n\n" + TESTS)
    result = _run(tmp_path, monkeypatch, "01")
    assert result.exit_code == 1
    assert (
        "error: The mutant worker of 01_fake.py stopped: ModuleNotFoundError: No module named "
        "'no_such_module'" in " ".join(result.output.split())
    )


def test_the_shipped_catalogues_are_valid_and_none_is_stale():
    for path in mutants.catalogue_paths(project_root()):
        catalogue, source = _shipped(path)
        stale = {m.id: why for m in catalogue if (why := mutants.apply(source, m)[1])}
        assert stale == {}, path


def test_lecture_01_has_a_mutant_for_every_graded_function():
    catalogue, source = _shipped(mutants.catalogue_paths(project_root(), "01")[0])
    graded = {
        node.name
        for node in ast.parse(source).body
        if "### BEGIN SOLUTION" in (ast.get_source_segment(source, node) or "")
    }
    assert len(graded) == 13 and len(catalogue) >= 12
    assert graded == {m.function for m in catalogue}
