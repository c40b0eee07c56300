"""The error board: the errors raised on the bus and not cleared yet, folded once.

One board is made with the bus and lives as long as the process, so a service
that restarts (the web page, the status writer, the panel) reads every active
error, not only the last one raised. Readers call `active()` or `listing()`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised, Event


class ErrorBoard:
    """Active errors by key; follows the bus from birth when given one."""

    def __init__(self, bus: Bus | None = None) -> None:
        self._active: dict[str, ErrorRaised] = {}
        if bus is not None:
            bus.observe(self.apply, ErrorRaised, ErrorCleared)

    def apply(self, ev: Event) -> None:
        """Fold one event (the bus calls this; a board without a bus is fed by hand)."""
        if isinstance(ev, ErrorRaised):
            self._active.pop(ev.key, None)  # a raise again moves it to the end
            self._active[ev.key] = ev
        elif isinstance(ev, ErrorCleared):
            self._active.pop(ev.key, None)

    def active(self) -> list[ErrorRaised]:
        """The active errors, oldest first."""
        return sorted(self._active.values(), key=lambda e: e.t)

    def listing(self) -> list[dict[str, Any]]:
        """The active errors as dicts, oldest first (pages, status.json)."""
        return [asdict(e) for e in self.active()]

    def __contains__(self, key: object) -> bool:
        return key in self._active

    def __len__(self) -> int:
        return len(self._active)
