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
from typing import Any

import aiohttp

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    ManualMood,
    MoodReading,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import Config, PlayerConfig
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
from appliance.music.player_actions import (
    RETRY_MAX,
    NothingToPlay,
    PlayerActions,
    PlayerApi,
    Queued,
    Speakers,
)
from appliance.music.spotify_models import Device, Track

__all__ = ["OFFLINE_KEY", "PlayerApi", "PlayerService", "Queued", "Speakers", "create_player"]

logger = logging.getLogger(__name__)

OFFLINE_KEY = "player.spotify_unreachable"
BLOCKING_ERRORS = (NotLinked, RelinkNeeded, PremiumRequired, DeviceNotControllable)


class PlayerService(PlayerActions, Service):
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
        self.device_stale = False
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
        with contextlib.suppress(Exception):
            await self.selector.close()

    def snapshot(self) -> dict[str, object]:
        return {"state": self.phase, "mood": self.music_mood, "room_mood": self.room_mood or "",
                "people": self.people, "listener": self.listener or "",
                "track": self.track.name if self.track else "",
                "speaker": self.device.name if self.device else "",
                "manual": self.manual[0] if self.manual else "", "privacy": self.privacy,
                "problem": self.problem}

    def _fade_out_after(self) -> float:
        """Seconds of empty room before the fade starts: the pause lands on the timeout."""
        return max(0.0, self.config.empty_room_minutes * 60.0 - self.config.fade_seconds)

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
                times.append(self.empty_since + self._fade_out_after())
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
            # Always the music's: once the box is claimed only a Play hold pairs a browser,
            # so nobody on the Wi-Fi can take the Play button away by asking to pair.
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
                self.retry_at = now + 5.0  # look again shortly, not on every mood reading
                return
        mood = self._effective_mood()
        if self.phase == "idle":
            if mood and (self.people > 0 or self.manual):
                await self._start(mood)
        elif self.phase == "playing":
            empty_for = now - self.empty_since if self.empty_since is not None else -1.0
            if not self.privacy and self.people == 0 and empty_for >= self._fade_out_after():
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
        elif self.phase == "paused":
            if self.paused_by == "empty" and self.people > 0:
                if now - self.paused_at <= self.config.resume_within_minutes * 60.0:
                    await self._resume()
                else:
                    self.phase, self.paused_by = "idle", ""
                    if mood:
                        await self._start(mood)
            elif now >= self.next_poll:
                await self._check_paused()
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
        except NothingToPlay as err:
            self._retry(err, RETRY_MAX, state="waiting")
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
        self.device_stale = True
        message = str(err) or type(err).__name__
        logger.warning("player: %s (retrying in %.1f s)", message.rstrip("."), delay)
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
            self.problem = self.detail = ""
            self._publish_state()

    def _set_problem(self, message: str) -> None:
        self.problem = message
        self.detail = message

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


def create_player(config: Config, bus: Bus, store: Any, spotify: Any) -> PlayerService:
    """The player wired to the Spotify services (`appliance.music.spotify.SpotifyServices`)."""
    from appliance.music.features import make_provider
    from appliance.music.selector import Selector

    selector = Selector(spotify.api, store, make_provider(config.features), config.player)
    return PlayerService(api=spotify.api, speakers=spotify.speakers, selector=selector,
                         store=store, bus=bus, config=config.player,
                         dwell_seconds=config.vision.dwell_seconds,
                         manual_default_minutes=config.panel.manual_mood_minutes)
