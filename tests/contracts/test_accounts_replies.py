"""Spotify accounts-service replies replayed through the token manager (real store, sealing)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.core.config import SpotifyConfig
from appliance.core.crypto import Sealer
from appliance.core.store import Store
from appliance.music import connections
from appliance.music.connections import Connection
from appliance.music.errors import RelinkNeeded, SpotifyError
from appliance.music.tokens import SCOPES, TokenManager
from appliance.schema import open_store
from tests.contracts.corpus import Replay, case

OLD_REFRESH = "AQCJ...EnvIJV6d8"


@contextlib.asynccontextmanager
async def manager(tmp: Path) -> AsyncIterator[tuple[TokenManager, Replay, Store, Sealer]]:
    replay = await Replay().start()
    store = open_store(tmp / "mooddj.db")
    sealer = Sealer.from_file(tmp / "secret.key", create=True)
    tm = TokenManager(store, sealer, SpotifyConfig(accounts_url=replay.url,
                                                   client_id="5f1c0ffee0ddba11", timeout=3.0))
    now = time.time()

    def seed(db: object) -> None:
        db["users"].insert({"id": "u1", "display_name": "U", "role": "owner",  # type: ignore[index]
                            "created_at": now})
        connections.save(db, Connection(  # type: ignore[arg-type]
            user_id="u1", platform_user_id="1112264649", display_name="U", scopes=SCOPES,
            expires_at=now - 10, linked_at=now, state=connections.LINKED, updated_at=now,
            access_token=tm.seal("u1", "access_token", "BQ-old"),
            refresh_token=tm.seal("u1", "refresh_token", OLD_REFRESH)))
    await store.write(seed)
    try:
        yield tm, replay, store, sealer
    finally:
        await tm.close()
        await replay.stop()
        store.close()


async def _refresh_token(store: Store, sealer: Sealer) -> str:
    conn = await store.read(lambda db: connections.get(db, "u1"))
    assert conn is not None
    return sealer.open(conn.refresh_token, user_id="u1", platform="spotify",
                       field="refresh_token")


@pytest.mark.parametrize(("which", "stored"), [
    ("refresh-rotated", "AQAQfyEFmJJuCvAFh...cG_m-2KTgNDaDMQqjrOa3"),
    ("refresh-same", OLD_REFRESH),
])
async def test_refresh_keeps_or_rotates_the_refresh_token(tmp_path: Path, which: str,
                                                          stored: str) -> None:
    async with manager(tmp_path) as (tm, replay, store, sealer):
        replay.serve(case("spotify-accounts-token", which))
        assert await tm.access_token("u1") == "BQBLuPRYBQ...BP8stIv5xr-Iwaf4l8eg"
        assert await _refresh_token(store, sealer) == stored
        assert b"refresh_token=AQCJ" in replay.seen[0].body


@pytest.mark.parametrize("which", ["revoked", "invalid-refresh"])
async def test_refused_refresh_tokens_mean_link_again(tmp_path: Path, which: str) -> None:
    async with manager(tmp_path) as (tm, replay, store, _):
        replay.serve(case("spotify-accounts-errors", which))
        with pytest.raises(RelinkNeeded):
            await tm.access_token("u1")
        conn = await store.read(lambda db: connections.get(db, "u1"))
        assert conn is not None and conn.state == connections.RELINK_NEEDED


async def test_an_unknown_client_points_at_the_client_id(tmp_path: Path) -> None:
    async with manager(tmp_path) as (tm, replay, _, _):
        replay.serve(case("spotify-accounts-errors", "invalid-client"))
        with pytest.raises(SpotifyError) as got:
            await tm.access_token("u1")
        assert "Client ID" in got.value.message and not isinstance(got.value, RelinkNeeded)
        await asyncio.sleep(0)
