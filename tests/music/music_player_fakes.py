"""An honest in-process Spotify double for player unit tests (simulated time, short tracks).

Playback advances with the given clock (the bench's `SimClock` in tests); a track ends
after its duration and the next queued track starts (a boundary), as Spotify
does. Every call is logged. `fail_with` makes every call raise until cleared
(network loss).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.core.settings import SPEAKER_ID, SPEAKER_NAME, SPEAKER_VOLUME, SettingsTx
from appliance.core.store import Store
from appliance.music import connections, features_cache
from appliance.music.errors import Restricted
from appliance.music.features import TrackFeatures
from appliance.music.spotify_models import Device, Playback, Track

SPEAKER = Device("dev-living", "Living Room", "Speaker", False, False, 40)


def make_tracks(n: int = 40, duration_ms: int = 1500) -> list[tuple[Track, tuple[float, ...]]]:
    """Tracks spread over the valence/energy plane, each `duration_ms` long."""
    out = []
    for i in range(n):
        tid = f"T{i:021d}"
        v = (i % 8) / 7
        e = (i // 8 % 5) / 4
        out.append((Track(tid, f"spotify:track:{tid}", f"Song {i}", "Band", duration_ms),
                    (round(v, 3), round(e, 3), 70 + e * 90)))
    return out


@dataclass
class Call:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


class FakeSpotify:
    """Implements the PlayerApi, LibraryApi and the device list SpeakerManager needs."""

    def __init__(self, tracks: list[Track], clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.library = tracks
        self.by_uri = {t.uri: t for t in tracks}
        self.calls: list[Call] = []
        self.fail_with: Exception | None = None
        self.devices_list = [SPEAKER]
        self.current: Track | None = None
        self.started = 0.0  # monotonic time the current track's position 0 was
        self.paused_pos: float | None = None
        self.queue_list: list[Track] = []
        self.volume = 40
        self.clear_device_error = lambda: None
        self.play_error: Exception | None = None  # raised by `play` (e.g. Restricted)
        self.podcast = False  # another app plays an episode: item null, not a track

    def _log(self, name: str, **args: Any) -> None:
        if self.fail_with is not None:
            self.calls.append(Call(name + "!failed", args, self.clock()))
            raise self.fail_with
        self.calls.append(Call(name, args, self.clock()))

    def names(self) -> list[str]:
        return [c.name for c in self.calls if not c.name.endswith("!failed")]

    def _advance(self) -> None:
        while self.current is not None and self.paused_pos is None:
            pos = self.clock() - self.started
            if pos < self.current.duration_ms / 1000:
                return
            end = self.started + self.current.duration_ms / 1000
            if self.queue_list:
                self.current = self.queue_list.pop(0)
                self.started = end
            else:
                self.paused_pos = 0.0  # the list ran out: stopped at the start
                return

    # -- reads --
    async def devices(self, user_id: str) -> list[Device]:
        self._log("devices")
        return list(self.devices_list)

    async def playback(self, user_id: str) -> Playback:
        self._log("playback")
        self._advance()
        if self.podcast:
            return Playback(True, None, 60_000, SPEAKER, kind="episode")
        if self.current is None:
            return Playback(False, None, 0, None)
        pos = self.paused_pos if self.paused_pos is not None else self.clock() - self.started
        return Playback(self.paused_pos is None, self.current, int(pos * 1000), SPEAKER,
                        kind="track")

    async def saved_tracks(self, user_id: str) -> list[Track]:
        self._log("saved_tracks")
        return list(self.library)

    async def playlists(self, user_id: str) -> list[dict[str, Any]]:
        self._log("playlists")
        return []

    async def playlist_tracks(self, user_id: str, playlist_id: str) -> list[Track]:
        self._log("playlist_tracks", playlist_id=playlist_id)
        return []

    async def search_tracks(self, user_id: str, query: str) -> list[Track]:
        self._log("search_tracks", query=query)
        return []

    # -- commands --
    async def play(self, user_id: str, *, device_id: str, uris: list[str] | None = None,
                   context_uri: str | None = None, position_ms: int | None = None) -> None:
        self._log("play", uris=uris, device_id=device_id)
        if self.play_error is not None:
            raise self.play_error
        self._advance()
        if uris:
            self.current = self.by_uri[uris[0]]
            self.queue_list = [self.by_uri[u] for u in uris[1:]] + self.queue_list
            self.started = self.clock()
        elif self.paused_pos is not None:
            self.started = self.clock() - self.paused_pos
        self.paused_pos = None

    async def resume(self, user_id: str, *, device_id: str) -> None:
        self._log("resume", device_id=device_id)
        if self.paused_pos is None:
            raise Restricted()
        self.started = self.clock() - self.paused_pos
        self.paused_pos = None

    async def pause(self, user_id: str, *, device_id: str) -> None:
        self._log("pause", device_id=device_id)
        self._advance()
        if self.paused_pos is not None:
            raise Restricted()
        self.paused_pos = self.clock() - self.started

    async def next(self, user_id: str, *, device_id: str) -> None:
        self._log("next", device_id=device_id)
        self._advance()
        if self.queue_list:
            self.current = self.queue_list.pop(0)
            self.started = self.clock()
            self.paused_pos = None

    async def queue(self, user_id: str, uri: str, *, device_id: str) -> None:
        self._log("queue", uri=uri, device_id=device_id)
        self._advance()
        self.queue_list.append(self.by_uri[uri])

    async def set_volume(self, user_id: str, percent: int, *, device_id: str) -> None:
        self._log("set_volume", percent=percent)
        self.volume = percent


async def seed(store: Store, tracks: list[tuple[Track, tuple[float, ...]]],
               users: tuple[str, ...] = ("mmp_a",), volume: int = 40) -> None:
    """Users with linked connections, the chosen speaker, and the tracks' features."""
    def q(db: Any) -> None:
        for n, uid in enumerate(users):
            db["users"].insert({"id": uid, "display_name": uid.upper(), "role": "owner",
                                "created_at": 1.0})
            connections.save(db, connections.Connection(
                user_id=uid, platform_user_id=uid, display_name=uid, scopes="", expires_at=0,
                linked_at=1000.0 + n, state="linked", updated_at=0))
        settings = SettingsTx(db)
        settings.set(SPEAKER_ID, SPEAKER.id)
        settings.set(SPEAKER_NAME, SPEAKER.name)
        settings.set(SPEAKER_VOLUME, volume)
        features_cache.upsert_features(db, [TrackFeatures(t.id, *f, source="csv")
                                            for t, f in tracks])
    await store.write(q)
