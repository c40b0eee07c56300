"""`mooddj restore PATH`: put back a backup made by `mooddj backup`.

Refuses a backup whose key does not match its manifest or does not open its
sealed values, a damaged database, a backup from a newer mooddj, and (without
`--force`) a running box. The current database is kept as
`mooddj.db.pre-restore-<stamp>` (with its -wal/-shm) and the current key as
`secret.key.pre-restore-<stamp>`. The backup's key goes in through
`secret.key.new`, so a crash halfway is finished or undone at the next start
(see `appliance.core.secrets_store`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.secrets_store import fsync_dir
from appliance.maintenance.backup import (
    FORMAT,
    MEMBERS,
    OPTIONAL_MEMBERS,
    READABLE_VERSIONS,
    BackupError,
)

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = {"manifest.json": 1 << 16, "secret.key": 64, "mooddj.db": 4 << 30,
                    "config.toml": 1 << 20, "calibration.json": 1 << 20}


@dataclass(frozen=True)
class RestoreResult:
    """What the restore put in place and what it kept."""

    manifest: dict[str, Any]
    kept: tuple[str, ...]
    # What happened to the backup's config and calibration, one line each for a person.
    notes: tuple[str, ...] = ()


def _extract(archive: Path, into: Path) -> dict[str, Path]:
    """Extract exactly the expected members as plain files (no paths, no links)."""
    try:
        tar = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed by `with tar` below)
    except FileNotFoundError:
        raise BackupError(f"backup {archive} does not exist") from None
    except (tarfile.TarError, OSError) as err:
        raise BackupError(f"{archive} is not a mooddj backup ({err})") from None
    out: dict[str, Path] = {}
    with tar:
        for member in tar:
            if member.name not in (*MEMBERS, *OPTIONAL_MEMBERS) or not member.isreg():
                raise BackupError(f"{archive} holds an unexpected entry {member.name!r}; "
                                  f"it is not a mooddj backup")
            if member.size > MAX_MEMBER_BYTES[member.name]:
                raise BackupError(f"{member.name} in {archive} is too large to be genuine")
            src = tar.extractfile(member)
            if src is None:
                raise BackupError(f"{member.name} in {archive} cannot be read")
            dst = into / member.name
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                shutil.copyfileobj(src, fh)
                fh.flush()
                os.fsync(fh.fileno())
            out[member.name] = dst
    missing = [m for m in MEMBERS if m not in out]
    if missing:
        raise BackupError(f"{archive} lacks {', '.join(missing)}; it is not a complete backup")
    return out


def verify_backup(files: dict[str, Path]) -> tuple[dict[str, Any], bytes]:
    """Check manifest, key and database of an extracted backup; (manifest, key)."""
    from appliance.core.crypto import KeyFileError, key_fingerprint, read_key
    from appliance.maintenance.backup import check_database

    try:
        manifest = json.loads(files["manifest.json"].read_text())
    except (ValueError, UnicodeDecodeError):
        raise BackupError("the backup's manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("the backup's manifest is not a mooddj backup manifest")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise BackupError(f"backup format version {manifest.get('format_version')!r} is not "
                          f"supported by this mooddj (reads {READABLE_VERSIONS}); upgrade it")
    for name, digest in (manifest.get("files") or {}).items():
        if name not in files or _sha256_file(files[name]) != digest:
            raise BackupError(f"the backup's {name} does not match its manifest")
    try:
        key = read_key(files["secret.key"])
    except KeyFileError:
        raise BackupError("the backup's secret.key is damaged (not a 32-byte key)") from None
    if key_fingerprint(key) != manifest.get("key_fingerprint"):
        raise BackupError(f"the backup's key (id {key_fingerprint(key)}) does not match its "
                          f"manifest (id {manifest.get('key_fingerprint')}); refusing a "
                          f"mismatched key: use the backup file as written by `mooddj backup`")
    check_database(files["mooddj.db"], key)
    return manifest, key


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _put_back(src: Path, dst: Path, stamp: str) -> str:
    """Install src at dst with dst's owner and mode (new: 0640 config, else 0600)."""
    note = f"put back {dst}"
    mode, owner = (0o640 if dst.suffix == ".toml" else 0o600), None
    if dst.exists():
        st = dst.stat()
        mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
        old = dst.with_name(f"{dst.name}.pre-restore-{stamp}")
        shutil.copy2(dst, old)
        note += f" (the previous one kept as {old.name})"
    tmp = dst.with_name(f".{dst.name}.restore")
    shutil.copyfile(src, tmp)
    tmp.chmod(mode)
    if owner is not None and os.geteuid() == 0:
        os.chown(tmp, *owner)
    os.replace(tmp, dst)
    return note


def restore_files(files: dict[str, Path], *, config_path: Path | None,
                  calibration_path: Path | None, state_dir: Path, stamp: str,
                  replace_config: Callable[[], bool]) -> list[str]:
    """Put the backup's config and calibration back; a differing config only if agreed."""
    notes = []
    if "calibration.json" in files and calibration_path is not None:
        notes.append(_put_back(files["calibration.json"], calibration_path, stamp))
    if "config.toml" in files and config_path is not None:
        wanted = files["config.toml"].read_bytes()
        current = config_path.read_bytes() if config_path.is_file() else None
        if current == wanted:
            notes.append(f"{config_path} is the same as the backup's: left as it is")
        elif current is None or replace_config():
            try:
                notes.append(_put_back(files["config.toml"], config_path, stamp))
            except PermissionError:
                copy = state_dir / f"config.toml.from-backup-{stamp}"
                shutil.copyfile(files["config.toml"], copy)
                notes.append(f"{config_path} is not writable by this user: the backup's config "
                             f"is in {copy}; as root: sudo cp {copy} {config_path}")
        else:
            copy = state_dir / f"config.toml.from-backup-{stamp}"
            shutil.copyfile(files["config.toml"], copy)
            notes.append(f"kept {config_path} (it differs from the backup's, which is in "
                         f"{copy}; `mooddj restore --yes` replaces it)")
    return notes


def restore_backup(archive: Path, db_path: Path, key_path: Path, *, stamp: str,
                   config_path: Path | None = None, calibration_path: Path | None = None,
                   replace_config: Callable[[], bool] = lambda: False) -> RestoreResult:
    """Verify `archive` and install it over `db_path`/`key_path`, keeping the current ones.

    With config_path/calibration_path, the backup's copies of those go back too; a config
    that differs from the current one only when `replace_config()` agrees.
    """
    from appliance.core.crypto import write_key
    from appliance.core.secrets_store import install_pending_key, pending_key_path

    db_path.parent.mkdir(parents=True, exist_ok=True)
    # Extract next to the database so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=db_path.parent) as tmp:
        files = _extract(archive, Path(tmp))
        manifest, key = verify_backup(files)
        kept: list[str] = []
        write_key(pending_key_path(key_path), key)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{db_path}{suffix}")
            if src.exists():
                dst = Path(f"{db_path}.pre-restore-{stamp}{suffix}")
                os.replace(src, dst)
                kept.append(str(dst))
        if key_path.exists():
            old_key = key_path.with_name(f"{key_path.name}.pre-restore-{stamp}")
            write_key(old_key, key_path.read_bytes())
            kept.append(str(old_key))
        os.replace(files["mooddj.db"], db_path)
        fsync_dir(db_path.parent)
        install_pending_key(key_path)
        notes = restore_files(files, config_path=config_path, calibration_path=calibration_path,
                              state_dir=db_path.parent, stamp=stamp,
                              replace_config=replace_config)
    logger.info("restored backup created %s (key id %s)", manifest.get("created"),
                manifest.get("key_fingerprint"))
    return RestoreResult(manifest, tuple(kept), tuple(notes))
