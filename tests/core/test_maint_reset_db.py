"""factory-reset erases everything personal (not the features cache) and rotates the key;
`mooddj db` shows the tables without ever printing a secret."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.cli.locations import confirm
from appliance.core.crypto import Sealer, key_fingerprint
from appliance.core.secrets_store import load_sealer
from appliance.core.store import Store
from appliance.maintenance.lock import acquire_box_lock
from appliance.maintenance.reset import factory_reset
from appliance.schema import open_store

PERSONAL = ("users", "identities", "sessions", "connections", "settings", "feedback",
            "mood_history", "plays")
SECRET_ACCESS = "BQD-access-token-plaintext"
SECRET_REFRESH = "AQC-refresh-token-plaintext"


def _box(root: Path) -> tuple[Path, Path, Path]:
    state = root / "state"
    state.mkdir(parents=True, mode=0o700)
    conf = root / "config.toml"
    conf.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{root / "run"}"\n')
    return conf, state / "mooddj.db", state / "secret.key"


def _populate(store: Store, sealer: Sealer) -> None:
    now = time.time()

    def fill(db):
        db["users"].insert({"id": "mmp_1", "display_name": "Ada", "role": "owner",
                            "created_at": now})
        db["identities"].insert({"provider": "google", "subject": "g-123", "user_id": "mmp_1",
                                 "email": "ada@example.org", "linked_at": now})
        db["sessions"].insert({"id_hash": "f" * 64, "user_id": "mmp_1", "csrf": "csrf-secret",
                               "paired": 1, "created_at": now, "expires_at": now + 60})
        db["connections"].insert({
            "user_id": "mmp_1", "platform": "spotify", "platform_user_id": "ada",
            "access_token": sealer.seal(SECRET_ACCESS, user_id="mmp_1", platform="spotify",
                                        field="access_token"),
            "refresh_token": sealer.seal(SECRET_REFRESH, user_id="mmp_1", platform="spotify",
                                         field="refresh_token"),
            "scopes": "user-read-playback-state", "linked_at": now, "state": "linked"})
        db["settings"].insert_all([
            {"key": "active_listener", "value": "mmp_1", "updated_at": now},
            {"key": "features.soundnet_key", "value": "rapid-secret", "updated_at": now}])
        db["feedback"].insert({"user_id": "mmp_1", "track_id": "t1", "mood": "happy",
                               "kind": "like", "at": now})
        db["mood_history"].insert({"bucket": now, "mood": "happy", "samples": 3})
        db["plays"].insert({"user_id": "mmp_1", "track_id": "t1", "mood": "happy",
                            "started_at": now})
        db["track_features"].insert({"track_id": "t1", "name": "Song", "valence": 0.8,
                                     "energy": 0.6, "tempo": 120.0})
    store.write_sync(fill, durable=True)


@pytest.fixture
def box(tmp_path: Path):
    conf, db_path, key_path = _box(tmp_path)
    store = open_store(db_path)
    sealer = load_sealer(store, key_path)
    _populate(store, sealer)
    yield conf, db_path, key_path, store, sealer
    store.close()


async def test_factory_reset_in_the_box_erases_personal_data_and_rekeys(box) -> None:
    _conf, db_path, key_path, store, sealer = box
    old_key = key_path.read_bytes()
    result = await factory_reset(store, key_path, sealer)
    counts = await store.read(lambda db: {t: db[t].count for t in (*PERSONAL,
                                                                   "track_features")})
    assert all(counts[t] == 0 for t in PERSONAL), counts
    assert counts["track_features"] == 1
    assert result.erased["users"] == 1 and result.erased["connections"] == 1
    assert "track_features" not in result.erased
    new_key = key_path.read_bytes()
    assert new_key != old_key and result.key_fingerprint == key_fingerprint(new_key)
    assert sealer.version == key_fingerprint(new_key)
    # Nothing personal lingers in the file or its WAL (secure_delete + checkpoint).
    store.close()
    raw = db_path.read_bytes() + (Path(f"{db_path}-wal").read_bytes()
                                  if Path(f"{db_path}-wal").exists() else b"")
    for needle in (b"ada@example.org", b"csrf-secret", b"rapid-secret", b"g-123"):
        assert needle not in raw


def test_cli_factory_reset_refuses_without_yes_and_without_a_terminal(box, capsys) -> None:
    conf, _db, key_path, store, _sealer = box
    store.close()
    before = key_path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--config", str(conf),
                           "factory-reset"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert proc.returncode == 1 and "not confirmed" in proc.stderr
    assert key_path.read_bytes() == before
    s = open_store(_db)
    try:
        assert s.read_sync(lambda db: db["users"].count) == 1
    finally:
        s.close()
    with acquire_box_lock(conf.parent / "run"):
        assert cli.main(["--config", str(conf), "factory-reset", "--yes"]) == 1
        assert "running" in capsys.readouterr().err
    assert cli.main(["--config", str(conf), "factory-reset", "--yes"]) == 0
    assert "Factory reset done" in capsys.readouterr().out
    assert key_path.read_bytes() != before


def test_factory_reset_works_when_the_key_is_lost(box) -> None:
    _conf, _db, key_path, store, _sealer = box
    key_path.unlink()
    from appliance.maintenance.reset import factory_reset_sync
    factory_reset_sync(store, key_path)
    assert key_path.exists()
    assert load_sealer(store, key_path).version == key_fingerprint(key_path.read_bytes())


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirm_asks_on_a_terminal_and_needs_yes() -> None:
    out = io.StringIO()
    assert confirm("Erase?", assume_yes=False, stdin=_Tty("yes\n"), stdout=out)
    assert "Erase?" in out.getvalue()
    assert not confirm("Erase?", assume_yes=False, stdin=_Tty("y\n"), stdout=io.StringIO())
    assert not confirm("Erase?", assume_yes=False, stdin=io.StringIO("yes\n"))
    assert confirm("Erase?", assume_yes=True, stdin=io.StringIO(""))


def test_db_cli_shows_tables_without_any_secret(box, capsys) -> None:
    conf, _db, _key, _store, _sealer = box
    everything = ""
    for table in ("users", "identities", "connections", "sessions", "settings"):
        for extra in ([], ["--json"]):
            assert cli.main(["--config", str(conf), "db", table, *extra]) == 0
            everything += capsys.readouterr().out
    for secret in (SECRET_ACCESS, SECRET_REFRESH, "csrf-secret", "rapid-secret", "f" * 20,
                   "v1."):
        assert secret not in everything
    assert "sealed (" in everything and "ffffffff…" in everything
    assert "ada@example.org" in everything and "active_listener" in everything
    assert cli.main(["--config", str(conf), "db", "connections", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["access_token"].startswith("sealed (") and row["scopes"]
    assert cli.main(["--config", str(conf), "db", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 1 and summary["track_features"] == 1


def test_db_cli_on_a_missing_database_explains_and_creates_nothing(tmp_path: Path,
                                                                   capsys) -> None:
    conf, db_path, _key = _box(tmp_path)
    assert cli.main(["--config", str(conf), "db", "users"]) == 1
    assert "does not exist yet" in capsys.readouterr().err
    assert not db_path.exists()
