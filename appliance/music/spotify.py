"""The Spotify parts the page, the player and the watcher share, built from the config."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from appliance.core.bus import Bus
from appliance.core.config import Config
from appliance.core.crypto import Sealer
from appliance.core.settings import ACTIVE_LISTENER, Settings
from appliance.core.store import Store
from appliance.music.linking import LinkManager, redirect_uri
from appliance.music.speakers import SpeakerManager
from appliance.music.spotify_api import SpotifyApi
from appliance.music.tokens import TokenManager


@dataclass
class SpotifyServices:
    """The Spotify parts the web app and the player share (`deps.services["spotify"]`)."""

    config: Config
    store: Store
    tokens: TokenManager
    api: SpotifyApi
    linking: LinkManager
    speakers: SpeakerManager
    settings: Settings
    redirect_port: int | None = None  # default: config.web.port
    extra: dict[str, Any] = field(default_factory=dict)

    def redirect_uri(self) -> str:
        """The exact redirect URI to register in the household's Spotify app."""
        return redirect_uri(self.redirect_port or self.config.web.port)

    async def active_listener(self) -> str:
        """The user id whose Spotify plays ('' when none)."""
        return await self.settings.get(ACTIVE_LISTENER)

    async def close(self) -> None:
        """Stop the worker thread and close the HTTP session."""
        await self.api.close()
        await self.tokens.close()


def create_services(config: Config, store: Store, sealer: Sealer, bus: Bus | None = None, *,
                    executor: Executor | None = None,
                    http: aiohttp.ClientSession | None = None,
                    settings: Settings | None = None) -> SpotifyServices:
    """Build the token manager, API client, link manager and speaker manager.

    `settings`: the box's (default: uncached reads of `store`'s settings).
    """
    settings = settings or Settings(store)
    tokens = TokenManager(store, sealer, config.spotify, bus=bus, http=http, settings=settings)
    api = SpotifyApi(config.spotify, tokens, executor, bus=bus)
    linking = LinkManager(store, sealer, config.spotify, tokens, bus=bus, settings=settings)
    speakers = SpeakerManager(api, store, bus, config.spotify, settings=settings)
    return SpotifyServices(config, store, tokens, api, linking, speakers, settings,
                           redirect_port=config.spotify.redirect_port or None)
