"""The player service: runs the policy's commands against Spotify (the I/O half).

What to do is decided in `appliance.music.policy` (a pure function on a
timeline); this service feeds it events and times, executes the commands it
returns in order, and feeds each outcome back. Two subscriptions feed it:
person-made events (buttons, manual mood, presence, privacy, listener) in a
lossless queue, and mood readings conflated to the latest, so 5 Hz telemetry
can never push a button press out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    Event,
    ListenerChanged,
    ManualMood,
    MoodReading,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import Config, PlayerConfig
from appliance.core.service import Service
from appliance.core.settings import PRIVACY
from appliance.core.settings import Settings as BoxSettings
from appliance.music import listeners, moods
from appliance.music.errors import (
    DeviceNotControllable,
    NotLinked,
    NotRegistered,
    PlaybackRefused,
    PremiumRequired,
    RateLimited,
    RelinkNeeded,
    Restricted,
    SpeakerMissing,
    SpotifyError,
    SpotifyUnavailable,
)
from appliance.music.policy import (
    Done,
    Failed,
    Feedback,
    FindListener,
    ListenerFound,
    NextListener,
    Pause,
    Paused,
    Play,
    PlayerModel,
    Poll,
    Polled,
    Prepare,
    Queue,
    Queued,
    Ready,
    Record,
    Resume,
    Resumed,
    Settings,
    SetVolume,
    ShowOffline,
    Skip,
    Skipped,
    Started,
    Trouble,
    VolumeFixed,
    decide,
    next_wake,
    view,
)
from appliance.music.spotify_models import Device, Playback, Track

__all__ = ["OFFLINE_KEY", "PlayerApi", "PlayerService", "Speakers", "create_player",
           "settings_from"]

logger = logging.getLogger(__name__)

OFFLINE_KEY = "player.spotify_unreachable"
BLOCKING_ERRORS = (NotLinked, RelinkNeeded, PremiumRequired, DeviceNotControllable,
                   NotRegistered)
COMMAND_EVENTS = (ButtonGesture, ManualMood, PresenceChanged, PrivacyChanged, ListenerChanged)
HEARTBEAT_WAIT = 1.0  # the run loop wakes at least this often (heartbeat, manual expiry)


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


class NothingToPlay(Exception):
    """No track fits the mood (empty library, no features, search found nothing)."""


def settings_from(config: PlayerConfig, *, manual_minutes: float = 30.0,
                  poll_seconds: float | None = None, queue_lead_seconds: float = 15.0,
                  retry_initial: float = 1.0, fade_step_seconds: float = 0.35) -> Settings:
    """The policy's settings from the `[player]` config."""
    return Settings(fade_seconds=config.fade_seconds, fade_step_seconds=fade_step_seconds,
                    empty_room_seconds=config.empty_room_minutes * 60.0,
                    resume_within_seconds=config.resume_within_minutes * 60.0,
                    poll_seconds=config.poll_seconds if poll_seconds is None else poll_seconds,
                    queue_lead_seconds=queue_lead_seconds,
                    retry_initial=retry_initial, manual_default_seconds=manual_minutes * 60.0,
                    skip_feedback_seconds=config.skip_feedback_seconds,
                    default_volume=config.default_volume)


def classify(err: Exception) -> tuple[Trouble, str, float]:
    """What a failed command's exception means to the policy: trouble, message, wait."""
    message = str(err) or type(err).__name__
    if isinstance(err, RateLimited):
        return Trouble.RATE_LIMITED, message, err.retry_after
    if isinstance(err, SpeakerMissing):
        return Trouble.SPEAKER_MISSING, message, 0.0
    if isinstance(err, BLOCKING_ERRORS):
        return Trouble.BLOCKED, message, 0.0
    if isinstance(err, NothingToPlay):
        return Trouble.NOTHING_TO_PLAY, message, 0.0
    if isinstance(err, PlaybackRefused | Restricted):
        return Trouble.REFUSED, (
            "Spotify refused to start the music on this speaker (\"Restriction violated\"); "
            "press Play to try again, or choose another speaker if it keeps happening."), 0.0
    if isinstance(err, SpotifyUnavailable | aiohttp.ClientError | OSError | TimeoutError):
        return Trouble.OFFLINE, message, 0.0
    return Trouble.REJECTED, message, 0.0


class PlayerService(Service):
    """Plays the room's mood on the chosen speaker (the policy decides, this does)."""

    name = "player"
    depends_on = ()
    heartbeat_deadline = 120.0

    def __init__(self, *, api: PlayerApi, speakers: Speakers, selector: Any, store: Any,
                 bus: Bus, settings: Settings, clock: Callable[[], float] = time.time,
                 box_settings: BoxSettings | None = None) -> None:
        super().__init__()
        self.api = api
        self.speakers = speakers
        self.selector = selector
        self.store = store
        self.bus = bus
        self.settings = settings  # the policy's
        self.box_settings = box_settings or BoxSettings(store)  # the box's stored ones
        self.clock = clock
        self.model = PlayerModel.initial(settings, jitter=random.uniform(0.9, 1.1))
        self.device: Device | None = None
        self._device_stale = False
        self._commands: Any = None
        self._readings: Any = None
        self._lock = asyncio.Lock()
        self._last_state: tuple[Any, ...] | None = None

    # -- the public face (for pages and status) ----------------------------------

    def snapshot(self) -> dict[str, object]:
        """What the player does, for `mooddj status` and the music page."""
        m = self.model
        state, detail = view(m)
        return {"state": m.phase.value, "shown": state, "mood": m.music_mood,
                "room_mood": m.room_mood or "", "people": m.people,
                "listener": m.listener or "", "track": m.track.name if m.track else "",
                "speaker": m.speaker, "manual": m.manual[0] if m.manual else "",
                "privacy": m.privacy, "problem": m.problem, "detail": detail}

    async def set_listener(self, user_id: str) -> None:
        """Make `user_id` the listener (ValueError when not linked); the music follows."""
        name = await listeners.set_active(self.box_settings, self.bus, user_id)
        async with self._lock:
            await self._feed(ListenerChanged(user_id=user_id, display_name=name))

    def selection_changed(self) -> None:
        """Mood playlists or targets changed: pick from fresh pools."""
        self.selector.invalidate()

    def skipped_playlists(self, user_id: str) -> list[Any]:
        """The playlists Spotify refused in the last collection (id, name, why)."""
        return list(self.selector.skipped(user_id))

    # -- service lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self._commands = self.bus.subscribe(*COMMAND_EVENTS, maxsize=None, name="player")
        self._readings = self.bus.subscribe(MoodReading, latest=True, name="player.mood")
        latest = self.bus.latest(PresenceChanged)
        people = latest.people if isinstance(latest, PresenceChanged) else 0
        self.model = PlayerModel.initial(
            self.settings, people=people, privacy=await self.box_settings.get(PRIVACY),
            listener=await listeners.active(self.box_settings), jitter=self.model.jitter)
        self._publish_state()

    async def run(self) -> None:
        while True:
            now = self.clock()
            wait = min(HEARTBEAT_WAIT, max(0.0, next_wake(self.model, now) - now))
            got = await self._wait(wait)
            async with self._lock:
                if got:
                    await self._drain()
                else:
                    await self._feed(None)
            self.beat()

    async def stop(self) -> None:
        for sub in (self._commands, self._readings):
            if sub is not None:
                sub.close()
        self._commands = self._readings = None
        with contextlib.suppress(Exception):
            await self.selector.close()

    async def _wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for an event on either subscription; True if one came."""
        subs = [s for s in (self._commands, self._readings) if s is not None]
        if any(len(s) for s in subs):
            return True
        if seconds <= 0:
            return False
        waiters = [asyncio.ensure_future(s.wait()) for s in subs]
        try:
            done, _ = await asyncio.wait(waiters, timeout=seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        return bool(done)

    # -- feeding the policy ------------------------------------------------------

    def _take(self) -> Event | None:
        """The next event: person-made ones first, then the latest mood reading."""
        for sub in (self._commands, self._readings):
            ev = sub.get_nowait() if sub is not None else None
            if ev is not None:
                return ev
        return None

    async def drain(self) -> None:
        """Feed every queued event to the policy (what `run` does when events come)."""
        async with self._lock:
            await self._drain()

    async def tick(self) -> None:
        """Feed the passing of time (what `run` does when no event comes)."""
        async with self._lock:
            await self._feed(None)

    async def _drain(self) -> None:
        while (ev := self._take()) is not None:
            await self._feed(ev)

    async def _feed(self, event: Any) -> None:
        """Decide on `event` and run the commands; each result is decided on in turn."""
        self.model, batch = decide(self.model, event, self.clock())
        self._publish_state()
        while batch:
            command, batch = batch[0], batch[1:]
            result = await self._execute(command)
            self.model, more = decide(self.model, result, self.clock())
            self._publish_state()
            batch = more if isinstance(result, Failed) else more + batch

    async def _execute(self, command: Any) -> Any:
        run = self._RUN.get(type(command))
        assert run is not None, command
        try:
            return await run(self, command)
        except (SpotifyError, NothingToPlay, aiohttp.ClientError, OSError, TimeoutError) as err:
            self._device_stale = True
            trouble, message, wait = classify(err)
            logger.warning("player: %s failed: %s", type(command).__name__,
                           message.rstrip("."))
            return Failed(command, trouble, message, wait)

    # -- the commands --------------------------------------------------------------

    @property
    def _user(self) -> str:
        user = self.model.listener
        assert user is not None, "commands that need a listener come after one is found"
        return user

    async def _device_now(self) -> Device:
        """The speaker as last resolved; resolved again after any failure."""
        if self.device is None or self._device_stale:
            self.device = await self.speakers.resolve(self._user)
            self._device_stale = False
        return self.device

    async def _pick(self, mood: str, reading: MoodReading | None,
                    avoid: tuple[str, ...]) -> Track | None:
        targets = await moods.load_targets(self.box_settings)  # cached: no SQLite per pick
        target = moods.target_for_reading(reading, targets) if reading is not None \
            else targets[mood]
        tracks = await self.selector.pick(self._user, mood, target, count=1, avoid=list(avoid))
        return tracks[0] if tracks else None

    def _nothing(self, mood: str) -> str:
        """What to tell a person when nothing fits `mood` (and which playlists Spotify refused)."""
        text = (f"No {mood} tracks found in the listener's library; add playlists for this "
                f"mood on the music page.")
        skipped = self.selector.skipped(self._user)
        if skipped:
            names = ", ".join(repr(s.name or s.playlist_id) for s in skipped[:3])
            text += f" Spotify refused {names}: {skipped[0].why}"
        return text

    async def _find_listener(self, c: FindListener) -> Any:
        return ListenerFound(await listeners.active(self.box_settings))

    async def _next_listener(self, c: NextListener) -> Any:
        return ListenerFound(await listeners.cycle(self.box_settings, self.bus))

    async def _prepare(self, c: Prepare) -> Any:
        self.device = await self.speakers.resolve(self._user)
        self._device_stale = False
        volume = int((await self.speakers.chosen()).get("volume") or
                     self.settings.default_volume)
        track = await self._pick(c.mood, c.reading, c.avoid)
        if track is None:
            raise NothingToPlay(self._nothing(c.mood))
        return Ready(track, c.mood, self.device.name, volume)

    async def _set_volume(self, c: SetVolume) -> Any:
        device = await self._device_now()
        try:
            await self.api.set_volume(self._user, c.percent, device_id=device.id)
        except DeviceNotControllable as err:
            if err.reason != "VOLUME_CONTROL_DISALLOW":
                raise
            logger.info("player: the speaker has a fixed volume; no fades")
            return VolumeFixed()
        return Done(c)

    async def _play(self, c: Play) -> Any:
        track = c.track or await self._pick(c.mood, c.reading, c.avoid)
        if track is None:
            raise NothingToPlay(self._nothing(c.mood))
        device = await self._device_now()
        await self.api.play(self._user, device_id=device.id, uris=[track.uri])
        return Started(track, c.mood)

    async def _queue(self, c: Queue) -> Any:
        track = await self._pick(c.mood, c.reading, c.avoid)
        if track is None:
            return Queued(None, c.mood)
        device = await self._device_now()
        try:
            await self.api.queue(self._user, track.uri, device_id=device.id)
        except Restricted:
            return Queued(None, c.mood)
        logger.info("player: queued a %s track for the next boundary", c.mood)
        return Queued(track, c.mood)

    async def _poll(self, c: Poll) -> Any:
        return Polled(await self.api.playback(self._user))

    async def _pause(self, c: Pause) -> Any:
        if c.account is not None:  # the previous listener's player, on a switch
            with contextlib.suppress(SpotifyError):
                if self.device is not None:
                    await self.api.pause(c.account, device_id=self.device.id)
            return Paused(c.why)
        device = await self._device_now()
        with contextlib.suppress(Restricted):  # already paused
            await self.api.pause(self._user, device_id=device.id)
        return Paused(c.why)

    async def _resume(self, c: Resume) -> Any:
        device = await self._device_now()
        with contextlib.suppress(Restricted):  # already playing
            await self.api.resume(self._user, device_id=device.id)
        return Resumed()

    async def _skip(self, c: Skip) -> Any:
        device = await self._device_now()
        try:
            await self.api.next(self._user, device_id=device.id)
        except Restricted:
            return Done(c)
        return Skipped()

    async def _record(self, c: Record) -> Any:
        await self.selector.played(self._user, c.track.id, c.mood, c.started)
        return Done(c)

    async def _feedback(self, c: Feedback) -> Any:
        await self.selector.feedback(self._user, c.track_id, c.mood, c.kind)
        return Done(c)

    async def _show_offline(self, c: ShowOffline) -> Any:
        if c.shown:
            self.bus.publish(ErrorRaised(
                key=OFFLINE_KEY, source="network", message=(
                    "Spotify is not answering; the music keeps its place and the box retries."),
                hint="Check the box's network connection; nothing else to do."))
        else:
            self.bus.publish(ErrorCleared(key=OFFLINE_KEY))
        return Done(c)

    _RUN: dict[type, Callable[[PlayerService, Any], Awaitable[Any]]] = {
        FindListener: _find_listener, NextListener: _next_listener, Prepare: _prepare,
        SetVolume: _set_volume, Play: _play, Queue: _queue, Poll: _poll,
        Pause: _pause, Resume: _resume, Skip: _skip, Record: _record, Feedback: _feedback,
        ShowOffline: _show_offline,
    }

    # -- state out ---------------------------------------------------------------

    def _publish_state(self) -> None:
        m = self.model
        state, detail = view(m)
        t = m.track
        key = (state, t.id if t else "", m.music_mood, m.speaker, m.volume, detail)
        if key == self._last_state:
            return
        self._last_state = key
        self.detail = detail or state
        self.bus.publish(PlayerState(
            state=state, track_id=t.id if t else "", track_name=t.name if t else "",  # type: ignore[arg-type]
            artists=t.artists if t else "", mood=m.music_mood, speaker=m.speaker,
            volume=m.volume, detail=detail))


def create_player(config: Config, bus: Bus, store: Any, spotify: Any,
                  box_settings: BoxSettings | None = None) -> PlayerService:
    """The player wired to the Spotify services (`SpotifyServices`) and the box's settings."""
    from appliance.music.features import make_provider
    from appliance.music.selector import Selector

    selector = Selector(spotify.api, store, make_provider(config.features), config.player,
                        settings=box_settings, bus=bus)
    return PlayerService(api=spotify.api, speakers=spotify.speakers, selector=selector,
                         store=store, bus=bus, box_settings=box_settings,
                         settings=settings_from(config.player,
                                                manual_minutes=config.panel.manual_mood_minutes))
