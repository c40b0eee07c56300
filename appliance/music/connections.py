"""Data access for the `connections` table (one Spotify link per user).

Plain functions taking a sqlite-utils `Database`, run through `Store.read` /
`Store.write`. Token columns hold sealed text only; `Connection` keeps them out
of its repr so a logged connection never shows even the sealed form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

PLATFORM = "spotify"
LINKED = "linked"
RELINK_NEEDED = "relink_needed"


@dataclass(frozen=True)
class Connection:
    """One user's Spotify link (tokens sealed, never shown)."""

    user_id: str
    platform_user_id: str
    display_name: str
    scopes: str
    expires_at: float
    linked_at: float
    state: str
    updated_at: float
    access_token: str = field(default="", repr=False)  # sealed
    refresh_token: str = field(default="", repr=False)  # sealed
    platform: str = PLATFORM

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


def _from_row(row: dict[str, Any]) -> Connection:
    return Connection(
        user_id=row["user_id"], platform_user_id=row.get("platform_user_id") or "",
        display_name=row.get("display_name") or "", scopes=row.get("scopes") or "",
        expires_at=float(row.get("expires_at") or 0.0), linked_at=float(row.get("linked_at") or 0),
        state=row.get("state") or LINKED, updated_at=float(row.get("updated_at") or 0.0),
        access_token=row.get("access_token") or "", refresh_token=row.get("refresh_token") or "",
        platform=row.get("platform") or PLATFORM)


def get(db: Database, user_id: str, platform: str = PLATFORM) -> Connection | None:
    """The user's connection, or None."""
    rows = list(db.query("SELECT * FROM connections WHERE user_id = ? AND platform = ?",
                         [user_id, platform]))
    return _from_row(rows[0]) if rows else None


def list_all(db: Database, platform: str = PLATFORM) -> list[Connection]:
    """Every connection of `platform`, oldest link first."""
    return [_from_row(r) for r in db.query(
        "SELECT * FROM connections WHERE platform = ? ORDER BY linked_at", [platform])]


def link_facts(db: Database) -> list[dict[str, Any]]:
    """Every link without its tokens (sealed columns are not even selected), by user."""
    return [dict(r) for r in db.query(
        "SELECT user_id, platform, display_name, state, expires_at, linked_at, scopes "
        "FROM connections ORDER BY user_id")]


def any_linked(db: Database, platform: str = PLATFORM) -> bool:
    """True once someone linked `platform` (even if that link now needs renewing)."""
    return db.execute("SELECT 1 FROM connections WHERE platform = ? AND state != 'unlinked' "
                      "LIMIT 1", [platform]).fetchone() is not None


def save(db: Database, conn: Connection) -> None:
    """Insert or replace a whole connection row."""
    db.table("connections").upsert({
        "user_id": conn.user_id, "platform": conn.platform,
        "platform_user_id": conn.platform_user_id, "display_name": conn.display_name,
        "access_token": conn.access_token, "refresh_token": conn.refresh_token,
        "scopes": conn.scopes, "expires_at": conn.expires_at, "linked_at": conn.linked_at,
        "state": conn.state, "updated_at": conn.updated_at,
    }, pk=("user_id", "platform"))


def update_tokens(db: Database, user_id: str, *, access_token: str, expires_at: float,
                  refresh_token: str | None = None, scopes: str | None = None,
                  platform: str = PLATFORM) -> None:
    """Store refreshed (sealed) tokens; a None refresh token keeps the stored one."""
    values: dict[str, Any] = {"access_token": access_token, "expires_at": expires_at,
                              "updated_at": time.time()}
    if refresh_token is not None:
        values["refresh_token"] = refresh_token
    if scopes is not None:
        values["scopes"] = scopes
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE connections SET {sets} WHERE user_id = ? AND platform = ?",  # noqa: S608
               [*values.values(), user_id, platform])


def set_state(db: Database, user_id: str, state: str, platform: str = PLATFORM) -> None:
    """Mark the connection `linked` or `relink_needed` (nothing else changes)."""
    db.execute("UPDATE connections SET state = ?, updated_at = ? WHERE user_id = ? AND "
               "platform = ?", [state, time.time(), user_id, platform])


def delete(db: Database, user_id: str, platform: str = PLATFORM) -> bool:
    """Remove the user's connection; True if there was one."""
    cur = db.execute("DELETE FROM connections WHERE user_id = ? AND platform = ?",
                     [user_id, platform])
    return cur.rowcount > 0


def platforms_of(db: Database, user_id: str) -> list[dict[str, Any]]:
    """`[{platform, platformUserId, linkedAt, state, expiresAt}]` (/user/platforms), no tokens."""
    from appliance.identity.accounts import iso

    rows = db.query("SELECT platform, platform_user_id, linked_at, state, expires_at "
                    "FROM connections WHERE user_id = ? ORDER BY platform", [user_id])
    return [{"platform": r["platform"], "platformUserId": r["platform_user_id"] or "",
             "linkedAt": iso(r["linked_at"]), "state": r["state"] or "linked",
             "expiresAt": iso(r["expires_at"])} for r in rows]


def forget_member(db: Database, user_id: str) -> None:
    """Remove a departing household member's links and skip/like feedback."""
    for table in ("connections", "feedback"):
        db.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id])  # noqa: S608
