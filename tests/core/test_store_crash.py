"""SIGKILL in the middle of a write loop: no corruption, every committed row survives."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from appliance.schema import open_store

CHILD = r"""
import sys, time
from appliance.schema import open_store
s = open_store(sys.argv[1])
i = 0
while True:
    i += 1
    durable = i % 3 == 0
    s.write_sync(lambda db, i=i: db["plays"].insert(
        {"id": i, "user_id": "u", "track_id": "t" * 200, "mood": "happy",
         "started_at": time.time()}), durable=durable)
    print(i, flush=True)
"""


def test_sigkill_during_write_loop_keeps_every_committed_row(tmp_path: Path) -> None:
    db_path = tmp_path / "mooddj.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db_path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    committed: list[int] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(committed) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)  # mid-loop: the next write is in flight
    proc.wait(timeout=10)
    # Anything the child printed before it died was committed too.
    committed += [int(x) for x in proc.stdout.read().split()]
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(committed) >= 300
    assert Path(f"{db_path}-wal").exists()  # the crash left a WAL to recover

    conn = sqlite3.connect(str(db_path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = {r[0] for r in conn.execute("SELECT id FROM plays")}
    finally:
        conn.close()
    assert set(committed) <= ids
    # The store opens it as healthy: nothing moved aside.
    s = open_store(db_path)
    try:
        assert s.report.moved_aside == ()
        assert s.read_sync(lambda db: db["plays"].count) >= len(committed)
    finally:
        s.close()
