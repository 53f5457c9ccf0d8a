"""Kernel-enforced limits of one runner: a control group (Lecture 01's grader, since issue 21).

Every zygote makes a group of its own (``camp-<pid>``) under the cgroup it runs in, and every
runner a child of that group (``r<pid>``), which it joins before it confines itself; whatever it
starts is counted there too. A zygote serves one student's lecture, so its group bounds that
student's public and hidden runners together, and each runner's group bounds:

- memory: everything the runner charges, anonymous memory, page cache, the tmpfs of ``/scratch``
  and ``/dev/shm``, SysV and POSIX shared memory, ``memfd`` files, and kernel memory such as the
  inodes of empty files; no swap. Going past it ends in the kernel's OOM killer, counted in the
  group, so the grader can say "memory limit" rather than "crashed";
- tasks (``pids``): processes and threads of this runner only, not of the uid;
- CPU: every group has the default weight, that of one busy thread such as a judge, so a runner
  with 64 busy processes gets the share of a classmate's runner with one, or of its judge (a
  student's group weighing as one thread per core took twice the judge's share: the classmate's
  grading ran 1.8-2.0x slower beside a storm, 1.4-1.5x at the default weight);
  ``cpu_seconds`` is what the runner's CPU-time limit counts.

cgroup v2 where a writable group hands down ``memory``, ``pids`` and ``cpu`` (root, a systemd
``Delegate=yes`` scope), else the v1 hierarchies of those (and ``cpuacct``), as on the course's CI
machines; where neither can be used, ``Cgroups.missing`` says exactly what is lacking.

Why hand-written: a runner needs a dozen file writes, v1 and v2 alike, in a fresh fork before it
drops its privileges; the cgroup libraries on PyPI cover v1 or v2 only, or talk to systemd.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")  # What a runner's group must bound.
PREFIX = "camp-"  # Groups of zygotes are named camp-<pid>.


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, root inside the hierarchy, options) of every cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            point = fields[4].replace("\\040", " ")  # mountinfo escapes spaces.
            found.append((tail[0], point, fields[3], set(tail[2].split(","))))
    return found


def _own_paths_of(pid: int | str = "self") -> tuple[dict[str, str], str | None]:
    """A process's cgroup path per v1 controller, and in the v2 hierarchy."""
    v1, v2 = {}, None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        for name in controllers.split(",") if controllers else []:
            v1[name] = path
    return v1, v2


def _write_value(path: Path, text: str) -> None:
    path.write_text(text)  # One write: cgroup files take a value per write.


def _read_field(descriptor: int, name: str) -> int:
    """The value of ``name`` in a flat-keyed cgroup file (``key value`` per line), read again."""
    for line in os.pread(descriptor, 4096, 0).decode().splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0


@dataclass
class Group:
    """One cgroup, as a directory per hierarchy (v2: one directory for every controller)."""

    dirs: dict[str, Path]  # Controller (or "cpuacct") -> directory.
    version: int
    fds: dict[str, int] = field(default_factory=dict)
    parent_oom_kills: int = 0  # The parent's count when the counters were opened.

    def child(self, name: str, hand_down: bool = False) -> Group:
        """Make (or reuse) a child group in every hierarchy.

        ``hand_down``: in v2, enable the controllers for the child's own children (then the
        child itself can hold no process).
        """
        dirs = {c: d / name for c, d in self.dirs.items()}
        for path in set(dirs.values()):
            path.mkdir(exist_ok=True)
        if self.version == 2 and hand_down:
            folder = dirs["memory"]
            wanted = set(CONTROLLERS) & set((folder / "cgroup.controllers").read_text().split())
            enable = " ".join(f"+{c}" for c in sorted(wanted))
            _write_value(folder / "cgroup.subtree_control", enable)
        return Group(dirs, self.version)

    def limit(self, memory_bytes: int, tasks: int) -> None:
        """Bound memory (no swap) and tasks; the CPU weight stays the default (see above)."""
        if "memory" in self.dirs:
            folder = self.dirs["memory"]
            if self.version == 2:
                _write_value(folder / "memory.max", str(memory_bytes))
                for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    if (folder / name).exists():
                        _write_value(folder / name, value)
            else:
                _write_value(folder / "memory.limit_in_bytes", str(memory_bytes))
                if (folder / "memory.memsw.limit_in_bytes").exists():  # Swap accounting is on.
                    _write_value(folder / "memory.memsw.limit_in_bytes", str(memory_bytes))
        if "pids" in self.dirs:
            _write_value(self.dirs["pids"] / "pids.max", str(tasks))

    def join(self) -> None:
        """Move the calling process (all its threads) into the group."""
        for path in set(self.dirs.values()):
            _write_value(path / "cgroup.procs", str(os.getpid()))

    def open_counters(self) -> None:
        """Open the CPU-time and OOM-kill counters, to read them after the filesystem is gone."""
        cpu = self.dirs.get("cpuacct", self.dirs.get("cpu", Path("/nonexistent")))
        cpu /= "cpu.stat" if self.version == 2 else "cpuacct.usage"
        if cpu.exists():
            self.fds["cpu"] = os.open(cpu, os.O_RDONLY | os.O_CLOEXEC)
        if "memory" in self.dirs:  # The parent's too: its limit (the zygote's) may come first.
            name = "memory.events" if self.version == 2 else "memory.oom_control"
            folder = self.dirs["memory"]
            self.fds["oom"] = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
            self.fds["oom_parent"] = os.open(folder.parent / name, os.O_RDONLY | os.O_CLOEXEC)
            self.parent_oom_kills = _read_field(self.fds["oom_parent"], "oom_kill")

    def close_counters(self) -> None:
        for descriptor in self.fds.values():
            os.close(descriptor)
        self.fds.clear()

    def cpu_seconds(self) -> float | None:
        """CPU time of every process the group ever held, user and system; None if unknown."""
        if "cpu" not in self.fds:
            return None
        if self.version == 2:
            return _read_field(self.fds["cpu"], "usage_usec") / 1e6
        return int(os.pread(self.fds["cpu"], 64, 0).decode().strip() or 0) / 1e9

    def oom_kills(self) -> int:
        """How many of the group's processes the OOM killer ended (at its or its parent's limit)."""
        if "oom" not in self.fds:
            return 0
        parent = _read_field(self.fds["oom_parent"], "oom_kill") - self.parent_oom_kills
        return max(_read_field(self.fds["oom"], "oom_kill"), parent)

    def pids(self) -> list[int]:
        """The processes in the group and in its children."""
        found = set()
        for top in set(self.dirs.values()):
            for folder, _, _ in os.walk(top):
                try:
                    found |= {int(p) for p in Path(folder, "cgroup.procs").read_text().split()}
                except OSError:
                    pass
        return sorted(found)

    def remove(self, timeout_s: float = 5.0) -> bool:
        """Kill whatever is left in the group (children too) and remove it; False if it stays."""
        deadline = time.monotonic() + timeout_s
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                for top in set(self.dirs.values()):
                    for folder, _, _ in os.walk(top, topdown=False):
                        try:
                            os.rmdir(folder)
                        except FileNotFoundError:
                            pass
                return True
            except OSError as error:
                if error.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                    return False
            time.sleep(0.05)


@dataclass
class Cgroups:
    """Where this process may make groups: a base group, or what is missing and why."""

    base: Group | None
    missing: list[str]


def _v2(mounts, own: str | None) -> tuple[Group | None, str]:
    mount = next((m for m in mounts if m[0] == "cgroup2"), None)
    if mount is None or own is None:
        return None, "no cgroup v2 hierarchy"
    top = Path(mount[1])
    folder = top / os.path.relpath(own, mount[2]).removeprefix(".")
    if not set(CONTROLLERS) <= set((top / "cgroup.controllers").read_text().split()):
        return None, "cgroup v2 lacks the memory, pids or cpu controller"
    # The nearest group, from ours up, that hands the controllers down and lets us make children.
    while True:
        enabled = set((folder / "cgroup.subtree_control").read_text().split())
        if set(CONTROLLERS) <= enabled and os.access(folder, os.W_OK):
            return Group(dict.fromkeys(CONTROLLERS, folder), 2), ""
        if folder == top or not folder.is_relative_to(top):
            break
        folder = folder.parent
    return None, (
        f"no writable cgroup v2 group with the {', '.join(CONTROLLERS)} controllers delegated "
        f"at or above {top / own.lstrip('/')} (systemd: run under `systemd-run --user --scope "
        "-p Delegate=yes`)"
    )


def _v1(mounts, own: dict[str, str]) -> tuple[dict[str, Path], list[str]]:
    dirs, missing = {}, []
    for controller in (*CONTROLLERS, "cpuacct"):
        mount = next((m for m in mounts if m[0] == "cgroup" and controller in m[3]), None)
        if mount is None or controller not in own:
            missing.append(f"{controller} (no cgroup v1 hierarchy)")
            continue
        relative = os.path.relpath(own[controller], mount[2])
        folder = Path(mount[1]) / ("" if relative == "." else relative)
        if not os.access(folder, os.W_OK):
            missing.append(f"{controller} ({folder} is not writable)")
            continue
        dirs[controller] = folder
    return dirs, missing


def discover() -> Cgroups:
    """Find where runner groups can be made: cgroup v2 if it has every controller, else v1."""
    if not os.path.exists("/proc/self/cgroup"):
        return Cgroups(None, ["cgroups (not Linux)"])
    try:
        mounts, (own_v1, own_v2) = _mounts(), _own_paths_of()
        base, why = _v2(mounts, own_v2)
        if base is not None:
            return Cgroups(base, [])
        dirs, missing = _v1(mounts, own_v1)
    except (OSError, ValueError) as error:
        return Cgroups(None, [f"cgroups ({error})"])
    if not dirs:
        return Cgroups(None, [f"cgroups ({why}; cgroup v1: {', '.join(missing)})"])
    return Cgroups(Group(dirs, 1), [f"cgroup v1 {item}" for item in missing])


def zygote_group(cgroups: Cgroups) -> Group | None:
    """Make the calling zygote's group; None (with the reason in ``missing``) if it fails."""
    if cgroups.base is None:
        return None
    _remove_stale(cgroups.base)
    try:
        return cgroups.base.child(f"{PREFIX}{os.getpid()}", hand_down=True)
    except OSError as error:
        cgroups.missing.append(f"cgroups (cannot make a group: {error.strerror})")
        return None


def _remove_stale(base: Group) -> None:
    """Remove the groups of zygotes that were killed before they could clean up."""
    names = set()
    for folder in set(base.dirs.values()):
        try:
            names |= {p.name for p in folder.iterdir() if p.name.startswith(PREFIX)}
        except OSError:
            pass
    for name in sorted(names):
        pid = name.removeprefix(PREFIX)
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            Group({c: d / name for c, d in base.dirs.items()}, base.version).remove(timeout_s=0)


def runner_cpu_group(pid: int) -> Group | None:
    """The group (CPU counter only) of runner ``pid``; None unless it is in a runner's own group."""
    try:
        own_v1, own_v2 = _own_paths_of(pid)
        v1 = "cpuacct" in own_v1
        kind, path = ("cgroup", own_v1["cpuacct"]) if v1 else ("cgroup2", own_v2 or "")
        mount = next(m for m in _mounts() if m[0] == kind and (not v1 or "cpuacct" in m[3]))
    except (OSError, ValueError, StopIteration):
        return None
    if not Path(path).name.startswith("r"):
        return None  # Not in a runner's own group.
    folder = Path(mount[1]) / os.path.relpath(path, mount[2])
    return Group({"cpuacct": folder}, 1 if v1 else 2)
