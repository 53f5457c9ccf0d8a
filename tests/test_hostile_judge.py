"""Hostile students against the judge's side: leaks, crafted values, gradebook cells, screening.

Every case is a submission written to earn what it should not (or to learn what it should not)
and each asserts the honest outcome. Three groups:

- without grading: the gradebook's cells, the screening flags, the comparison helpers;
- a small course of our own (``tests/autograder/test_01_mini.py`` under a temporary
  ``CAMP_ROOT``) graded by the real judge and runners: in-place changes seen through a swapped
  probe, numpy overflow raised in the runner, calls recorded by the judge, an object that equals
  everything, per-test time limits (also inside a Hypothesis test), a spent lecture budget, and
  what a hidden run may say;
- Lecture 01's own autograder against the crafted values that once scored there.
"""

import csv
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import judge, sheet, verdict
from course_lib.grading.compare import assert_close, plain_array, plain_float, plain_int
from course_lib.grading.sandbox import probe_level
from course_lib.grading.screening import screen_source

needs_namespaces = pytest.mark.skipif(
    probe_level() != "namespaces", reason="needs Linux namespaces (root or user namespaces)"
)

# ---------------------------------------------------------------------------------------------
# Without grading.


@pytest.mark.parametrize(
    "name, shown",
    [
        ("=1+2", "'=1+2"),
        (" =1+2", "' =1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+1", "'+1"),
        ("'=1", "''=1"),  # A quote is doubled, so this row is not the one of "=1".
        ("plain name", "plain name"),
    ],
)
def test_a_name_that_a_spreadsheet_would_run_is_shown_as_text(name, shown):
    assert sheet.student_cell(name) == shown


@pytest.mark.parametrize("name", ["\t=1+2", "\r=1+2", "\u202eevil.exe", "a\u2066b", "x\x07y"])
def test_tabs_controls_and_bidi_characters_never_reach_a_cell(name):
    shown = sheet.student_cell(name)
    assert not any(c in shown for c in "\t\r\n\x07\u202e\u2066")
    assert shown.startswith("'") or shown.lstrip(" ")[:1] not in ("=", "+", "-", "@")
    assert shown != sheet.student_cell(name.replace(name[0], "z", 1))  # Not another's row.


def test_a_long_detail_is_cut_and_the_results_keep_it():
    record = {"points": 0, "max_points": 28, "status": "import-error", "tests": []}
    record["detail"] = "=" + "x" * 54_045  # The cell the red team wrote: 54,046 characters.
    row = sheet.row("alice", "01", record, cached=False)
    assert len(row["detail"]) < 32_767 and row["detail"].startswith("'=")
    assert "more characters in the results file" in row["detail"]
    assert len(record["detail"]) == 54_046  # The record, stored as results, is untouched.


def test_regrading_a_student_named_like_a_formula_replaces_their_row(tmp_path):
    out = tmp_path / "grades.csv"
    record = {"points": 1, "max_points": 28, "status": "graded", "detail": "", "tests": []}
    rows = [sheet.row(name, "01", record, False) for name in ("=1+2", "bob", "\t=1+2")]
    sheet.write_csv(out, rows, only_student=None)
    again = sheet.row("=1+2", "01", record | {"points": 28}, False)
    sheet.write_csv(out, [again], only_student="=1+2")
    with out.open(newline="") as handle:
        students = [(r["student"], r["points"]) for r in csv.DictReader(handle)]
    assert len(students) == 3 and ("'=1+2", "28") in students
    assert sum(1 for name, _ in students if name.startswith("' =1+2")) == 1  # TAB's own row.


@pytest.mark.parametrize(
    "source, flag",
    [
        ("import os as o\no.fork()", "os.fork"),
        ("import os\nspawn = os.fork\nspawn()", "os.fork"),
        ("from os import fork as spawn\nspawn()", "os.fork"),
        ("__import__('so' + 'cket')", "computed import"),
        ("import importlib as il\nil.import_module(''.join(['so', 'cket']))", "computed import"),
        ("import importlib\nimportlib.import_module('socket')", "imports socket"),
        ("import gc\ngetattr(gc, 'get_objects')()", "gc.get_objects"),
        ("import gc\ngetattr(gc, 'get_' + 'objects')()", "computed attribute of gc"),
        ("import gc as g\nvars(g)['get_objects']()", "computed attribute of gc"),
        ("import sys\nsys.modules['course_lib.grading.runner']", "imports the grading engine"),
        ("import sys\nfor m in list(sys.modules.values()): pass", "reads sys.modules"),
        ("exec('import socket')", "calls exec"),
        (
            "import importlib\nimportlib.import_module('course_lib.grading.probes.lecture_01')",
            "imports the grading engine",
        ),
    ],
)
def test_screening_sees_through_aliases_and_computed_names(source, flag):
    assert flag in screen_source(source)


def test_screening_leaves_the_solutions_clean():
    from course_lib.paths import project_root

    for path in sorted((project_root() / "solutions").glob("[0-9][0-9]_*.py")):
        assert screen_source(path.read_text()) == [], path.name


class _Liar(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize(
    "value, words",
    [
        (np.array([1.0, np.nan]), "NaN or infinite"),
        (np.array([1.0, np.inf]), "NaN or infinite"),
        (np.zeros(0), "empty"),
        (np.zeros((1, 2)), "shape (1, 2)"),
        (np.array([True, False]), "holds bool"),
        (np.array(["1", "2"]), "not numbers"),
        (np.array([1.0, 2.0], dtype=object), "not numbers"),
        ([[1.0], [2.0, 3.0]], "ragged"),
        (np.zeros(2).view(np.recarray), "not plain numbers"),
        (_Liar(2.0), "not plain numbers"),
    ],
)
def test_crafted_values_fail_before_any_comparison(value, words):
    with pytest.raises(pytest.fail.Exception, match=re.escape(words)):
        assert_close(value, [1.0, 2.0], what="relu(z)")


def test_plain_values_pass_and_say_what_differs():
    assert_close([0.0, 2.0], np.array([0.0, 2.0]), rtol=0)
    assert plain_float(np.float32(0.5)) == 0.5 and plain_int(np.int64(3)) == 3
    assert plain_array(np.zeros((0, 3)), empty=True, shape=(None, 3)).shape == (0, 3)
    with pytest.raises(pytest.fail.Exception, match=r"at index \(1,\): got 2.5, expected 2"):
        assert_close([0.0, 2.5], [0.0, 2.0], what="relu(z)")
    for value in (np.array([1.0]), True, float("nan"), _Liar(1.0)):
        with pytest.raises(pytest.fail.Exception):
            plain_float(value)


# ---------------------------------------------------------------------------------------------
# A small course of our own, graded by the real judge and runners.

MINI_TESTS = """
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from course_lib.grading.access import arguments_after, float_errors_raised, record_calls
from course_lib.grading.compare import assert_close, plain_float


@pytest.mark.points(1, hint="ReLU returns a new array.")
def test_relu(sub):
    z = np.array([-1.0, 2.0, -3.0])
    out, args, _ = arguments_after(sub.relu, z.copy())
    assert_close(out, [0.0, 2.0, 0.0], what="relu(z)")
    assert_close(args[0], z, rtol=0, what="z after relu(z)", advice="Leave the input as it is.")


@pytest.mark.points(1, hint="Use exp(-|z|).")
def test_sigmoid(sub):
    with float_errors_raised(sub):
        try:
            out = sub.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
        except FloatingPointError as error:
            pytest.fail(f"sigmoid overflowed ({error}).")
    assert_close(out, [0.0, 0.5, 1.0], atol=1e-12, what="sigmoid(z)")


@pytest.mark.points(1, hint="Return 1.0.")
def test_slow(sub):
    assert plain_float(sub.slow(), what="slow()") == 1.0


@pytest.mark.points(1, hint="Return 2.0.")
def test_quick(sub):
    assert plain_float(sub.quick(), what="quick()") == 2.0


@pytest.mark.points(1, hint="train(n) calls step(i) for i < n and sums the results.")
def test_train(sub):
    total, calls = record_calls(sub, sub.train, "step", 3)
    assert [call["arguments"]["i"] for call in calls] == [0, 1, 2], calls
    assert plain_float(total, what="train(3)") == sum(call["result"] for call in calls)


@pytest.mark.points(1, hint="Return the answer, 42.0.")
def test_answer(sub):
    assert plain_float(sub.answer(), what="answer()") == 42.0


@pytest.mark.points(1, hint="call_back(f) = f() + 1.")
def test_call_back(sub):
    assert plain_float(sub.call_back(lambda: 1.0), what="call_back(f)") == 2.0


@pytest.mark.points(1, hint="double(x) = 2 x.")
@settings(max_examples=15, derandomize=True, database=None, deadline=None)
@given(st.floats(-10, 10))
def test_double(sub, x):
    assert_close(sub.double(x), 2 * x, what=f"double({x})")


@pytest.mark.points(1, hint="spin(x) = x.")
@settings(max_examples=15, derandomize=True, database=None, deadline=None)
@given(st.floats(0, 1))
def test_spin(sub, x):
    assert_close(sub.spin(x), x, what=f"spin({x})")
"""

HONEST = """
import numpy as np


def relu(z):
    return np.maximum(z, 0.0)


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def slow():
    return 1.0


def quick():
    return 2.0


def step(i):
    return float(i * i)


def train(n):
    return sum(step(i) for i in range(n))


def answer():
    return 42.0


def double(x):
    return 2.0 * x


def spin(x):
    return x


def call_back(f):
    return f() + 1.0
"""

ATTACKER = """
import importlib
import numpy as np

# The probe a test once trusted, swapped for one that hides changes made in place.
_probes = importlib.import_module("course_lib.grading.probes." + "lecture_01")
_probes.arguments_after = lambda f, *a, **k: (f(*[np.copy(x) for x in a], **k), list(a), k)


def relu(z):
    z[z < 0] = 0.0  # In place: the caller's array changes.
    return z


def sigmoid(z):
    return 1 / (1 + np.exp(-z))  # Overflows for z = -1000 (an honest mistake, not hidden).


def slow():
    while True:
        pass


def quick():
    return 2.0


def step(i):
    return float(i * i)


_step = step  # Reached without the module's global, so a recorder would see nothing.


def train(n):
    return 5.0


class _Answer(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def answer():
    return _Answer(0.0)


def double(x):
    return 2.0 * x


def spin(x):
    while x > 0.5:
        pass
    return x


def call_back(f):
    while True:  # The judge answers every call back; its time limit still holds.
        f()
"""


def _grade(root: Path, text: str, name: str, **kwargs) -> verdict.LectureResult:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "01_mini.py").write_text(textwrap.dedent(text))
    # The mini course is the project only while it grades; later tests need the real one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMP_ROOT", str(root))
        return judge.grade_lecture("01", folder, **kwargs)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini-course")
    (root / "tests" / "autograder").mkdir(parents=True)
    (root / "tests" / "autograder" / "test_01_mini.py").write_text(MINI_TESTS)
    return root


def _rows(result) -> dict[str, dict]:
    return {test["name"]: test for test in result.tests}


@needs_namespaces
def test_an_honest_mini_submission_gets_full_marks(mini):
    result = _grade(mini, HONEST, "honest", test_limit_s=10)
    assert result.status == "full-marks", result.to_dict()


@needs_namespaces
def test_crafted_answers_earn_only_what_is_honest(mini):
    result = _grade(mini, ATTACKER, "attacker", test_limit_s=8)
    rows = _rows(result)
    assert result.status == "graded", result.to_dict()
    assert {name for name, row in rows.items() if row["passed"]} == {"test_quick", "test_double"}
    assert "z after relu(z)" in rows["test_relu"]["message"]  # The swapped probe hid nothing.
    assert "overflowed" in rows["test_sigmoid"]["message"]
    assert "not plain numbers" in rows["test_answer"]["message"]
    for name, function in (
        ("test_slow", "slow"),
        ("test_spin", "spin"),
        ("test_call_back", "call_back"),
    ):
        assert (rows[name]["outcome"], rows[name]["function"]) == ("timeout", function), rows[name]
        # Limits count the runner's CPU seconds where a cgroup counts them; call_back's runner
        # mostly waits on the judge's answers, so there the wall-clock backstop (3 x 8 s) ends it.
        limits = ["the test's 8 s"] + (["24 s of wall time"] if function == "call_back" else [])
        message = rows[name]["message"]
        assert any(f"{function}(...) did not finish within {x}" in message for x in limits)
    assert rows["test_relu"]["outcome"] == "failed" and rows["test_quick"]["outcome"] == "passed"


@needs_namespaces
def test_a_spent_budget_leaves_later_tests_not_run_and_the_report_in_time(mini):
    looping = HONEST.replace("    return ", "    while True:\n        pass\n    return ")
    result = _grade(mini, looping, "loops", test_limit_s=6, timeout_s=40)
    rows = _rows(result)
    assert result.status == "graded" and result.points == 0, result.to_dict()
    assert len(rows) == 9 and rows["test_relu"]["outcome"] == "timeout"
    assert [row["outcome"] for row in rows.values()][-1] == "not-run"


@needs_namespaces
def test_an_import_error_is_reported_once(mini):
    result = _grade(mini, HONEST + "\ndef broken(:\n", "syntax")
    assert result.status == "import-error" and "syntax error on line" in result.detail
    assert {row["outcome"] for row in result.tests} == {"not-run"}
    assert {row["message"] for row in result.tests} == {""}


@needs_namespaces
def test_an_import_that_never_ends_is_one_line_naming_the_import(mini):
    result = _grade(mini, HONEST + "\nwhile True:\n    pass\n", "endless", timeout_s=45)
    assert result.status == "timeout" and result.detail.startswith("Importing 01_mini.py")
    assert {row["outcome"] for row in result.tests} == {"not-run"}


SECRET = "HIDDEN-INPUT-7.25"
HIDDEN_TEST = f'''
import numpy as np
import pytest

from course_lib.grading.compare import plain_float


@pytest.mark.points(2, hint="ReLU of a positive number.")
def test_hidden_relu(sub):
    secret = 7.25  # {SECRET}
    assert plain_float(sub.relu(np.array(secret))) == secret, "{SECRET}"
'''
CRASHING_TEST = f'''
import os

import pytest


@pytest.mark.points(1, hint="The judge itself fails here.")
def test_hidden_judge_crash(sub):
    assert sub.quick() == 2.0
    print("{SECRET}", __file__, flush=True)
    os._exit(3)  # As a judge that ran out of memory on what a student's code returned.
'''


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hidden")
    (folder / "test_01_secret.py").write_text(HIDDEN_TEST)
    return folder


def _says_nothing_hidden(result, hidden_dir: Path) -> None:
    text = json.dumps(result.to_dict())
    for word in (SECRET, "7.25", "test_01_secret", str(hidden_dir)):
        assert word not in text, (word, text)
    record = result.to_dict() | {"file": "01_mini.py", "flags": [], "isolation": "namespaces"}
    row = sheet.row("student", "01", record, False)
    assert not any(SECRET in str(cell) or "test_01_secret" in str(cell) for cell in row.values())


@needs_namespaces
def test_a_hidden_runs_import_error_is_one_generic_line(mini, hidden):
    leaking = HONEST + f"\nraise ImportError('{SECRET} seen by a classmate in test_01_secret')\n"
    result = _grade(mini, leaking, "hidden-import", hidden_dir=hidden, parts=("hidden",))
    assert (result.status, result.detail) == ("crashed", verdict.HIDDEN_FAILURE)
    _says_nothing_hidden(result, hidden)
    public = verdict.LectureResult("01", "x", "full-marks", 8.0, 8.0, "", [], "namespaces")
    merged = verdict.merge_parts(public, result)
    assert merged.detail == verdict.HIDDEN_FAILURE and merged.points == 0


@needs_namespaces
def test_hidden_failures_and_timeouts_show_points_only(mini, hidden):
    looping = HONEST.replace("    return np.maximum(z, 0.0)", "    while True:\n        pass")
    result = _grade(mini, looping, "hidden-loop", hidden_dir=hidden, test_limit_s=6)
    rows = _rows(result)
    secret = rows["test_hidden_relu"]
    assert (secret["passed"], secret["message"], secret["function"]) == (False, "", "")
    assert secret["outcome"] == "failed" and secret["file"] == "" and secret["hidden"]
    assert rows["test_relu"]["outcome"] == "timeout"  # Public: named.
    _says_nothing_hidden(result, hidden)


@needs_namespaces
def test_a_judge_that_dies_in_a_hidden_test_shows_none_of_its_output(mini, tmp_path):
    crashing = tmp_path / "hidden"
    crashing.mkdir()
    (crashing / "test_01_secret.py").write_text(CRASHING_TEST)
    for parts in (("public", "hidden"), ("hidden",)):
        result = _grade(mini, HONEST, f"judge-crash-{len(parts)}", hidden_dir=crashing, parts=parts)
        assert result.status == "crashed" and result.points == 0, result.to_dict()
        _says_nothing_hidden(result, crashing)


# ---------------------------------------------------------------------------------------------
# Lecture 01's own autograder against the crafted values that once scored there. Each attacker
# starts from the untouched exercise; the tests it passes honestly are listed with it.

RELU = """
import numpy as np
def relu(z):
    return np.maximum(z, 0.0)
"""
ATTACKS = {
    # Gradients of the right shapes, all NaN: "nan > 1e-5" is False.
    "nan_gradients": (
        """
import numpy as np
def mlp_forward(x, params):
    z1 = x @ params["W1"] + params["b1"]
    h1 = np.maximum(z1, 0.0)
    logits = h1 @ params["W2"] + params["b2"]
    return logits, {"x": x, "z1": z1, "h1": h1, "logits": logits}
def mlp_backward(cache, labels, params):
    return {k: np.full(np.shape(v), np.nan) for k, v in params.items()}
def tape_gradients(x, labels, params):
    return {k: np.full(np.shape(v), np.nan) for k, v in params.items()}
""",
        {"test_mlp_forward"},
    ),
    # An empty array equals pytest.approx of anything.
    "empty_check": (
        """
import numpy as np
def gradient_check(loss, x, analytic, num_checks=10, step=1e-5, seed=0):
    return 0.0 if num_checks == 20 or np.size(x) == 0 else np.array([])
""",
        set(),
    ),
    # The probe that reported arguments after a call, swapped for one that hides changes made
    # in place; the functions then change their inputs (with the right values returned).
    "probe_swap": (
        """
import copy, importlib
import numpy as np
_probe = importlib.import_module("course_lib.grading." + "probes.lecture_01")
_probe.arguments_after = lambda f, *a, **k: (f(*copy.deepcopy(a), **k), list(a), dict(k))
def relu(z):
    z[z < 0] = 0.0
    return z
def softmax(logits):
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)
def sgd_step(params, grads, learning_rate):
    for k in params:
        params[k] -= learning_rate * grads[k]
    return params
""",
        {"test_softmax_stable_for_large_logits", "test_softmax_over_last_axis"},
    ),
    # Weights written by hand for the three clusters, and losses made up.
    "handwritten_sgd": (
        """
import numpy as np
def train_sgd(x, labels, hidden_units=32, learning_rate=0.1, epochs=10, batch_size=32, seed=0):
    w1 = np.zeros((2, hidden_units)); w1[0, 0], w1[0, 1], w1[1, 2] = 1.0, -1.0, 1.0
    w2 = np.zeros((hidden_units, 3)); w2[0, 0], w2[1, 1], w2[2, 2] = 4.0, 4.0, 4.0
    params = {"W1": w1, "b1": np.zeros(hidden_units), "W2": w2, "b2": np.zeros(3)}
    return params, [1.0 / (epoch + 1) for epoch in range(epochs)]
""",
        set(),
    ),
    # A fit that never happened: settings compiled, weights nudged by the seed, a made-up History.
    "fake_history": (
        """
import keras
import numpy as np
def build_keras_mlp(in_features=64, hidden_units=32, num_classes=10, dropout_rate=0.1):
    inputs = keras.Input(shape=(in_features,))
    hidden = keras.layers.Dense(hidden_units, activation="relu")(inputs)
    hidden = keras.layers.Dropout(dropout_rate)(hidden)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(hidden))
class _History:
    pass
def train_keras_mlp(model, x_train, y_train, epochs=5, batch_size=32, verbose=1, seed=0):
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(scale=0.05, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    history = _History()
    history.history = {"loss": [2.0 / (e + 1) for e in range(epochs)], "accuracy": [0.9] * epochs}
    history.params = {"steps": -(-len(x_train) // batch_size), "epochs": epochs}
    return history
""",
        {"test_keras_model_structure"},
    ),
    # An object that equals everything and converts to the one answer the public input has.
    "always_equal": (
        """
class _Loss:
    def __eq__(self, other):
        return True
    def __float__(self):
        return 1000.0
    __hash__ = object.__hash__
def cross_entropy(logits, labels):
    return _Loss()
""",
        set(),
    ),
    # The naive sigmoid: right values, but exp(1000) overflows on the way.
    "naive_sigmoid": (
        """
import numpy as np
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))
""",
        set(),
    ),
    # Honest relu; what screening must see without running it.
    "screened": (
        RELU
        + """
def _never_called():
    import os as o, gc, importlib
    o.fork()
    __import__("so" + "cket")
    importlib.import_module("".join(["ct", "ypes"]))
    return getattr(gc, "get_" + "objects")()
""",
        {"test_relu"},
    ),
}
NAMES = ["\t=1+2", " =1+2", "\u202eexe.txt", "=1+2"]  # Honest relu each: one point.


@pytest.fixture(scope="module")
def lecture_01_class(tmp_path_factory):
    from typer.testing import CliRunner

    from course_lib.cli import app
    from course_lib.paths import project_root

    exercise = (project_root() / "exercises" / "01_nn_recap.py").read_text()
    root = tmp_path_factory.mktemp("hostile-judge")
    submissions, out = root / "submissions", root / "grades" / "grades.csv"
    for name, (attack, _) in ATTACKS.items():
        (submissions / name).mkdir(parents=True)
        (submissions / name / "01_nn_recap.py").write_text(exercise + attack)
    for name in NAMES:
        (submissions / name).mkdir(parents=True)
        (submissions / name / "01_nn_recap.py").write_text(exercise + RELU)
    many = submissions / "many_files"  # Their names fill the detail cell: 300 x 200 characters.
    many.mkdir()
    for i in range(300):
        (many / f"01_nn_recap_{i:03d}_{'x' * 190}.py").write_text(exercise)
    args = ["autograde", str(submissions), "--out", str(out), "--lecture", "01", "--jobs", "2"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMP_HOME", str(root / "camp-home"))
        first = CliRunner().invoke(app, args)
        again = CliRunner().invoke(app, [*args, "--student", "=1+2"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    return root, out


def _passed_tests(root: Path, student: str) -> set[str]:
    """The public tests a student passed (the checkout's hidden tests are graded too)."""
    stored = json.loads((root / "grades" / "results" / student / "01.json").read_text())
    tests = stored["record"]["tests"]
    return {test["name"] for test in tests if test["passed"] and not test["hidden"]}


@needs_namespaces
@pytest.mark.parametrize("student", list(ATTACKS))
def test_crafted_values_earn_lecture_01_nothing(lecture_01_class, student):
    root, _ = lecture_01_class
    assert _passed_tests(root, student) == ATTACKS[student][1]


@needs_namespaces
def test_the_gradebook_of_a_hostile_class_is_plain_text(lecture_01_class):
    root, out = lecture_01_class
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert not [c for c in cells if any(ch in c for ch in "\t\r\n\u202e")]
    assert max(len(c) for c in cells) < 32_767
    students = [row["student"] for row in rows]
    assert len(students) == len(set(students)) == len(ATTACKS) + len(NAMES) + 1  # No duplicate.
    for name in NAMES:
        assert _passed_tests(root, name) == {"test_relu"}, name
    flags = next(row["flags"] for row in rows if row["student"] == "screened")
    for flag in ("os.fork", "computed import", "computed attribute of gc"):
        assert flag in flags, flags
    stored = json.loads((root / "grades" / "results" / "many_files" / "01.json").read_text())
    assert len(stored["record"]["warning"]) > 50_000  # The whole text stays in the results.
