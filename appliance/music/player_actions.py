"""The player's actions on the speaker: start, queue, poll, fade, resume, skip, like.

A mixin of `PlayerService` (appliance/music/player.py), which owns the state
these methods read and change; kept apart so each file stays readable.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.music import listeners
from appliance.music.errors import DeviceNotControllable, Restricted, SpotifyError
from appliance.music.moods import MoodTarget, load_targets, target_for_reading
from appliance.music.spotify_models import Device, Playback, Track

logger = logging.getLogger(__name__)

RETRY_MAX = 60.0
PAUSED_POLL_SECONDS = 30.0  # while paused, notice a resume from the Spotify app this often


class PlayerApi(Protocol):
    """The Spotify calls the player makes (satisfied by `SpotifyApi`)."""

    async def playback(self, user_id: str) -> Playback: ...

    async def play(self, user_id: str, *, device_id: str, uris: list[str] | None = None,
                   context_uri: str | None = None, position_ms: int | None = None) -> None: ...

    async def resume(self, user_id: str, *, device_id: str) -> None: ...

    async def pause(self, user_id: str, *, device_id: str) -> None: ...

    async def next(self, user_id: str, *, device_id: str) -> None: ...

    async def queue(self, user_id: str, uri: str, *, device_id: str) -> None: ...

    async def set_volume(self, user_id: str, percent: int, *, device_id: str) -> None: ...


class Speakers(Protocol):
    """What the player needs of `SpeakerManager`."""

    async def resolve(self, user_id: str) -> Device: ...

    async def chosen(self) -> dict[str, Any]: ...

    async def ramp(self, user_id: str, device: Device | str, from_pct: int, to_pct: int,
                   seconds: float) -> int: ...


class NothingToPlay(Exception):
    """No track fits the mood (empty library, no features, search found nothing)."""


@dataclass
class Queued:
    """The track queued to follow the current one, and the mood it was chosen for."""

    track: Track
    mood: str


class PlayerActions:
    """Commands to Spotify; every method runs inside `PlayerService._guard`."""

    # State owned by PlayerService (declared here for readers and type checkers).
    api: PlayerApi
    speakers: Speakers
    selector: Any
    store: Any
    bus: Any
    config: Any
    clock: Any
    poll_seconds: float
    listener: str | None
    phase: str
    paused_by: str
    paused_at: float
    music_mood: str
    room_mood: str | None
    room_reading: Any
    manual: tuple[str, float] | None
    privacy: bool
    people: int
    empty_since: float | None
    candidate: tuple[str, float] | None
    track: Track | None
    track_started: float
    queued: Queued | None
    device: Device | None
    device_stale: bool
    volume: int
    next_poll: float

    def _publish_state(self, state: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    def _retry(self, err: Exception, delay: float, *, state: str | None = None,
               offline: bool = False) -> None:
        raise NotImplementedError

    # -- moods and targets ------------------------------------------------------------------

    def _effective_mood(self) -> str | None:
        if self.manual and self.manual[1] > self.clock():
            return self.manual[0]
        if self.privacy:
            return self.music_mood or self.room_mood
        return self.room_mood

    def _heading(self) -> str:
        """The mood the music is on or already heading to (queued)."""
        return self.queued.mood if self.queued else self.music_mood

    def _target(self, mood: str) -> MoodTarget:
        targets = load_targets(self.store)
        reading = self.room_reading
        if reading is not None and reading.mood == mood and not self.manual:
            return target_for_reading(reading, targets)
        return targets[mood]

    def _track_end(self) -> float:
        if self.track is None:
            return float("inf")
        return self.track_started + self.track.duration_ms / 1000.0

    # -- actions --------------------------------------------------------------------------

    async def _pick(self, mood: str) -> Track | None:
        assert self.listener is not None
        avoid = [t.id for t in (self.track, self.queued.track if self.queued else None) if t]
        tracks = await self.selector.pick(self.listener, mood, self._target(mood), count=1,
                                          avoid=avoid)
        return tracks[0] if tracks else None

    async def _speaker(self) -> Device:
        assert self.listener is not None
        self.device = await self.speakers.resolve(self.listener)
        chosen = await self.speakers.chosen()
        self.volume = int(chosen.get("volume") or self.config.default_volume)
        return self.device

    async def _current_device(self) -> Device:
        """The speaker as last resolved; resolved again after any failure."""
        if self.device is None or self.device_stale:
            await self._speaker()
            self.device_stale = False
        assert self.device is not None
        return self.device

    async def _set_volume(self, device: Device, pct: int) -> None:
        assert self.listener is not None
        try:
            await self.api.set_volume(self.listener, pct, device_id=device.id)
        except DeviceNotControllable as err:
            if err.reason != "VOLUME_CONTROL_DISALLOW":
                raise

    async def _start(self, mood: str) -> None:
        assert self.listener is not None
        device = await self._speaker()
        track = await self._pick(mood)
        if track is None:
            raise NothingToPlay(f"No {mood} tracks found in the listener's library; add "
                                f"playlists for this mood on the music page.")
        await self._set_volume(device, 0)
        self.phase = "starting"
        await self.api.play(self.listener, device_id=device.id, uris=[track.uri])
        await self._now_playing(track, mood, self.clock())
        self.phase = "playing"
        self.queued = None
        self.candidate = None
        if self.people == 0 and self.empty_since is None and not self.privacy:
            self.empty_since = self.clock()
        self._publish_state()
        await self.speakers.ramp(self.listener, device, 0, self.volume, self.config.fade_seconds)

    async def _now_playing(self, track: Track, mood: str, started: float) -> None:
        assert self.listener is not None
        self.track, self.music_mood, self.track_started = track, mood, started
        self.next_poll = self.clock() + min(self.poll_seconds,
                                            max(0.2, track.duration_ms / 1000.0 + 0.3))
        await self.selector.played(self.listener, track.id, mood, started)

    async def _queue_mood(self, mood: str) -> None:
        """Queue `mood`'s next track to follow the current one (the song is not cut)."""
        assert self.listener is not None
        if self.queued is not None and self.queued.mood == mood:
            return
        track = await self._pick(mood)
        if track is None:
            return
        device = await self._current_device()
        await self.api.queue(self.listener, track.uri, device_id=device.id)
        self.queued = Queued(track, mood)
        logger.info("player: queued a %s track for the next boundary", mood)
        self._publish_state()

    async def _change_now(self, mood: str) -> None:
        await self._queue_mood(mood)
        await self._skip(feedback=False)

    async def _poll(self) -> None:
        assert self.listener is not None
        pb = await self.api.playback(self.listener)
        now = self.clock()
        self.next_poll = now + self.poll_seconds
        if self.phase != "playing" or self.track is None:
            return
        if pb.track is not None and pb.track.id != self.track.id:
            if self.queued is not None and pb.track.id == self.queued.track.id:
                mood = self.queued.mood
                self.queued = None
            else:
                mood = self.music_mood  # changed elsewhere (phone, queue we did not make)
            await self._now_playing(pb.track, mood, now - pb.progress_ms / 1000.0)
            self._publish_state()
        elif not pb.is_playing:
            ended = pb.track is None or pb.progress_ms == 0 or \
                pb.progress_ms >= self.track.duration_ms - 1500
            if ended:
                await self._continue_after_end()
                return
            self.phase, self.paused_by, self.paused_at = "paused", "external", now
            self.next_poll = now + PAUSED_POLL_SECONDS
            self._publish_state(detail="paused from another app")
            return
        else:
            self.track_started = now - pb.progress_ms / 1000.0
        remaining = self._track_end() - now
        self.next_poll = now + min(self.poll_seconds, max(0.2, remaining + 0.3))

    async def _check_paused(self) -> None:
        """While paused, notice playback resumed from elsewhere (the Spotify app)."""
        assert self.listener is not None
        pb = await self.api.playback(self.listener)
        now = self.clock()
        self.next_poll = now + PAUSED_POLL_SECONDS
        if pb.is_playing and pb.track is not None:
            logger.info("player: playback was resumed from another app")
            self.phase, self.paused_by = "playing", ""
            if self.track is None or pb.track.id != self.track.id:
                await self._now_playing(pb.track, self.music_mood or "neutral",
                                        now - pb.progress_ms / 1000.0)
            self.next_poll = now + self.poll_seconds
            if self.people == 0 and not self.privacy and self.empty_since is None:
                self.empty_since = now
            self._publish_state()

    async def _continue_after_end(self) -> None:
        """The list ran out (no queued track reached Spotify): play the next pick."""
        assert self.listener is not None
        mood = self._heading() or self._effective_mood() or "neutral"
        track = self.queued.track if self.queued else await self._pick(mood)
        if track is None:
            return
        device = await self._current_device()
        await self.api.play(self.listener, device_id=device.id, uris=[track.uri])
        self.queued = None
        await self._now_playing(track, mood, self.clock())
        self._publish_state()

    async def _fade_out(self, why: str) -> None:
        assert self.listener is not None
        device = await self._current_device()
        self.phase = "fading"
        self._publish_state()
        await self.speakers.ramp(self.listener, device, self.volume, 0, self.config.fade_seconds)
        with contextlib.suppress(Restricted):  # already paused
            await self.api.pause(self.listener, device_id=device.id)
        self.phase, self.paused_by, self.paused_at = "paused", why, self.clock()
        self.next_poll = self.clock() + PAUSED_POLL_SECONDS
        self.queued = None
        self._publish_state()
        # Leave the speaker at its usual volume for anyone using it from the Spotify app.
        await self._set_volume(device, self.volume)

    async def _resume(self) -> None:
        assert self.listener is not None
        device = await self._speaker()
        await self._set_volume(device, 0)
        with contextlib.suppress(Restricted):  # already playing
            await self.api.resume(self.listener, device_id=device.id)
        self.phase, self.paused_by = "playing", ""
        self.next_poll = self.clock() + 0.5
        if self.people == 0 and not self.privacy:
            self.empty_since = self.clock()
        self._publish_state()
        await self.speakers.ramp(self.listener, device, 0, self.volume, self.config.fade_seconds)

    async def _toggle(self) -> None:
        if self.listener is None:
            return
        if self.phase == "playing":
            device = await self._current_device()
            with contextlib.suppress(Restricted):
                await self.api.pause(self.listener, device_id=device.id)
            self.phase, self.paused_by, self.paused_at = "paused", "user", self.clock()
            self.next_poll = self.clock() + PAUSED_POLL_SECONDS
            self._publish_state()
        elif self.phase == "paused":
            await self._resume()
        elif self.phase == "idle":
            await self._start(self._effective_mood() or "neutral")

    async def _skip(self, feedback: bool = True) -> None:
        """Skip exactly one track to the queued one (queueing one first if none is)."""
        if self.listener is None or self.phase != "playing" or self.track is None:
            return
        now = self.clock()
        if feedback and now - self.track_started <= self.config.skip_feedback_seconds:
            await self.selector.feedback(self.listener, self.track.id, self.music_mood, "skip")
        if self.queued is None:
            await self._queue_mood(self._heading())
        device = await self._current_device()
        await self.api.next(self.listener, device_id=device.id)
        if self.queued is not None:
            queued, self.queued = self.queued, None
            await self._now_playing(queued.track, queued.mood, self.clock())
        self.next_poll = self.clock() + 1.0
        self._publish_state()

    async def _like(self) -> None:
        if self.listener and self.track is not None and self.music_mood:
            await self.selector.feedback(self.listener, self.track.id, self.music_mood, "like")
            self._publish_state(detail="liked")

    async def _next_listener(self) -> None:
        new = await listeners.cycle(self.store, self.bus)
        if new is None or new == self.listener:
            return
        old, self.listener = self.listener, new
        if old and self.phase == "playing" and self.device is not None:
            with contextlib.suppress(SpotifyError):
                await self.api.pause(old, device_id=self.device.id)
        self.phase, self.paused_by, self.track, self.queued = "idle", "", None, None
        self.music_mood = ""
        self._publish_state()

    async def set_listener(self, user_id: str) -> None:
        """Make `user_id` the active listener (from the page)."""
        await listeners.set_active(self.store, self.bus, user_id)
        if user_id != self.listener:
            old, self.listener = self.listener, user_id
            if old and self.phase == "playing" and self.device is not None:
                with contextlib.suppress(SpotifyError):
                    await self.api.pause(old, device_id=self.device.id)
            self.phase, self.track, self.queued, self.music_mood = "idle", None, None, ""
            self._publish_state()

