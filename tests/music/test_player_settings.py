"""The player reads its settings through the box's Settings: never SQLite on the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from music_player_fakes import FakeSpotify, make_tracks, seed

from appliance.core.bus import Bus, ManualMood, MoodReading, PresenceChanged
from appliance.core.config import PlayerConfig
from appliance.core.settings import Settings
from appliance.core.store import Store
from appliance.music.moods import MOOD_TARGETS, MoodTarget
from appliance.music.player import PlayerService
from appliance.music.selector import Selector
from appliance.music.speakers import SpeakerManager
from appliance.schema import open_store

TRACKS = make_tracks(40, duration_ms=60_000)


class _SpotifyCfg:
    devices_refresh_seconds = 180.0


async def until(pred, what: str, timeout: float = 6.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"{what} did not happen"
        await asyncio.sleep(0.02)


async def test_a_pick_never_reads_sqlite_on_the_event_loop(tmp_path: Path, monkeypatch) -> None:
    """Every read a pick makes (mood targets, playlists, listener, speaker) goes off the loop."""
    on_loop: list[str] = []
    for name in ("read_sync", "write_sync"):
        blocking = getattr(Store, name)

        def spy(self, fn, *args, _blocking=blocking, _name=name, **kwargs):
            if asyncio._get_running_loop() is not None:  # called from a coroutine: blocks it
                on_loop.append(_name)
            return _blocking(self, fn, *args, **kwargs)
        monkeypatch.setattr(Store, name, spy)
    store = open_store(tmp_path / "m.db")
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    settings = Settings(store, bus)  # the box's
    await seed(store, TRACKS)
    await settings.set(MOOD_TARGETS, {"sad": MoodTarget(0.1, 0.2, 70.0)})
    api = FakeSpotify([t for t, _ in TRACKS])
    cfg = PlayerConfig(default_volume=40)
    speakers = SpeakerManager(api, store, bus, _SpotifyCfg(), settings=settings)
    speakers.step_seconds = 0.01
    selector = Selector(api, store, None, cfg, settings=settings)
    player = PlayerService(api=api, speakers=speakers, selector=selector, store=store,
                           settings=settings, bus=bus, config=cfg, dwell_seconds=0.1,
                           poll_seconds=5.0, queue_lead_seconds=0.3, retry_initial=0.2)
    await player.start()
    task = asyncio.create_task(player.run())
    try:
        bus.publish(PresenceChanged(people=1, previous=0))
        bus.publish(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="happy",
                                confidence=0.9))
        await until(lambda: player.phase == "playing", "the first pick")
        reads = settings.reads
        bus.publish(ManualMood(mood="sad", until=time.time() + 600))  # another pick, at once
        await until(lambda: player.music_mood == "sad", "the sad pick")
        assert on_loop == []
        assert settings.reads == reads  # the second pick's settings all came from the cache
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await player.stop()
        store.close()
