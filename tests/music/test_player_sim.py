"""The player over real HTTP: real SpotifyApi and SpeakerManager against the Spotify stand-in,
ReccoBeatsProvider against the features stand-in, all on one simulated clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from player_rig import Rig, standin_rig

from appliance.core.bus import ButtonGesture, ErrorCleared, ErrorRaised, LinkState, PlayerState
from appliance.standins.catalog import by_id

pytestmark = pytest.mark.timeout(120)


def _uris(rig: Rig, method: str, suffix: str) -> list[str]:
    out = []
    for _m, _p, query, body, _s, _t in rig.calls(method, suffix):
        if query.get("uri"):
            out.append(query["uri"])
        elif isinstance(body, dict) and body.get("uris"):
            out.extend(body["uris"])
    return out


async def _playing(rig: Rig, mood: str) -> None:
    await rig.presence(2)
    await rig.reading(mood)
    await rig.until(lambda: rig.player.model.phase.value == "playing", 15, "start")


async def test_mood_change_queues_and_new_music_starts_at_the_track_boundary(tmp_path: Path):
    async with standin_rig(tmp_path, speed=50.0) as rig:
        await _playing(rig, "happy")
        first = rig.sim.player.current
        await rig.reading("sad")
        await rig.until(lambda: rig.calls("POST", "/me/player/queue"), 10, "queue")
        queued = _uris(rig, "POST", "/me/player/queue")[0]
        assert rig.sim.player.current is first  # queued while the happy song still plays
        await rig.until(lambda: rig.player.model.music_mood == "sad", 15, "boundary")
        history = rig.sim.player.history
        log = [(m, p, s) for m, p, _q, _b, s, _t in rig.sim.requests if "/v1/me/player" in p]
        assert [h.why for h in history[:2]] == ["play", "end"], (history, log)
        assert history[1].track_id == queued.rsplit(":", 1)[1]
        played = [rig.calls("PUT", "/me/player/play"), rig.calls("POST", "/me/player/next")]
        assert len(played[0]) == 1 and played[1] == []  # nothing cut the happy song
        happy, sad = by_id()[first.id], by_id()[history[1].track_id]
        assert sad.valence < happy.valence
        await rig.until(lambda: any(
            isinstance(e, PlayerState) and e.mood == "sad" and e.track_id == sad.id
            for e in rig.events), 10, "published state")
        plays = rig.store.read_sync(lambda db: [(r["track_id"], r["mood"]) for r in db.query(
            "SELECT * FROM plays ORDER BY id")])
        assert plays[:2] == [(happy.id, "happy"), (sad.id, "sad")]


async def test_empty_room_fades_out_then_pauses_and_resumes_when_people_return(tmp_path):
    async with standin_rig(tmp_path, speed=2.0, empty_room_minutes=0.01,
                           fade_seconds=0.4) as rig:
        await _playing(rig, "neutral")
        speaker = rig.sim.player.speaker("Living Room")
        await rig.until(lambda: speaker.volume == 40, 5, "fade in")
        mark = len(speaker.volume_log)
        await rig.presence(0)
        await rig.until(lambda: rig.calls("PUT", "/me/player/pause"), 5, "pause")
        pause_t = rig.calls("PUT", "/me/player/pause")[0][5]
        fade = [(t, v) for t, v in speaker.volume_log[mark:] if t <= pause_t]
        # The restore to 40 follows the pause at the same simulated instant: not the fade's.
        fade = fade[:max(i for i, (_t, v) in enumerate(fade) if v == 0) + 1]
        assert len(fade) >= 3 and fade[-1][1] == 0
        assert [v for _, v in fade] == sorted((v for _, v in fade), reverse=True)
        assert not rig.sim.player.is_playing
        await rig.until(lambda: speaker.volume == 40, 5, "volume restored after the pause")
        await rig.presence(1)
        await rig.until(lambda: rig.player.model.phase.value == "playing", 5, "resume")
        assert rig.sim.player.is_playing
        plays = rig.calls("PUT", "/me/player/play")
        assert len(plays) == 2 and plays[1][3] in (None, {})  # resumed, not a new track


async def test_spotify_outage_keeps_state_and_resumes_when_it_answers(tmp_path: Path) -> None:
    async with standin_rig(tmp_path, speed=30.0) as rig:
        await _playing(rig, "happy")
        port = rig.sim.port
        await rig.sim.stop()
        await rig.reading("sad")
        await rig.until(lambda: any(isinstance(e, ErrorRaised) for e in rig.events), 10)
        await rig.wait(0.5)
        assert rig.player.model.phase.value == "playing"
        assert rig.player.model.music_mood == "happy"
        await rig.sim.start(port=port)
        await rig.until(lambda: any(isinstance(e, ErrorCleared) for e in rig.events), 15)
        await rig.until(lambda: _uris(rig, "POST", "/me/player/queue"), 15, "queue")
        await rig.until(lambda: rig.player.model.music_mood == "sad", 20, "boundary")
        assert len(rig.calls("PUT", "/me/player/play")) == 1


async def test_rate_limit_on_the_poll_is_honoured_and_playback_goes_on(tmp_path: Path) -> None:
    async with standin_rig(tmp_path, speed=50.0, poll_seconds=0.2) as rig:
        await _playing(rig, "happy")
        rig.sim.inject("GET", r"/me/player$", 429, retry_after=1)
        n = len(rig.calls("GET", "/me/player"))
        await rig.until(lambda: any(r[4] == 429 for r in rig.calls("GET", "/me/player")), 5)
        await rig.wait(0.6)
        assert len(rig.calls("GET", "/me/player")) == n + 1  # waited out Retry-After
        assert rig.player.model.phase.value == "playing"
        await rig.until(lambda: len(rig.calls("GET", "/me/player")) > n + 1, 5, "poll again")


async def test_next_press_skips_one_track_even_when_spotify_answers_502(tmp_path: Path) -> None:
    async with standin_rig(tmp_path, speed=1.0) as rig:
        await _playing(rig, "happy")
        before = len(rig.sim.player.history)
        rig.sim.inject("POST", r"/me/player/next$", 502, applied=True)
        await rig.publish(ButtonGesture(gesture="next_press"))
        await rig.until(lambda: rig.calls("POST", "/me/player/next"), 5, "next")
        await rig.wait(0.5)
        assert len(rig.calls("POST", "/me/player/next")) == 1
        assert [h.why for h in rig.sim.player.history[before:]] == ["next"]
        skipped = rig.store.read_sync(lambda db: [r["kind"] for r in db.query(
            "SELECT kind FROM feedback")])
        assert skipped == ["skip"]


async def test_a_sleeping_speaker_is_reported_and_music_starts_when_it_wakes(tmp_path: Path):
    async with standin_rig(tmp_path, speed=10.0) as rig:
        await rig.stack.svc.speakers.choose(rig.sim.speaker_id("Kitchen"), "Kitchen", 35)
        rig.sim.sleep("Kitchen")
        await rig.presence(1)
        await rig.reading("neutral")
        await rig.until(lambda: any(isinstance(e, LinkState) and e.state == "speaker_missing"
                                    for e in rig.events), 5, "speaker_missing")
        await rig.until(lambda: any(isinstance(e, PlayerState) and e.state == "waiting"
                                    for e in rig.events), 5, "waiting state")
        assert rig.calls("PUT", "/me/player/play") == []
        rig.sim.wake("Kitchen")
        await rig.until(lambda: rig.player.model.phase.value == "playing", 10,
                        "start after wake")
        assert rig.sim.player.active().name == "Kitchen"


async def test_someone_playing_from_the_spotify_app_makes_the_box_back_off(tmp_path: Path):
    async with standin_rig(tmp_path, speed=1.0, poll_seconds=15.0) as rig:
        await _playing(rig, "happy")
        ours = {h.track_id for h in rig.sim.player.history}
        other = next(t for t in rig.sim.player.tracks if t not in ours)
        rig.sim.player.play([other])  # from the phone, on the same account and speaker
        await rig.until(lambda: rig.player.model.phase.value == "away", 20, "away")
        state = [e for e in rig.events if isinstance(e, PlayerState)][-1]
        assert state.state == "paused" and "Spotify app" in state.detail
        n = len(rig.sim.requests)
        await rig.reading("sad")
        await rig.presence(0)
        await rig.wait(120.0)
        after = [(r[0], r[1]) for r in rig.sim.requests[n:] if r[1].startswith("/v1/")]
        assert set(after) == {("GET", "/v1/me/player")}  # no queue, no fade, no pause
        assert len(after) <= 120 / 5
        assert rig.sim.player.current is not None and rig.sim.player.current.id == other


async def test_restriction_violated_on_play_leaves_play_working(tmp_path: Path) -> None:
    async with standin_rig(tmp_path, speed=10.0) as rig:
        speaker = rig.sim.player.speaker("Living Room")
        rig.sim.inject("PUT", r"/me/player/play$", 403, reason="UNKNOWN",
                       message="Player command failed: Restriction violated")
        await rig.presence(1)
        await rig.reading("happy")
        await rig.settle()
        assert rig.player.model.phase.value == "idle"  # not stuck in "starting"
        assert speaker.volume == 40  # the box had set 0 for the fade-in: restored
        shown = [e for e in rig.events if isinstance(e, PlayerState)][-1]
        assert "Restriction violated" in shown.detail
        await rig.publish(ButtonGesture(gesture="play_press"))
        await rig.until(lambda: rig.player.model.phase.value == "playing", 5, "Play works")
        assert rig.sim.player.is_playing
