"""Hostile students who attack the machine rather than the grader's logic (issue 21).

Each attacker starts from the untouched Lecture 01 exercise (honest score 0) and, when its file is
imported, tries to take more of the machine than its runner's limits give it, to reach past them
(keyrings, sockets to the host, user namespaces, ptrace, BPF), or to find test paths in its own
memory. It reports what it saw through its own ``relu``, whose failure message a public test
shows ("OBS {json}"): the test reads that back from the student's results.

Two classes are graded at the same time by two ``camp autograde`` processes, as two courses on one
machine would be: class A holds an honest classmate beside a CPU and process storm, graded with
``--timeout 60`` and a hidden test; class B an honest classmate beside memory and inode floods,
graded with ``--memory-mb 3072`` and no hidden test (so its statuses are the public runners').
Both honest classmates must keep full marks.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from course_lib.grading import cgroups, seccomp_filter
from course_lib.grading.sandbox import probe
from course_lib.paths import project_root

pytestmark = pytest.mark.skipif(
    probe().level != "namespaces" or cgroups.discover().base is None,
    reason="needs Linux namespaces and a cgroup (v1 or v2) this user may divide",
)

SOLUTION = (project_root() / "solutions" / "01_nn_recap.py").read_text()
EXERCISE = (project_root() / "exercises" / "01_nn_recap.py").read_text()
MEMORY_MB = 3072  # Class B's limit: TensorFlow's runner peaks at about 2 GB of address space.

# Every attacker's file ends with this: its observations come back in relu's failure message.
PRELUDE = """
import ctypes, errno, json, os, socket
_libc = ctypes.CDLL(None, use_errno=True)
_obs = {}
def _call(name, number, *args):
    result = _libc.syscall(number, *args)
    _obs[name] = "allowed" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
def _try(name, action):
    try:
        _obs[name] = action()
    except Exception as error:
        _obs[name] = type(error).__name__
def relu(z):
    raise ValueError("OBS " + json.dumps(_obs, sort_keys=True))
"""

ATTACKS_A = {
    # 64 busy processes, each in a session of its own (out of reach of a process-group kill),
    # kept busy while the honest classmate is graded beside it.
    "cpu_storm": """
import time
for _ in range(64):
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
time.sleep(45)
""",
    # As many threads and processes as the machine allows.
    "task_storm": """
import threading, time
def _spawn():
    count = 0
    try:
        for _ in range(5000):
            threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
            count += 1
    except RuntimeError:
        pass
    return count
_try("threads", _spawn)
""",
    # Reach outside: the host over AF_VSOCK, raw packets, a keyring shared with other runners,
    # a user namespace with a tmpfs of its own, ptrace, BPF, performance counters.
    "reach_out": """
_try("vsock", lambda: str(socket.socket(40, socket.SOCK_STREAM)))
_try("packet", lambda: str(socket.socket(17, socket.SOCK_RAW)))
_try("alg", lambda: str(socket.socket(38, socket.SOCK_SEQPACKET)))
_call("add_key", 248, b"user", b"camp-collude", b"hidden input 7.25", 17, -4)
_call("keyctl_search", 250, 10, -4, b"user", b"camp-collude", 0)
_call("unshare_user", 272, 0x10000000 | 0x00020000)
_call("mount_tmpfs", 165, b"none", b"/scratch", b"tmpfs", 0, b"size=1g")
_call("ptrace_traceme", 101, 0, 0, 0, 0)
_call("bpf", 321, 0, 0, 0)
_call("perf_event_open", 298, 0, 0, -1, -1, 0)
_call("clone_user", 56, 0x10000000 | 17, 0, 0, 0, 0)
""",
    # Test paths in its own memory: a zygote that was a fork of the judge would hold them. (The
    # patterns are written so that they do not match themselves.)
    "memory_scan": f"""
PUBLIC = {re.escape(str(project_root())).encode() + rb"/tests/autograde[r]/test_01"!r}
import re
def _scan():
    found = set()
    # The anchor alone: a leading [\\x20-\\x7e]* would retry at every byte (minutes per GB).
    pattern = re.compile(rb"hostile-kerne[l][0-9]*/hidde[n]|" + PUBLIC)
    _libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/mem becomes its own to read.
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or high - low > 256 << 20 or len(fields) > 5 and (
                not fields[5].startswith("[") or fields[5] in ("[vvar]", "[vsyscall]")):
                continue  # Anonymous memory, the heap and the stack: where Python objects live.
            try:
                mem.seek(low)
                data = mem.read(high - low)
                for match in pattern.finditer(data):
                    start = match.start()  # Back over the printable text before it.
                    while start > match.start() - 120 and start and 32 <= data[start - 1] < 127:
                        start -= 1
                    found.add(data[start : match.end()].decode()[-120:])
            except (OSError, ValueError, OverflowError):
                pass
    return sorted(found)[:10]
_try("memory", _scan)
""",
}

ATTACKS_B = {
    # Files in memory: mapped nowhere, so the address-space limit never sees them.
    "memfd_flood": """
_fds = []
for _index in range(24):
    _fd = os.memfd_create(f"flood{_index}")
    for _ in range(200):
        os.write(_fd, b"x" * (1 << 20))
    _fds.append(_fd)
_obs["memfd_mb"] = 24 * 200
""",
    "shm_flood": """
def _fill():
    written = 0
    try:
        with open("/dev/shm/flood", "wb") as handle:
            for _ in range(4096):
                handle.write(b"x" * (1 << 20))
                written += 1
    except OSError:
        pass
    return written
_try("shm_mb", _fill)
""",
    # A million empty files cost kernel memory that a tmpfs size limit does not count.
    "inode_flood": """
def _files(folder):
    count = 0
    try:
        for index in range(1_000_000):
            open(f"{folder}/{index}", "w").close()
            count += 1
    except OSError:
        pass
    return count
_try("scratch_files", lambda: _files("/scratch"))
_try("shm_files", lambda: _files("/dev/shm"))
""",
}


def _write_class(root: Path, attacks: dict[str, str], honest: str) -> Path:
    submissions = root / "submissions"
    for name, text in {
        honest: SOLUTION,
        **{n: EXERCISE + PRELUDE + a for n, a in attacks.items()},
    }.items():
        (submissions / name).mkdir(parents=True)
        (submissions / name / "01_nn_recap.py").write_text(text)
    return submissions


def _autograde(root: Path, submissions: Path, hidden: Path, *extra: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "camp"), "autograde", str(submissions)]
    command += ["--out", str(root / "grades" / "grades.csv"), "--lecture", "01", "--jobs", "2"]
    command += ["--hidden-tests", str(hidden), *extra]
    env = dict(os.environ, CAMP_HOME=str(root / "home"), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _shmem_kb() -> int:
    text = Path("/proc/meminfo").read_text()
    return int(re.search(r"^Shmem:\s+(\d+)", text, re.M).group(1))


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-kernel")
    hidden = root / "hidden"
    hidden.mkdir()
    (hidden / "test_01_hidden.py").write_text(
        "import numpy as np\nimport pytest\n\n\n"
        "@pytest.mark.points(3, hint='ReLU of a positive number.')\n"
        "def test_hidden_relu(sub):\n"
        "    assert float(np.asarray(sub.relu(np.array(7.25)))) == 7.25\n"
    )
    a = _write_class(root / "a", ATTACKS_A, "honest_a")
    b = _write_class(root / "b", ATTACKS_B, "honest_b")
    shmem, peak, done = _shmem_kb(), [0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], _shmem_kb() - shmem)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    first = _autograde(root / "a", a, hidden, "--timeout", "60")
    no_hidden = root / "no-hidden"  # Not the checkout's tests/hidden, the default.
    no_hidden.mkdir()
    second = _autograde(root / "b", b, no_hidden, "--memory-mb", str(MEMORY_MB))
    outputs = [process.communicate(timeout=1500)[0].decode() for process in (first, second)]
    done.set()
    codes = [first.returncode, second.returncode]
    return root, codes, outputs, peak[0] * 1024, time.monotonic() - start


def _record(root: Path, student: str) -> dict:
    path = root / "grades" / "results" / student / "01.json"
    return json.loads(path.read_text())["record"]


def _observed(root: Path, student: str) -> dict:
    """What an attacker reported through relu's message (empty if its runner never got there)."""
    for test in _record(root, student)["tests"]:
        match = re.search(r"OBS (\{.*\})", test.get("message", ""))
        if match:
            return json.loads(match.group(1))
    return {}


def test_both_classes_are_graded_and_honest_students_keep_full_marks(two_classes):
    root, codes, outputs, _, _ = two_classes
    assert codes == [0, 0], outputs
    for klass, honest, full in (("a", "honest_a", 28 + 3), ("b", "honest_b", 28)):
        record = _record(root / klass, honest)
        assert (record["status"], record["points"]) == ("full-marks", full), record
        for student in (root / klass / "submissions").iterdir():
            if student.name != honest:
                assert _record(root / klass, student.name)["points"] == 0, student.name


def test_a_cpu_and_process_storm_stays_in_its_runner(two_classes):
    root, *_ = two_classes
    assert _observed(root / "a", "task_storm")["threads"] < 512  # The runner's task limit.
    assert _record(root / "a", "cpu_storm")["points"] == 0


def test_memory_outside_the_address_space_is_bounded(two_classes):
    root, _, _, peak_bytes, _ = two_classes
    assert "memfd_mb" not in _observed(root / "b", "memfd_flood")  # Killed before it was done.
    assert _record(root / "b", "memfd_flood")["status"] == "memory-limit"
    assert _observed(root / "b", "shm_flood")["shm_mb"] <= 64  # /dev/shm is a 64 MB tmpfs.
    # Shared memory of the whole machine grew by no more than two runners' limits.
    assert peak_bytes < 2 * MEMORY_MB * 1024 * 1024


def test_tmpfs_inodes_are_bounded(two_classes):
    root, *_ = two_classes
    observed = _observed(root / "b", "inode_flood")
    assert 0 < observed["scratch_files"] <= 16384 and 0 < observed["shm_files"] <= 1024


@pytest.mark.skipif(seccomp_filter.available() is not None, reason="no libseccomp here")
def test_calls_that_reach_past_the_runner_are_refused(two_classes):
    root, *_ = two_classes
    observed = _observed(root / "a", "reach_out")
    assert observed["vsock"] == observed["packet"] == observed["alg"] == "OSError"
    for call in ("add_key", "keyctl_search", "unshare_user", "mount_tmpfs", "ptrace_traceme"):
        assert observed[call] == "EPERM", (call, observed)
    for call in ("bpf", "perf_event_open", "clone_user"):
        assert observed[call] == "EPERM", (call, observed)


def test_no_test_path_is_in_a_runners_memory(two_classes):
    root, *_ = two_classes
    assert _observed(root / "a", "memory_scan")["memory"] == []


def test_no_cgroup_is_left_behind(two_classes):
    base = cgroups.discover().base
    for folder in set(base.dirs.values()):
        left = [p.name for p in folder.iterdir() if p.name.startswith(cgroups.PREFIX)]
        alive = [name for name in left if os.path.exists(f"/proc/{name.removeprefix('camp-')}")]
        assert sorted(set(left) - set(alive)) == [], folder


def test_the_memory_scan_finds_a_test_path_where_there_is_one():
    # The scan's own control: in this process (no sandbox), a hidden test's path made at run time.
    path = "/tmp/pytest-of-x/pytest-1/hostile-kernel0/" + "hidden/test_01_hidden.py"
    scope = {}
    exec(PRELUDE + ATTACKS_A["memory_scan"], scope)
    assert any(path.startswith(found) for found in scope["_obs"]["memory"]), path
