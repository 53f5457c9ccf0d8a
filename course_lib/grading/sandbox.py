"""Confine the process that runs student code (introduced with Lecture 01's grader).

``confine`` is called in a freshly forked, single-threaded child. On Linux it puts the child in new
mount, network, PID, IPC and UTS namespaces and forks again, so that student code runs as PID 1 of
its own namespace: when it ends, everything it started ends with it, daemons included. That
process sees a filesystem made of read-only binds of the system folders, the Python installation,
the virtual environment and ``course_lib``, plus an empty writable ``/scratch`` (a size-limited
tmpfs); nothing else of the host (other students, the gradebook, hidden tests, the instructor's
home, ``solutions/``) exists there. As root it then drops to an unprivileged uid of its own (one per
grading slot, so runners cannot signal each other); as an ordinary user it does the same inside a
user namespace. Resource limits (address space, processes, file size, no core dumps) apply in
every case.

Why not bubblewrap: a runner is forked from a warm process that has imported TensorFlow, and the
namespaces must be entered after that fork; ``bwrap`` can only start a new program. The calls here
are the same ones it makes (``unshare``, ``mount``, ``pivot_root``), through ``ctypes``.

Isolation levels, recorded with every grade: ``namespaces`` (all of the above), ``uid`` (root
without namespaces: a separate uid and limits only), ``limits`` (resource limits only: a student's
own machine without namespaces, e.g. macOS).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = (
    1024,
    2048,
    4096,
    16384,
    1 << 18,
    1 << 21,
)
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
LEVELS = ("limits", "uid", "namespaces")  # Isolation levels, weakest first.
FIRST_UID = 61000  # Runner uids are FIRST_UID + slot when grading as root.
SCRATCH = "/scratch"  # The runner's only writable folder, inside its namespace.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt/conda")
STAT_TO_MOUNT = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME}
STAT_TO_MOUNT |= {2048: MS_NODIRATIME, 4096: MS_RELATIME}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one runner."""

    memory_mb: int = 6144  # Address space (RLIMIT_AS); TensorFlow alone maps about 3 GB.
    processes: int = 512  # Threads and processes of the runner's uid (RLIMIT_NPROC).
    file_mb: int = 256  # Largest file the runner may write (RLIMIT_FSIZE).
    scratch_mb: int = 512  # Size of the writable /scratch tmpfs.


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data))
    _check(result, f"mount {target}")


def readable_paths() -> list[str]:
    """The host folders a runner may read: system, Python, the venv's packages, course_lib."""
    import course_lib

    paths = [p for p in SYSTEM_DIRS if os.path.lexists(p)]
    paths += [sys.base_prefix, sys.prefix, sys.exec_prefix]
    paths += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    paths.append(str(Path(course_lib.__file__).resolve().parent))
    unique = []
    for path in sorted({os.path.abspath(p) for p in paths if os.path.exists(p)}):
        if not any(path.startswith(kept.rstrip("/") + "/") for kept in unique):
            unique.append(path)
    return unique


def _bind(path: str, root: str) -> None:
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
    _mount(path, target, None, MS_BIND | MS_REC)
    locked = os.statvfs(path).f_flag
    flags = sum(m for s, m in STAT_TO_MOUNT.items() if locked & s) | MS_RDONLY | MS_NOSUID
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def _build_root(root: str, uid: int, scratch_mb: int) -> None:
    """Mount a tmpfs at ``root`` holding only the readable paths, then pivot into it."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    for path in readable_paths():
        _bind(path, root)
    for device in ("null", "zero", "random", "urandom"):
        _bind(f"/dev/{device}", root)
    os.makedirs(root + "/dev/shm", exist_ok=True)
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    os.makedirs(root + SCRATCH)
    options = f"size={scratch_mb}m,mode=700,uid={uid},gid={uid}"
    _mount("tmpfs", root + SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, options)
    os.makedirs(root + "/proc")
    os.makedirs(root + "/.old_root")
    _check(_libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old_root").encode()), "pivot")
    os.chdir("/")
    _check(_libc.umount2(b"/.old_root", MNT_DETACH), "umount old root")
    os.rmdir("/.old_root")
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:  # A container may refuse a new proc to a user namespace: go without one.
        pass


def _enter_namespaces(root: str, uid: int, scratch_mb: int) -> None:
    """Unshare, fork into the new PID namespace, and build the filesystem there.

    Returns only in the grandchild (PID 1 of the namespace); the middle process waits for it and
    exits with its status, and is what the judge kills to end the runner.
    """
    user, group = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if user != 0:
        flags |= CLONE_NEWUSER
    _check(_libc.unshare(flags), "unshare")
    if user != 0:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {user} 1")
        Path("/proc/self/gid_map").write_text(f"0 {group} 1")
    child = os.fork()
    if child:
        die_with_parent()
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # The judge must see EOF when PID 1 ends.
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    _build_root(root, uid if user == 0 else 0, scratch_mb)


def die_with_parent() -> None:
    """Get SIGKILL when the parent ends, so a killed judge takes its zygote and runners along."""
    if sys.platform == "linux":
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # The parent ended before the request took effect.
            os._exit(1)


def _set_limits(limits: Limits, dropped: bool) -> None:
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = limits.file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    if dropped:  # RLIMIT_NPROC counts every process of the uid: only for a uid of its own.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def _drop_to(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def confine(root: str, slot: int, limits: Limits) -> str:
    """Confine the calling process (a fresh fork); return the isolation level reached.

    Args:
        root: an empty host folder to mount the runner's filesystem on.
        slot: the grading slot; as root, the runner runs as uid ``FIRST_UID + slot``.
        limits: the resource limits.
    """
    uid, host_root = FIRST_UID + slot, os.getuid() == 0
    level = "limits"
    if sys.platform == "linux" and SYS_PIVOT_ROOT is not None:
        try:
            _enter_namespaces(root, uid, limits.scratch_mb)
            level = "namespaces"
        except OSError:
            level = "limits"
    if host_root:
        _drop_to(uid)
        level = "namespaces" if level == "namespaces" else "uid"
    if sys.platform == "linux":
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _set_limits(limits, dropped=host_root)
    return level


def kill_uid(uid: int) -> None:
    """As root, kill every process of ``uid`` (what a runner left behind outside its namespace)."""
    if os.getuid() != 0 or uid < FIRST_UID:
        return
    pid = os.fork()
    if pid == 0:
        try:
            _drop_to(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def probe_level(slot: int = 999) -> str:
    """The isolation level a runner reaches on this machine (forks a child that confines)."""
    import tempfile

    root = tempfile.mkdtemp(prefix="camp-probe-")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            level = confine(root, slot, Limits())
            os.write(write_end, level.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        level = stream.read().decode() or "limits"
    os.waitpid(pid, 0)
    os.rmdir(root)
    return level if level in LEVELS else "limits"


_CLAIMS: dict[int, int] = {}  # Slot -> descriptor of its held lock file.
SLOTS = 4000  # Runner uids FIRST_UID .. FIRST_UID + SLOTS - 1.


def claim_slots(count: int) -> list[int]:
    """Claim ``count`` grading slots no other grading process on this machine holds.

    Each slot is a lock file held with ``flock`` until ``release_slots``, so two batches (or a
    batch and a ``camp check``) never share a runner uid, and one batch's cleanup never kills
    another's runners.
    """
    import fcntl
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"camp-slots-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    claimed = []
    for slot in range(SLOTS):
        if len(claimed) == count:
            break
        if slot in _CLAIMS:
            continue
        descriptor = os.open(folder / f"{slot}.lock", os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue
        _CLAIMS[slot] = descriptor
        claimed.append(slot)
    if len(claimed) < count:
        release_slots(claimed)
        raise RuntimeError(f"Only {len(claimed)} of {count} grading slots are free.")
    return claimed


def release_slots(slots: list[int]) -> None:
    """Give claimed slots back."""
    for slot in slots:
        descriptor = _CLAIMS.pop(slot, None)
        if descriptor is not None:
            os.close(descriptor)
