"""The active listener: whose Spotify account plays (`core.settings.ACTIVE_LISTENER`)."""

from __future__ import annotations

import logging

from sqlite_utils import Database

from appliance.core.bus import Bus, ListenerChanged
from appliance.core.settings import ACTIVE_LISTENER, Settings, SettingsTx
from appliance.identity import accounts
from appliance.music import connections

logger = logging.getLogger(__name__)


def linked_users(db: Database) -> list[dict[str, str]]:
    """Users with a usable Spotify link, oldest link first: `user_id`, `display_name`.

    The name is the household's (identity's profile), else the Spotify account's.
    """
    names = {u["id"]: u["display_name"] for u in accounts.members(db)}
    links = sorted((c for c in connections.list_all(db) if c.state == connections.LINKED),
                   key=lambda c: (c.linked_at, c.user_id))
    return [{"user_id": c.user_id, "display_name": names.get(c.user_id) or c.display_name or ""}
            for c in links]


async def active(settings: Settings) -> str | None:
    """The active listener if still linked; else the first linked user (stored), else None."""
    def read(tx: SettingsTx) -> tuple[str, list[str]]:
        return tx.get(ACTIVE_LISTENER), [u["user_id"] for u in linked_users(tx.db)]
    current, users = await settings.view(read)
    if current in users:
        return current
    if not users:
        return None
    await settings.set(ACTIVE_LISTENER, users[0])
    return users[0]


async def set_active(settings: Settings, bus: Bus | None, user_id: str) -> str:
    """Make `user_id` the listener (must be linked); publishes ListenerChanged. Returns name."""
    def q(tx: SettingsTx) -> str:
        match = [u for u in linked_users(tx.db) if u["user_id"] == user_id]
        if not match:
            raise ValueError("That person has no linked Spotify account; link one first.")
        tx.set(ACTIVE_LISTENER, user_id)
        return match[0]["display_name"]
    name = await settings.change(q)
    if bus is not None:
        bus.publish(ListenerChanged(user_id=user_id, display_name=name))
    logger.info("player: active listener changed")
    return name


async def cycle(settings: Settings, bus: Bus | None) -> str | None:
    """Move to the next linked user (button gesture); returns the new listener."""
    def q(tx: SettingsTx) -> dict[str, str] | None:
        users = linked_users(tx.db)
        if not users:
            return None
        current = tx.get(ACTIVE_LISTENER)
        ids = [u["user_id"] for u in users]
        nxt = users[(ids.index(current) + 1) % len(users)] if current in ids else users[0]
        tx.set(ACTIVE_LISTENER, nxt["user_id"])
        return nxt
    chosen = await settings.change(q)
    if chosen is None:
        return None
    if bus is not None:
        bus.publish(ListenerChanged(user_id=chosen["user_id"],
                                    display_name=chosen["display_name"]))
    return chosen["user_id"]
