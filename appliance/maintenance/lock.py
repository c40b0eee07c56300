"""Is the box running: the lock `mooddj run` holds, and the message maintenance commands print.

The running box holds an exclusive `flock` on `<runtime_dir>/mooddj.lock` for its
whole life (`acquire_box_lock`, taken by `mooddj run`). The kernel drops the lock
when the process dies, even on SIGKILL, so a stale file never blocks maintenance.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

LOCK_NAME = "mooddj.lock"


class BoxRunningError(Exception):
    """Another mooddj box process holds the lock."""


class BoxLock:
    """The running box's lock; release it on exit (or let the process end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BoxLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_box_lock(runtime_dir: Path) -> BoxLock:
    """Take the box's lock, or raise BoxRunningError if another box holds it."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    path = runtime_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            text = path.read_text(errors="replace").strip() if path.is_file() else ""
            pid = f"pid {text}, " if text.isdigit() else ""
            raise BoxRunningError(f"another mooddj box is running ({pid}lock {path}); stop it "
                                  f"first (sudo systemctl stop mooddj, or Ctrl-C in its "
                                  f"`mooddj run`)") from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return BoxLock(path, fd)


def box_running(runtime_dir: Path) -> int | None:
    """The running box's pid (0 if running but unknown), or None if it is not running.

    The lock is the authority; a fresh status snapshot from a live process
    (`appliance.core.status`) also counts, for a box that does not take the lock.
    """
    pid = _lock_holder(runtime_dir)
    if pid is None:
        pid = _status_pid(runtime_dir)
    return pid


def _status_pid(runtime_dir: Path) -> int | None:
    try:
        from appliance.core.status import read_status, status_path
    except ImportError:
        return None
    doc = read_status(status_path(runtime_dir))
    if doc is None:
        return None
    pid = doc.get("pid")
    return pid if isinstance(pid, int) and pid != os.getpid() else (None if pid else 0)


def _lock_holder(runtime_dir: Path) -> int | None:
    path = runtime_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except PermissionError:
        return 0  # cannot tell: assume it runs, the safe answer for maintenance
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def running_message(pid: int) -> str:
    """One line saying the box runs and how to stop it."""
    who = f" (pid {pid})" if pid else ""
    return (f"the box is running{who}; stop it first (sudo systemctl stop mooddj, "
            f"or Ctrl-C in `mooddj run`), or pass --force and restart it afterwards")
