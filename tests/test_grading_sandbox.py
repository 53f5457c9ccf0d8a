"""The runner's sandbox, seen from inside: what a confined process can and cannot do."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from course_lib.grading import cgroups, sandbox
from course_lib.paths import PACKAGE_DIR

pytestmark = pytest.mark.skipif(
    sandbox.probe_level() != "namespaces", reason="needs Linux namespaces (root or user ns)"
)

# Run inside the confined child; prints one JSON line of observations.
INSIDE = """
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
report = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "pid": os.getpid()}
def attempt(name, action):
    try:
        action()
        report[name] = "allowed"
    except Exception as error:
        report[name] = type(error).__name__
def call(name, number, *args):
    result = libc.syscall(number, *args)
    report[name] = "allowed" if result >= 0 else errno.errorcode[ctypes.get_errno()]
def many_files(folder, count=20000):
    for index in range(count):
        open(f"{folder}/f{index}", "w").close()
attempt("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=1))
attempt("read_repo", lambda: open(README).read())
attempt("read_host_tmp", lambda: open(HOST_TMP_FILE).read())
attempt("write_usr", lambda: open("/usr/camp-test", "w"))
attempt("write_root", lambda: open("/camp-test", "w"))
attempt("write_scratch", lambda: open("/scratch/ok", "w").write("ok"))
attempt("big_file", lambda: open("/scratch/big", "wb").write(b"x" * (300 << 20)))
attempt("kill_parent", lambda: os.kill(PARENT, 9))
attempt("vsock", lambda: socket.socket(40, socket.SOCK_STREAM))  # AF_VSOCK: the host.
attempt("packet", lambda: socket.socket(17, socket.SOCK_RAW))  # AF_PACKET.
attempt("unix", lambda: socket.socketpair())
attempt("scratch_inodes", lambda: many_files("/scratch"))
attempt("shm_inodes", lambda: many_files("/dev/shm"))
call("keyring", 250, 2, b"user", b"camp", b"secret", 6, -3)  # add_key to the user keyring.
call("user_namespace", 272, 0x10000000)  # unshare(CLONE_NEWUSER).
call("clone_namespace", 56, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD).
call("mount", 165, b"none", b"/scratch", b"tmpfs", 0, b"size=1g")
call("ptrace", 101, 16, 1, 0, 0)  # PTRACE_ATTACH to PID 1 (itself: any process will do).
call("bpf", 321, 0, 0, 0)
call("perf_event_open", 298, 0, 0, -1, -1, 0)
report["max_user_namespaces"] = open("/proc/sys/user/max_user_namespaces").read().strip()
report["package"] = os.path.isdir(PACKAGE)
report["in_root_home"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else []
report["test_files"] = [f for top in set(os.listdir("/")) - {"proc", "dev"}
                        for _, _, names in os.walk("/" + top)
                        for f in names if f.startswith("test_0") and f.endswith(".py")]
print(json.dumps(report), flush=True)
"""

# The launcher plays the zygote: it makes the runners' cgroup, forks, and the child confines.
LAUNCHER = """
import json, os, sys, tempfile
from course_lib.grading import sandbox
exec(SETUP)
sandbox.prepare()
pid = os.fork()
if pid == 0:
    result = sandbox.confine(tempfile.mkdtemp(), 7, sandbox.Limits(**LIMITS))
    print(json.dumps({"level": result.level, "missing": result.missing}), flush=True)
    exec(CODE)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sandbox.release()
print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


def _confined(
    python: list[str], code: str, env=None, setup: str = "", **limits
) -> tuple[dict, list[dict]]:
    """Run ``code`` confined; return the launcher's two JSON lines and what ``code`` printed."""
    launcher = f"CODE = {code!r}\nLIMITS = {limits!r}\nSETUP = {setup!r}\n" + LAUNCHER
    completed = subprocess.run(
        [*python, "-c", launcher], capture_output=True, text=True, timeout=120, env=env
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) >= 2, completed.stdout + completed.stderr
    return lines[0] | lines[-1], lines[1:-1]


def _observe(python: list[str], env: dict | None = None) -> dict:
    server = __import__("socket").create_server(("127.0.0.1", 0))
    # A world-readable file in the host's temporary folder (where a checkout may live too).
    descriptor, host_file = tempfile.mkstemp(prefix="camp-host-")
    os.close(descriptor)
    os.chmod(host_file, 0o644)
    code = (
        f"PORT = {server.getsockname()[1]}\nREADME = {str(PACKAGE_DIR.parent / 'README.md')!r}\n"
        f"PARENT = {os.getpid()}\nPACKAGE = {str(PACKAGE_DIR)!r}\n"
        f"HOST_TMP_FILE = {host_file!r}\n" + INSIDE
    )
    try:
        outcome, printed = _confined(python, code, env, file_mb=256)
    finally:
        server.close()
        os.remove(host_file)
    assert len(printed) == 1, printed
    return outcome | printed[0]


def _check(report: dict) -> None:
    assert report["level"] == "namespaces"
    assert report["pid"] == 1  # PID 1 of its own namespace: what it starts dies with it.
    assert "home" not in report["root"]
    assert report["read_host_tmp"] == "FileNotFoundError"  # The host's /tmp is not there.
    assert report["in_root_home"] in ([], [".pyenv"])  # At most the Python installation.
    assert report["network"] != "allowed"
    assert report["read_repo"] == "FileNotFoundError"  # solutions/, tests/, README: not there.
    assert report["test_files"] == []  # No public or hidden test file is visible at all.
    assert report["write_usr"] in ("OSError", "PermissionError")
    assert report["write_root"] in ("OSError", "PermissionError")  # A read-only root.
    assert report["write_scratch"] == "allowed" and report["package"]
    assert report["big_file"] == "OSError"  # Over the 256 MB file limit.
    assert report["kill_parent"] in ("ProcessLookupError", "PermissionError")
    assert report["scratch_inodes"] == report["shm_inodes"] == "OSError"  # Inode limits.
    assert report["unix"] == "allowed"
    assert report["max_user_namespaces"] == "0"
    if not any(item.startswith("seccomp") for item in report["missing"]):
        assert report["vsock"] == report["packet"] == "OSError"
        for call in ("keyring", "user_namespace", "clone_namespace", "mount", "ptrace"):
            assert report[call] == "EPERM", call
        assert report["bpf"] == report["perf_event_open"] == "EPERM"
    else:
        assert report["user_namespace"] != "allowed"  # max_user_namespaces is 0.


@pytest.mark.skipif(os.getuid() != 0, reason="the root path drops to a uid of its own")
def test_as_root_the_runner_is_an_unprivileged_uid_in_its_own_namespaces():
    report = _observe([sys.executable])
    assert report["uid"] == sandbox.FIRST_UID + 7
    _check(report)
    assert report["code"] == 0


@pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
    reason="needs root to become an ordinary user, setpriv and a system Python",
)
def test_as_an_ordinary_user_the_runner_uses_a_user_namespace():
    # The venv's Python may live under /root, which nobody can read: use the system Python with
    # only the checkout on its path (the sandbox itself needs nothing else).
    home = tempfile.mkdtemp()
    os.chmod(home, 0o777)
    env = {"PYTHONPATH": str(PACKAGE_DIR.parent), "HOME": home, "PATH": "/usr/bin:/bin"}
    python = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"]
    report = _observe(python, env)
    assert report["uid"] == 65534  # Its own uid, in a user namespace that maps only that uid.
    _check(report)
    # An ordinary user here has no cgroup of its own to divide: the list names it.
    assert any(item.startswith("cgroup") for item in report["missing"]), report["missing"]


@pytest.mark.skipif(os.getuid() != 0, reason="the root path drops to a uid of its own")
def test_without_namespaces_the_runner_keeps_its_uid_and_says_what_is_missing():
    # As in a container that forbids namespaces: the level is "uid", and the list says why.
    code = (
        "import json, os\n"
        "print(json.dumps({'uid': os.getuid(), 'ns': os.readlink('/proc/self/ns/user')}))\n"
    )
    outcome, printed = _confined([sys.executable], code, setup="sandbox.SYS_PIVOT_ROOT = None")
    assert outcome["level"] == "uid" and outcome["code"] == 0
    assert [m for m in outcome["missing"] if m.startswith("namespaces")], outcome["missing"]
    assert printed[0]["uid"] == sandbox.FIRST_UID + 7
    assert printed[0]["ns"] != os.readlink("/proc/self/ns/user")  # Its own user namespace.


HAS_GROUPS = cgroups.discover().base is not None


@pytest.mark.skipif(not HAS_GROUPS, reason="needs a cgroup (v1 or v2) this user may divide")
def test_memory_outside_the_address_space_counts_against_the_cgroup():
    # Files in memory are mapped nowhere, so RLIMIT_AS never sees them; each stays under the
    # file-size limit, eight of them are twice the memory limit.
    flood = (
        "import os\nfor index in range(8):\n    fd = os.memfd_create(f'flood{index}')\n"
        "    for _ in range(128):\n        os.write(fd, b'x' * (1 << 20))\n"
        "print('{\"survived\": 1}')\n"
    )
    outcome, printed = _confined([sys.executable], flood, memory_mb=512)
    assert printed == [] and outcome["code"] == 128 + 9  # Killed by the kernel at 512 MB.


@pytest.mark.skipif(not HAS_GROUPS, reason="needs a cgroup (v1 or v2) this user may divide")
def test_cpu_time_of_every_process_counts_and_ends_the_runner():
    # Two busy processes: the limit counts both, so the runner ends after about 1 s of wall time.
    busy = "import os, time\nos.fork()\nwhile True:\n    pass\n"
    outcome, _ = _confined([sys.executable], busy, cpu_s=2)
    assert outcome["code"] == sandbox.CPU_LIMIT_EXIT


@pytest.mark.skipif(not HAS_GROUPS, reason="needs a cgroup (v1 or v2) this user may divide")
def test_tasks_are_counted_per_runner():
    storm = (
        "import os, time, json\ncount = 0\n"
        "try:\n    for _ in range(200):\n        if os.fork() == 0:\n            time.sleep(60)\n"
        "        count += 1\nexcept OSError:\n    pass\nprint(json.dumps({'forked': count}))\n"
        "os._exit(0)\n"
    )
    outcome, printed = _confined([sys.executable], storm, processes=32)
    assert outcome["code"] == 0 and printed[0]["forked"] < 32
