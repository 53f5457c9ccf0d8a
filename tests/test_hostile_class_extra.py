"""More hostile students: attacks on ``camp autograde`` that tests/test_hostile_class.py lacks.

Found by an independent red-team pass; every attack here once succeeded and is now met. Every
attacker starts from the untouched Lecture 01 exercise, so its honest score is known: 0 for the
exercise, plus the points of anything it honestly solves (a correct ``relu``). Each case asserts
the honest outcome.

Five batches run: the main class (one ``camp autograde`` with hidden tests, ``--jobs 2``) and,
beside it, a class whose gradebook would be written inside the submissions folder (refused); then
a class with
text that is not UTF-8 graded while another batch runs; then a class with a 1 TB sparse file.
"""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.grading.sandbox import probe_level
from course_lib.paths import project_root

pytestmark = pytest.mark.skipif(
    probe_level() != "namespaces", reason="needs Linux namespaces (root or user namespaces)"
)

EXERCISE = (project_root() / "exercises" / "01_nn_recap.py").read_text()
RELU = "\nimport numpy as np\n\n\ndef relu(z):\n    return np.maximum(z, 0.0)\n"
HIDDEN_INPUT = 7.25  # The hidden test's input: it must never reach a student-visible text.
CONFTEST_SECRET = "CONFTEST-SECRET-4242"  # In the hidden tests' conftest.py.
GRADER_TOKEN = "GRADER-TOKEN-5150"  # In the instructor's environment.
HIDDEN_POINTS = 3
FORMULA = '=HYPERLINK("http:evil","grade")'  # A student folder name.

ATTACKS = {
    # The hidden runner writes the hidden input as a POSIX lock range on a file every runner can
    # read; a classmate's public runner, graded at the same time, reads it with F_GETLK. Their
    # names sort first, so the two are graded together.
    "1_collude_hidden": """
import fcntl, os, struct, time
import numpy as np
def relu(z):
    z = np.asarray(z)
    if z.ndim == 0:
        fd = os.open(os.__file__, os.O_RDONLY)
        lock = struct.pack("hh4xqqi4x", fcntl.F_RDLCK, 0, 7_000_000 + int(z * 1000), 1, 0)
        fcntl.fcntl(fd, fcntl.F_SETLK, lock)
        time.sleep(20)
    raise ValueError("nothing to see")
""",
    "0_collude_public": """
import fcntl, os, struct, time
_seen = "nothing seen"
_fd = os.open(os.__file__, os.O_RDONLY)
for _ in range(300):
    _query = struct.pack("hh4xqqi4x", fcntl.F_WRLCK, 0, 7_000_000, 1 << 40, 0)
    _kind, _, _start, _, _ = struct.unpack("hh4xqqi4x", fcntl.fcntl(_fd, fcntl.F_GETLK, _query))
    if _kind != fcntl.F_UNLCK:
        _seen = f"a classmate's hidden test called relu({(_start - 7_000_000) / 1000})"
        break
    time.sleep(0.2)
def relu(z):
    raise ValueError(_seen)
""",
    # No model at all: predict() looks the test images up in the full digits data set.
    "digits_lookup": """
import numpy as np
class Model:
    def predict(self, x, verbose=0):
        from sklearn.datasets import load_digits
        digits = load_digits()
        rows = (digits.data / 16.0).astype(np.float32)
        table = {row.tobytes(): label for row, label in zip(rows, digits.target)}
        x = np.asarray(x, np.float32)
        return np.eye(10)[[table.get(row.tobytes(), 0) for row in x]]
def build_keras_mlp(*args, **kwargs):
    return Model()
def train_keras_mlp(model, *args, **kwargs):
    return None
""",
    # What the runner's memory holds besides the student's code: the environment the instructor
    # started `camp autograde` with (still on the stack after os.environ.clear()), and a
    # conftest.py next to the hidden tests (imported before the zygote forks).
    "memory_reader": """
import ctypes, gc
_fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
_start, _end = int(_fields[47]), int(_fields[48])
_env = ctypes.string_at(_start, _end - _start).split(b"\\0")
_leak = [item.decode() for item in _env if b"TOKEN" in item]
_leak += [str(o.get("CONFTEST_SECRET")) for o in gc.get_objects()
          if isinstance(o, dict) and "CONFTEST_SECRET" in o]
def relu(z):
    raise ValueError("memory: " + " ".join(_leak))
""",
    # The hidden runner's exit code is printed in the gradebook: 8 bits of a hidden input.
    "hidden_exit_code": """
import os
import numpy as np
def relu(z):
    z = np.asarray(z)
    if z.ndim == 0:
        os._exit(int(z * 4))
    raise ValueError("public test")
""",
}


def _write(folder: Path, text: str, name: str = "01_nn_recap.py") -> None:
    folder.mkdir(parents=True)
    (folder / name).write_text(text)


def _autograde(submissions, out, camp_home, *extra, jobs=2):
    args = ["autograde", str(submissions), "--out", str(out), "--lecture", "01"]
    os.environ["CAMP_HOME"] = str(camp_home)
    try:
        return CliRunner().invoke(app, [*args, "--jobs", str(jobs), *extra])
    finally:
        del os.environ["CAMP_HOME"]


def _rows(out):
    # Keyed by the folder name: the gradebook prefixes a cell that starts like a formula with '.
    with out.open(newline="") as handle:
        return {row["student"].removeprefix("'"): row for row in csv.DictReader(handle)}


def _passed(root: Path, student: str) -> list[str]:
    """The tests a student passed, from the stored record (kept even if the lecture crashed)."""
    stored = json.loads((root / "grades" / "results" / student / "01.json").read_text())
    return [test["name"] for test in stored["record"]["tests"] if test["passed"]]


def _shown_texts(root: Path, result) -> dict[str, str]:
    """Everything a student or the instructor gets to read after the batch."""
    texts = {"console": result.output}
    for path in (root / "grades").rglob("*"):
        if path.is_file():
            texts[str(path.relative_to(root))] = path.read_text("utf-8", "replace")
    return texts


@pytest.fixture(scope="module")
def extra_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-extra")
    submissions, hidden = root / "submissions", root / "hidden"
    out = root / "grades" / "grades.csv"
    hidden.mkdir()
    (hidden / "test_01_hidden.py").write_text(
        "import numpy as np\nimport pytest\n\n\n"
        f"@pytest.mark.points({HIDDEN_POINTS}, hint='ReLU of a positive number.')\n"
        "def test_hidden_relu(sub):\n"
        f"    value = {HIDDEN_INPUT!r}\n"
        "    assert float(np.asarray(sub.relu(np.array(value)))) == value\n"
    )
    for name, attack in ATTACKS.items():
        _write(submissions / name, f"{EXERCISE}\n{attack}")
    _write(submissions / "donor", EXERCISE + RELU)  # Honest: relu only.
    # A folder with no file of its own, only a link to a classmate's (as unzip restores it).
    (submissions / "symlinked_exercises").mkdir()
    (submissions / "symlinked_exercises" / "exercises").symlink_to("../donor")
    # A display name turned folder name that a spreadsheet runs as a formula, whose import
    # error holds terminal escapes (clear the screen, set the window title).
    escapes = '\nraise ImportError("\\x1b[2J\\x1b]0;pwned\\x07 all good")\n'
    _write(submissions / FORMULA, EXERCISE + escapes)
    redirect = _start_results_redirect(root / "redirect")
    os.environ["CAMP_TEST_GRADER_TOKEN"] = GRADER_TOKEN
    try:
        result = _autograde(
            submissions, out, root / "camp-home", "--hidden-tests", str(hidden), "--timeout", "150"
        )
    finally:
        del os.environ["CAMP_TEST_GRADER_TOKEN"]
        redirect.wait(timeout=600)
    assert result.exit_code == 0, result.output
    return root, out, result


def _start_results_redirect(root: Path) -> subprocess.Popen:
    """A batch whose gradebook is inside the submissions, with a student named ``results``.

    That student submits no lecture file (so no runner starts, and this batch can run beside the
    main one) and a symlink ``results -> target``, where its own results would be written.
    """
    (root / "submissions" / "results").mkdir(parents=True)
    (root / "target").mkdir()
    (root / "submissions" / "results" / "results").symlink_to(root / "target")
    command = [str(Path(sys.executable).parent / "camp"), "autograde", str(root / "submissions")]
    command += ["--out", str(root / "submissions" / "grades.csv"), "--lecture", "01", "--jobs", "1"]
    env = dict(os.environ, CAMP_HOME=str(root / "home"))
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_donor_and_plain_attackers_get_their_honest_score(extra_class):
    _, out, _ = extra_class
    rows = _rows(out)
    assert float(rows["donor"]["points"]) == 1 + HIDDEN_POINTS
    for name in [*set(ATTACKS) - {"digits_lookup"}, FORMULA]:  # digits_lookup: its own case.
        assert float(rows[name]["points"]) == 0, (name, rows[name])


def test_a_symlinked_exercises_folder_is_not_graded(extra_class):
    root, _, _ = extra_class
    assert _passed(root, "symlinked_exercises") == []


def test_a_model_that_looks_up_the_labels_scores_nothing(extra_class):
    root, _, _ = extra_class
    assert _passed(root, "digits_lookup") == []


def test_the_instructors_environment_does_not_leak(extra_class):
    root, _, result = extra_class
    for where, text in _shown_texts(root, result).items():
        assert GRADER_TOKEN not in text, where


def test_a_hidden_conftest_is_refused(tmp_path):
    # Its code would load in the judge before the runners are forked: refused in one line.
    hidden, submissions = tmp_path / "hidden", tmp_path / "submissions"
    hidden.mkdir()
    (hidden / "conftest.py").write_text(f"CONFTEST_SECRET = {CONFTEST_SECRET!r}\n")
    _write(submissions / "alice", EXERCISE)
    out = tmp_path / "grades" / "grades.csv"
    result = _autograde(submissions, out, tmp_path / "camp-home", "--hidden-tests", str(hidden))
    assert result.exit_code == 1
    assert (
        result.output.strip().startswith("error: ") and "cannot hold a conftest.py" in result.output
    )
    assert not out.exists()


def test_a_hidden_input_does_not_reach_a_classmates_public_test(extra_class):
    root, _, result = extra_class
    for where, text in _shown_texts(root, result).items():
        assert f"relu({HIDDEN_INPUT})" not in text, where


def test_the_hidden_runners_exit_code_is_not_shown(extra_class):
    root, out, result = extra_class
    code = str(int(HIDDEN_INPUT * 4))
    assert code not in _rows(out)["hidden_exit_code"]["detail"]
    results = root / "grades" / "results" / "hidden_exit_code" / "results.json"
    assert f"code {code}" not in results.read_text()


def test_no_terminal_escapes_reach_the_instructor(extra_class):
    root, _, result = extra_class
    for where, text in _shown_texts(root, result).items():
        assert "\x1b" not in text and "\x07" not in text, where


def test_no_gradebook_cell_is_a_spreadsheet_formula(extra_class):
    _, out, _ = extra_class
    with out.open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@")]


@pytest.fixture(scope="module")
def concurrent_batches(tmp_path_factory):
    """Batch A (one slow, honest student) runs while batch B grades text that is not UTF-8."""
    root = tmp_path_factory.mktemp("concurrent")
    slow = EXERCISE + RELU + "\nimport time\ntime.sleep(35)\n"
    _write(root / "a" / "slow", slow)
    first = subprocess.Popen(
        [str(Path(sys.executable).parent / "camp"), "autograde", str(root / "a"), "--out"]
        + [str(root / "a-grades" / "grades.csv"), "--lecture", "01", "--jobs", "1"],
        env=dict(os.environ, CAMP_HOME=str(root / "a-home")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(5)  # Batch A's runner is up (or starting) while batch B grades and cleans up.
    b = root / "b"
    _write(b / "surrogate", EXERCISE + '\nraise ImportError("bad \\ud800 text")\n')
    os.makedirs(os.fsencode(b) + b"/m\xfcller")  # A Latin-1 name, as some zip tools write it.
    (Path(os.fsdecode(os.fsencode(b) + b"/m\xfcller")) / "01_nn_recap.py").write_text(EXERCISE)
    result = _autograde(b, root / "b-grades" / "grades.csv", root / "b-home", jobs=1)
    assert first.wait(timeout=600) == 0
    return root, result


def test_text_that_is_not_utf8_does_not_stop_the_class(concurrent_batches):
    root, result = concurrent_batches
    assert result.exception is None, repr(result.exception)
    rows = _rows(root / "b-grades" / "grades.csv")
    assert len(rows) == 2 and "surrogate" in rows


def test_another_batch_does_not_kill_this_batchs_runner(concurrent_batches):
    root, _ = concurrent_batches
    row = _rows(root / "a-grades" / "grades.csv")["slow"]
    assert (row["status"], float(row["points"])) == ("graded", 1.0), row


def test_a_sparse_terabyte_file_does_not_stop_the_class(tmp_path):
    submissions = tmp_path / "submissions"
    (submissions / "sparse").mkdir(parents=True)
    with (submissions / "sparse" / "01_nn_recap.py").open("wb") as handle:
        handle.truncate(1 << 40)
    out = tmp_path / "grades" / "grades.csv"
    result = _autograde(submissions, out, tmp_path / "home", jobs=1)
    assert result.exception is None, repr(result.exception)
    assert float(_rows(out)["sparse"]["points"]) == 0


def test_a_student_named_results_cannot_redirect_the_results(extra_class):
    root, _, _ = extra_class
    assert list((root / "redirect" / "target").iterdir()) == []
