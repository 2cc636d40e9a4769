"""Which sandbox uid a kernel runs as (sandbox.UID_BASE + its slot). Kernels that run at the
same time on one machine never share a slot: a batch's jobs, the reference's run beside them, a
second batch in this process, or another grader (an instructor's two batches, a student's check
beside them, pytest-xdist's workers). A slot is held in this process (a set) and, across
processes, by an exclusive lock on a file of its own, which the kernel never sees and which is
given back when the process ends, however it ends."""
from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

COUNT = 1000                    # uids UID_BASE .. UID_BASE + COUNT - 1
_lock = threading.Lock()
_held: dict[int, int] = {}      # slot -> its lock file's descriptor (-1: this process only)


def folder(where: Path | None = None) -> Path:
    """Where the lock files are: `where`, else $GRADER_SLOTS, else a folder in the system's
    temporary one, shared by every user's graders (sticky and world-writable, as /tmp is)."""
    d = Path(where or os.environ.get("GRADER_SLOTS") or Path(tempfile.gettempdir()) / "grader-slots")
    try:
        d.mkdir(parents=True, exist_ok=True)
        if d.stat().st_uid == os.getuid():
            d.chmod(0o1777)
    except OSError:
        pass
    return d


def _try(k: int, where: Path) -> int | None:
    """The slot's lock (its descriptor), None when another process holds it; -1 when no lock
    file can be made here (then slots are this process's only)."""
    try:
        fd = os.open(where / f"slot-{k}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def take(n: int = 1, where: Path | None = None) -> list[int]:
    """n free slots, held until given back (`where`: another folder of locks than the machine's)."""
    got: list[int] = []
    where = folder(where)
    with _lock:
        for k in range(COUNT):
            if len(got) == n:
                break
            if k in _held:
                continue
            fd = _try(k, where)
            if fd is not None:
                _held[k] = fd
                got.append(k)
    if len(got) < n:
        give(got)
        raise RuntimeError(f"no free sandbox slot: {COUNT} kernels already run on this machine")
    return got


def give(slots) -> None:
    with _lock:
        for k in slots:
            fd = _held.pop(k, None)
            if fd is not None and fd >= 0:
                os.close(fd)                # closing the descriptor lets the lock go


def held() -> set[int]:
    with _lock:
        return set(_held)


@contextmanager
def lease(n: int = 1):
    s = take(n)
    try:
        yield s
    finally:
        give(s)
