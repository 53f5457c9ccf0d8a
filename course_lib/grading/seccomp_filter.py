"""The system calls a runner may not make: a seccomp filter (Lecture 01's grader, since issue 21).

Installed last by ``sandbox.confine``, after the runner has dropped every privilege and just
before student code runs; it holds for the runner and everything it starts, and cannot be
lifted. Everything not listed is allowed (TensorFlow and numpy need a broad set of calls); what
is listed is what no lecture needs and what an attack on the grader or a classmate would use:

- kernel keyrings (``keyctl``, ``add_key``, ``request_key``): a channel between runners of one uid;
- other processes' memory (``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``,
  ``kcmp``);
- new namespaces (``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*`` flag; ``clone3``
  answers "not implemented", so the C library falls back to ``clone``, which can be checked): a
  user namespace would let a runner mount a tmpfs of its own;
- mounts of any kind (``mount``, ``umount2``, ``pivot_root``, ``chroot``, the new mount API);
- ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*`` (which would bypass this filter),
  file handles (``open_by_handle_at``), modules, ``kexec``, ``reboot``, swap, ``acct``, ``syslog``,
  ``iopl``/``ioperm``, ``quotactl``;
- sockets other than ``AF_UNIX``, ``AF_INET``, ``AF_INET6`` (the network namespace has only a
  loopback) and ``AF_NETLINK`` with ``NETLINK_ROUTE`` (interface listings): no ``AF_VSOCK`` to
  the host, no ``AF_PACKET``, ``AF_ALG``, Bluetooth, ...

A call of another architecture (``int 0x80`` on x86-64, the x32 ABI) kills the process.

The binding: ``pyseccomp``, a ctypes interface to the system's ``libseccomp.so.2`` (the library
Docker, systemd and Chromium use, kept up to date by the distribution), with the same API as
libseccomp's own Python bindings, which it uses instead where they are installed. Those are a
Cython module built for the distribution's Python (Debian's ``python3-seccomp``), so a virtual
environment of another Python cannot import them; pyseccomp installs from PyPI on any Python.
"""

from __future__ import annotations

import errno
import socket

try:
    import seccomp as _binding  # libseccomp's own bindings, where installed.
except ImportError:
    try:
        import pyseccomp as _binding
    except (ImportError, OSError, AttributeError):  # No libseccomp.so.2 (macOS, a slim image).
        _binding = None

DENIED = (
    "keyctl add_key request_key ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp "
    "unshare setns mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount "
    "fspick mount_setattr bpf perf_event_open userfaultfd io_uring_setup io_uring_enter "
    "io_uring_register name_to_handle_at open_by_handle_at init_module finit_module "
    "delete_module kexec_load kexec_file_load reboot swapon swapoff acct syslog iopl ioperm "
    "quotactl quotactl_fd lookup_dcookie fanotify_init vhangup"
).split()
CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000)
CLONE_NAMESPACES += (0x40000000,)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, 16)  # 16: AF_NETLINK.
NETLINK_ROUTE = 0
FAMILIES = 64  # Address families are below this; anything at or above it is refused too.


def available() -> str | None:
    """None if a filter can be built here, else why not."""
    return None if _binding is not None else "no libseccomp.so.2 or Python binding for it"


def build():
    """The runner's filter (not loaded yet)."""
    s = _binding
    flt = s.SyscallFilter(defaction=s.ALLOW)
    for name in DENIED:
        try:
            flt.add_rule(s.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):  # A call this kernel or libseccomp lacks.
            pass
    flt.add_rule(s.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NAMESPACES:
        flt.add_rule(s.ERRNO(errno.EPERM), "clone", s.Arg(0, s.MASKED_EQ, flag, flag))
    refused = s.ERRNO(errno.EAFNOSUPPORT)
    for family in range(FAMILIES):
        if family not in ALLOWED_FAMILIES:
            flt.add_rule(refused, "socket", s.Arg(0, s.EQ, family))
        if family != socket.AF_UNIX:
            flt.add_rule(refused, "socketpair", s.Arg(0, s.EQ, family))
    for call in ("socket", "socketpair"):
        flt.add_rule(refused, call, s.Arg(0, s.GE, FAMILIES))
    flt.add_rule(refused, "socket", s.Arg(0, s.EQ, 16), s.Arg(2, s.NE, NETLINK_ROUTE))
    return flt


def install() -> str | None:
    """Load the filter into the calling process; None on success, else why it could not."""
    if _binding is None:
        return available()
    try:
        build().load()
    except (OSError, ValueError, RuntimeError) as error:
        return f"the kernel refused the filter ({error})"
    return None
