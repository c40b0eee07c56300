"""Typed events and an asyncio publish/subscribe bus with bounded, drop-oldest queues.

`publish` never awaits and never blocks: a subscriber that falls behind loses
its oldest events (counted in `Subscription.dropped` and `Bus.dropped`), so a
slow web client can never stall the frame loop or the player. Two other kinds:
`maxsize=None` loses nothing (for events people make, which come slowly), and
`latest=True` keeps only the newest event (telemetry: the last reading is the
one that matters; replacing it is not a loss). `publish_threadsafe`
is the one door in from worker threads (vision loop, gpiozero callbacks).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Mood = Literal["happy", "sad", "angry", "neutral", "surprised"]
MOODS: tuple[Mood, ...] = ("happy", "sad", "angry", "neutral", "surprised")


@dataclass(frozen=True)
class Event:
    """Base of every event; `t` is wall-clock seconds (time.time())."""

    t: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class MoodReading(Event):
    """The room's smoothed mood (numbers only: frames never leave vision)."""

    faces: int
    valence: float
    arousal: float
    mood: Mood
    confidence: float
    stable: bool = True  # False while a new label is still inside its dwell time


@dataclass(frozen=True)
class PresenceChanged(Event):
    """People count changed (debounced arrival or departure)."""

    people: int
    previous: int


@dataclass(frozen=True)
class CameraState(Event):
    """The camera's real state: capturing or not, and why not."""

    capturing: bool
    fps: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class ButtonGesture(Event):
    """A recognised gesture on the panel (or the virtual panel)."""

    gesture: Literal[
        "play_press", "play_hold", "next_press", "next_hold", "mood_press", "mood_hold",
        "listener_next", "factory_reset_armed", "factory_reset_confirmed",
        "factory_reset_cancelled", "pair_play", "pair_next", "pair_mood",
    ]


@dataclass(frozen=True)
class ManualMood(Event):
    """A mood chosen by hand (button or page); None returns to automatic."""

    mood: Mood | None
    until: float = 0.0


@dataclass(frozen=True)
class PrivacyChanged(Event):
    enabled: bool


@dataclass(frozen=True)
class PairingWindow(Event):
    """Browsers wait to pair (open) or none does; the panel then takes a button code.

    `hold`: a Play hold must start the code (False on an unclaimed box, which takes
    presses at once); `length`: presses in a code.
    """

    open: bool
    until: float = 0.0
    hold: bool = True
    length: int = 4


@dataclass(frozen=True)
class PairingEntered(Event):
    """A whole button code entered on the panel, e.g. ("next", "mood", "play", "next")."""

    presses: tuple[str, ...]


@dataclass(frozen=True)
class PairingChecked(Event):
    """Whether the code just entered approved a waiting browser."""

    approved: bool


@dataclass(frozen=True)
class PlayerState(Event):
    """What the player is doing on the speaker."""

    state: Literal["idle", "starting", "playing", "paused", "fading", "waiting", "error"]
    track_id: str = ""
    track_name: str = ""
    artists: str = ""
    mood: str = ""
    speaker: str = ""
    volume: int = 0
    detail: str = ""


@dataclass(frozen=True)
class LinkState(Event):
    """A platform connection's state for one user (e.g. spotify: ok / relink_needed)."""

    platform: str
    user_id: str
    state: Literal["linked", "unlinked", "relink_needed", "expiring", "speaker_missing",
                   "premium_required", "rate_limited", "not_registered"]
    detail: str = ""


@dataclass(frozen=True)
class ListenerChanged(Event):
    """Whose account plays."""

    user_id: str
    display_name: str = ""


@dataclass(frozen=True)
class SetupProgress(Event):
    """How far setup has come; the first step not done yet, or "done"."""

    step: Literal["unclaimed", "no_account", "no_spotify", "no_speaker", "done"]


@dataclass(frozen=True)
class ErrorRaised(Event):
    """A condition a person should see (page, LED, `mooddj status`) until cleared."""

    key: str  # stable id, e.g. "camera", "spotify.rate_limited", "service.vision"
    source: str  # camera | network | spotify | service | store | identity | panel
    message: str
    hint: str = ""


@dataclass(frozen=True)
class ErrorCleared(Event):
    key: str


@dataclass(frozen=True)
class SettingChanged(Event):
    """A setting was written or removed (`key` "": possibly every one, e.g. a factory reset)."""

    key: str


@dataclass(frozen=True)
class ServiceState(Event):
    """Supervisor view of one service."""

    name: str
    state: Literal["starting", "running", "restarting", "failed", "stopped"]
    crashes: int = 0
    detail: str = ""


@dataclass(frozen=True)
class LedState(Event):
    """What an LED shows now (for the page); colour is 0..1 RGB."""

    led: str
    color: tuple[float, float, float]
    pattern: str = ""


class Subscription:
    """One subscriber's bounded queue; iterate it with `async for`."""

    def __init__(self, bus: Bus, types: tuple[type[Event], ...], maxsize: int | None, name: str,
                 latest: bool = False) -> None:
        self._bus = bus
        self.types = types
        self.name = name
        self.latest = latest
        self._items: collections.deque[Event] = collections.deque(maxlen=1 if latest else maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self.latest:
            self._items.clear()  # conflated: the newer value replaces the older one
        elif self._items.maxlen is not None and len(self._items) == self._items.maxlen:
            self.dropped += 1
            self._bus.dropped += 1
        self._items.append(event)
        self._ready.set()

    async def get(self) -> Event:
        """The next event, waiting if none is queued."""
        await self.wait()
        return self._items.popleft()

    async def wait(self) -> None:
        """Return once an event is queued (without taking it)."""
        while not self._items:
            if self.closed:
                raise asyncio.CancelledError("subscription closed")
            self._ready.clear()
            await self._ready.wait()

    def get_nowait(self) -> Event | None:
        return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.get()
        except asyncio.CancelledError:
            if self.closed:
                return
            raise

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """In-process publish/subscribe; all methods but `publish_threadsafe` run on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._subs: list[Subscription] = []
        self._observers: list[tuple[tuple[type[Event], ...], Callable[[Event], None]]] = []
        self.dropped = 0
        self.published = 0
        self.last: dict[type[Event], Event] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, *types: type[Event], maxsize: int | None = 100, name: str = "",
                  latest: bool = False) -> Subscription:
        """Receive events of `types` (all when none given); see the module doc for the kinds."""
        sub = Subscription(self, types or (Event,), maxsize, name, latest)
        self._subs.append(sub)
        return sub

    def observe(self, fn: Callable[[Event], None], *types: type[Event]) -> None:
        """Call `fn(event)` inside `publish` for every event of `types`, for the life of the bus.

        For the few in-memory folds that must never miss or reorder an event (the
        error board, the settings cache); `fn` must be quick, and what it raises
        is logged, never passed to the publisher.
        """
        self._observers.append((types or (Event,), fn))

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        """Hand `event` to every matching subscriber; never blocks."""
        self.published += 1
        self.last[type(event)] = event
        for types, fn in self._observers:
            if isinstance(event, types):
                try:
                    fn(event)
                except Exception:
                    logger.exception("bus observer %r failed on %s", fn, type(event).__name__)
        for sub in list(self._subs):
            if isinstance(event, sub.types):
                sub._offer(event)

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from any thread (worker threads, gpiozero callbacks)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("bus is not bound to an event loop")
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.publish(event)
        else:
            loop.call_soon_threadsafe(self.publish, event)

    def latest(self, kind: type[Event]) -> Event | None:
        """The last event of exactly this type, if any was published."""
        return self.last.get(kind)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
