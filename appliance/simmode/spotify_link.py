"""Link a box user to a stand-in Spotify account through the real PKCE flow.

Used by the simulator (`mooddj run --sim` pre-links a listener so the player has
music at once) and by tests: it goes through `LinkManager.start_link`, the
stand-in's authorize page and `LinkManager.complete_link`, like a person would.
"""

from __future__ import annotations

from typing import Any

from appliance.core.store import Store
from appliance.identity.accounts import get_user
from appliance.identity.profiles import create_profile
from appliance.music.connections import Connection
from appliance.music.linking import LinkManager
from appliance.standins.spotify_server import SpotifySim


async def ensure_user(store: Store, user_id: str, display_name: str, role: str = "member") -> None:
    """Create the box user row if it does not exist (simulator households)."""
    def add(db: Any) -> None:
        if get_user(db, user_id) is None:
            create_profile(db, display_name, role=role, user_id=user_id)
    await store.write(add)


async def link_via_sim(sim: SpotifySim, linking: LinkManager, user_id: str, *,
                       account: str = "alice", session_id: str = "sim-session",
                       redirect_uri: str = "http://127.0.0.1:8080/platforms/spotify/callback",
                       ) -> Connection:
    """Start a link, approve it on the stand-in as `account`, complete it; the connection."""
    if not await linking.client_id():
        await linking.set_client_id(sim.client_id)
    auth_url = await linking.start_link(user_id, session_id, redirect_uri)
    back = await sim.approve(auth_url, account=account)
    return await linking.complete_link(user_id, session_id, back)
