"""Grading slots and their runner uids (introduced with Lecture 01's grader).

As root, each parallel grading slot runs its runners as a uid of its own, ``FIRST_UID + slot``.
A slot is claimed with ``flock`` on a lock file in ``/tmp/camp-slots-<uid>`` (not ``$TMPDIR``:
two graders with different temporary folders must still see each other's claims, or one's
cleanup would kill the other's runners), held until ``release_slots``.
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
from pathlib import Path

FIRST_UID = 61000  # Runner uids are FIRST_UID + slot when grading as root.
SLOTS = 4000  # Runner uids FIRST_UID .. FIRST_UID + SLOTS - 1.
_CLAIMS: dict[int, int] = {}  # Slot -> descriptor of its held lock file.


def drop_to(uid: int) -> None:
    """As root, become ``uid`` (group ``uid``, no supplementary groups) for good."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def kill_uid(uid: int) -> None:
    """As root, kill every process of ``uid`` (what a runner left behind outside its namespace)."""
    if os.getuid() != 0 or uid < FIRST_UID:
        return
    pid = os.fork()
    if pid == 0:
        try:
            drop_to(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _folder() -> Path:
    top = Path("/tmp") if os.path.isdir("/tmp") else Path(tempfile.gettempdir())
    folder = top / f"camp-slots-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def claim_slots(count: int) -> list[int]:
    """Claim ``count`` grading slots no other grading process on this machine holds.

    Each slot is a lock file held with ``flock`` until ``release_slots``, so two batches (or a
    batch and a ``camp check``) never share a runner uid, and one batch's cleanup never kills
    another's runners.
    """
    folder, claimed = _folder(), []
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
