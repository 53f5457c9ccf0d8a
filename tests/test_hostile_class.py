"""A hostile class: every attack a clever student could try on ``camp autograde``.

Each attacker's file is the untouched Lecture 01 exercise (honest score 0) or the solution
(honest score: full marks) with attack code that runs when it is imported. The attack code knows
every real path (the gradebook, the results cache, the signing key, a classmate's file, the hidden
tests) and a port the test listens on. Every student must get exactly the honest score, the
hidden test's text must appear nowhere, nothing outside the runners' scratch may change, and no
process of theirs may outlive the batch.
"""

import csv
import json
import os
import socket
import subprocess
import time

import pytest
from typer.testing import CliRunner

from course_lib.authoring.generate import partly_solved
from course_lib.cli import app
from course_lib.grading import judge
from course_lib.grading.sandbox import FIRST_UID, probe_level
from course_lib.paths import project_root

pytestmark = pytest.mark.skipif(
    probe_level() != "namespaces", reason="needs Linux namespaces (root or user namespaces)"
)

SOLUTION = (project_root() / "solutions" / "01_nn_recap.py").read_text()
EXERCISE = (project_root() / "exercises" / "01_nn_recap.py").read_text()
SECRET = "SECRET-HIDDEN-7731"  # Text of the hidden test that must never leak.
GRADED = [
    "dense_forward",
    "relu",
    "sigmoid",
    "softmax",
    "cross_entropy",
    "mlp_forward",
    "mlp_backward",
    "tape_gradients",
    "sgd_step",
    "train_sgd",
    "build_keras_mlp",
    "train_keras_mlp",
    "gradient_check",
]

ATTACKS = {
    "forge_report": """
import glob, json
forged = {"tests": [{"name": "test_relu", "points": 2800, "max_points": 2800, "passed": True,
          "hidden": False, "hint": "", "message": "", "memory_error": False}],
          "import_error": None, "deaths": [], "isolation": "namespaces"}
for path in glob.glob("/tmp/camp-grade-*/report.json") + [RESULTS + "/forge_report/01.json"]:
    try:
        open(path, "w").write(json.dumps(forged))
    except Exception:
        pass
""",
    "patch_pytest": """
try:
    import _pytest.reports, _pytest.runner, _pytest.python
    _pytest.reports.TestReport.passed = property(lambda self: True)
    _pytest.runner.call_and_report = lambda *a, **k: None
    _pytest.python.pytest_pyfunc_call = lambda *a, **k: True
except Exception:
    pass
""",
    "replace_tests": """
import gc
noop = (lambda *a, **k: None).__code__
for obj in gc.get_objects():
    try:
        if str(getattr(obj, "__name__", "")).startswith("test_") and hasattr(obj, "__code__"):
            obj.__code__ = noop
    except Exception:
        pass
""",
    "patch_numpy": """
import numpy as np, numpy.testing, pytest
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
np.allclose = lambda *a, **k: True
pytest.approx = lambda *a, **k: True
""",
    "always_equal": """
class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    def __hash__(self): return 0
    def __bool__(self): return True
    def __getitem__(self, key): return self
    def __len__(self): return 8
for _name in GRADED:
    globals()[_name] = lambda *a, **k: AlwaysEqual()
""",
    "ndarray_liar": """
import numpy as np
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    __ne__ = lambda self, other: np.zeros(np.shape(other), bool)
    def __array_finalize__(self, obj): pass
for _name in GRADED:
    globals()[_name] = lambda *a, **k: np.zeros((3, 2)).view(Liar)
""",
    "settrace": """
import sys
def _skip(frame, event, arg):
    if frame.f_code.co_name.startswith("test_") and event == "line":
        try:
            frame.f_lineno = frame.f_code.co_firstlineno + 1
        except Exception:
            pass
    return _skip
sys.settrace(_skip)
import threading
threading.settrace(_skip)
""",
    "read_hidden": """
import sys, glob
text = ""
found = [glob.glob(f"{top}/**/test_01_*.py", recursive=True) for top in ("/tmp", "/work", "/root")]
for path in [HIDDEN_FILE, *sum(found, [])]:
    try:
        text += open(path).read()
    except Exception:
        pass
text += " ".join(sys.argv)
print(text)
sys.stderr.write(text)
def relu(z):
    raise ValueError("leak: " + text)
""",
    "write_outside": """
for path in [MARKER + "/pwned", SUBMISSIONS + "/pwned", OUT, KEY, HOME + "/camp-pwned"]:
    try:
        open(path, "a").write("pwned")
    except Exception:
        pass
""",
    "overwrite_classmate": """
for path in [VICTIM, RESULTS + "/victim/01.json"]:
    try:
        open(path, "w").write("raise SystemExit('overwritten')")
    except Exception:
        pass
""",
    "daemon": """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        for path in [OUT, RESULTS + "/daemon/01.json", MARKER + "/daemon"]:
            try:
                open(path, "w").write("student,lecture,points\\ndaemon,01,28\\n")
            except Exception:
                pass
        os._exit(0)
    os._exit(0)
""",
    "network": """
import socket
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).sendall(b"pwned")
except Exception:
    pass
""",
    "kill": """
import os, signal
for pid in range(2, 4000):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except Exception:
            pass
try:
    os.kill(-1, signal.SIGKILL)
except Exception:
    pass
""",
    "pipe_garbage": """
import os, stat
for fd in range(3, 64):
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            os.write(fd, b"\\x7f\\xff\\xff\\xffgarbage" * 10)
    except OSError:
        pass
""",
    "output_flood": """
import sys
for _ in range(300):
    sys.stdout.write("x" * 1_000_000)
""",
    "fork_bomb": """
import os, time
for _ in range(3000):
    try:
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
    except OSError:
        break
""",
    "big_file": """
chunk = b"x" * (1 << 20)
for path in ["/scratch/big", "/tmp/big", MARKER + "/big"]:
    try:
        with open(path, "wb") as handle:
            for _ in range(2048):
                handle.write(chunk)
    except Exception:
        pass
""",
}
# Attacks that leave the student's own functions alone: on a solution they must cost nothing.
# (patch_numpy and settrace also change how the student's own code runs in its process.)
SOLVED_ATTACKS = ("forge_report", "patch_pytest", "replace_tests", "write_outside")


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    submissions, hidden, marker = root / "submissions", root / "hidden", root / "marker"
    out, camp_home = root / "grades" / "grades.csv", root / "camp-home"
    for folder in (submissions, hidden, marker, camp_home):
        folder.mkdir()
    marker.chmod(0o777)
    hidden_file = hidden / "test_01_hidden.py"
    hidden_file.write_text(
        "import numpy as np\nimport pytest\n\n\n"
        "@pytest.mark.points(3, hint='ReLU of a positive number.')\n"
        "def test_hidden_relu(sub):\n"
        f"    secret = {SECRET!r}\n"
        "    assert float(np.asarray(sub.relu(np.array(2.0)))) == 2.0, secret\n"
    )
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    constants = {
        "RESULTS": str(out.parent / "results"),
        "OUT": str(out),
        "KEY": str(camp_home / "grading.key"),
        "VICTIM": str(submissions / "victim" / "01_nn_recap.py"),
        "HIDDEN_FILE": str(hidden_file),
        "SUBMISSIONS": str(submissions),
        "MARKER": str(marker),
        "HOME": os.path.expanduser("~"),
        "PORT": server.getsockname()[1],
        "GRADED": GRADED,
    }
    header = "\n".join(f"{name} = {value!r}" for name, value in constants.items())
    students = {"victim": SOLUTION, "half": partly_solved(SOLUTION, keep=6)}
    for name, attack in ATTACKS.items():
        students[name] = f"{EXERCISE}\n{header}\n{attack}"
    students["solved_attacker"] = "\n".join(
        [SOLUTION, header, *(ATTACKS[name] for name in SOLVED_ATTACKS)]
    )
    for name, text in students.items():
        (submissions / name).mkdir()
        (submissions / name / "01_nn_recap.py").write_text(text)
    before = {name: text for name, text in students.items()}
    os.environ["CAMP_HOME"] = str(camp_home)
    try:
        args = ["autograde", str(submissions), "--out", str(out), "--lecture", "01"]
        args += ["--hidden-tests", str(hidden), "--timeout", "120", "--jobs", "2"]
        result = CliRunner().invoke(app, args)
        time.sleep(6)  # Time for a daemon, had one survived, to act.
    finally:
        del os.environ["CAMP_HOME"]
    try:
        connection, _ = server.accept()
        connected = True
    except BlockingIOError:
        connected = False
    server.close()
    return root, out, result, before, connected, marker


def _rows(out):
    with out.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_every_student_gets_exactly_the_honest_score(hostile_class):
    root, out, result, _, _, _ = hostile_class
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert set(rows) == {"victim", "half", "solved_attacker", *ATTACKS}
    maximum = 28 + 3
    assert float(rows["victim"]["points"]) == maximum and rows["victim"]["status"] == "full-marks"
    assert float(rows["solved_attacker"]["points"]) == maximum
    for name in ATTACKS:
        assert float(rows[name]["points"]) == 0, (name, rows[name])
        assert float(rows[name]["max_points"]) == maximum
    assert rows["pipe_garbage"]["status"] == "protocol-error"
    half_alone = judge.grade_lecture(
        "01", root / "submissions" / "half", hidden_dir=root / "hidden", timeout_s=120
    )
    assert float(rows["half"]["points"]) == half_alone.points
    assert 0 < half_alone.points < maximum


def test_no_hidden_test_text_leaks(hostile_class):
    root, out, _, _, _, _ = hostile_class
    for path in [out, *(root / "grades" / "results").rglob("*.json")]:
        text = path.read_text()
        assert SECRET not in text, path
        assert "test_hidden_relu(sub)" not in text, path


def test_nothing_outside_scratch_changes(hostile_class):
    root, _, _, before, connected, marker = hostile_class
    for name, text in before.items():
        assert (root / "submissions" / name / "01_nn_recap.py").read_text() == text, name
    assert sorted(p.name for p in (root / "submissions").iterdir()) == sorted(before)
    assert list(marker.iterdir()) == []
    assert not os.path.exists(os.path.expanduser("~/camp-pwned"))
    assert not connected, "a runner reached a port on the host's loopback"
    envelope = json.loads((root / "grades" / "results" / "victim" / "01.json").read_text())
    assert envelope["record"]["status"] == "full-marks" and len(envelope["hmac"]) == 64
    assert (root / "camp-home" / "grading.key").stat().st_size == 32


def test_the_gradebook_is_complete_and_flags_the_attempts(hostile_class):
    _, out, _, _, _, _ = hostile_class
    rows = _rows(out)
    assert {row["isolation"] for row in rows.values()} == {"namespaces"}
    assert rows["victim"]["flags"] == ""
    assert "gc.get_objects" in rows["replace_tests"]["flags"]
    assert "imports _pytest" in rows["patch_pytest"]["flags"]
    assert "sys.settrace" in rows["settrace"]["flags"]
    assert "__eq__ returns a constant" in rows["always_equal"]["flags"]
    assert "os.kill" in rows["kill"]["flags"] and "os.fork" in rows["fork_bomb"]["flags"]
    assert "imports socket" in rows["network"]["flags"]


def _runner_processes() -> list[str]:
    """Live processes of the sandbox uids; a zombie (dead, waiting for init to reap it) is not."""
    listing = subprocess.run(["ps", "-eo", "uid=,stat=,args="], capture_output=True, text=True)
    rows = [line.split(None, 2) for line in listing.stdout.splitlines() if line.strip()]
    return [" ".join(r) for r in rows if int(r[0]) >= FIRST_UID and not r[1].startswith("Z")]


def test_no_runner_process_survives(hostile_class):
    # A runner's last processes may still be exiting when the batch returns: allow them 5 s.
    deadline = time.monotonic() + 5.0
    while _runner_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _runner_processes() == []
