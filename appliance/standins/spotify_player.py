"""The Spotify stand-in's Connect world: virtual speakers and one account player.

Playback advances with an injectable clock times a speed factor, so tests and
the soak run can compress hours of music; a track that ends starts the next one
from the queue, then from the context. Volume changes are logged with their
times so fades can be asserted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.standins.catalog import CatalogTrack


def device_id_for(name: str, generation: int = 0) -> str:
    """A stable 40-hex-character device id like Spotify's."""
    return hashlib.sha1(f"mooddj-sim-device:{name}:{generation}".encode()).hexdigest()  # noqa: S324


@dataclass
class SimSpeaker:
    """A virtual Connect device."""

    name: str
    type: str = "Speaker"
    is_restricted: bool = False
    supports_volume: bool = True
    volume: int = 50
    sleeps_after: float | None = None  # idle seconds (clock) before it leaves the device list
    asleep: bool = False
    last_used: float = 0.0
    generation: int = 0
    volume_log: list[tuple[float, int]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The device id (changes with `generation`)."""
        return device_id_for(self.name, self.generation)

    def to_json(self, active: bool) -> dict[str, Any]:
        """The device object of `GET /me/player/devices`."""
        return {"id": self.id, "is_active": active, "is_private_session": False,
                "is_restricted": self.is_restricted, "name": self.name, "type": self.type,
                "volume_percent": self.volume if self.supports_volume else None,
                "supports_volume": self.supports_volume}


@dataclass
class PlayEvent:
    t: float  # clock time the track started
    track_id: str
    why: str  # play | end | next | previous


class SimPlayer:
    """The account's player state (one active device at a time)."""

    def __init__(self, tracks: dict[str, CatalogTrack], clock: Callable[[], float] | None = None,
                 speed: float = 1.0) -> None:
        self.tracks = tracks
        self.clock = clock or time.monotonic
        self.speed = speed
        self.speakers: list[SimSpeaker] = []
        self.active_id: str | None = None
        self.is_playing = False
        self.current: CatalogTrack | None = None
        self.context: list[str] = []
        self.context_uri: str | None = None
        self.context_index = 0
        self.queue: list[str] = []
        self._base_ms = 0.0
        self._since = self.clock()
        self.history: list[PlayEvent] = []

    # -- speakers ---------------------------------------------------------------

    def add_speaker(self, speaker: SimSpeaker) -> SimSpeaker:
        """Add a virtual speaker (awake, just used)."""
        speaker.last_used = self.clock()
        self.speakers.append(speaker)
        return speaker

    def speaker(self, name_or_id: str) -> SimSpeaker | None:
        """The speaker with this name or id."""
        return next((s for s in self.speakers if name_or_id in (s.name, s.id)), None)

    def visible(self) -> list[SimSpeaker]:
        """Speakers in the device list now (asleep ones are not)."""
        self.tick()
        return [s for s in self.speakers if not s.asleep]

    def active(self) -> SimSpeaker | None:
        """The active device, if it is visible."""
        return next((s for s in self.visible() if s.id == self.active_id), None)

    def wake(self, name: str) -> None:
        """Bring a speaker back into the device list."""
        sp = self.speaker(name)
        if sp is not None:
            sp.asleep = False
            sp.last_used = self.clock()

    def sleep(self, name: str) -> None:
        """Take a speaker out of the device list now."""
        sp = self.speaker(name)
        if sp is not None:
            sp.asleep = True
            if self.active_id == sp.id:
                self.pause()
                self.active_id = None

    def _update_sleep(self, now: float) -> None:
        for sp in self.speakers:
            if sp.asleep or sp.sleeps_after is None:
                continue
            busy = sp.id == self.active_id and self.is_playing
            if busy:
                sp.last_used = now
            elif now - sp.last_used > sp.sleeps_after:
                sp.asleep = True
                if self.active_id == sp.id:
                    self.active_id = None

    def touch(self, speaker: SimSpeaker) -> None:
        """Note that the speaker was just used (resets its idle timer)."""
        speaker.last_used = self.clock()

    # -- time ---------------------------------------------------------------------

    def progress_ms(self, now: float | None = None) -> int:
        """Position in the current track at `now`."""
        now = self.clock() if now is None else now
        if not self.is_playing:
            return int(self._base_ms)
        return int(self._base_ms + (now - self._since) * 1000.0 * self.speed)

    def tick(self) -> None:
        """Apply track ends (and speakers falling asleep) up to now."""
        now = self.clock()
        while self.is_playing and self.current is not None:
            left_ms = self.current.duration_ms - self._base_ms
            end_t = self._since + left_ms / (1000.0 * self.speed)
            if end_t > now:
                break
            self._advance("end", at=end_t)
        self._update_sleep(now)

    def _start(self, track_id: str, why: str, at: float, position_ms: float = 0.0) -> None:
        self.current = self.tracks[track_id]
        self._base_ms = position_ms
        self._since = at
        self.history.append(PlayEvent(at, track_id, why))

    def _advance(self, why: str, at: float) -> None:
        if self.queue:
            self._start(self.queue.pop(0), why, at)
        elif self.context and self.context_index + 1 < len(self.context):
            self.context_index += 1
            self._start(self.context[self.context_index], why, at)
        else:
            self.is_playing = False
            self._base_ms = 0.0
            self._since = at
            if why != "end":
                self.current = None

    # -- commands -------------------------------------------------------------------

    def play(self, track_ids: list[str], context_uri: str | None = None, offset: int = 0,
             position_ms: int = 0) -> None:
        """Start `track_ids` (a context) at `offset`, from `position_ms`."""
        self.tick()
        self.context = list(track_ids)
        self.context_uri = context_uri
        self.context_index = max(0, min(offset, len(track_ids) - 1))
        self.is_playing = True
        self._start(self.context[self.context_index], "play", self.clock(), float(position_ms))

    def resume(self) -> bool:
        """Resume the current track; False if there is none."""
        self.tick()
        if self.current is None:
            return False
        if not self.is_playing:
            self._since = self.clock()
            self.is_playing = True
        return True

    def pause(self) -> bool:
        """Pause; False if already paused."""
        self.tick()
        if not self.is_playing:
            return False
        self._base_ms = self.progress_ms()
        self.is_playing = False
        return True

    def next(self) -> None:
        """Skip to the next track (queue first, then the context)."""
        self.tick()
        was_playing = self.is_playing
        self.is_playing = True
        self._advance("next", self.clock())
        if not was_playing and self.current is not None:
            self.is_playing = was_playing

    def previous(self) -> None:
        """Restart the track, or go back one in the context."""
        self.tick()
        if self.current is None:
            return
        if self.progress_ms() > 3000 or self.context_index == 0 or not self.context:
            self._start(self.current.id, "previous", self.clock())
        else:
            self.context_index -= 1
            self._start(self.context[self.context_index], "previous", self.clock())

    def add_to_queue(self, track_id: str) -> None:
        """Append a track to the queue."""
        self.tick()
        self.queue.append(track_id)

    def set_volume(self, speaker: SimSpeaker, volume: int) -> None:
        """Set and log a speaker's volume."""
        speaker.volume = volume
        speaker.volume_log.append((self.clock(), volume))
        self.touch(speaker)

    def transfer(self, speaker: SimSpeaker, play: bool) -> None:
        """Make `speaker` the active device, playing if `play`."""
        self.tick()
        if self.is_playing:  # keep the position across the move
            self._base_ms = self.progress_ms()
            self._since = self.clock()
        self.active_id = speaker.id
        self.touch(speaker)
        if play and self.current is not None:
            self.resume()

    def snapshot(self) -> dict[str, Any]:
        """What plays where, for the /sim page."""
        self.tick()
        cur = self.current
        return {
            "active_device": next((s.name for s in self.speakers if s.id == self.active_id), None),
            "is_playing": self.is_playing,
            "track": {"id": cur.id, "name": cur.name, "artists": cur.artists,
                      "duration_ms": cur.duration_ms} if cur else None,
            "progress_ms": self.progress_ms(),
            "queue": [self.tracks[t].name for t in self.queue],
            "speakers": [{"name": s.name, "id": s.id, "asleep": s.asleep, "volume": s.volume,
                          "restricted": s.is_restricted} for s in self.speakers],
        }
