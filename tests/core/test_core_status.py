"""Status snapshot (writer, reader) and the `mooddj status` screen."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from polling import eventually as until

from appliance.cli import main as cli
from appliance.cli.status import render
from appliance.core.bus import (
    Bus,
    CameraState,
    ErrorCleared,
    ErrorRaised,
    LinkState,
    MoodReading,
    PlayerState,
    PresenceChanged,
)
from appliance.core.config import SupervisorConfig
from appliance.core.crypto import Sealer
from appliance.core.status import StatusWriter, read_status, status_path, write_atomic
from appliance.core.supervisor import Supervisor
from appliance.maintenance.facts import db_facts
from appliance.schema import open_store


async def test_status_writer_snapshots_services_events_and_errors(tmp_path: Path) -> None:
    bus = Bus()
    path = status_path(tmp_path / "run")
    writer = StatusWriter(path, bus, interval=0.05, version="9.9")
    sup = Supervisor(SupervisorConfig(stop_timeout=1.0), bus, [writer], version="9.9")
    writer.supervisor_snapshot = sup.snapshot
    task = asyncio.create_task(sup.run(handle_signals=False))
    await until(lambda: sup.ready)
    bus.publish(MoodReading(faces=2, valence=0.6, arousal=0.3, mood="happy", confidence=0.8))
    bus.publish(PresenceChanged(people=2, previous=1))
    bus.publish(CameraState(capturing=True, fps=4.8))
    bus.publish(PlayerState(state="playing", track_name="Song", artists="Band", speaker="Den"))
    bus.publish(LinkState(platform="spotify", user_id="mmp_1", state="expiring"))
    bus.publish(ErrorRaised(key="camera", source="camera", message="camera busy", hint="replug"))
    bus.publish(ErrorRaised(key="net", source="network", message="offline"))
    bus.publish(ErrorCleared(key="net"))
    await until(lambda: (read_status(path) or {}).get("camera") is not None
                and bool((read_status(path) or {}).get("errors")))
    doc = read_status(path)
    assert doc is not None
    assert doc["pid"] == os.getpid() and doc["version"] == "9.9" and doc["running"] is True
    assert [(s["name"], s["state"]) for s in doc["services"]] == [("status", "running")]
    assert doc["mood"]["mood"] == "happy" and doc["presence"]["people"] == 2
    assert doc["player"]["track_name"] == "Song" and doc["camera"]["fps"] == 4.8
    assert [e["key"] for e in doc["errors"]] == ["camera"]  # "net" was cleared
    assert doc["links"][0]["state"] == "expiring"
    assert "loop_lag_ms" in doc and doc["bus"]["published"] >= 8
    sup.request_stop()
    await task
    assert read_status(path) is None  # a stopped box has no live status
    assert json.loads(path.read_text())["running"] is False
    assert not list(path.parent.glob(".*.tmp"))  # no temp files left behind


def test_read_status_rejects_missing_corrupt_stale_and_dead(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(path) is None
    path.write_text("{half a docu")
    assert read_status(path) is None
    doc = {"running": True, "written_at": time.time(), "interval": 2, "pid": os.getpid()}
    write_atomic(path, json.dumps(doc))
    assert read_status(path) == doc
    assert read_status(path, now=time.time() + 60) is None  # stale
    write_atomic(path, json.dumps({**doc, "pid": 2 ** 22 + 12345}))  # no such process
    assert read_status(path) is None


@pytest.fixture
def config_with_db(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "state"
    store = open_store(state / "mooddj.db")
    sealer = Sealer.from_file(state / "secret.key", create=True)
    secret = "BQDsecretAccessTokenValue123"
    now = time.time()

    def seed(db) -> None:
        db["users"].insert({"id": "mmp_a", "display_name": "Ann\x1b[31m", "role": "owner",
                            "created_at": 1.0})
        db["connections"].insert({
            "user_id": "mmp_a", "platform": "spotify", "display_name": "ann",
            "access_token": sealer.seal(secret, user_id="mmp_a", platform="spotify",
                                        field="access_token"),
            "refresh_token": "", "scopes": "user-modify-playback-state",
            "expires_at": now + 3600, "linked_at": now - 175 * 86400, "state": "linked"})
        db["settings"].insert_all([
            {"key": "active_listener", "value": "mmp_a", "updated_at": now},
            {"key": "speaker.name", "value": "Kitchen", "updated_at": now}], pk="key")
    store.write_sync(seed)
    store.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{tmp_path / "run"}"\n')
    return cfg, state / "mooddj.db"


def test_db_facts_show_links_expiry_listener_without_secrets(config_with_db) -> None:
    _, db_path = config_with_db
    facts = db_facts(db_path, reminder_days=14)
    link = facts["links"][0]
    assert link["status"] == "expiring"  # 175 of 182 days used
    assert "access_token" not in link and "refresh_token" not in link
    assert facts["listener"] == {"user_id": "mmp_a", "display_name": "Ann\x1b[31m"}
    assert facts["settings"]["speaker.name"] == "Kitchen"
    assert facts["size_bytes"] > 0


def test_status_command_when_box_is_not_running(config_with_db, capsys) -> None:
    cfg, _ = config_with_db
    assert cli.main(["--config", str(cfg), "status"]) == 0
    out = capsys.readouterr().out
    assert "not running" in out
    assert "spotify" in out and "expiring" in out and "re-link by" in out
    assert "Listener  Ann?[31m" in out  # control characters from names are neutralised
    assert "Kitchen" in out and "disk free" in out
    assert "BQDsecret" not in out and "v1." not in out


def test_status_json_is_one_object_and_carries_no_secret(config_with_db, capsys) -> None:
    cfg, _ = config_with_db
    assert cli.main(["status", "--config", str(cfg), "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["running"] is False and doc["live"] is None
    assert doc["database"]["links"][0]["platform"] == "spotify"
    assert "v1." not in out and "BQD" not in out


def test_render_of_a_live_snapshot_shows_every_section() -> None:
    now = time.time()
    live = {
        "version": "0.1.0", "pid": 42, "started_at": now - 3700,
        "services": [{"name": "vision", "state": "running", "crashes": 1, "detail": "",
                      "snapshot": {"fps": 4.9}},
                     {"name": "player", "state": "failed", "crashes": 5,
                      "detail": "crashed: RuntimeError: boom", "snapshot": {}}],
        "camera": {"capturing": True, "fps": 4.9, "error": "frame timeout"},
        "mood": {"mood": "sad", "valence": -0.4, "arousal": -0.2, "confidence": 0.7,
                 "faces": 1},
        "presence": {"people": 1},
        "player": {"state": "playing", "track_name": "Tune", "artists": "Act",
                   "speaker": "Den", "mood": "sad", "volume": 35},
        "errors": [{"key": "service.player", "source": "service", "message": "player failed",
                    "hint": "see logs"}],
        "listener": {"user_id": "mmp_a", "display_name": "Ann"},
        "loop_lag_ms": 1.5, "bus": {"dropped": 3},
    }
    text = render({"live": live, "running": True, "database": {"exists": False},
                   "disk": {}}, now=now)
    assert "running (pid 42, up 1 h 1 min)" in text
    assert "vision" in text and "fps 4.9" in text
    assert "player     failed" in text and "RuntimeError: boom" in text
    assert "last error: frame timeout" in text
    assert "sad (valence -0.40" in text and "1 person" in text
    assert 'Den: playing: "Tune" by Act' in text
    assert "[service] player failed (see logs)" in text
    assert "bus drops 3" in text


def test_render_says_why_when_the_snapshot_cannot_be_read() -> None:
    text = render({"live": None, "running": True, "database": {"exists": False}, "disk": {},
                   "status_error": "cannot read /run/mooddj/status.json: permission denied; "
                                   "use sudo or add this user to the mooddj group"})
    assert text.splitlines()[0].startswith("MoodDJ: state unknown: cannot read")
