"""Helpers for the panel tests: a running PanelService on MockFactory pins and a real bus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
from collections.abc import Callable
from typing import Any

from polling import eventually  # noqa: F401  (re-exported for the panel tests)

from appliance.core.bus import Bus, ButtonGesture, Event
from appliance.core.config import PanelConfig
from appliance.core.settings import Settings
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService

# Short thresholds (the config's minimums) so the tests stay fast.
FAST = {"pin_factory": "mock", "bounce_seconds": 0.02, "hold_seconds": 0.3,
        "pair_hold_seconds": 0.6, "reset_hold_seconds": 2.0, "reset_confirm_seconds": 1.0,
        "manual_mood_minutes": 1.0}


def panel_config(**over: Any) -> PanelConfig:
    return PanelConfig(**{**FAST, **over})


class Rig:
    """A started PanelService with its run task, mock pins and a gesture recorder."""

    def __init__(self, svc: PanelService, bus: Bus, factory: Any) -> None:
        self.svc = svc
        self.bus = bus
        self.factory = factory
        self.sub = bus.subscribe(maxsize=1000, name="test")
        self.task: asyncio.Task[None] | None = None
        self.resets = 0

    def pin(self, number: int) -> Any:
        return self.factory.pin(number)

    def events(self, kind: type[Event] | None = None) -> list[Event]:
        """Everything published so far (drained into self.seen)."""
        while (ev := self.sub.get_nowait()) is not None:
            self.seen.append(ev)
        return [e for e in self.seen if kind is None or isinstance(e, kind)]

    seen: list[Event]

    def gestures(self) -> list[str]:
        return [e.gesture for e in self.events(ButtonGesture)]  # type: ignore[attr-defined]

    async def press(self, *names: str, seconds: float = 0.1) -> None:
        for n in names:
            self.svc.drive(n, True)
        await asyncio.sleep(seconds)
        for n in names:
            self.svc.drive(n, False)
        await self.svc.settle()

    async def down(self, *names: str) -> None:
        for n in names:
            self.svc.drive(n, True)
        await asyncio.sleep(0.001)

    async def up(self, *names: str) -> None:
        for n in names:
            self.svc.drive(n, False)
        await self.svc.settle()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.svc.stop()
        self.sub.close()


async def start_rig(*, store: Any = None, on_factory_reset: Any = None,
                    **config: Any) -> Rig:
    bus = Bus(asyncio.get_running_loop())
    factory = make_factory("mock")
    rig_box: dict[str, Rig] = {}

    async def default_reset() -> None:
        rig_box["rig"].resets += 1

    settings = Settings(store, bus) if store is not None else None  # the box's
    svc = PanelService(panel_config(**config), bus, settings=settings, factory=factory,
                       on_factory_reset=on_factory_reset or default_reset)
    rig = Rig(svc, bus, factory)
    rig.seen = []
    rig_box["rig"] = rig
    await svc.start()
    rig.task = asyncio.create_task(svc.run())
    return rig




def durations(pin: Any) -> list[tuple[float, float]]:
    """(state, seconds held) for each complete state in the pin's recorded history."""
    states = pin.states
    out = []
    for cur, nxt in itertools.pairwise(states):
        out.append((float(cur.state), nxt.timestamp))
    return out


def median_time(pin: Any, state_pred: Callable[[float], bool]) -> float:
    """Median seconds the pin spent in states matching `state_pred` (first one skipped)."""
    spans = [d for s, d in durations(pin)[1:] if state_pred(s)]
    assert spans, f"no matching states in {pin.states}"
    return statistics.median(spans)
