"""Sealed values in mooddj.db as a whole: load the key safely, verify, re-seal, rotate.

Key rotation survives a crash at any point. The order is:

1. the new key is written to `secret.key.new` (fsync'd, 0600);
2. every sealed value is re-sealed under it in ONE durable transaction;
3. the old `secret.key` is overwritten with random bytes, then `secret.key.new`
   is renamed over it (atomic), and the directory is fsync'd.

Each sealed value names the fingerprint of its key, so on the next start
`finish_pending_rotation` can tell which step a crash interrupted: values under
the new key mean step 2 committed and the rename is finished; values under the
old key mean it did not and `secret.key.new` is discarded. `mooddj restore`
installs a backup's key through the same `secret.key.new` door.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from appliance.core.crypto import (
    KEY_BYTES,
    KeyFileError,
    SealedColumn,
    Sealer,
    SealError,
    create_key,
    key_fingerprint,
    read_key,
    sealed_key_version,
    write_key,
)
from appliance.core.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SealedValue:
    """One sealed cell: where it is and what binds it (never printed with its value)."""

    column: SealedColumn
    rowid: int
    binding: dict[str, str]
    value: str


def pending_key_path(key_path: Path) -> Path:
    """Where a rotation or restore stages the next key."""
    return key_path.with_name(key_path.name + ".new")


def _has_column(db: Database, table: str, column: str) -> bool:
    return db[table].exists() and column in db[table].columns_dict


def iter_sealed(db: Database, columns: Sequence[SealedColumn]) -> Iterator[SealedValue]:
    """Every non-empty value of `columns` (the packages' sealed columns: `Store.sealed`)."""
    for col in columns:
        if not _has_column(db, col.table, col.column):
            continue
        # Identifiers come from the code's registry and exist in the schema (checked above).
        sql = (f"SELECT rowid AS _rowid, * FROM [{col.table}] "  # noqa: S608
               f"WHERE [{col.column}] IS NOT NULL AND [{col.column}] != ''")
        for row in db.query(sql):
            yield SealedValue(col, int(row["_rowid"]), col.binding(row), str(row[col.column]))


def count_sealed(db: Database, columns: Sequence[SealedColumn]) -> int:
    """How many sealed values the database holds."""
    return sum(1 for _ in iter_sealed(db, columns))


def key_versions(db: Database, columns: Sequence[SealedColumn]) -> set[str]:
    """Fingerprints of the keys the stored values were sealed with."""
    return {sealed_key_version(v.value) or "?" for v in iter_sealed(db, columns)}


def verify_sealed(db: Database, sealer: Sealer, columns: Sequence[SealedColumn]) -> list[str]:
    """One line per sealed value that does not open (the lines name records, not secrets)."""
    problems = []
    for v in iter_sealed(db, columns):
        try:
            sealer.open(v.value, **v.binding)
        except SealError as err:
            problems.append(f"{v.column.table}.{v.column.column}: {err}")
    return problems


def reseal_all(db: Database, old: Sealer, new: Sealer, columns: Sequence[SealedColumn]) -> int:
    """Re-seal every value from `old` to `new` (call inside one transaction)."""
    count = 0
    for v in list(iter_sealed(db, columns)):
        plain = old.open(v.value, **v.binding)
        db.execute(f"UPDATE [{v.column.table}] SET [{v.column.column}] = ? "  # noqa: S608
                   f"WHERE rowid = ?",
                   [new.seal(plain, **v.binding), v.rowid])
        count += 1
    return count


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _shred(path: Path) -> None:
    """Overwrite a key file in place before it is replaced (best effort on flash)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)


def install_pending_key(key_path: Path) -> None:
    """Make `secret.key.new` the key: shred the old file, rename, fsync the directory."""
    pending = pending_key_path(key_path)
    if key_path.exists():
        _shred(key_path)
    os.replace(pending, key_path)
    fsync_dir(key_path.parent)


def finish_pending_rotation(db: Database, key_path: Path,
                            columns: Sequence[SealedColumn]) -> str | None:
    """Finish or undo a rotation/restore a crash interrupted.

    Returns None (nothing pending), "finished" (the staged key is now the key) or
    "discarded" (the staged key never got used and was removed).
    """
    pending = pending_key_path(key_path)
    if not pending.exists():
        return None
    new_fp = key_fingerprint(read_key(pending))
    versions = key_versions(db, columns)
    old_fp = key_fingerprint(read_key(key_path)) if _key_ok(key_path) else None
    if not versions or versions == {new_fp}:
        install_pending_key(key_path)
        logger.warning("finished an interrupted key rotation: %s now holds the new key",
                       key_path)
        return "finished"
    if old_fp is not None and versions == {old_fp}:
        pending.unlink()
        logger.warning("discarded %s: the interrupted rotation never committed", pending)
        return "discarded"
    raise KeyFileError(
        f"neither {key_path} nor {pending} opens every sealed value in the database "
        f"(key ids found: {', '.join(sorted(versions))}); restore a backup with "
        f"`mooddj restore` or erase the links with `mooddj factory-reset`")


def _key_ok(path: Path) -> bool:
    try:
        read_key(path)
    except KeyFileError:
        return False
    return True


def load_sealer(store: Store, key_path: Path, *, create: bool = True) -> Sealer:
    """The box's Sealer: finishes an interrupted rotation, and never creates a new key
    while sealed values exist (that would silently orphan the tokens)."""
    store.write_sync(lambda db: finish_pending_rotation(db, key_path, store.sealed))
    if key_path.exists() or not create:
        return Sealer.from_file(key_path)
    count = store.read_sync(lambda db: count_sealed(db, store.sealed))
    if count:
        raise KeyFileError(
            f"key file {key_path} is missing but the database holds {count} sealed "
            f"token(s); restore the key with `mooddj restore BACKUP`, or re-link the "
            f"accounts after `mooddj factory-reset`")
    return Sealer(create_key(key_path))


@dataclass(frozen=True)
class RotationResult:
    """What a rotation did (fingerprints are public key ids, not keys)."""

    resealed: int
    old_fingerprint: str
    new_fingerprint: str


def rotate_key_sync(store: Store, key_path: Path, sealer: Sealer | None = None
                    ) -> RotationResult:
    """Re-seal every value under a fresh key and replace the key file (crash-safe)."""
    store.write_sync(lambda db: finish_pending_rotation(db, key_path, store.sealed))
    old_key = read_key(key_path)
    old = Sealer(old_key)
    new_key = os.urandom(KEY_BYTES)
    new = Sealer(new_key)
    pending = pending_key_path(key_path)
    write_key(pending, new_key)
    try:
        count = store.write_sync(lambda db: reseal_all(db, old, new, store.sealed),
                                 durable=True)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    install_pending_key(key_path)
    if sealer is not None:
        sealer.rekey(new_key)
    logger.info("key rotated: %d sealed value(s) re-sealed, key id %s -> %s",
                count, old.version, new.version)
    return RotationResult(count, old.version, new.version)


async def rotate_key(store: Store, key_path: Path, sealer: Sealer | None = None
                     ) -> RotationResult:
    """`rotate_key_sync` off the event loop; `sealer` (the box's) switches to the new key."""
    return await asyncio.to_thread(rotate_key_sync, store, key_path, sealer)


def describe_sealed(value: Any) -> str:
    """How a sealed cell is shown to people: its size, never its content."""
    if value is None or value == "":
        return "<none>"
    return f"sealed ({len(str(value))} bytes)"
