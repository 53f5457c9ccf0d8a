"""Confine the process that runs student code (introduced with Lecture 01's grader).

``confine`` is called in a freshly forked, single-threaded child of the zygote. In order:

1. it joins a cgroup of its own (``cgroups``): the kernel bounds its memory (tmpfs, shared memory
   and ``memfd`` included), its tasks and its share of the CPU, and counts its CPU time;
2. it enters new mount, network, PID, IPC and UTS namespaces and forks, so that student code runs
   as PID 1 of its own namespace (what it starts ends with it). The parent stays outside as a
   watchdog: it ends the runner at its CPU-time limit (exit status ``128 + SIGXCPU``) and says
   when the OOM killer ended it at the memory limit;
3. it sees a filesystem made of read-only binds of the system folders, Python, the virtual
   environment and ``course_lib``, an empty ``/scratch`` and ``/dev/shm`` (tmpfs bounded in size
   and in inodes), on a read-only root: nothing else of the host (other students, the gradebook,
   public or hidden tests, ``solutions/``) exists there;
4. it becomes an unprivileged uid (as root: ``FIRST_UID + slot``, one per grading slot) in a user
   namespace of its own (also as root), where it gives up every capability and the right to make
   namespaces; its kernel keyrings are its own;
5. resource limits, no new privileges, and the seccomp filter (``seccomp_filter``) come last.

Why not bubblewrap: a runner is forked from a warm process that has imported TensorFlow, and the
namespaces must be entered after that fork; ``bwrap`` can only start a new program. The calls here
are the same ones it makes (``unshare``, ``mount``, ``pivot_root``), through ``ctypes``.

Isolation levels, recorded with every grade: ``namespaces`` (steps 2-3), ``uid`` (root without
namespaces: a separate uid and limits only), ``limits`` (resource limits only: e.g. macOS). A step
this machine cannot take does not stop grading; ``Confinement.missing`` names it, and ``probe``
says it for the machine, for the gradebook's isolation column and the grader's warning.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import resource
import select
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.grading import cgroups, seccomp_filter
from course_lib.grading.rootfs import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    SCRATCH,
    SYS_PIVOT_ROOT,
    build_root,
    check,
    drop_capabilities,
    forbid_namespaces,
    libc,
    map_ids,
    own_user_namespace,
)
from course_lib.grading.slots import FIRST_UID, claim_slots, drop_to, kill_uid, release_slots

__all__ = ["FIRST_UID", "LEVELS", "Limits", "claim_slots", "confine", "kill_uid", "probe"]
__all__ += ["SCRATCH", "release_slots"]

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
KEYCTL_JOIN_SESSION_KEYRING = 1
LEVELS = ("limits", "uid", "namespaces")  # Isolation levels, weakest first.
CPU_LIMIT_EXIT = 128 + signal.SIGXCPU  # A runner stopped at its CPU-time limit exits so.


@dataclass(frozen=True)
class Limits:
    """Resource limits of one runner."""

    memory_mb: int = 6144  # Address space (RLIMIT_AS) and memory of its cgroup, tmpfs included.
    processes: int = 512  # Tasks (processes and threads) of the runner.
    file_mb: int = 256  # Largest file the runner may write (RLIMIT_FSIZE).
    scratch_mb: int = 512  # Size of the writable /scratch tmpfs.
    cpu_s: float = 600.0  # CPU seconds of the runner and all it starts (the judge sets it).
    inodes: int = 16384  # Files and folders /scratch may hold (/dev/shm: a sixteenth).


@dataclass
class Confinement:
    """What ``confine`` reached: the level, and each safeguard this machine lacks (and why)."""

    level: str
    missing: list[str] = field(default_factory=list)


_ZYGOTE: dict = {"group": None, "missing": []}  # Set by ``prepare`` in the zygote.


def _say(text: str) -> None:
    """A line for the runner's output (the judge shows the end of it for public tests)."""
    os.write(2, f"\ncamp: {text}\n".encode())


def _watch(child: int, group: cgroups.Group | None, limits: Limits) -> None:
    """The watchdog outside the namespace: wait for PID 1, end it at the CPU-time limit."""
    die_with_parent()
    counting = group is not None and group.cpu_seconds() is not None
    try:  # Wakes the watchdog when PID 1 ends (Linux 5.3 and later); else it polls.
        pidfd = os.pidfd_open(child) if counting else None
    except OSError:
        pidfd = None
    while True:
        if counting:
            used = group.cpu_seconds()
            if used > limits.cpu_s:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                _say(f"stopped at the CPU-time limit ({limits.cpu_s:g} CPU seconds).")
                os._exit(CPU_LIMIT_EXIT)
            step = min(1.0, max(0.05, (limits.cpu_s - used) / (os.cpu_count() or 1)))
            select.select([pidfd] if pidfd is not None else [], [], [], step)
        pid, status = os.waitpid(child, 0 if not counting else os.WNOHANG)
        if pid:
            break
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGKILL and group is not None and group.oom_kills():
        _say(f"ended by the kernel at the memory limit of {limits.memory_mb} MB (OOM).")
    os._exit(code if code >= 0 else 128 - code)


def _oom_score(value: int) -> None:
    try:
        Path("/proc/self/oom_score_adj").write_text(str(value))
    except OSError:  # Lowering it needs root; raising it never fails.
        pass


def _enter_namespaces(root: str, uid: int, limits: Limits, group) -> None:
    """Unshare, fork into the new PID namespace, and build the filesystem there.

    Returns only in the grandchild (PID 1 of the namespace); the middle process is the watchdog
    (``_watch``), and is what the judge kills to end the runner. As an ordinary user the new
    namespaces belong to a new user namespace, in which the uid and gid map to themselves.
    """
    user, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    check(libc.unshare(flags | (CLONE_NEWUSER if user != 0 else 0)), "unshare")
    if user != 0:
        map_ids(user, gid)
    child = os.fork()
    if child:
        if user == 0:
            _oom_score(-1000)  # At the memory limit the OOM killer ends student code, not this.
            drop_to(uid)  # The watchdog needs no privilege: its counters are open already.
        keep = sorted(group.fds.values()) if group is not None else []
        for low, high in zip([2, *keep], [*keep, os.sysconf("SC_OPEN_MAX")], strict=True):
            os.closerange(low + 1, high)  # The judge must see EOF when PID 1 ends.
        _watch(child, group, limits)
    if group is not None:
        group.close_counters()
    _oom_score(1000)  # Student code is the first the OOM killer ends.
    build_root(root, uid, limits.scratch_mb, limits.inodes)


def die_with_parent() -> None:
    """Get SIGKILL when the parent ends, so a killed judge takes its zygote and runners along."""
    if sys.platform == "linux":
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # The parent ended before the request took effect.
            os._exit(1)


def _set_limits(limits: Limits, per_uid_tasks: bool) -> None:
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = limits.file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    seconds = int(limits.cpu_s) + 1  # Per process; the watchdog counts the whole cgroup.
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    if per_uid_tasks:  # Without a pids cgroup: RLIMIT_NPROC counts every process of the uid.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def prepare() -> None:
    """In a zygote: make the cgroup its runners' groups go in (see ``cgroups``)."""
    found = cgroups.discover()
    _ZYGOTE["group"] = cgroups.zygote_group(found)
    _ZYGOTE["missing"] = found.missing


def release(pid: int | None = None) -> None:
    """In a zygote: remove the group of runner ``pid`` once it ended, or (None) every group."""
    parent = _ZYGOTE["group"]
    if parent is not None:
        name = f"r{pid}" if pid is not None else ""
        cgroups.Group({c: d / name for c, d in parent.dirs.items()}, parent.version).remove()


def _join_group(limits: Limits, missing: list[str]):
    parent = _ZYGOTE["group"]
    if parent is None:
        return None
    memory = limits.memory_mb * 1024 * 1024
    try:  # A student's runners share one memory budget and the CPU weight of one busy thread.
        parent.limit(memory, 2 * limits.processes)
        group = parent.child(f"r{os.getpid()}")
        group.limit(memory, limits.processes)
        group.join()
        group.open_counters()
    except OSError as error:
        missing.append(f"cgroup ({error.strerror})")
        return None
    return group


def confine(root: str, slot: int, limits: Limits) -> Confinement:
    """Confine the calling process (a fresh fork); return what was reached and what is missing.

    Args:
        root: an empty host folder to mount the runner's filesystem on.
        slot: the grading slot; as root, the runner runs as uid ``FIRST_UID + slot``.
        limits: the resource limits.
    """
    linux, host_root = sys.platform == "linux", os.getuid() == 0
    uid = FIRST_UID + slot if host_root else os.getuid()
    missing = list(_ZYGOTE["missing"]) if linux else ["cgroups and seccomp (not Linux)"]
    group = _join_group(limits, missing) if linux else None
    level, own_userns = "limits", False
    try:
        if not linux or SYS_PIVOT_ROOT is None:
            raise OSError(0, "not Linux on x86-64 or arm64")
        _enter_namespaces(root, uid, limits, group)
        level, own_userns = "namespaces", not host_root
    except OSError as error:
        missing.append(f"namespaces ({error.strerror})")
        if group is not None:  # No watchdog outside a PID namespace.
            missing.append("a CPU-time limit over all its processes (RLIMIT_CPU per process)")
    if host_root:
        drop_to(uid)
        level = "namespaces" if level == "namespaces" else "uid"
        if linux:
            try:
                own_user_namespace(uid)
                own_userns = True
            except OSError as error:
                missing.append(f"user namespace ({error.strerror})")
    forbidden = forbid_namespaces() if own_userns else "no user namespace of its own"
    if own_userns:
        drop_capabilities()
    if linux:
        if SYS_KEYCTL is not None:  # A new, empty session keyring (keyctl is denied below).
            libc.syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _set_limits(limits, per_uid_tasks=host_root and (group is None or "pids" not in group.dirs))
    if linux:
        why = seccomp_filter.install()
        if why is not None:
            missing.append(f"seccomp ({why})")
            if forbidden is not None:  # Nothing else stops a new user namespace then.
                missing.append(f"a limit on new namespaces ({forbidden})")
    return Confinement(level, missing)


@functools.cache
def probe(slot: int = 999) -> Confinement:
    """What a runner reaches on this machine (forks a child that confines itself)."""
    import tempfile

    root = tempfile.mkdtemp(prefix="camp-probe-")
    if sys.platform == "linux":
        prepare()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            result = confine(root, slot, Limits())
            os.write(write_end, json.dumps(asdict(result)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        text = stream.read().decode()
    os.waitpid(pid, 0)
    os.rmdir(root)
    release()
    _ZYGOTE.update(group=None, missing=[])
    result = Confinement(**json.loads(text)) if text else Confinement("limits", ["probe failed"])
    return result if result.level in LEVELS else Confinement("limits", result.missing)


def probe_level(slot: int = 999) -> str:
    """The isolation level a runner reaches on this machine."""
    return probe(slot).level


def isolation_label(level: str) -> str:
    """The isolation column: the level, and what this machine lacks (empty if nothing)."""
    missing = probe().missing
    return f"{level} (missing: {'; '.join(missing)})" if missing else level
