"""mooddj.db: SQLite through sqlite-utils, WAL, one writer thread, one reader thread.

Every write goes through `write(fn)`: `fn(db)` runs on the single writer
thread inside one transaction (`db.atomic()`), so the event loop never blocks
on SQLite and writers never contend. `durable=True` (credentials) commits with
`synchronous=FULL`; everything else uses `NORMAL`, which in WAL mode can lose
the last commits on power loss but never corrupts the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlite_utils import Database

from appliance.core import schema
from appliance.core.crypto import SealedColumn
from appliance.core.schema import Tables

logger = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The database cannot be used; the message says what to do."""


@dataclass(frozen=True)
class OpenReport:
    """What happened when the store opened (shown by the supervisor and `doctor`)."""

    path: str
    created: bool
    moved_aside: tuple[str, ...] = ()
    reason: str = ""


def _connect(path: Path | None) -> sqlite3.Connection:
    conn = sqlite3.connect(
        ":memory:" if path is None else str(path),
        check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted rows (sessions, erased accounts) are zeroed, not left in free pages.
    conn.execute("PRAGMA secure_delete = ON")
    if path is not None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


# SQLite result codes that mean "this file is damaged", as opposed to "busy",
# "no permission" or "disk full", which are never a reason to move a file aside.
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def quick_check(path: Path) -> str:
    """'' if the file passes `PRAGMA quick_check`, else why it is damaged.

    Raises StoreError when the file cannot be checked for a reason that is not
    damage (locked, unreadable, disk full): such a file must never be moved aside.
    """
    try:
        # Read-only: checking must never change the file, nor drop a -wal beside a damaged
        # one (a read-write connection deletes it on close).
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        code = (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in _CORRUPT_CODES:
            return f"cannot be opened: {err}"
        raise StoreError(f"database {path} cannot be checked: {err}; check its owner, "
                         f"permissions and free disk space, then try again") from None
    result = [r[0] for r in rows]
    return "" if result == ["ok"] else "quick_check failed: " + "; ".join(map(str, result[:3]))




def move_aside(path: Path, reason: str) -> tuple[str, ...]:
    """Rename a damaged database and its -wal/-shm to `*.corrupt-<timestamp>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base, n = stamp, 1
    while any(Path(f"{path}.corrupt-{stamp}{s}").exists() for s in ("", "-wal", "-shm")):
        n += 1  # never replace an earlier moved-aside file
        stamp = f"{base}-{n}"
    moved = []
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            dst = Path(f"{path}.corrupt-{stamp}{suffix}")
            os.replace(src, dst)
            moved.append(str(dst))
    logger.error("database %s %s; moved aside as %s and starting fresh", path, reason,
                 ", ".join(moved))
    return tuple(moved)


class Store:
    """The box's database. Use `Store.open(path, tables)`; `path=None` is an in-memory store."""

    def __init__(self, path: Path | None, report: OpenReport,
                 tables: Sequence[Tables] = (schema.TABLES,)) -> None:
        self.path = path
        self.report = report
        self.tables = tuple(tables)
        self._wconn = _connect(path)
        # An in-memory database exists once per connection: readers share the writer's.
        self._rconn = self._wconn if path is None else _connect(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-reader")
        self._wdb = Database(self._wconn)
        self._rdb = Database(self._rconn)
        self._lock = threading.Lock() if path is None else None
        self._closed = False
        self._run_write(lambda db: schema.apply(db, self.tables))

    @property
    def sealed(self) -> tuple[SealedColumn, ...]:
        """The sealed columns of this store's tables."""
        return tuple(c for t in self.tables for c in t.sealed)

    @classmethod
    def open(cls, path: Path | str | None,
             tables: Sequence[Tables] = (schema.TABLES,)) -> Store:
        """Open (creating or repairing) the database at `path`; bring `tables` up to date.

        `tables` are the packages' sets in the order they are applied (the box's:
        `appliance.schema.TABLES`); core's own table is always first.
        """
        if schema.TABLES not in tables:
            tables = (schema.TABLES, *tables)
        if path is None:
            return cls(None, OpenReport(path=":memory:", created=True), tables)
        p = Path(path)
        try:
            p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            if p.parent.is_file():
                raise StoreError(f"state directory {p.parent} cannot be created: it is a file; "
                                 f"move it away or choose another state dir") from None
            raise StoreError(f"state directory {p.parent} cannot be created: {err.strerror}; "
                             f"create it and make it writable by this user") from None
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise StoreError(f"state directory {p.parent} is not writable by this user; "
                             f"fix its owner or permissions (systemd: StateDirectory=mooddj)")
        if p.exists() and not os.access(p, os.R_OK | os.W_OK):
            raise StoreError(f"database {p} is not readable and writable by this user; "
                             f"fix its owner (chown mooddj:mooddj) or run as the mooddj user")
        moved: tuple[str, ...] = ()
        reason = ""
        created = not p.exists()
        if not created:
            reason = quick_check(p)
            if reason:
                moved = move_aside(p, reason)
                created = True
        try:
            store = cls(p, OpenReport(str(p), created, moved, reason), tables)
        except sqlite3.DatabaseError as err:
            # Passed quick_check but is not usable (e.g. a schema from the future).
            raise StoreError(f"database {p} cannot be used: {err}; "
                             f"restore a backup (mooddj restore) or move it aside") from None
        return store

    # -- running work on the right thread ---------------------------------

    def _transaction(self, fn: Callable[[Database], T], durable: bool) -> T:
        if durable and self.path is not None:
            self._wconn.execute("PRAGMA synchronous = FULL")
        try:
            # IMMEDIATE takes the write lock up front (waiting up to busy_timeout): a
            # deferred transaction that reads first and then writes fails at once with
            # "database is locked" when another process (a CLI command) wrote meanwhile.
            self._wconn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._wdb)  # sqlite-utils' atomic() nests as savepoints
            except BaseException:
                if self._wconn.in_transaction:
                    self._wconn.execute("ROLLBACK")
                raise
            if self._wconn.in_transaction:
                self._wconn.execute("COMMIT")
            return result
        finally:
            if durable and self.path is not None:
                self._wconn.execute("PRAGMA synchronous = NORMAL")

    def _run_write(self, fn: Callable[[Database], T], durable: bool = False) -> T:
        return self._writer.submit(self._transaction, fn, durable).result()

    def _read(self, fn: Callable[[Database], T]) -> T:
        if self._lock is not None:  # memory store: reader shares the writer's connection
            return self._writer.submit(fn, self._rdb).result()
        return fn(self._rdb)

    async def write(self, fn: Callable[[Database], T], *, durable: bool = False) -> T:
        """Run `fn(db)` in one transaction on the writer thread."""
        self._ensure_open()
        fut: Future[T] = self._writer.submit(self._transaction, fn, durable)
        return await asyncio.wrap_future(fut)

    async def read(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` on the reader thread (sees every committed write)."""
        self._ensure_open()
        executor = self._writer if self._lock is not None else self._reader
        return await asyncio.wrap_future(executor.submit(fn, self._rdb))

    def write_sync(self, fn: Callable[[Database], T], *, durable: bool = False) -> T:
        """`write` for code outside the event loop (CLI, worker threads)."""
        self._ensure_open()
        return self._run_write(fn, durable)

    def read_sync(self, fn: Callable[[Database], T]) -> T:
        """`read` for code outside the event loop (CLI, worker threads)."""
        self._ensure_open()
        if self._lock is not None:
            return self._writer.submit(fn, self._rdb).result()
        return self._reader.submit(fn, self._rdb).result()

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def checkpoint_sync(self) -> None:
        """Copy the WAL into the main file and truncate it (after erasing personal data)."""
        self._ensure_open()
        if self.path is not None:
            self._writer.submit(
                lambda: self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            ).result()

    def close(self) -> None:
        """Finish queued writes, checkpoint the WAL and close."""
        if self._closed:
            return
        self._closed = True
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        with contextlib.suppress(sqlite3.Error):
            if self.path is not None:
                self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for conn in {id(self._wconn): self._wconn, id(self._rconn): self._rconn}.values():
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def size_bytes(self) -> int:
        if self.path is None:
            return 0
        return sum(Path(f"{self.path}{s}").stat().st_size
                   for s in ("", "-wal") if Path(f"{self.path}{s}").exists())


def open_readonly(path: Path) -> Database:
    """A read-only view of the database file for inspection (never creates or repairs)."""
    if not path.exists():
        raise StoreError(f"database {path} does not exist yet; start the box once "
                         f"(systemctl start mooddj) or check paths.database in the config")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return Database(conn)
