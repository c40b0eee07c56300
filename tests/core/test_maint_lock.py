"""The box lock: one box at a time, maintenance sees it, a killed box never leaves it stuck."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.maintenance.lock import BoxRunningError, acquire_box_lock, box_running

REPO = Path(__file__).resolve().parents[2]


def test_lock_is_exclusive_and_reports_the_pid(tmp_path: Path) -> None:
    assert box_running(tmp_path) is None
    lock = acquire_box_lock(tmp_path)
    try:
        assert box_running(tmp_path) == os.getpid()
        with pytest.raises(BoxRunningError, match="stop it first"):
            acquire_box_lock(tmp_path)
    finally:
        lock.release()
    assert box_running(tmp_path) is None
    acquire_box_lock(tmp_path).release()


def test_a_sigkilled_box_does_not_leave_the_lock_held(tmp_path: Path) -> None:
    code = ("import sys, time\nfrom pathlib import Path\n"
            "from appliance.maintenance.lock import acquire_box_lock\n"
            "lock = acquire_box_lock(Path(sys.argv[1]))\nprint('locked', flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        assert box_running(tmp_path) == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    assert (tmp_path / "mooddj.lock").exists()  # the file stays, the lock does not
    assert box_running(tmp_path) is None


def test_a_fresh_status_snapshot_of_a_live_process_counts_as_running(tmp_path: Path) -> None:
    pytest.importorskip("appliance.core.status")
    from appliance.core.status import status_path

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        status_path(tmp_path).write_text(json.dumps({
            "format": 1, "running": True, "pid": child.pid, "written_at": time.time(),
            "interval": 2}))
        assert box_running(tmp_path) == child.pid
    finally:
        child.kill()
        child.wait(timeout=10)
    assert box_running(tmp_path) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership repair only happens as root")
def test_files_a_root_command_leaves_behind_go_back_to_the_state_dir_owner(
        tmp_path: Path) -> None:
    from appliance.core.config import Config, from_dict
    from appliance.maintenance.doctor import check_key
    from appliance.maintenance.files import fix_state_ownership

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    db, key = state / "mooddj.db", state / "secret.key"
    for p in (db, Path(f"{db}-shm"), key):
        p.write_bytes(b"k" * 32)
    key.chmod(0o600)
    cfg = from_dict(Config, {"paths": {"state_dir": str(state)}})
    assert any(c.name == "key file owner" and c.status == "fail" for c in check_key(cfg))
    fixed = fix_state_ownership(db, key)
    assert sorted(fixed) == sorted(str(p) for p in (db, Path(f"{db}-shm"), key))
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (db, key)} == {(65534, 65534)}
    assert not any(c.name == "key file owner" for c in check_key(cfg))
