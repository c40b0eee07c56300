"""Set-up shared by the contract tests: the client pointed at a replay server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from appliance.core.config import SpotifyConfig
from appliance.music.spotify_api import SpotifyApi
from tests.contracts.corpus import Replay


class FixedTokens:
    """Hands out one access token; counts refreshes (the token service is not under test)."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def access_token(self, user_id: str) -> str:
        return "BQBLuPRYBQ-access"

    async def refresh(self, user_id: str, *, stale_token: str | None = None) -> tuple[str, int]:
        self.refreshes += 1
        return "BQBLuPRYBQ-refreshed", 3600


@contextlib.asynccontextmanager
async def replayed_api() -> AsyncIterator[tuple[SpotifyApi, Replay, FixedTokens]]:
    """A SpotifyApi (spotipy over real HTTP) talking to a replay server on loopback."""
    replay = await Replay().start()
    tokens = FixedTokens()
    api = SpotifyApi(SpotifyConfig(api_url=f"{replay.url}/v1/", timeout=3.0),
                     tokens)  # type: ignore[arg-type]
    api.transfer_settle = 0.0
    try:
        yield api, replay, tokens
    finally:
        await api.close()
        await replay.stop()
