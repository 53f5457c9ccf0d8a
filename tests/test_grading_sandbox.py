"""The runner's sandbox, seen from inside: what a confined process can and cannot do."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from course_lib.grading import sandbox
from course_lib.paths import PACKAGE_DIR

pytestmark = pytest.mark.skipif(
    sandbox.probe_level() != "namespaces", reason="needs Linux namespaces (root or user ns)"
)

# Run inside the confined child; prints one JSON line of observations.
INSIDE = """
import json, os, socket
report = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "pid": os.getpid()}
def attempt(name, action):
    try:
        action()
        report[name] = "allowed"
    except Exception as error:
        report[name] = type(error).__name__
attempt("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=1))
attempt("read_repo", lambda: open(README).read())
attempt("read_host_tmp", lambda: open(HOST_TMP_FILE).read())
attempt("write_usr", lambda: open("/usr/camp-test", "w"))
attempt("write_scratch", lambda: open("/scratch/ok", "w").write("ok"))
attempt("big_file", lambda: open("/scratch/big", "wb").write(b"x" * (300 << 20)))
attempt("kill_parent", lambda: os.kill(PARENT, 9))
report["package"] = os.path.isdir(PACKAGE)
report["in_root_home"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else []
print(json.dumps(report), flush=True)
"""


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
    launcher = (
        "import os, sys, tempfile\n"
        "from course_lib.grading import sandbox\n"
        "level = sandbox.confine(tempfile.mkdtemp(), 7, sandbox.Limits(file_mb=256))\n"
        "print(level, flush=True)\n"
        f"exec({code!r})\n"
    )
    completed = subprocess.run(
        [*python, "-c", launcher], capture_output=True, text=True, timeout=60, env=env
    )
    server.close()
    os.remove(host_file)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 2, completed.stdout + completed.stderr
    return {"level": lines[0], **json.loads(lines[1])}


def _check(report: dict) -> None:
    assert report["level"] == "namespaces"
    assert report["pid"] == 1  # PID 1 of its own namespace: what it starts dies with it.
    assert "home" not in report["root"]
    assert report["read_host_tmp"] == "FileNotFoundError"  # The host's /tmp is not there.
    assert report["in_root_home"] in ([], [".pyenv"])  # At most the Python installation.
    assert report["network"] != "allowed"
    assert report["read_repo"] == "FileNotFoundError"  # solutions/, tests/, README: not there.
    assert report["write_usr"] in ("OSError", "PermissionError")
    assert report["write_scratch"] == "allowed" and report["package"]
    assert report["big_file"] == "OSError"  # Over the 256 MB file limit.
    assert report["kill_parent"] in ("ProcessLookupError", "PermissionError")


@pytest.mark.skipif(os.getuid() != 0, reason="the root path drops to a uid of its own")
def test_as_root_the_runner_is_an_unprivileged_uid_in_its_own_namespaces():
    import sys

    report = _observe([sys.executable])
    assert report["uid"] == sandbox.FIRST_UID + 7
    _check(report)


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
    assert report["uid"] == 0  # Root of its own user namespace, nobody outside.
    _check(report)
