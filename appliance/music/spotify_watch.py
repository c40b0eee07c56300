"""The supervised Spotify watcher: speaker list refresh and link-expiry reminders.

Every `devices_refresh_seconds` it re-resolves the chosen speaker for the active
listener (so a speaker that fell asleep shows on the page and LEDs before anyone
presses Play), and every few hours it checks each link's 6-month expiry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from appliance.core.service import Service
from appliance.music import connections
from appliance.music.errors import SpeakerMissing, SpotifyError

if TYPE_CHECKING:
    from appliance.music.spotify import SpotifyServices

logger = logging.getLogger(__name__)

EXPIRY_CHECK_SECONDS = 6 * 3600.0


class SpotifyWatchService(Service):
    """Keeps the speaker list fresh and publishes link-expiry reminders."""

    name = "spotify"
    heartbeat_deadline = None

    def __init__(self, services: SpotifyServices) -> None:
        super().__init__()
        self.svc = services
        self._last_expiry_check = 0.0

    async def run(self) -> None:
        """Refresh and check until cancelled."""
        interval = self.svc.config.spotify.devices_refresh_seconds
        while True:
            await self.tick()
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        """One round: expiry reminders (when due) and the chosen speaker's presence."""
        svc = self.svc
        now = time.time()
        if now - self._last_expiry_check >= EXPIRY_CHECK_SECONDS:
            self._last_expiry_check = now
            links = await svc.store.read(connections.list_all)
            for conn in links:
                await svc.tokens.check_expiry(conn.user_id)
        listener = await svc.active_listener()
        choice = await svc.speakers.chosen()
        if not listener or not (choice["id"] or choice["name"]):
            self.detail = "no listener or speaker chosen yet"
            return
        try:
            device = await svc.speakers.resolve(listener)
            self.detail = f"speaker {device.name!r} visible"
        except SpeakerMissing:
            self.detail = f"speaker {choice['name']!r} not visible"
        except SpotifyError as err:
            self.detail = f"speaker check skipped ({type(err).__name__})"
            logger.info("spotify: speaker check skipped (%s)", type(err).__name__)
        self.beat()

    def snapshot(self) -> dict[str, object]:
        """Rate-limit state for `mooddj status`."""
        return {"api_calls": self.svc.api.calls}
