"""rotate-key: every sealed value re-sealed in one transaction, old key gone, crashes recovered."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.core.crypto import KEY_BYTES, KeyFileError, Sealer, SealError, key_fingerprint
from appliance.core.secrets_store import (
    finish_pending_rotation,
    install_pending_key,
    key_versions,
    load_sealer,
    pending_key_path,
    reseal_all,
    rotate_key_sync,
    verify_sealed,
)
from appliance.core.store import Store
from appliance.maintenance.lock import acquire_box_lock
from appliance.schema import SEALED, open_store


def _box(tmp_path: Path) -> tuple[Path, Path, Path]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    conf = tmp_path / "config.toml"
    conf.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{tmp_path / "run"}"\n')
    return conf, state / "mooddj.db", state / "secret.key"


def _link(store: Store, sealer: Sealer, users: int = 3) -> dict[str, tuple[str, str]]:
    plain = {}

    def fill(db):
        for i in range(users):
            uid = f"mmp_{i}"
            db["users"].insert({"id": uid, "display_name": f"U{i}", "role": "member",
                                "created_at": time.time()})
            acc, ref = f"access-{i}", f"refresh-{i}"
            plain[uid] = (acc, ref)
            db["connections"].insert({
                "user_id": uid, "platform": "spotify", "platform_user_id": f"sp{i}",
                "access_token": sealer.seal(acc, user_id=uid, platform="spotify",
                                            field="access_token"),
                "refresh_token": sealer.seal(ref, user_id=uid, platform="spotify",
                                             field="refresh_token"),
                "linked_at": time.time(), "state": "linked"})
    store.write_sync(fill, durable=True)
    return plain


def _plain(store: Store, sealer: Sealer) -> dict[str, tuple[str, str]]:
    def q(db):
        return {r["user_id"]: (
            sealer.open(r["access_token"], user_id=r["user_id"], platform="spotify",
                        field="access_token"),
            sealer.open(r["refresh_token"], user_id=r["user_id"], platform="spotify",
                        field="refresh_token")) for r in db["connections"].rows}
    return store.read_sync(q)


@pytest.fixture
def linked(tmp_path: Path):
    conf, db_path, key_path = _box(tmp_path)
    store = open_store(db_path)
    sealer = load_sealer(store, key_path)
    plain = _link(store, sealer)
    yield conf, db_path, key_path, store, sealer, plain
    store.close()


def test_rotation_reseals_every_value_and_keeps_nothing_of_the_old_key(linked) -> None:
    _conf, _db, key_path, store, sealer, plain = linked
    old_key = key_path.read_bytes()
    result = rotate_key_sync(store, key_path, sealer)
    new_key = key_path.read_bytes()
    assert new_key != old_key and len(new_key) == KEY_BYTES
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert result.resealed == 6 and result.new_fingerprint == key_fingerprint(new_key)
    assert store.read_sync(lambda db: key_versions(db, SEALED)) == {key_fingerprint(new_key)}
    assert _plain(store, Sealer(new_key)) == plain
    assert sealer.version == key_fingerprint(new_key)  # the live sealer follows
    leftovers = [p for p in key_path.parent.iterdir() if p.name.startswith("secret.key")]
    assert leftovers == [key_path]
    with pytest.raises(SealError):
        _plain(store, Sealer(old_key))


def test_rotation_that_meets_an_unopenable_value_changes_nothing(linked) -> None:
    _conf, _db, key_path, store, sealer, _ = linked
    store.write_sync(lambda db: db.execute(
        "UPDATE connections SET access_token = ? WHERE user_id = 'mmp_1'",
        [Sealer(os.urandom(32)).seal("x", user_id="mmp_1", platform="spotify",
                                     field="access_token")]))
    before_key = key_path.read_bytes()
    before_rows = store.read_sync(lambda db: list(db["connections"].rows))
    with pytest.raises(SealError):
        rotate_key_sync(store, key_path, sealer)
    assert key_path.read_bytes() == before_key
    assert not pending_key_path(key_path).exists()
    assert store.read_sync(lambda db: list(db["connections"].rows)) == before_rows


def test_crash_after_the_commit_is_finished_at_the_next_start(linked) -> None:
    _conf, db_path, key_path, store, sealer, plain = linked
    # Steps 1 and 2 of a rotation, then "power loss" before the rename.
    new_key = os.urandom(KEY_BYTES)
    from appliance.core.crypto import write_key
    write_key(pending_key_path(key_path), new_key)
    store.write_sync(lambda db: reseal_all(db, sealer, Sealer(new_key), SEALED), durable=True)
    store.close()
    store2 = open_store(db_path)
    try:
        loaded = load_sealer(store2, key_path)
        assert loaded.version == key_fingerprint(new_key)
        assert key_path.read_bytes() == new_key and not pending_key_path(key_path).exists()
        assert _plain(store2, loaded) == plain
    finally:
        store2.close()


def test_crash_before_the_commit_discards_the_staged_key(linked) -> None:
    _conf, db_path, key_path, store, _sealer, plain = linked
    old_key = key_path.read_bytes()
    from appliance.core.crypto import write_key
    write_key(pending_key_path(key_path), os.urandom(KEY_BYTES))
    store.close()
    store2 = open_store(db_path)
    try:
        finished = store2.write_sync(lambda db: finish_pending_rotation(db, key_path, SEALED))
        assert finished == "discarded"
        assert key_path.read_bytes() == old_key and not pending_key_path(key_path).exists()
        assert _plain(store2, Sealer(old_key)) == plain
    finally:
        store2.close()


def test_crash_after_the_old_key_was_shredded_still_finishes(linked) -> None:
    _conf, _db, key_path, store, sealer, plain = linked
    new_key = os.urandom(KEY_BYTES)
    from appliance.core.crypto import write_key
    write_key(pending_key_path(key_path), new_key)
    store.write_sync(lambda db: reseal_all(db, sealer, Sealer(new_key), SEALED), durable=True)
    key_path.write_bytes(b"\0" * 7)  # overwritten old key, rename never happened
    assert load_sealer(store, key_path).version == key_fingerprint(new_key)
    assert _plain(store, Sealer(new_key)) == plain


def test_install_pending_key_overwrites_the_old_key_file(tmp_path: Path) -> None:
    key_path = tmp_path / "secret.key"
    key_path.write_bytes(b"o" * 32)
    pending_key_path(key_path).write_bytes(b"n" * 32)
    install_pending_key(key_path)
    assert key_path.read_bytes() == b"n" * 32


def test_missing_key_with_sealed_values_is_a_clear_error_and_tokens_stay(linked) -> None:
    _conf, _db, key_path, store, _sealer, _ = linked
    key_path.unlink()
    with pytest.raises(KeyFileError, match=rf"{key_path}.*6 sealed"):
        load_sealer(store, key_path)
    assert not key_path.exists()  # no new key silently created
    assert store.read_sync(lambda db: db["connections"].count) == 3


def test_cli_rotate_key_rotates_and_refuses_while_the_box_runs(linked, capsys) -> None:
    conf, _db, key_path, store, _sealer, plain = linked
    store.close()
    lock = acquire_box_lock(Path(str(conf.parent / "run")))
    try:
        before = key_path.read_bytes()
        assert cli.main(["--config", str(conf), "rotate-key"]) == 1
        assert "running" in capsys.readouterr().err
        assert key_path.read_bytes() == before
    finally:
        lock.release()
    assert cli.main(["--config", str(conf), "rotate-key"]) == 0
    out = capsys.readouterr().out
    assert "Re-sealed 6 value(s)" in out
    assert key_path.read_bytes() != before
    s = open_store(_db)
    try:
        key = Sealer(key_path.read_bytes())
        assert s.read_sync(lambda db: verify_sealed(db, key, SEALED)) == []
        assert _plain(s, Sealer(key_path.read_bytes())) == plain
    finally:
        s.close()


def test_cli_rotate_key_without_a_key_file_says_which_file(tmp_path: Path, capsys) -> None:
    conf, db_path, key_path = _box(tmp_path)
    open_store(db_path).close()
    assert cli.main(["--config", str(conf), "rotate-key"]) == 1
    err = capsys.readouterr().err
    assert str(key_path) in err and "Traceback" not in err
