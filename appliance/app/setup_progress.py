"""How far setup has come, published as `SetupProgress` for the LEDs, the page and status."""

from __future__ import annotations

import asyncio

from sqlite_utils import Database

from appliance.core.bus import Bus, SetupProgress
from appliance.core.service import Service
from appliance.core.settings import Settings, SettingsTx
from appliance.identity.accounts import owner_exists
from appliance.music.connections import any_linked
from appliance.music.speakers import is_chosen

CHECK_SECONDS = 3.0


def current_step(db: Database) -> str:
    """The first setup step not done yet, or "done" (each package answers for its own)."""
    if not owner_exists(db):
        return "unclaimed"
    if not any_linked(db):
        return "no_spotify"
    if not is_chosen(SettingsTx(db)):
        return "no_speaker"
    return "done"


class SetupProgressService(Service):
    """Re-reads the setup step every few seconds and publishes it when it changes."""

    name = "setup"
    heartbeat_deadline = 60.0

    def __init__(self, settings: Settings, bus: Bus, interval: float = CHECK_SECONDS) -> None:
        super().__init__()
        self.settings, self.bus, self.interval = settings, bus, interval
        self.step = ""

    async def run(self) -> None:
        while True:
            step = await self.settings.view(lambda tx: current_step(tx.db))
            if step != self.step:
                self.step = step
                self.bus.publish(SetupProgress(step=step))  # type: ignore[arg-type]
            self.detail = f"setup: {step}"
            self.beat()
            await asyncio.sleep(self.interval)
