"""How far setup has come, published as `SetupProgress` for the LEDs, the page and status."""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.core.bus import Bus, SetupProgress
from appliance.core.service import Service
from appliance.core.store import Store

CHECK_SECONDS = 3.0


def current_step(db: Any) -> str:
    """The first setup step not done yet, or "done"."""
    if not db.execute("SELECT 1 FROM users WHERE role = 'owner' LIMIT 1").fetchone():
        return "unclaimed"
    if not db.execute("SELECT 1 FROM connections WHERE platform = 'spotify' "
                      "AND state != 'unlinked' LIMIT 1").fetchone():
        return "no_spotify"
    if not db.execute("SELECT 1 FROM settings WHERE key IN ('speaker.id', 'speaker.name') "
                      "AND value != '' LIMIT 1").fetchone():
        return "no_speaker"
    return "done"


class SetupProgressService(Service):
    """Re-reads the setup step every few seconds and publishes it when it changes."""

    name = "setup"
    heartbeat_deadline = 60.0

    def __init__(self, store: Store, bus: Bus, interval: float = CHECK_SECONDS) -> None:
        super().__init__()
        self.store, self.bus, self.interval = store, bus, interval
        self.step = ""

    async def run(self) -> None:
        while True:
            step = await self.store.read(current_step)
            if step != self.step:
                self.step = step
                self.bus.publish(SetupProgress(step=step))  # type: ignore[arg-type]
            self.detail = f"setup: {step}"
            self.beat()
            await asyncio.sleep(self.interval)
