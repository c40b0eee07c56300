"""The player's test rig: the real `PlayerService` driven on a simulated timeline.

`fake_rig` wires it to `FakeSpotify` in process (short tracks); `standin_rig`
to the Spotify and features stand-ins over real HTTP (the bench's
`player_stack`). Either way everything runs on one `SimClock`: events go
through the bus and are taken as the run loop would, time moves from the
player's deadline to deadline, fades move the clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_player_fakes import FakeSpotify, seed

from appliance.bench.player import PlayerStack, SimClock, player_stack
from appliance.core.bus import Bus, Event, MoodReading, PresenceChanged
from appliance.core.config import PlayerConfig
from appliance.core.settings import Settings
from appliance.core.store import Store
from appliance.music.player import PlayerService, settings_from
from appliance.music.policy import next_wake
from appliance.music.selector import Selector
from appliance.music.speakers import SpeakerManager
from appliance.music.spotify_models import Track
from appliance.schema import open_store

STEP = 0.05  # simulated seconds per step while waiting for something


@dataclass
class Rig:
    """A player on a simulated clock, and what it published."""

    player: PlayerService
    bus: Bus
    store: Store
    clock: SimClock
    sub: Any
    selector: Selector
    api: Any  # FakeSpotify, or the SpotifyApi talking to the stand-in
    stack: PlayerStack | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def sim(self) -> Any:
        """The Spotify stand-in (standin_rig only)."""
        assert self.stack is not None
        return self.stack.sim

    def calls(self, method: str, suffix: str) -> list[tuple[Any, ...]]:
        """Stand-in request log entries for `method` and a path ending in `suffix`."""
        assert self.stack is not None
        return self.stack.calls(method, suffix)

    async def publish(self, event: Event) -> None:
        """Publish on the bus and let the player take it (as its run loop would)."""
        self.bus.publish(event)
        await self.settle()

    async def reading(self, mood: str, faces: int = 1, stable: bool = True) -> None:
        """A room mood reading from vision (`stable`: its label outlasted the dwell)."""
        await self.publish(MoodReading(faces=faces, valence=0.0, arousal=0.0, mood=mood,  # type: ignore[arg-type]
                                       confidence=0.9, stable=stable))

    async def presence(self, people: int) -> None:
        await self.publish(PresenceChanged(people=people, previous=self.player.model.people))

    async def settle(self) -> None:
        """Let the player take every queued event; collect what was published."""
        await self.player.drain()
        while (ev := self.sub.get_nowait()) is not None:
            self.events.append(ev)

    async def step(self, limit: float) -> None:
        """Move simulated time to the player's next deadline, at most `limit`."""
        now = self.clock()
        self.clock.set(min(limit, max(now, next_wake(self.player.model, now))))
        await self.player.tick()
        await self.settle()

    async def wait(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass."""
        end = self.clock() + seconds
        while self.clock() < end:
            await self.step(min(end, self.clock() + STEP))

    async def until(self, pred: Callable[[], bool], timeout: float = 6.0,
                    what: str = "") -> float:
        """Let simulated time pass until `pred()`; returns the simulated time it held."""
        deadline = self.clock() + timeout
        await self.settle()
        while not pred():
            if self.clock() > deadline:
                calls = self.api.names()[-12:] if isinstance(self.api, FakeSpotify) else ""
                raise AssertionError(f"timed out waiting for {what or pred}; calls={calls} "
                                     f"player={self.player.snapshot()}")
            await self.step(self.clock() + STEP)
        return self.clock()


@dataclass(frozen=True)
class _SpotifyCfg:
    devices_refresh_seconds: float = 180.0


@contextlib.asynccontextmanager
async def fake_rig(tmp_path: Path, tracks: list[tuple[Track, tuple[float, ...]]], *,
                   users: tuple[str, ...] = ("mmp_a",)) -> AsyncIterator[Rig]:
    """The player on `FakeSpotify`: tiny timings (0.6 s empty room, 0.2 s fades)."""
    clock = SimClock()
    store = open_store(tmp_path / "m.db")
    bus = Bus(asyncio.get_running_loop())
    await seed(store, tracks, users=users)
    api = FakeSpotify([t for t, _ in tracks], clock=clock)
    cfg = PlayerConfig(empty_room_minutes=0.01, resume_within_minutes=1.0, fade_seconds=0.2,
                       default_volume=40)
    box_settings = Settings(store, bus)  # the box's: cached, the one writer of privacy
    speakers = SpeakerManager(api, store, bus, _SpotifyCfg(),  # type: ignore[arg-type]
                              settings=box_settings)
    selector = Selector(api, store, None, cfg, settings=box_settings)
    player = PlayerService(api=api, speakers=speakers, selector=selector, store=store, bus=bus,
                           settings=settings_from(cfg, poll_seconds=0.3, queue_lead_seconds=0.3,
                                                  retry_initial=0.2, fade_step_seconds=0.05),
                           clock=clock,
                           box_settings=box_settings)
    sub = bus.subscribe(maxsize=None, name="test")
    await player.start()
    try:
        yield Rig(player, bus, store, clock, sub, selector, api)
    finally:
        await player.stop()
        store.close()


@contextlib.asynccontextmanager
async def standin_rig(tmp_path: Path, *, speed: float = 50.0, empty_room_minutes: float = 0.01,
                      fade_seconds: float = 0.2, resume_within_minutes: float = 1.0,
                      poll_seconds: float = 0.3, queue_lead_seconds: float = 10.0,
                      retry_initial: float = 0.2) -> AsyncIterator[Rig]:
    """The player on the stand-ins over HTTP (tracks sped up `speed` times)."""
    clock = SimClock()
    async with player_stack(
            tmp_path, clock=clock, speed=speed,
            player={"empty_room_minutes": empty_room_minutes, "fade_seconds": fade_seconds,
                    "resume_within_minutes": resume_within_minutes},
            settings={"poll_seconds": poll_seconds, "queue_lead_seconds": queue_lead_seconds,
                      "retry_initial": retry_initial, "fade_step_seconds": 0.05}) as stack:
        sub = stack.bus.subscribe(maxsize=None, name="test")
        yield Rig(stack.player, stack.bus, stack.store, clock, sub, stack.selector,
                  stack.svc.api, stack)
