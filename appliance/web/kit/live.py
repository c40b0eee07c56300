"""What the pages show about the box right now: active errors and the latest events."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from appliance.core.bus import (
    Bus,
    CameraState,
    ErrorCleared,
    ErrorRaised,
    MoodReading,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
    SetupProgress,
)

logger = logging.getLogger(__name__)


class ErrorBoard:
    """The errors raised on the bus and not cleared yet, newest last."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.active: dict[str, ErrorRaised] = {}
        self._task: asyncio.Task[None] | None = None
        last = bus.latest(ErrorRaised)
        cleared = bus.latest(ErrorCleared)
        if isinstance(last, ErrorRaised) and not (
                isinstance(cleared, ErrorCleared) and cleared.key == last.key
                and cleared.t >= last.t):
            self.active[last.key] = last

    def start(self) -> None:
        """Follow ErrorRaised/ErrorCleared on the bus."""
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="web-errors")

    async def _follow(self) -> None:
        with self.bus.subscribe(ErrorRaised, ErrorCleared, maxsize=200, name="web-errors") as sub:
            async for ev in sub:
                self.apply(ev)

    def apply(self, ev: object) -> None:
        """Update the board from one event."""
        if isinstance(ev, ErrorRaised):
            self.active[ev.key] = ev
        elif isinstance(ev, ErrorCleared):
            self.active.pop(ev.key, None)

    def close(self) -> None:
        """Stop following the bus."""
        if self._task:
            self._task.cancel()

    def listing(self) -> list[dict[str, Any]]:
        """Active errors as dicts, oldest first."""
        return [asdict(e) for e in sorted(self.active.values(), key=lambda e: e.t)]


def status_snapshot(bus: Bus, board: ErrorBoard) -> dict[str, Any]:
    """The home page's facts: mood, people, player, camera, privacy, setup step, errors."""
    def last(kind: type) -> dict[str, Any] | None:
        ev = bus.latest(kind)
        return asdict(ev) if ev is not None else None

    return {
        "mood": last(MoodReading),
        "presence": last(PresenceChanged),
        "player": last(PlayerState),
        "camera": last(CameraState),
        "privacy": last(PrivacyChanged),
        "setup": last(SetupProgress),
        "errors": board.listing(),
    }
