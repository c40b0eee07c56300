"""The player: follows the room's mood on the chosen speaker, driven by bus events.

idle -> people present and a stable mood -> start that mood's music (fade in)
-> a mood change that lasts longer than the dwell time queues the new mood's
first track, so it starts at the next track boundary and no song is cut ->
room empty for `empty_room_minutes` -> fade out and pause -> people back within
`resume_within_minutes` -> resume (fade in). A manual mood holds until its
`until`; privacy mode keeps the music and freezes the mood. When Spotify does
not answer, the player keeps its state and retries with backoff.

Every step is a reconciliation of what should happen with what has happened,
so a retry after an outage is the same step again, never a replayed command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    ManualMood,
    MoodReading,
    PairingWindow,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import PlayerConfig
from appliance.core.service import Service
from appliance.music import listeners
from appliance.music.errors import (
    DeviceNotControllable,
    NotLinked,
    PremiumRequired,
    RateLimited,
    RelinkNeeded,
    Restricted,
    SpeakerMissing,
    SpotifyError,
    SpotifyUnavailable,
)
from appliance.music.history import MoodHistory
from appliance.music.moods import MoodTarget, load_targets, target_for_reading
from appliance.music.spotify_models import Device, Playback, Track

logger = logging.getLogger(__name__)

OFFLINE_KEY = "player.spotify_unreachable"
RETRY_MAX = 60.0
BLOCKING_ERRORS = (NotLinked, RelinkNeeded, PremiumRequired, DeviceNotControllable)


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


@dataclass
class Queued:
    """The track queued to follow the current one, and the mood it was chosen for."""

    track: Track
    mood: str


class PlayerService(Service):
    """Plays the room's mood on the chosen speaker (see the module docstring)."""

    name = "player"
    depends_on = ()
    heartbeat_deadline = 120.0

    def __init__(self, *, api: PlayerApi, speakers: Speakers, selector: Any, store: Any,
                 bus: Bus, config: PlayerConfig, dwell_seconds: float,
                 clock: Callable[[], float] = time.time, poll_seconds: float = 5.0,
                 queue_lead_seconds: float = 15.0, retry_initial: float = 1.0,
                 manual_default_minutes: float = 30.0) -> None:
        super().__init__()
        self.api = api
        self.speakers = speakers
        self.selector = selector
        self.store = store
        self.bus = bus
        self.config = config
        self.dwell = dwell_seconds
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.queue_lead = queue_lead_seconds
        self.retry_initial = retry_initial
        self.manual_default = manual_default_minutes * 60.0
        self.history = MoodHistory(config.mood_history_days)
        # what the box knows of the room
        self.people = 0
        self.room_mood: str | None = None
        self.room_reading: MoodReading | None = None
        self.candidate: tuple[str, float] | None = None  # (mood, since)
        self.manual: tuple[str, float] | None = None  # (mood, until)
        self.privacy = False
        self.empty_since: float | None = None
        # what the speaker is doing
        self.phase = "idle"  # idle | playing | fading | paused
        self.paused_by = ""  # user | empty | external
        self.paused_at = 0.0
        self.music_mood = ""
        self.track: Track | None = None
        self.track_started = 0.0
        self.queued: Queued | None = None
        self.device: Device | None = None
        self.volume = config.default_volume
        self.listener: str | None = None
        self.next_poll = 0.0
        # retries
        self.retry_at = 0.0
        self.backoff = retry_initial
        self.problem = ""  # one line while something is wrong
        self._offline_shown = False
        self._last_state: tuple[Any, ...] | None = None
        self._sub: Any = None
        self._wake = asyncio.Event()

    # -- service lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._sub = self.bus.subscribe(MoodReading, PresenceChanged, ButtonGesture, ManualMood,
                                       PrivacyChanged, maxsize=200, name="player")
        self.privacy = self.store.get_setting("privacy") == "1"
        latest = self.bus.latest(PresenceChanged)
        if isinstance(latest, PresenceChanged):
            self.people = latest.people
        self.listener = await listeners.active(self.store)
        self._publish_state()

    async def run(self) -> None:
        while True:
            timeout = min(1.0, max(0.02, self._next_wake() - self.clock()))
            try:
                event = await asyncio.wait_for(self._sub.get(), timeout)
            except TimeoutError:
                event = None
            if event is not None:
                await self.handle(event)
            await self.step()
            self.beat()

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        with contextlib.suppress(Exception):
            await self.history.flush(self.store, self.clock())

    def snapshot(self) -> dict[str, object]:
        return {"state": self.phase, "mood": self.music_mood, "room_mood": self.room_mood or "",
                "people": self.people, "listener": self.listener or "",
                "track": self.track.name if self.track else "",
                "speaker": self.device.name if self.device else "",
                "manual": self.manual[0] if self.manual else "", "privacy": self.privacy,
                "problem": self.problem}

    def _next_wake(self) -> float:
        now = self.clock()
        times = [now + 1.0]
        if self.retry_at > now:
            times.append(self.retry_at)
        if self.phase == "playing":
            times.append(self.next_poll)
            if self.candidate:
                times.append(self.candidate[1] + self.dwell)
            if self.empty_since is not None:
                times.append(self.empty_since + self.config.empty_room_minutes * 60.0)
            if self.track is not None and self.queued is None:
                times.append(self._track_end() - self.queue_lead)
        return min(times)

    # -- events ------------------------------------------------------------------------

    async def handle(self, event: Any) -> None:
        """Update what the player knows from one bus event (commands run in `step`)."""
        now = self.clock()
        if isinstance(event, MoodReading):
            self._on_mood(event, now)
        elif isinstance(event, PresenceChanged):
            if not self.privacy:
                self.people = event.people
                if event.people > 0:
                    self.empty_since = None
                elif self.empty_since is None:
                    self.empty_since = now
        elif isinstance(event, ManualMood):
            await self._on_manual(event, now)
        elif isinstance(event, PrivacyChanged):
            self.privacy = event.enabled
            self.candidate = None
            if not event.enabled:
                self.empty_since = now if self.people == 0 else None
        elif isinstance(event, ButtonGesture):
            await self._on_button(event.gesture)

    def _on_mood(self, reading: MoodReading, now: float) -> None:
        if self.privacy:
            return  # privacy: the mood is frozen
        self.history.add(reading)
        if PresenceChanged not in self.bus.last:
            self.people = reading.faces
            self.empty_since = None if reading.faces else (self.empty_since or now)
        if reading.faces <= 0 or not reading.stable:
            return
        self.room_mood = reading.mood
        self.room_reading = reading
        heading = self._heading()
        if self.phase != "playing" or reading.mood == heading:
            self.candidate = None
        elif self.candidate is None or self.candidate[0] != reading.mood:
            self.candidate = (reading.mood, now)

    async def _on_manual(self, event: ManualMood, now: float) -> None:
        if event.mood is None:
            self.manual = None
            if self.room_mood and self.room_mood != self._heading():
                self.candidate = (self.room_mood, now - self.dwell)
            return
        until = event.until if event.until > now else now + self.manual_default
        self.manual = (event.mood, until)
        self.candidate = None
        if self.phase == "playing" and event.mood != self._heading():
            # Chosen by a person: change now (queue the track, then skip to it once).
            await self._guard(self._change_now, event.mood)
        elif self.phase == "paused" and self.paused_by == "empty":
            self.phase, self.paused_by = "idle", ""

    async def _on_button(self, gesture: str) -> None:
        if gesture == "play_press":
            window = self.bus.latest(PairingWindow)
            if isinstance(window, PairingWindow) and window.open and window.until > time.time():
                return  # the press proves presence for pairing; it is not for the music
            await self._guard(self._toggle)
        elif gesture == "next_press":
            await self._guard(self._skip)
        elif gesture == "next_hold":
            await self._like()
        elif gesture == "listener_next":
            await self._guard(self._next_listener)

    # -- the reconciliation step ----------------------------------------------------------

    async def step(self) -> None:
        """Do what the current knowledge asks for (start, change, poll, fade, resume)."""
        now = self.clock()
        if self.history.due(now):
            await self.history.flush(self.store, now)
        if self.manual and self.manual[1] <= now:
            self.manual = None
            if self.room_mood and self.room_mood != self._heading():
                self.candidate = (self.room_mood, now - self.dwell)
        if self.retry_at > now:
            return
        await self._guard(self._reconcile, now)

    async def _reconcile(self, now: float) -> None:
        if self.listener is None:
            self.listener = await listeners.active(self.store)
            if self.listener is None:
                self._set_problem("No Spotify account is linked yet; link one on the page.")
                self._publish_state("waiting")
                return
        mood = self._effective_mood()
        if self.phase == "idle":
            if mood and (self.people > 0 or self.manual):
                await self._start(mood)
        elif self.phase == "playing":
            empty_for = now - self.empty_since if self.empty_since is not None else -1.0
            if not self.privacy and self.people == 0 and \
                    empty_for >= self.config.empty_room_minutes * 60.0:
                await self._fade_out("empty")
                return
            if self.candidate and not self.manual and now - self.candidate[1] >= self.dwell:
                await self._queue_mood(self.candidate[0])
                self.candidate = None
            if now >= self.next_poll:
                await self._poll()
            if self.phase == "playing" and self.queued is None and self.track is not None \
                    and self._track_end() - self.clock() <= self.queue_lead:
                await self._queue_mood(self._heading())
        elif self.phase == "paused" and self.paused_by == "empty" and self.people > 0:
            if now - self.paused_at <= self.config.resume_within_minutes * 60.0:
                await self._resume()
            else:
                self.phase, self.paused_by = "idle", ""
                if mood:
                    await self._start(mood)
        self._ok()

    async def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run one action; Spotify or network trouble keeps the state and schedules a retry."""
        try:
            await fn(*args)
        except RateLimited as err:
            self._retry(err, max(err.retry_after, self.backoff))
        except SpeakerMissing as err:
            self._retry(err, self.backoff, state="waiting")
        except BLOCKING_ERRORS as err:
            self._retry(err, RETRY_MAX, state="error")
        except Restricted as err:
            logger.info("player: spotify ignored a command (%s)", err.reason or "restricted")
        except (SpotifyUnavailable, SpotifyError, aiohttp.ClientError, OSError,
                TimeoutError) as err:
            self._retry(err, self.backoff, offline=True)

    def _retry(self, err: Exception, delay: float, *, state: str | None = None,
               offline: bool = False) -> None:
        delay = delay * random.uniform(0.9, 1.1)
        self.retry_at = self.clock() + delay
        self.backoff = min(RETRY_MAX, self.backoff * 2)
        message = str(err) or type(err).__name__
        logger.warning("player: %s; retrying in %.1f s", message, delay)
        self._set_problem(message)
        if self.phase == "fading":
            self.phase = "playing"
        elif self.phase == "starting":
            self.phase = "idle"
        if offline and not self._offline_shown:
            self._offline_shown = True
            self.bus.publish(ErrorRaised(
                key=OFFLINE_KEY, source="network", message=(
                    "Spotify is not answering; the music keeps its place and the box retries."),
                hint="Check the box's network connection; nothing else to do."))
        self._publish_state(state)

    def _ok(self) -> None:
        self.backoff = self.retry_initial
        if self._offline_shown:
            self._offline_shown = False
            self.bus.publish(ErrorCleared(key=OFFLINE_KEY))
        if self.problem:
            self.problem = ""
            self._publish_state()

    def _set_problem(self, message: str) -> None:
        self.problem = message
        self.detail = message

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
            self._retry(SpotifyError(f"No {mood} tracks found in the library; add playlists "
                                     f"for this mood on the page."), RETRY_MAX, state="waiting")
            return
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
        device = self.device or await self._speaker()
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
            self._publish_state(detail="paused from another app")
            return
        else:
            self.track_started = now - pb.progress_ms / 1000.0
        remaining = self._track_end() - now
        self.next_poll = now + min(self.poll_seconds, max(0.2, remaining + 0.3))

    async def _continue_after_end(self) -> None:
        """The list ran out (no queued track reached Spotify): play the next pick."""
        assert self.listener is not None
        mood = self._heading() or self._effective_mood() or "neutral"
        track = self.queued.track if self.queued else await self._pick(mood)
        if track is None:
            return
        device = self.device or await self._speaker()
        await self.api.play(self.listener, device_id=device.id, uris=[track.uri])
        self.queued = None
        await self._now_playing(track, mood, self.clock())
        self._publish_state()

    async def _fade_out(self, why: str) -> None:
        assert self.listener is not None
        device = self.device or await self._speaker()
        self.phase = "fading"
        self._publish_state()
        await self.speakers.ramp(self.listener, device, self.volume, 0, self.config.fade_seconds)
        with contextlib.suppress(Restricted):  # already paused
            await self.api.pause(self.listener, device_id=device.id)
        self.phase, self.paused_by, self.paused_at = "paused", why, self.clock()
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
            device = self.device or await self._speaker()
            with contextlib.suppress(Restricted):
                await self.api.pause(self.listener, device_id=device.id)
            self.phase, self.paused_by, self.paused_at = "paused", "user", self.clock()
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
        device = self.device or await self._speaker()
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

    # -- state out ----------------------------------------------------------------------------

    def _publish_state(self, state: str | None = None, detail: str = "") -> None:
        shown = state or ("idle" if self.phase == "idle" else self.phase)
        t = self.track
        key = (shown, t.id if t else "", self.music_mood, self.device.name if self.device else "",
               self.volume, detail or self.problem)
        if key == self._last_state:
            return
        self._last_state = key
        self.bus.publish(PlayerState(
            state=shown, track_id=t.id if t else "", track_name=t.name if t else "",  # type: ignore[arg-type]
            artists=t.artists if t else "", mood=self.music_mood,
            speaker=self.device.name if self.device else "", volume=self.volume,
            detail=detail or self.problem))
