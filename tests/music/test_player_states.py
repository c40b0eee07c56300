"""The player's state machine against an honest in-process Spotify double (short tracks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from music_player_fakes import FakeSpotify, make_tracks, seed

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    ListenerChanged,
    ManualMood,
    MoodReading,
    PairingWindow,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import PlayerConfig
from appliance.core.store import Store
from appliance.music.errors import SpotifyUnavailable
from appliance.music.player import PlayerService
from appliance.music.selector import Selector
from appliance.music.speakers import SpeakerManager

TRACKS = make_tracks(40, duration_ms=2500)


@dataclass
class Rig:
    player: PlayerService
    api: FakeSpotify
    bus: Bus
    store: Store
    events: list
    selector: Selector

    def reading(self, mood: str, faces: int = 1) -> None:
        self.bus.publish(MoodReading(faces=faces, valence=0.0, arousal=0.0, mood=mood,
                                     confidence=0.9, stable=True))

    async def until(self, pred: Callable[[], bool], timeout: float = 6.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls={self.api.names()[-12:]} "
                                     f"phase={self.player.phase}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = Store.open(tmp_path / "m.db")
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    await seed(store, TRACKS, users=("mmp_a", "mmp_b"))
    api = FakeSpotify([t for t, _ in TRACKS])
    cfg = PlayerConfig(empty_room_minutes=0.01, resume_within_minutes=1.0, fade_seconds=0.2,
                       default_volume=40)
    speakers = SpeakerManager(api, store, bus, _SpotifyCfg())  # type: ignore[arg-type]
    speakers.step_seconds = 0.05
    selector = Selector(api, store, None, cfg)
    player = PlayerService(api=api, speakers=speakers, selector=selector, store=store, bus=bus,
                           config=cfg, dwell_seconds=0.5, poll_seconds=0.3,
                           queue_lead_seconds=0.3, retry_initial=0.2)
    sub = bus.subscribe(name="test")
    events: list = []

    async def collect() -> None:
        async for ev in sub:
            events.append(ev)
    collector = asyncio.create_task(collect())
    await player.start()
    task = asyncio.create_task(player.run())
    yield Rig(player, api, bus, store, events, selector)
    task.cancel()
    collector.cancel()
    await asyncio.gather(task, collector, return_exceptions=True)
    await player.stop()
    store.close()


@dataclass(frozen=True)
class _SpotifyCfg:
    devices_refresh_seconds: float = 180.0


async def _start_playing(rig: Rig, mood: str = "happy") -> None:
    rig.bus.publish(PresenceChanged(people=2, previous=0))
    rig.reading(mood)
    await rig.until(lambda: rig.player.phase == "playing")


async def test_people_and_a_stable_mood_start_music_with_a_fade_in(rig: Rig) -> None:
    rig.reading("happy")  # a mood alone, nobody counted present yet by presence: starts
    await _start_playing(rig)
    await rig.until(lambda: rig.api.volume == 40)
    names = rig.api.names()
    assert names.count("play") == 1
    vols = [c.args["percent"] for c in rig.api.calls if c.name == "set_volume"]
    assert vols[0] == 0 and vols[-1] == 40 and vols == sorted(vols)
    assert rig.player.music_mood == "happy"
    states = [e for e in rig.events if isinstance(e, PlayerState)]
    assert states[-1].state == "playing" and states[-1].mood == "happy"
    assert states[-1].speaker == "Living Room" and states[-1].track_id


async def test_sustained_mood_change_queues_and_switches_at_the_track_boundary(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    first = rig.player.track
    assert first is not None
    play_at = next(c.at for c in rig.api.calls if c.name == "play")
    rig.reading("sad")
    await rig.until(lambda: "queue" in rig.api.names())
    queued_at = next(c.at for c in rig.api.calls if c.name == "queue")
    assert queued_at - play_at < first.duration_ms / 1000  # queued while the song still plays
    assert rig.player.music_mood == "happy"  # not switched mid-song
    await rig.until(lambda: rig.player.music_mood == "sad")
    assert time.monotonic() - play_at >= first.duration_ms / 1000 - 0.05
    names = rig.api.names()
    assert names.count("play") == 1 and "next" not in names  # nothing cut the song
    queued_uri = next(c.args["uri"] for c in rig.api.calls if c.name == "queue")
    assert rig.api.current is not None and rig.api.current.uri == queued_uri


async def test_a_short_mood_blip_inside_the_dwell_time_changes_nothing(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.reading("sad")
    await asyncio.sleep(0.2)
    rig.reading("happy")
    await asyncio.sleep(0.6)
    queued = [c for c in rig.api.calls if c.name == "queue"]
    assert all(rig.api.by_uri[c.args["uri"]] for c in queued)
    assert rig.player.music_mood == "happy"
    assert rig.player.queued is None or rig.player.queued.mood == "happy"


async def test_empty_room_fades_out_and_pauses_then_people_return_and_it_resumes(rig) -> None:
    await _start_playing(rig)
    await rig.until(lambda: rig.api.volume == 40)
    n_before = len(rig.api.calls)
    rig.bus.publish(PresenceChanged(people=0, previous=2))
    await rig.until(lambda: rig.player.phase == "paused")
    after = rig.api.calls[n_before:]
    names = [c.name for c in after]
    pause_i = names.index("pause")
    fade = [c.args["percent"] for c in after[:pause_i] if c.name == "set_volume"]
    assert len(fade) >= 2 and fade[-1] == 0 and fade == sorted(fade, reverse=True)
    assert rig.player.paused_by == "empty"
    assert rig.api.paused_pos is not None
    rig.bus.publish(PresenceChanged(people=1, previous=0))
    await rig.until(lambda: rig.player.phase == "playing")
    assert "resume" in rig.api.names()[n_before:]
    assert rig.api.paused_pos is None
    assert rig.api.names().count("play") == 1  # resumed, not restarted


async def test_manual_mood_holds_until_its_time_then_the_room_wins(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.bus.publish(ManualMood(mood="angry", until=time.time() + 1.5))
    await rig.until(lambda: rig.player.music_mood == "angry")
    for _ in range(4):
        rig.reading("sad")
        await asyncio.sleep(0.2)
    assert rig.player._heading() == "angry"  # the room's sad mood waits
    await rig.until(lambda: rig.player._heading() == "sad", timeout=4.0)
    assert rig.player.manual is None


async def test_privacy_keeps_the_music_and_freezes_the_mood(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.bus.publish(PrivacyChanged(enabled=True))
    await asyncio.sleep(0.05)
    rig.bus.publish(PresenceChanged(people=0, previous=2))
    for _ in range(5):
        rig.reading("sad")
        await asyncio.sleep(0.2)
    assert rig.player.phase == "playing"
    assert "pause" not in rig.api.names()
    assert rig.player._heading() == "happy"


async def test_network_loss_keeps_state_shows_error_and_resumes(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.api.fail_with = SpotifyUnavailable()
    rig.reading("sad")
    await rig.until(lambda: any(isinstance(e, ErrorRaised) for e in rig.events))
    await asyncio.sleep(0.6)
    assert rig.player.phase == "playing" and rig.player.music_mood == "happy"
    assert rig.player.retry_at > 0
    failed = [c for c in rig.api.calls if c.name.endswith("!failed")]
    assert 1 <= len(failed) <= 8  # backed off, not hammering
    rig.api.fail_with = None
    await rig.until(lambda: any(isinstance(e, ErrorCleared) for e in rig.events))
    await rig.until(lambda: rig.player.music_mood == "sad", timeout=8.0)
    assert rig.api.names().count("play") == 1


async def test_next_press_skips_exactly_one_track_and_counts_an_early_skip(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    skipped = rig.player.track
    assert skipped is not None
    rig.bus.publish(ButtonGesture(gesture="next_press"))
    await rig.until(lambda: "next" in rig.api.names())
    await asyncio.sleep(0.1)
    assert rig.api.names().count("next") == 1
    assert rig.api.current is not None and rig.api.current.id != skipped.id
    rows = rig.store.read_sync(lambda db: list(db.query("SELECT * FROM feedback")))
    assert [(r["track_id"], r["kind"], r["mood"]) for r in rows] == [(skipped.id, "skip", "happy")]


async def test_next_hold_records_a_like(rig: Rig) -> None:
    await _start_playing(rig, "sad")
    liked = rig.player.track
    rig.bus.publish(ButtonGesture(gesture="next_hold"))
    await rig.until(lambda: rig.store.read_sync(
        lambda db: db["feedback"].count) == 1)
    row = rig.store.read_sync(lambda db: next(iter(db.query("SELECT * FROM feedback"))))
    assert liked is not None and row["track_id"] == liked.id and row["kind"] == "like"


async def test_play_press_toggles_even_while_a_browser_asks_to_pair(rig: Rig) -> None:
    await _start_playing(rig)
    rig.bus.publish(PairingWindow(open=True, until=time.time() + 30))
    rig.bus.publish(ButtonGesture(gesture="play_press"))
    await rig.until(lambda: rig.player.phase == "paused")
    assert rig.player.paused_by == "user"
    rig.bus.publish(ButtonGesture(gesture="play_press"))
    await rig.until(lambda: rig.player.phase == "playing")


async def test_listener_next_cycles_linked_users(rig: Rig) -> None:
    await _start_playing(rig)
    assert rig.player.listener == "mmp_a"
    rig.bus.publish(ButtonGesture(gesture="listener_next"))
    await rig.until(lambda: any(isinstance(e, ListenerChanged) for e in rig.events))
    changed = next(e for e in rig.events if isinstance(e, ListenerChanged))
    assert changed.user_id == "mmp_b" and changed.display_name == "MMP_B"
    assert rig.store.get_setting("active_listener") == "mmp_b"
    await rig.until(lambda: rig.player.listener == "mmp_b" and rig.player.phase == "playing")


async def test_nothing_to_play_waits_and_says_what_to_do(rig: Rig) -> None:
    rig.api.library = []  # an empty library, no mood playlists, and search finds nothing
    rig.bus.publish(PresenceChanged(people=1, previous=0))
    rig.reading("sad")
    await rig.until(lambda: any(isinstance(e, PlayerState) and e.state == "waiting"
                                for e in rig.events))
    waiting = next(e for e in rig.events if isinstance(e, PlayerState) and e.state == "waiting")
    assert "No sad tracks" in waiting.detail and "playlists" in waiting.detail
    await asyncio.sleep(0.3)
    assert rig.player.phase == "idle" and "play" not in rig.api.names()
    assert rig.api.names().count("saved_tracks") == 1  # not retried on every reading
