"""The chosen Connect speaker: listed, remembered by id and name, re-resolved, faded.

Idle speakers drop out of Spotify's device list and device ids can change, so
the choice is stored as id + name (settings `SPEAKER_ID`, `SPEAKER_NAME`,
`SPEAKER_VOLUME`) and resolved again before playing: by id, else by name (the
stored id is then updated). A missing speaker is reported and retried with
backoff; a restricted one is refused.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
import time
from typing import Any

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised, LinkState
from appliance.core.settings import SPEAKER_ID, SPEAKER_NAME, SPEAKER_VOLUME, Settings, SettingsTx
from appliance.core.store import Store
from appliance.music.errors import DeviceNotControllable, SpeakerMissing
from appliance.music.spotify_api import Device, SpotifyApi

logger = logging.getLogger(__name__)

MISSING_KEY = "spotify.speaker_missing"
RESTRICTED_KEY = "spotify.speaker_restricted"
DEFAULT_VOLUME = SPEAKER_VOLUME.default


def chosen(tx: SettingsTx) -> dict[str, Any]:
    """The stored speaker choice: `id`, `name`, `volume` (empty strings when none)."""
    return {"id": tx.get(SPEAKER_ID), "name": tx.get(SPEAKER_NAME),
            "volume": tx.get(SPEAKER_VOLUME)}


def is_chosen(tx: SettingsTx) -> bool:
    """True once a speaker was chosen (setup's last step)."""
    return bool(tx.get(SPEAKER_ID) or tx.get(SPEAKER_NAME))


class SpeakerManager:
    """Lists Connect devices, remembers the chosen speaker and resolves it."""

    def __init__(self, api: SpotifyApi, store: Store, bus: Bus | None, config: Any,
                 settings: Settings | None = None) -> None:
        self.api = api
        self.store = store
        self.settings = settings or Settings(store)
        self.bus = bus
        self.config = getattr(config, "spotify", config)  # Config or SpotifyConfig
        self._cache: dict[str, tuple[float, list[Device]]] = {}
        self._missing_reported = False

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    # -- list and choose ------------------------------------------------------

    async def list(self, user_id: str, *, refresh: bool = False) -> list[Device]:
        """The account's devices; cached for `devices_refresh_seconds` unless `refresh`."""
        cached = self._cache.get(user_id)
        if (not refresh and cached is not None
                and time.monotonic() - cached[0] < self.config.devices_refresh_seconds):
            return cached[1]
        devices = await self.api.devices(user_id)
        self._cache[user_id] = (time.monotonic(), devices)
        return devices

    def cached(self, user_id: str) -> builtins.list[Device] | None:
        """The last listed devices, without asking Spotify."""
        hit = self._cache.get(user_id)
        return hit[1] if hit else None

    async def choose(self, device_id: str, name: str, volume: int | None = None) -> None:
        """Remember the chosen speaker (id and name) and its default volume."""
        vol = DEFAULT_VOLUME if volume is None else int(max(0, min(100, volume)))

        def save(tx: SettingsTx) -> None:
            tx.set(SPEAKER_ID, device_id)
            tx.set(SPEAKER_NAME, name)
            tx.set(SPEAKER_VOLUME, vol)
        await self.settings.change(save)
        self.api.clear_device_error()
        self._publish(ErrorCleared(key=RESTRICTED_KEY))
        logger.info("spotify: speaker chosen (volume %d)", vol)

    async def chosen(self) -> dict[str, Any]:
        """The stored choice: `id`, `name`, `volume` (empty strings when none)."""
        return await self.settings.view(chosen)

    # -- resolve ------------------------------------------------------------------

    async def resolve(self, user_id: str) -> Device:
        """The chosen speaker as listed now (fresh list); SpeakerMissing / DeviceNotControllable."""
        choice = await self.chosen()
        if not choice["id"] and not choice["name"]:
            raise SpeakerMissing("No speaker is chosen yet; pick one on the Spotify page.")
        devices = await self.list(user_id, refresh=True)
        found = next((d for d in devices if d.id and d.id == choice["id"]), None)
        if found is None and choice["name"]:
            found = next((d for d in devices if d.name == choice["name"]), None)
            if found is not None:
                logger.info("spotify: chosen speaker has a new device id; remembering it")
                await self.settings.set(SPEAKER_ID, found.id)
        if found is None:
            self._report_missing(user_id, choice["name"])
            raise SpeakerMissing()
        if found.is_restricted:
            self._publish(ErrorRaised(
                key=RESTRICTED_KEY, source="spotify",
                message=f"The speaker {found.name!r} does not accept remote control.",
                hint="Choose another speaker on the Spotify page."))
            raise DeviceNotControllable()
        if self._missing_reported:
            self._missing_reported = False
            self._publish(ErrorCleared(key=MISSING_KEY))
        return found

    def _report_missing(self, user_id: str, name: str) -> None:
        self._missing_reported = True
        self._publish(LinkState(platform="spotify", user_id=user_id, state="speaker_missing",
                                detail=name))
        self._publish(ErrorRaised(
            key=MISSING_KEY, source="spotify",
            message=f"The speaker {name!r} is not visible to Spotify (asleep or off).",
            hint="Wake it, e.g. play something on it once from the Spotify app; "
                 "the box keeps looking."))

    async def wait_for(self, user_id: str, *, within: float, initial: float = 1.0,
                       maximum: float = 30.0) -> Device:
        """`resolve` retried with jittered backoff until found, at most `within` s."""
        deadline = time.monotonic() + within
        delay = initial
        while True:
            try:
                return await self.resolve(user_id)
            except SpeakerMissing:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                await asyncio.sleep(min(left, delay * random.uniform(0.8, 1.2)))
                delay = min(maximum, delay * 2)
