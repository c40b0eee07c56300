"""Store: WAL, busy timeout, migrations, one writer, durable writes, damaged files moved aside."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from appliance.core import store as store_mod
from appliance.core.schema import migration_state
from appliance.core.settings import Settings, text_key
from appliance.core.store import StoreError, open_readonly
from appliance.schema import TABLES, open_store

K, A = text_key("k"), text_key("a")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state / "mooddj.db"


def _make_healthy(path: Path) -> None:
    s = open_store(path)
    s.write_sync(lambda db: db["settings"].insert({"key": "k", "value": "v", "updated_at": 1.0}))
    s.close()


def test_file_store_uses_wal_busy_timeout_and_applies_every_migration(db_path: Path) -> None:
    s = open_store(db_path)
    try:
        mode = s.read_sync(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        busy = s.read_sync(lambda db: db.execute("PRAGMA busy_timeout").fetchone()[0])
        assert mode == "wal"
        assert busy == store_mod.BUSY_TIMEOUT_MS
        pending, unknown = s.read_sync(lambda db: migration_state(db, TABLES))
        assert pending == [] and unknown == []
        names = s.read_sync(lambda db: set(db.table_names()))
        assert {"users", "identities", "sessions", "settings", "connections", "mood_history",
                "track_features", "feedback", "plays"} <= names
        assert s.report.created and s.report.moved_aside == ()
    finally:
        s.close()


def test_reopening_keeps_data_and_does_not_rerun_migrations(db_path: Path) -> None:
    _make_healthy(db_path)
    s = open_store(db_path)
    try:
        assert Settings(s).get_sync(K) == "v"
        assert not s.report.created
        applied = s.read_sync(lambda db: [(t.name, m.name) for t in TABLES
                                          for m in t.migrations.applied(db)])
        assert len(applied) == len(set(applied)) == sum(len(t.names) for t in TABLES)
    finally:
        s.close()


def test_durable_writes_run_with_synchronous_full_and_others_normal(db_path: Path) -> None:
    s = open_store(db_path)
    try:
        def level(db):
            return db.execute("PRAGMA synchronous").fetchone()[0]
        assert s.write_sync(level, durable=True) == 2  # FULL
        assert s.write_sync(level) == 1  # NORMAL
    finally:
        s.close()


def test_every_write_runs_on_the_single_writer_thread(db_path: Path) -> None:
    s = open_store(db_path)
    seen: set[str] = set()

    async def main() -> None:
        await asyncio.gather(*(s.write(lambda db: seen.add(threading.current_thread().name))
                               for _ in range(20)))
    try:
        asyncio.run(main())
        s.write_sync(lambda db: seen.add(threading.current_thread().name))
    finally:
        s.close()
    assert len(seen) == 1 and next(iter(seen)).startswith("store-writer")


def test_a_failed_write_rolls_back_the_whole_transaction(db_path: Path) -> None:
    s = open_store(db_path)

    def half(db):
        db["settings"].insert({"key": "a", "value": "1", "updated_at": 0.0})
        raise RuntimeError("boom")
    try:
        with pytest.raises(RuntimeError):
            s.write_sync(half)
        assert Settings(s).get_sync(A) == ""
    finally:
        s.close()


async def test_reads_see_committed_rows_while_writes_are_in_flight(db_path: Path) -> None:
    s = open_store(db_path)
    counts: list[int] = []

    async def writer() -> None:
        for i in range(200):
            await s.write(lambda db, i=i: db["plays"].insert(
                {"id": i + 1, "user_id": "u", "track_id": f"t{i}", "mood": "happy",
                 "started_at": float(i)}))

    async def reader() -> None:
        for _ in range(100):
            counts.append(await s.read(lambda db: db["plays"].count))
            await asyncio.sleep(0)
    try:
        await asyncio.gather(writer(), reader(), reader())
        assert await s.read(lambda db: db["plays"].count) == 200
    finally:
        s.close()
    # Each reader saw a monotonic, committed prefix.
    assert all(0 <= c <= 200 for c in counts)
    assert max(counts) > 0


def test_garbage_file_is_moved_aside_with_wal_and_shm_and_a_fresh_db_works(db_path: Path) -> None:
    db_path.write_bytes(os.urandom(8192))
    Path(f"{db_path}-wal").write_bytes(b"junk-wal")
    Path(f"{db_path}-shm").write_bytes(b"junk-shm")
    other = db_path.parent / "secret.key"
    other.write_bytes(b"k" * 32)
    s = open_store(db_path)
    try:
        moved = s.report.moved_aside
        assert len(moved) == 3
        assert all(".corrupt-" in m for m in moved)
        assert Path(moved[1]).read_bytes() == b"junk-wal" and moved[2].endswith("-shm")
        assert "cannot be opened" in s.report.reason
        asyncio.run(Settings(s).set(text_key("x"), "1"))
        assert Settings(s).get_sync(text_key("x")) == "1"
    finally:
        s.close()
    assert other.read_bytes() == b"k" * 32  # nothing else touched
    assert sorted(p.name for p in db_path.parent.iterdir() if ".corrupt-" in p.name) == sorted(
        Path(m).name for m in moved)


def test_two_damaged_files_in_the_same_second_are_both_kept(db_path: Path) -> None:
    for _ in range(2):
        db_path.write_bytes(b"not a database at all" * 100)
        open_store(db_path).close()
    aside = sorted(p for p in db_path.parent.iterdir() if ".corrupt-" in p.name
                   and not p.name.endswith(("-wal", "-shm")))
    assert len(aside) == 2


def test_truncated_database_is_moved_aside(db_path: Path) -> None:
    s = open_store(db_path)
    s.write_sync(lambda db: db["track_features"].insert_all(
        [{"track_id": f"t{i}", "name": "x" * 300} for i in range(200)]))
    s.close()
    data = db_path.read_bytes()
    db_path.write_bytes(data[: len(data) // 3])
    s = open_store(db_path)
    try:
        assert s.report.moved_aside and Path(s.report.moved_aside[0]).exists()
        assert s.read_sync(lambda db: db["track_features"].count) == 0
    finally:
        s.close()


def test_damaged_page_inside_the_file_is_detected_by_quick_check(db_path: Path) -> None:
    s = open_store(db_path)
    s.write_sync(lambda db: db["track_features"].insert_all(
        [{"track_id": f"t{i}", "name": "x" * 300} for i in range(200)]))
    s.close()
    data = bytearray(db_path.read_bytes())
    page = 4096
    data[page * 5: page * 5 + 400] = os.urandom(400)
    db_path.write_bytes(bytes(data))
    s = open_store(db_path)
    try:
        assert s.report.moved_aside
    finally:
        s.close()


def test_a_locked_database_is_never_moved_aside(db_path: Path, monkeypatch) -> None:
    _make_healthy(db_path)
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(str(db_path), isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="cannot be checked"):
            open_store(db_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(db_path.parent.glob("*.corrupt-*"))
    s = open_store(db_path)
    try:
        assert Settings(s).get_sync(K) == "v"
    finally:
        s.close()


def test_state_dir_not_writable_gives_a_clear_error(tmp_path: Path) -> None:
    # A directory this user may enter but not write: as root, the child drops to nobody.
    state = Path(tempfile.mkdtemp(prefix="mooddj-ro-"))
    try:
        state.chmod(0o555)
        drop = "import os; os.setgid(65534); os.setuid(65534)\n" if os.geteuid() == 0 else ""
        code = ("import sys\nfrom appliance.core.store import StoreError\n"
                "from appliance.schema import open_store\n" + drop +
                f"try:\n    open_store({str(state / 'mooddj.db')!r})\n"
                "except StoreError as e:\n    print('ERR', e); sys.exit(3)\n")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=60)
    finally:
        state.chmod(0o755)
        shutil.rmtree(state)
    assert proc.returncode == 3, proc.stderr
    assert "not writable" in proc.stdout and str(state) in proc.stdout


def test_state_dir_that_cannot_be_created_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreError, match="cannot be created"):
        open_store(blocker / "state" / "mooddj.db")


def test_open_readonly_never_creates_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_readonly(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()


def test_checkpoint_truncates_the_wal(db_path: Path) -> None:
    s = open_store(db_path)
    try:
        s.write_sync(lambda db: db["settings"].insert({"key": "a", "value": "b" * 5000}))
        assert Path(f"{db_path}-wal").stat().st_size > 0
        s.checkpoint_sync()
        assert Path(f"{db_path}-wal").stat().st_size == 0
    finally:
        s.close()


def test_a_missing_state_dir_is_created_private(tmp_path: Path) -> None:
    state = tmp_path / "new-state"
    s = open_store(state / "mooddj.db")
    s.close()
    assert (state.stat().st_mode & 0o777) == 0o700


def test_two_processes_writing_at_once_never_see_database_is_locked(db_path: Path) -> None:
    # Two Store objects = two connections, as `mooddj pair` next to the running box.
    a, b = open_store(db_path), open_store(db_path)
    errors: list[BaseException] = []

    def work(store: store_mod.Store, base: int) -> None:
        def txn(db, i):
            n = db.execute("SELECT count(*) FROM plays").fetchone()[0]  # read first...
            db["plays"].insert({"id": base + i, "user_id": "u", "track_id": str(n),
                                "mood": "happy", "started_at": 0.0})  # ...then write
        try:
            for i in range(150):
                store.write_sync(lambda db, i=i: txn(db, i))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(a, 0)),
               threading.Thread(target=work, args=(b, 10_000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert a.read_sync(lambda db: db["plays"].count) == 300
    finally:
        a.close()
        b.close()
