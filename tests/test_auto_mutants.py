"""camp mutants --auto: the generator's exact output, determinism, sampling, and a tiny lecture
graded end to end (a caught, a surviving and an equivalent mutant)."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.grading import auto_mutants, auto_report
from course_lib.grading.auto_trace import _digest

SMALL = '''\
import numpy as np


def scale(x, factor=2):
    """Scaled x, as floats."""
    ### BEGIN SOLUTION
    y = np.asarray(x, dtype=float)
    if factor < 0:
        y = -y
    return y * factor
    ### END SOLUTION


def outside(x):
    return x + 1
'''

EXPECTED = [  # (operator, replaced text, replacement): every mutant of SMALL's graded region.
    ("call-drop", "np.asarray(x, dtype=float)", "x"),
    ("keyword-drop", "np.asarray(x, dtype=float)", "np.asarray(x)"),
    ("compare", "factor < 0", "(factor <= 0)"),
    ("constant", "0", "(-1)"),
    ("constant", "0", "1"),
    ("negate", "factor < 0", "(not factor < 0)"),
    ("statement-drop", "y = -y", "pass"),
    ("unary-drop", "-y", "y"),
    ("binop", "y * factor", "(y / factor)"),
    ("return-none", "return y * factor", "return None"),
]


def _triples(mutants):
    return sorted((m.operator, m.original, m.mutated) for m in mutants)


def test_the_small_source_gives_exactly_the_expected_mutants():
    mutants = auto_mutants.generate(SMALL)
    assert _triples(mutants) == sorted(EXPECTED)
    assert {m.function for m in mutants} == {"scale"}  # Nothing outside the region.
    drop = next(m for m in mutants if m.operator == "statement-drop")
    assert drop.line == 9 and "        pass\n    return y * factor" in drop.source
    assert drop.source.replace("        pass\n", "        y = -y\n") == SMALL


def test_ids_are_stable_across_runs_processes_and_unrelated_edits():
    ids = [m.id for m in auto_mutants.generate(SMALL)]
    assert ids == [m.id for m in auto_mutants.generate(SMALL)]
    assert len(set(ids)) == len(ids)
    code = (
        "import sys; from course_lib.grading.auto_mutants import generate; "
        "print(' '.join(m.id for m in generate(sys.stdin.read())))"
    )
    env = os.environ | {"PYTHONHASHSEED": "123"}
    other = subprocess.run(
        [sys.executable, "-c", code], input=SMALL, capture_output=True, text=True, env=env
    )
    assert other.stdout.split() == ids
    moved = SMALL.replace("import numpy as np\n", "import numpy as np\n\nOFFSET = 1\n\n")
    assert sorted(m.id for m in auto_mutants.generate(moved)) == sorted(ids)


def test_a_sample_is_a_fixed_subset_taken_from_every_function_in_turn():
    source = SMALL + SMALL.split("def outside")[0].replace("def scale", "def scale_again")
    every = auto_mutants.generate(source)
    sample = auto_mutants.generate(source, limit=4)
    assert len(sample) == 4 and set(sample) <= set(every)
    assert sorted(m.function for m in sample) == ["scale", "scale", "scale_again", "scale_again"]
    assert sample == auto_mutants.generate(source, limit=4)


def test_mutants_that_do_not_parse_are_skipped(monkeypatch):
    real = auto_mutants._mutations

    def broken(node, modules, bound):
        for operator, target, text in real(node, modules, bound):
            yield operator, target, text + ")" if operator == "binop" else text

    monkeypatch.setattr(auto_mutants, "_mutations", broken)
    operators = {m.operator for m in auto_mutants.generate(SMALL)}
    assert "binop" not in operators and "return-none" in operators


def test_digests_tell_values_apart_to_six_decimals():
    import numpy as np

    assert _digest(np.array([1.0, 2.0])) == _digest(np.array([1.0, 2.0000000001]))
    assert _digest(np.array([1.0, 2.0])) != _digest(np.array([1.0, 2.001]))
    assert _digest(np.array([0.0])) == _digest(np.array([-0.0]))
    assert _digest((np.int64(3), "a")) != _digest((np.int64(4), "a"))


LECTURE = '''\
"""A fake lecture."""

import numpy as np


def relu(z):
    """max(z, 0), elementwise."""
    ### BEGIN SOLUTION
    return np.maximum(z, 0.0)
    ### END SOLUTION


def halve(x):
    """Half of x."""
    ### BEGIN SOLUTION
    return x / 2
    ### END SOLUTION
'''

TESTS = """\
import numpy as np
import pytest


@pytest.mark.points(1, hint="max(z, 0).", section="relu")
def test_relu(sub):
    assert np.array_equal(sub.relu(np.array([-1.0, 2.0])), [0.0, 2.0])


@pytest.mark.points(1, hint="Half of x.", section="halve")
def test_halve_is_smaller(sub):
    assert sub.halve(4.0) < 4.0
"""


def _lecture(root, equivalent=None):
    for folder in ("solutions", "tests/autograder", "tests/mutants/equivalent"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "solutions" / "01_fake.py").write_text(LECTURE)
    (root / "tests" / "autograder" / "test_01_fake.py").write_text(TESTS)
    if equivalent is not None:
        (root / "tests" / "mutants" / "equivalent" / "01_fake.yaml").write_text(equivalent)


def _run(root, monkeypatch, *args):
    monkeypatch.setenv("CAMP_ROOT", str(root))
    result = CliRunner().invoke(app, ["mutants", "01", "--auto", *args])
    report = root / "build" / "mutants" / "auto-01.json"
    return result, json.loads(report.read_text()) if report.exists() else None


def _id(report, function, operator):
    return next(
        r["id"] for r in report["mutants"] if (r["function"], r["operator"]) == (function, operator)
    )


def test_a_tiny_lecture_is_graded_and_its_survivors_traced(tmp_path, monkeypatch):
    _lecture(tmp_path)
    result, report = _run(tmp_path, monkeypatch, "--timeout", "60")
    assert result.exit_code == 1, result.output  # Below 90 %: the halve test is weak.
    rows = {(r["function"], r["operator"], r["change"]): r for r in report["mutants"]}
    caught = rows[("halve", "binop", "x / 2 -> (x * 2)")]
    assert caught["status"] == "caught" and "test_halve_is_smaller" in caught["how"]
    assert (
        rows[("relu", "return-none", "return np.maximum(z, 0.0) -> return None")]["status"]
        == "caught"
    )
    swapped = rows[("relu", "swap-arguments", "np.maximum(z, 0.0) -> np.maximum(0.0, z)")]
    assert swapped["status"] == "survived" and swapped["outputs"] == "same"
    flipped = rows[("halve", "swap-operands", "x / 2 -> (2 / x)")]
    assert flipped["status"] == "survived" and flipped["outputs"] == "different"
    assert report["baseline"] == "passed" and report["sampled"] == report["generated"]
    assert "halve" in report["survivors"] and "swap-operands" in report["survivors"]["halve"]
    assert "survived  halve, swap-operands: x / 2 -> (2 / x)" in result.output
    assert f"{report['caught']}/{report['scored']} automatic mutants caught" in result.output


def test_listed_equivalents_leave_the_score_and_stale_ones_are_named(tmp_path, monkeypatch):
    _lecture(tmp_path)
    _, first = _run(tmp_path, monkeypatch)
    swapped = _id(first, "relu", "swap-arguments")
    listed = (
        f"- id: {swapped}\n  function: relu\n  change: np.maximum(z, 0.0) -> np.maximum(0.0, z)\n"
        "  reason: np.maximum is symmetric.\n"
        "- id: binop-0000000000\n  function: halve\n  change: gone\n  reason: An old mutant.\n"
    )
    _lecture(tmp_path, listed)
    result, report = _run(tmp_path, monkeypatch)
    assert report["equivalent"] == [swapped] and report["scored"] == first["scored"] - 1
    assert report["caught"] == first["caught"]
    assert "stale equivalent  binop-0000000000" in result.output
    assert all(swapped not in items for ops in report["survivors"].values() for items in ops)


def test_a_malformed_equivalent_file_is_one_error_line(tmp_path, monkeypatch):
    _lecture(tmp_path, "- id: x\n  colour: red\n")
    with pytest.raises(CourseError, match="expected a list of"):
        auto_report.load_equivalents(tmp_path / "tests/mutants/equivalent/01_fake.yaml")
    result, _ = _run(tmp_path, monkeypatch, "--limit", "0")
    assert result.exit_code == 1 and "--limit must be at least 1" in result.output


def test_tests_are_chosen_by_the_functions_they_reach():
    source = LECTURE + "\n\ndef relu_twice(z):\n    return relu(relu(z))\n"
    tests = [("test_relu", "sub.relu"), ("test_twice", "sub.relu_twice"), ("test_none", "1")]
    text = "\n".join(f"def {name}(sub):\n    {body}\n" for name, body in tests)
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "test_01_fake.py"
        path.write_text(text)
        mapping = auto_report.test_map(source, [path])
    assert mapping["relu"] == ["test_relu", "test_twice"]
    assert mapping["relu_twice"] == ["test_twice"]
    assert mapping["halve"] == ["test_relu", "test_twice", "test_none"]  # No test: all of them.


def test_a_traced_function_keeps_its_module_globals(tmp_path):
    import numpy as np

    from course_lib.grading.auto_trace import trace

    namespace = {}
    exec("def helper(x):\n    return x + 1\n\n\ndef f(x):\n    return helper(x) * 2\n", namespace)
    trace(namespace, "f", str(tmp_path / "calls.txt"))
    assert namespace["f"].__globals__ is namespace  # access.record_calls patches these.
    assert list(namespace["f"](np.arange(3))) == [2, 4, 6]
    lines = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("(3,):")


KINDS = {
    "numeric kernel",
    "Keras layer",
    "Keras model",
    "training loop",
    "metric",
    "data pipeline",
    "search engine",
}


def _graded_functions(source):
    """``f`` or ``Class.method`` around each graded region (a nested def counts for its method)."""
    import ast

    tree, names = ast.parse(source), []
    for begin, _ in auto_mutants.regions(source):
        nodes, path = tree.body, []
        while True:
            around = [
                n
                for n in nodes
                if isinstance(n, ast.FunctionDef | ast.ClassDef)
                and n.lineno <= begin <= n.end_lineno
            ]
            if not around:
                break
            path.append(around[0].name)
            nodes = around[0].body
        names.append(".".join(path[:2]))
    return names


def test_the_checklist_worklist_lists_every_graded_function():
    import re

    from course_lib.paths import project_root
    from course_lib.regions import lecture_files

    root = project_root()
    text = (root / "docs" / "testing-checklist.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d\d) \| `([\w.]+)` \| ([A-Za-z ]+) \|$", text, re.MULTILINE)
    assert {kind for *_, kind in rows} <= KINDS
    listed = {(lecture, name) for lecture, name, _ in rows}
    graded = {
        (path.name[:2], name)
        for path in lecture_files(root / "solutions")
        for name in _graded_functions(path.read_text(encoding="utf-8"))
    }
    assert sorted(graded - listed) == [], "add these rows to docs/testing-checklist.md"
    assert sorted(listed - graded) == [], "these rows name no graded function any more"


def test_the_shipped_equivalent_files_are_valid_and_none_is_stale():
    from course_lib.paths import project_root

    root = project_root()
    for path in sorted((root / "tests" / "mutants" / "equivalent").glob("*.yaml")):
        listed = auto_report.load_equivalents(path)
        source = (root / "solutions" / f"{path.stem}.py").read_text(encoding="utf-8")
        generated = {m.id: m for m in auto_mutants.generate(source)}
        assert sorted(set(listed) - set(generated)) == [], f"{path}: ids no longer generated"
        wrong = [i for i, e in listed.items() if e.function != generated[i].function]
        assert wrong == [], f"{path}: the function of these entries is not the mutant's"
