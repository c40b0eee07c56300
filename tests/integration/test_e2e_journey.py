"""The whole journey against a real `mooddj run --sim` process, from a face to a song.

Claim the box with the virtual Play button, sign in through the identity stand-in,
link the Spotify stand-in through the loopback callback, pick the Living Room
speaker; then the recording's mood must start a fitting song on that speaker, an
empty room must fade it out and pause it, and SIGTERM must stop the box cleanly
with STOPPING=1 on the test's NOTIFY_SOCKET.

Timings are shortened through `--config` (e2e_client.FAST_CONFIG) so the test
takes seconds instead of minutes: vision.dwell_seconds = 2 (default 8),
player.empty_room_minutes = 0.05 (3 s, default 5 min), player.fade_seconds = 1
(default 3), vision.leave_seconds = 1 and smoothing_seconds = 1, status every
0.5 s. The code paths are the same; only the waits are shorter.
"""

from __future__ import annotations

import itertools
import math
import signal
import time
from urllib.parse import urlsplit

import pytest
from e2e_client import BoxClient, BoxProcess, wait_for

from appliance.music.moods import DEFAULT_TARGETS
from appliance.standins.catalog import by_id, catalog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DWELL = 2.0  # vision.dwell_seconds in FAST_CONFIG
START_SLACK = 15.0  # seconds beyond the dwell time for the first song to start


def _distance(track_id: str, mood: str) -> float:
    t, target = by_id()[track_id], DEFAULT_TARGETS[mood]
    return math.hypot(t.valence - target.valence, t.energy - target.energy)


def _fits_mood(track_id: str, mood: str) -> bool:
    """The track is among the closest quarter of the whole catalogue to the mood's target."""
    dists = sorted(_distance(t.id, mood) for t in catalog())
    return _distance(track_id, mood) <= dists[len(dists) // 4]


def test_journey_face_to_song_then_empty_room_then_sigterm(box: BoxProcess) -> None:
    # The page answers and the box waits to be claimed.
    client = BoxClient(box.base, box.control)
    page = client.page("/")
    assert page.status_code == 200 and urlsplit(page.url).path == "/pair", page.url
    wait_for("setup step 'unclaimed'", lambda: (box.live() or {}).get("setup") == "unclaimed",
             10)

    # Claim with the virtual Play button, sign in, link Spotify, pick the speaker.
    client.claim_with_button()
    signed = client.sign_in("google")
    assert signed["created"] is True and signed["redirect"] == "/"
    assert client.link_spotify()["linked"] is True
    chosen = client.choose_speaker("Living Room", volume=40)
    assert chosen.get("name") == "Living Room"
    picked_at = time.monotonic()

    # A song chosen for the recording's mood starts on the virtual speaker.
    def playing() -> dict | None:
        sp = box.sim_state()["spotify"]
        ok = sp["is_playing"] and sp["active_device"] == "Living Room" and sp["track"]
        return sp if ok else None

    sp = wait_for("a song on the Living Room speaker", playing, DWELL + START_SLACK)
    started_in = time.monotonic() - picked_at
    print(f"first song started {started_in:.1f} s after the speaker was picked")

    def player_playing() -> dict | None:
        live = box.live() or {}
        player = live.get("player") or {}
        return live if player.get("state") == "playing" and player.get("track_id") else None

    wait_for("PlayerState playing in the status", player_playing, 5)
    status = box.status()
    live = status["live"]
    room_mood = live["mood"]["mood"]
    assert live["player"]["mood"] == room_mood, (live["player"], live["mood"])
    assert live["player"]["track_id"] == sp["track"]["id"]
    assert live["player"]["speaker"] == "Living Room"
    assert _fits_mood(sp["track"]["id"], room_mood), (sp["track"], room_mood)
    # The setup step is re-read every 3 s (core.setup_progress.CHECK_SECONDS).
    wait_for("setup step 'done'", lambda: (box.live() or {}).get("setup") == "done", 10)
    assert status["database"]["settings"]["speaker.name"] == "Living Room"
    assert status["database"]["listener"]["display_name"] == "Alex"

    # The room empties: the volume fades down step by step, then playback pauses.
    emptied_at = time.monotonic()
    client.set_camera("empty")

    def paused() -> dict | None:
        sp = box.sim_state()["spotify"]
        return sp if not sp["is_playing"] else None

    sp = wait_for("the music to pause in the empty room", paused, 25)
    box.save_json("sim-state-paused.json", sp)
    log = [v for t, v in sp["volume_log"]["Living Room"] if t >= emptied_at]
    assert 0 in log, log
    end = start = log.index(0)
    while start > 0 and log[start - 1] > log[start]:
        start -= 1
    fade = log[start: end + 1]  # the steps down to 0
    assert len(fade) >= 3 and fade[0] >= 20, f"no fade down to 0: {log}"
    assert all(a > b for a, b in itertools.pairwise(fade)), f"not decreasing: {fade}"
    calls = [(c["method"], c["path"]) for c in sp["recent_calls"]]
    assert ("PUT", "/v1/me/player/pause") in calls
    wait_for("PlayerState paused", lambda: ((box.live() or {}).get("player") or {}).get(
        "state") == "paused", 5)
    print(f"paused {time.monotonic() - emptied_at:.1f} s after the room emptied; fade {fade}")

    # SIGTERM: a clean exit and STOPPING=1 on NOTIFY_SOCKET.
    box.signal(signal.SIGTERM)
    assert box.wait_exit(30) == 0, box.stderr_tail()
    assert box.notify is not None
    wait_for("STOPPING=1 on NOTIFY_SOCKET", lambda: box.notify.has("STOPPING=1"), 2)
    assert "Traceback" not in box.stderr_path.read_text()
