"""The runner's filesystem and identity inside its namespaces (Lecture 01's grader).

Used by ``sandbox.confine``: ``build_root`` mounts a tmpfs holding read-only binds of the folders a
runner may read, a size- and inode-limited ``/scratch`` and ``/dev/shm``, and pivots into it (the
root itself then read-only); ``own_user_namespace`` gives a runner that dropped from root a user
namespace of its own; ``forbid_namespaces`` and ``drop_capabilities`` take back what a user
namespace grants. The calls are those of bubblewrap (``unshare``, ``mount``, ``pivot_root``),
made through ``ctypes`` because they must follow a fork, not start a program.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME = 1 << 18, 1 << 21
MNT_DETACH = 2
PR_SET_DUMPABLE = 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
SCRATCH = "/scratch"  # The runner's only writable folder, inside its namespace.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt/conda")
STAT_TO_MOUNT = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME}
STAT_TO_MOUNT |= {2048: MS_NODIRATIME, 4096: MS_RELATIME}
NAMESPACE_KINDS = ("user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time")

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data))
    check(result, f"mount {target}")


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


def build_root(root: str, uid: int, scratch_mb: int, inodes: int) -> None:
    """Mount a tmpfs at ``root`` holding only the readable paths, then pivot into it."""
    tmpfs = MS_NOSUID | MS_NODEV
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", tmpfs, "size=16m,nr_inodes=4096,mode=755")
    for path in readable_paths():
        _bind(path, root)
    for device in ("null", "zero", "random", "urandom"):
        _bind(f"/dev/{device}", root)
    os.makedirs(root + "/dev/shm", exist_ok=True)
    shm = f"size=64m,nr_inodes={max(inodes // 16, 64)},mode=1777"
    _mount("tmpfs", root + "/dev/shm", "tmpfs", tmpfs, shm)
    os.makedirs(root + SCRATCH)
    options = f"size={scratch_mb}m,nr_inodes={inodes},mode=700,uid={uid},gid={uid}"
    _mount("tmpfs", root + SCRATCH, "tmpfs", tmpfs, options)
    os.makedirs(root + "/proc")
    try:  # Before the pivot: a user namespace may mount a proc only where one is visible.
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:  # A container may refuse a new proc to a user namespace: go without one.
        pass
    os.makedirs(root + "/.old_root")
    check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old_root").encode()), "pivot")
    os.chdir("/")
    check(libc.umount2(b"/.old_root", MNT_DETACH), "umount old root")
    os.rmdir("/.old_root")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | tmpfs)


def map_ids(uid: int, gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def own_user_namespace(uid: int) -> None:
    """As ``uid`` (dropped from root): enter a user namespace of its own, ``uid`` mapped to itself.

    Keyrings, ``/proc/sys/user`` limits and capabilities are then this runner's alone.
    """
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # So that /proc/self/uid_map is ours to write.
    try:
        check(libc.unshare(CLONE_NEWUSER), "unshare user namespace")
        map_ids(uid, uid)
    finally:
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def forbid_namespaces() -> str | None:
    """In the runner's user namespace: allow no new namespace of any kind below it."""
    try:
        for kind in NAMESPACE_KINDS:
            path = Path(f"/proc/sys/user/max_{kind}_namespaces")
            if path.exists():
                path.write_text("0")
    except OSError as error:
        return f"namespace limits ({error.strerror})"
    return None


def drop_capabilities() -> None:
    """Give up every capability (the user namespace grants them all) for good."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread.
    data = (ctypes.c_uint32 * 6)()
    check(libc.capset(header, data), "capset")
