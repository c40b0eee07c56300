"""backup/restore: online copy with key and manifest; restore refuses what it cannot trust."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import time
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.core.crypto import Sealer, key_fingerprint
from appliance.core.secrets_store import load_sealer
from appliance.core.settings import SPEAKER_NAME, Settings
from appliance.core.store import Store
from appliance.maintenance.backup import BackupError, make_backup
from appliance.maintenance.lock import acquire_box_lock
from appliance.maintenance.restore import restore_backup
from appliance.schema import open_store


def _box(root: Path) -> tuple[Path, Path, Path]:
    state = root / "state"
    state.mkdir(parents=True, mode=0o700)
    conf = root / "config.toml"
    conf.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{root / "run"}"\n')
    return conf, state / "mooddj.db", state / "secret.key"


def _fill(store: Store, sealer: Sealer, n: int = 2) -> None:
    def fill(db):
        for i in range(n):
            uid = f"mmp_{i}"
            db["users"].insert({"id": uid, "display_name": f"U{i}", "role": "owner",
                                "created_at": time.time()})
            db["connections"].insert({
                "user_id": uid, "platform": "spotify",
                "access_token": sealer.seal(f"a{i}", user_id=uid, platform="spotify",
                                            field="access_token"),
                "refresh_token": sealer.seal(f"r{i}", user_id=uid, platform="spotify",
                                             field="refresh_token")})
    store.write_sync(fill, durable=True)


def _tokens(db_path: Path, key_path: Path) -> list[str]:
    s = open_store(db_path)
    try:
        sealer = Sealer.from_file(key_path)
        return s.read_sync(lambda db: [sealer.open(r["refresh_token"], user_id=r["user_id"],
                                                   platform="spotify", field="refresh_token")
                                       for r in db["connections"].rows])
    finally:
        s.close()


@pytest.fixture
def source(tmp_path: Path):
    conf, db_path, key_path = _box(tmp_path / "src")
    store = open_store(db_path)
    sealer = load_sealer(store, key_path)
    _fill(store, sealer)
    yield conf, db_path, key_path, store
    store.close()


def test_backup_of_a_live_store_holds_db_key_and_manifest(source, tmp_path: Path,
                                                          capsys) -> None:
    conf, _db, key_path, store = source
    # Rows still in the WAL of the open store are part of the backup.
    store.write_sync(lambda db: db["settings"].insert({"key": "speaker.name", "value": "Den"}))
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    assert cli.main(["--config", str(conf), "backup", str(out_dir)]) == 0
    assert "Backup written to" in capsys.readouterr().out
    [archive] = list(out_dir.iterdir())
    assert archive.suffix == ".mooddj"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        # The config file is in too (tests/core/test_backup_config_files.py).
        assert sorted(tar.getnames()) == ["config.toml", "manifest.json", "mooddj.db",
                                          "secret.key"]
        manifest = json.load(tar.extractfile("manifest.json"))
        key = tar.extractfile("secret.key").read()
    assert key == key_path.read_bytes()
    assert manifest["format"] == "mooddj-backup" and manifest["format_version"] == 2
    assert manifest["key_fingerprint"] == key_fingerprint(key)
    assert manifest["sealed_values"] == 4 and manifest["created"].endswith("Z")
    assert "identity/m001_accounts" in manifest["migrations"]  # set/name

    conf2, db2, key2 = _box(tmp_path / "dst")
    assert cli.main(["--config", str(conf2), "restore", str(archive)]) == 0
    assert _tokens(db2, key2) == ["r0", "r1"]
    s = open_store(db2)
    try:
        assert Settings(s).get_sync(SPEAKER_NAME) == "Den"
    finally:
        s.close()


def test_backup_refuses_to_overwrite_a_file(source, tmp_path: Path) -> None:
    _conf, db_path, key_path, _store = source
    target = tmp_path / "b.mooddj"
    target.write_text("keep me")
    with pytest.raises(BackupError, match="already exists"):
        make_backup(db_path, key_path, target)
    assert target.read_text() == "keep me"


def test_restore_keeps_the_current_database_and_key(source, tmp_path: Path) -> None:
    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    _conf2, db2, key2 = _box(tmp_path / "other")
    other = open_store(db2)
    other_sealer = load_sealer(other, key2)
    _fill(other, other_sealer, n=1)
    other.close()
    old_key = key2.read_bytes()
    result = restore_backup(archive, db2, key2, stamp="T1")
    kept = {Path(p).name for p in result.kept}
    assert "mooddj.db.pre-restore-T1" in kept and "secret.key.pre-restore-T1" in kept
    assert (db2.parent / "secret.key.pre-restore-T1").read_bytes() == old_key
    assert _tokens(db2.parent / "mooddj.db.pre-restore-T1", db2.parent /
                   "secret.key.pre-restore-T1") == ["r0"]
    assert _tokens(db2, key2) == ["r0", "r1"]
    assert not list(db2.parent.glob(".restore-*"))
    assert not (db2.parent / "secret.key.new").exists()


def _rewrite(archive: Path, out: Path, **replace: bytes) -> Path:
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar}
    files.update(replace)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _snapshot(*paths: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in paths if p.exists()}


def test_restore_refuses_a_key_that_does_not_match_the_manifest(source, tmp_path: Path,
                                                                 capsys) -> None:
    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    forged = _rewrite(archive, tmp_path / "forged.mooddj", **{"secret.key": os.urandom(32)})
    conf2, db2, key2 = _box(tmp_path / "dst")
    open_store(db2).close()
    before = _snapshot(db2, key2)
    assert cli.main(["--config", str(conf2), "restore", str(forged)]) == 1
    err = capsys.readouterr().err
    assert "does not match its manifest" in err and "nothing was changed" in err
    assert _snapshot(db2, key2) == before


def test_restore_refuses_a_key_that_does_not_open_the_sealed_values(source,
                                                                     tmp_path: Path) -> None:
    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    wrong = os.urandom(32)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    manifest["key_fingerprint"] = key_fingerprint(wrong)
    forged = _rewrite(archive, tmp_path / "forged.mooddj", **{
        "secret.key": wrong, "manifest.json": json.dumps(manifest).encode()})
    _conf2, db2, key2 = _box(tmp_path / "dst")
    with pytest.raises(BackupError, match="does not open 4 sealed value"):
        restore_backup(forged, db2, key2, stamp="T")
    assert not db2.exists() and not key2.exists()


def test_restore_refuses_entries_outside_the_format(source, tmp_path: Path) -> None:
    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    evil = _rewrite(archive, tmp_path / "evil.mooddj", **{"../escape": b"x"})
    _conf2, db2, key2 = _box(tmp_path / "dst")
    with pytest.raises(BackupError, match="unexpected entry"):
        restore_backup(evil, db2, key2, stamp="T")
    assert not (tmp_path / "dst" / "escape").exists()
    assert not (tmp_path / "escape").exists()
    with pytest.raises(BackupError, match="not a mooddj backup"):
        restore_backup(db_path, db2, key2, stamp="T")


def test_restore_refuses_while_the_box_runs_unless_forced(source, tmp_path: Path,
                                                          capsys) -> None:
    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    conf2, db2, key2 = _box(tmp_path / "dst")
    with acquire_box_lock(tmp_path / "dst" / "run"):
        assert cli.main(["--config", str(conf2), "restore", str(archive)]) == 1
        assert "running" in capsys.readouterr().err
        assert not db2.exists()
        assert cli.main(["--config", str(conf2), "restore", "--force", str(archive)]) == 0
        assert "restart it now" in capsys.readouterr().out
    assert _tokens(db2, key2) == ["r0", "r1"]


def test_crash_midway_through_restore_is_finished_at_the_next_start(source,
                                                                     tmp_path: Path) -> None:
    from appliance.core.crypto import read_key, write_key
    from appliance.core.secrets_store import pending_key_path

    _conf, db_path, key_path, _store = source
    archive = make_backup(db_path, key_path, tmp_path / "a.mooddj").path
    _conf2, db2, key2 = _box(tmp_path / "dst")
    restore_backup(archive, db2, key2, stamp="T")
    # Simulate the crash window: database installed, key still staged.
    restored_key = read_key(key2)
    write_key(key2, os.urandom(32))
    write_key(pending_key_path(key2), restored_key)
    s = open_store(db2)
    try:
        assert load_sealer(s, key2).version == key_fingerprint(restored_key)
    finally:
        s.close()
    assert _tokens(db2, key2) == ["r0", "r1"]
