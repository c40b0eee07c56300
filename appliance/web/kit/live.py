"""What the pages show about the box right now: the latest events and the error board."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from appliance.core.bus import (
    Bus,
    CameraState,
    MoodReading,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
    SetupProgress,
)
from appliance.core.errors import ErrorBoard

logger = logging.getLogger(__name__)


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
