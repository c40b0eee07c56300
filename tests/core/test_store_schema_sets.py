"""Each package's migration set, applied in order; databases made by the old single set."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import legacy_schema
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from appliance.core.schema import LEGACY_SET, migration_state
from appliance.schema import TABLES, open_store


def records(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def old_box_database(path: Path, *, stop_before: str | None = None) -> None:
    """A database as the single set made it, with a household, a link and settings in it."""
    db = Database(sqlite3.connect(path))
    legacy_schema.migrations.apply(db, stop_before=stop_before)
    db["users"].insert({"id": "mmp_a", "display_name": "Ada", "role": "owner",
                        "created_at": 1.0})
    db["identities"].insert({"provider": "google", "subject": "s1", "user_id": "mmp_a",
                             "email": "ada@example.org", "display_name": "Ada",
                             "linked_at": 1.0})
    db["sessions"].insert({"id_hash": "h", "user_id": "mmp_a", "csrf": "c", "paired": 1,
                           "created_at": 1.0, "last_seen": 1.0, "expires_at": 9e9,
                           "revoked": 0, "user_agent": "phone"})
    db["settings"].insert({"key": "speaker.name", "value": "Den", "updated_at": 1.0})
    db["connections"].insert({"user_id": "mmp_a", "platform": "spotify", "state": "linked",
                              "access_token": "v1.sealed", "linked_at": 1.0})
    db["plays"].insert({"user_id": "mmp_a", "track_id": "t1", "mood": "happy",
                        "started_at": 1.0})
    db.conn.close()


def test_a_fresh_database_records_each_package_set_in_order(tmp_path: Path) -> None:
    path = tmp_path / "mooddj.db"
    store = open_store(path)
    try:
        pending, unknown = store.read_sync(lambda db: migration_state(db, TABLES))
    finally:
        store.close()
    assert pending == [] and unknown == []
    sets = list(dict.fromkeys(s for s, _ in records(path)))
    assert sets == ["core", "identity", "music"]  # identity before music: foreign keys
    assert ("music", "m001_connections") in records(path)


def test_a_database_made_by_the_single_set_opens_without_running_anything_again(
        tmp_path: Path) -> None:
    path = tmp_path / "mooddj.db"
    old_box_database(path)
    before = records(path)
    assert {s for s, _ in before} == {LEGACY_SET}
    store = open_store(path)
    try:
        assert store.read_sync(lambda db: migration_state(db, TABLES)) == ([], [])
        kept = store.read_sync(lambda db: (
            db["users"].get("mmp_a")["display_name"], db["identities"].count,
            db["sessions"].count, db["settings"].get("speaker.name")["value"],
            db["connections"].get(("mmp_a", "spotify"))["access_token"], db["plays"].count))
    finally:
        store.close()
    assert kept == ("Ada", 1, 1, "Den", "v1.sealed", 1)
    after = records(path)
    assert after[:len(before)] == before  # the old records are kept as they were
    adopted = after[len(before):]
    assert {s for s, _ in adopted} == {"core", "identity", "music"}
    assert len(adopted) == sum(len(t.names) for t in TABLES)
    open_store(path).close()
    assert records(path) == after  # nothing recorded, nor run, a second time


def test_a_database_from_before_the_last_old_migrations_gets_only_those(tmp_path: Path) -> None:
    path = tmp_path / "mooddj.db"
    old_box_database(path, stop_before="m101_web_pairing_codes")
    open_store(path).close()
    ran = [r for r in records(path) if r[0] != LEGACY_SET]
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        conn.close()
    assert {"pairing_codes", "spotify_link_states"} <= tables and users == 1
    assert ("identity", "m002_pairing_codes") in ran and ("music", "m003_link_states") in ran


def test_migrations_of_a_newer_mooddj_are_reported_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "mooddj.db"
    open_store(path).close()
    newer = Migrations("music")

    @newer(name="m999_from_the_future")
    def _future(db: Database) -> None:
        db["future"].create({"id": int}, pk="id")

    db = Database(sqlite3.connect(path))
    try:
        newer.apply(db)
        pending, unknown = migration_state(db, TABLES)
    finally:
        db.conn.close()
    assert pending == [] and unknown == ["music/m999_from_the_future"]
