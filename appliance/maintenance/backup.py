"""`mooddj backup PATH`: an online, consistent backup of the database and the key.

Format (version 2): one gzip-compressed tar file, mode 0600, holding `manifest.json`,
`mooddj.db` and `secret.key`, and `config.toml` and `calibration.json` when the box has
them (version 1, still restored, had neither). PATH is either a file name (the
suffix `.mooddj` is suggested; an existing file is never overwritten) or an
existing directory, in which `mooddj-backup-<UTC stamp>.mooddj` is created.
The manifest records the format, the mooddj version, the creation time, the
key's public fingerprint, the database's SHA-256, the number of sealed values
and the applied migrations. The file holds the key: keep it as safe as the box.

The database is copied with SQLite's online backup API, so the box can keep
running; the copy is checked (quick_check, every sealed value opens with the
key) before the file is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT = "mooddj-backup"
FORMAT_VERSION = 2
# Versions `mooddj restore` reads (1: without the config and the calibration).
READABLE_VERSIONS = (1, 2)
SUFFIX = ".mooddj"
MEMBERS = ("manifest.json", "mooddj.db", "secret.key")
# Put in when present: the box's config file and its neutral-face calibration.
OPTIONAL_MEMBERS = ("config.toml", "calibration.json")


class BackupError(Exception):
    """The backup cannot be made or read; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """Where the backup went and what it holds."""

    path: Path
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_database(src: Path, dst: Path) -> None:
    """Consistent copy of a live database with the SQLite backup API (single file)."""
    if not src.exists():
        raise BackupError(f"database {src} does not exist; nothing to back up yet")
    source = sqlite3.connect(str(src), timeout=5)
    try:
        source.execute("PRAGMA busy_timeout = 5000")
        target = sqlite3.connect(str(dst))
        try:
            source.backup(target)
            # The copy must stand alone: no -wal beside it inside the archive.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    except sqlite3.DatabaseError as err:
        raise BackupError(f"database {src} cannot be read: {err}; run `mooddj doctor`") from None
    finally:
        source.close()


def check_database(db_path: Path, key: bytes) -> dict[str, Any]:
    """Check a database file against a key: integrity, schema, every sealed value opens.

    Returns facts for the manifest; raises BackupError naming the first problem.
    """
    from sqlite_utils import Database

    from appliance.core.crypto import Sealer
    from appliance.core.schema import applied_names, migration_state
    from appliance.core.secrets_store import count_sealed, verify_sealed
    from appliance.core.store import StoreError, quick_check
    from appliance.schema import SEALED, TABLES

    try:
        reason = quick_check(db_path)
    except StoreError as err:
        raise BackupError(str(err)) from None
    if reason:
        raise BackupError(f"the database in the backup is damaged ({reason})")
    conn = sqlite3.connect(str(db_path))
    try:
        db = Database(conn)
        _pending, unknown = migration_state(db, TABLES)
        if unknown:
            raise BackupError(f"the database was written by a newer mooddj (migrations "
                              f"{', '.join(unknown)}); upgrade mooddj first")
        problems = verify_sealed(db, Sealer(key), SEALED)
        if problems:
            raise BackupError(f"the key does not open {len(problems)} sealed value(s) "
                              f"({problems[0]})")
        return {"sealed_values": count_sealed(db, SEALED),
                "migrations": applied_names(db, TABLES)}
    finally:
        conn.close()


def _target_path(path: Path, now: float) -> Path:
    if path.is_dir():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return path / f"mooddj-backup-{stamp}{SUFFIX}"
    if path.exists():
        raise BackupError(f"{path} already exists; choose a new file name or a directory")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist; create it first")
    return path


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


def make_backup(db_path: Path, key_path: Path, dest: Path, *,
                config_path: Path | None = None, calibration_path: Path | None = None
                ) -> BackupResult:
    """Write a backup of the database, the key (and config, calibration) to `dest`."""
    from appliance.core.crypto import KeyFileError, key_fingerprint, read_key
    from appliance.core.secrets_store import pending_key_path
    from appliance.maintenance.version import installed

    if pending_key_path(key_path).exists():
        raise BackupError(f"a key rotation is unfinished ({pending_key_path(key_path)} "
                          f"exists); start the box once or run `mooddj rotate-key` first")
    try:
        key = read_key(key_path)
    except KeyFileError as err:
        raise BackupError(str(err)) from None
    extras: dict[str, bytes] = {}
    for name, path in (("config.toml", config_path), ("calibration.json", calibration_path)):
        if path is not None and path.is_file():
            extras[name] = path.read_bytes()
    now = time.time()
    target = _target_path(dest, now)
    with tempfile.TemporaryDirectory(prefix="mooddj-backup-") as tmp:
        copy = Path(tmp) / "mooddj.db"
        copy_database(db_path, copy)
        facts = check_database(copy, key)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "mooddj_version": installed().name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "created_at": now,
            "key_fingerprint": key_fingerprint(key),
            "database_sha256": _sha256(copy),
            "database_bytes": copy.stat().st_size,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in extras.items()},
            **facts,
        }
        partial = target.with_name(f".{target.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, "manifest.json",
                           json.dumps(manifest, indent=2).encode() + b"\n", now)
                info = tar.gettarinfo(str(copy), arcname="mooddj.db")
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with copy.open("rb") as fh:
                    tar.addfile(info, fh)
                _add_bytes(tar, "secret.key", key, now)
                for name, data in extras.items():
                    _add_bytes(tar, name, data, now)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    logger.info("backup written to %s (%d sealed values)", target, manifest["sealed_values"])
    return BackupResult(target, manifest)
