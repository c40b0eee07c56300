"""The player reads its settings through the box's Settings: never SQLite on the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from music_player_fakes import make_tracks
from player_rig import fake_rig

from appliance.core.bus import ManualMood
from appliance.core.store import Store
from appliance.music.moods import MOOD_TARGETS, MoodTarget

TRACKS = make_tracks(40, duration_ms=60_000)


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
    async with fake_rig(tmp_path, TRACKS) as rig:
        settings = rig.player.box_settings
        await settings.set(MOOD_TARGETS, {"sad": MoodTarget(0.1, 0.2, 70.0)})
        await rig.presence(1)
        await rig.reading("happy")
        await rig.until(lambda: rig.player.model.music_mood == "happy", what="the first pick")
        reads = settings.reads
        await rig.publish(ManualMood(mood="sad", until=rig.clock() + 600))  # a pick, at once
        await rig.until(lambda: rig.player.model.music_mood == "sad", what="the sad pick")
        assert on_loop == []
        assert settings.reads == reads  # the second pick's settings all came from the cache
