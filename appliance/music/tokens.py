"""Spotify tokens: sealed at rest, refreshed ahead of expiry behind a per-user lock.

PKCE apps refresh with `client_id` and no secret. A rotated refresh token is
committed durably before the new access token is handed out, so a power cut
can never leave the box holding only a refresh token Spotify has retired.
`invalid_grant` means the link is over (revoked, or past its 6-month life):
the connection is marked `relink_needed` and nothing else is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised, LinkState
from appliance.core.config import SpotifyConfig
from appliance.core.crypto import Sealer, SealError
from appliance.core.settings import Settings, text_key
from appliance.core.store import Store
from appliance.music import connections
from appliance.music.connections import Connection
from appliance.music.errors import NotLinked, RelinkNeeded, SpotifyError, SpotifyUnavailable

logger = logging.getLogger(__name__)

PLATFORM = "spotify"
REFRESH_AHEAD_SECONDS = 300.0
LINK_LIFETIME_SECONDS = 182 * 86400.0
CLIENT_ID = text_key("spotify.client_id")  # the household's Spotify app, from the page
SCOPES = ("user-read-private user-read-email streaming user-modify-playback-state "
          "user-read-playback-state playlist-read-private user-library-read")
REQUIRED_SCOPES = frozenset(SCOPES.split())


def relink_key(user_id: str) -> str:
    """ErrorRaised key of a user's "re-link needed" condition."""
    return f"spotify.relink_needed.{user_id}"


def expiring_key(user_id: str) -> str:
    """ErrorRaised key of a user's "link expires soon" reminder."""
    return f"spotify.expiring.{user_id}"


def link_expires_at_of(conn: Connection) -> float:
    """When the refresh token's 6-month life ends (from the link date)."""
    return conn.linked_at + LINK_LIFETIME_SECONDS


def needs_reminder_of(conn: Connection, reminder_days: float, now: float | None = None) -> bool:
    """True within `reminder_days` of the link's end (or past it)."""
    now = time.time() if now is None else now
    return link_expires_at_of(conn) - now <= reminder_days * 86400.0


async def client_id(settings: Settings, config: SpotifyConfig) -> str:
    """The household's Client ID: the page's setting, else the config default."""
    return (await settings.get(CLIENT_ID) or config.client_id or "").strip()


async def post_token(http: aiohttp.ClientSession, config: SpotifyConfig,
                     form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST `form` to the accounts token endpoint; (status, JSON body). Raises on no answer."""
    url = config.accounts_url.rstrip("/") + "/api/token"
    try:
        async with http.post(url, data=form, timeout=aiohttp.ClientTimeout(
                total=config.timeout)) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {}
            return resp.status, body if isinstance(body, dict) else {}
    except (aiohttp.ClientError, TimeoutError) as err:
        raise SpotifyUnavailable("Spotify's sign-in service did not answer; the box tries "
                                 "again shortly.") from err


class TokenManager:
    """Hands out fresh access tokens per user; refreshes and rotates them safely."""

    def __init__(self, store: Store, sealer: Sealer, config: SpotifyConfig,
                 bus: Bus | None = None, http: aiohttp.ClientSession | None = None,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings(store)
        self.sealer = sealer
        self.config = config
        self.bus = bus
        self._http = http
        self._own_http = http is None
        self._locks: dict[str, asyncio.Lock] = {}
        self.refreshes = 0  # count of refresh calls that reached Spotify (status page)

    # -- plumbing -----------------------------------------------------------

    def http(self) -> aiohttp.ClientSession:
        """The HTTP session used for the accounts service (created on first use)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
            self._own_http = True
        return self._http

    async def close(self) -> None:
        """Close the HTTP session if this manager created it."""
        if self._own_http and self._http is not None and not self._http.closed:
            await self._http.close()

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    def seal(self, user_id: str, field: str, value: str) -> str:
        """Seal a token for this user's Spotify row."""
        return self.sealer.seal(value, user_id=user_id, platform=PLATFORM, field=field)

    def _open(self, conn: Connection, field: str) -> str:
        sealed = getattr(conn, field)
        try:
            return self.sealer.open(sealed, user_id=conn.user_id, platform=PLATFORM, field=field)
        except SealError as err:
            raise RelinkNeeded("The stored Spotify link cannot be opened with this box's key; "
                               "press Link Spotify to link again.") from err

    async def connection(self, user_id: str) -> Connection | None:
        """The user's stored connection (sealed tokens), or None."""
        return await self.store.read(lambda db: connections.get(db, user_id))

    async def _require(self, user_id: str) -> Connection:
        conn = await self.connection(user_id)
        if conn is None:
            raise NotLinked()
        if conn.state == connections.RELINK_NEEDED:
            raise RelinkNeeded()
        return conn

    # -- public API ----------------------------------------------------------

    async def access_token(self, user_id: str) -> str:
        """A valid access token for `user_id`, refreshed when it expires within 5 min."""
        conn = await self._require(user_id)
        if conn.expires_at - time.time() > REFRESH_AHEAD_SECONDS:
            return self._open(conn, "access_token")
        async with self._lock(user_id):
            conn = await self._require(user_id)  # another task may have refreshed meanwhile
            if conn.expires_at - time.time() > REFRESH_AHEAD_SECONDS:
                return self._open(conn, "access_token")
            token, _ = await self._refresh_locked(conn)
            return token

    async def refresh(self, user_id: str, *, stale_token: str | None = None) -> tuple[str, int]:
        """Refresh now; (access_token, expires_in). With `stale_token`, skip if already replaced."""
        async with self._lock(user_id):
            conn = await self._require(user_id)
            if stale_token is not None:
                current = self._open(conn, "access_token")
                if current != stale_token and conn.expires_at > time.time():
                    return current, int(conn.expires_at - time.time())
            return await self._refresh_locked(conn)

    async def _refresh_locked(self, conn: Connection) -> tuple[str, int]:
        user_id = conn.user_id
        refresh_token = self._open(conn, "refresh_token")
        cid = await client_id(self.settings, self.config)
        if not cid:
            raise SpotifyError("No Spotify Client ID is set; enter it on the Spotify page.")
        self.refreshes += 1
        status, body = await post_token(self.http(), self.config, {
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": cid})
        error = str(body.get("error") or "")
        if status == 400 and error == "invalid_grant":
            await self.mark_relink_needed(user_id, "Spotify refused the refresh token")
            raise RelinkNeeded()
        if status in (400, 401) and error in ("invalid_client", "unauthorized_client"):
            raise SpotifyError("Spotify does not recognise this box's Client ID; check it on "
                               "the Spotify page and link again.", status=status, reason=error)
        if status >= 500 or status == 429:
            raise SpotifyUnavailable(status=status)
        access = body.get("access_token")
        if status != 200 or not isinstance(access, str) or not access:
            raise SpotifyError("Spotify's sign-in service gave an unexpected answer; try again "
                               "shortly.", status=status, reason=error)
        expires_in = int(body.get("expires_in") or 3600)
        new_refresh = body.get("refresh_token")
        sealed_access = self.seal(user_id, "access_token", access)
        sealed_refresh = (self.seal(user_id, "refresh_token", new_refresh)
                          if isinstance(new_refresh, str) and new_refresh else None)
        scope = body.get("scope")
        # Durable before the new access token is returned (and so before it is used).
        await self.store.write(lambda db: connections.update_tokens(
            db, user_id, access_token=sealed_access, expires_at=time.time() + expires_in,
            refresh_token=sealed_refresh, scopes=scope if isinstance(scope, str) else None),
            durable=True)
        logger.info("spotify: refreshed access token for %s (refresh token %s)", user_id,
                    "rotated" if sealed_refresh else "kept")
        return access, expires_in

    async def mark_relink_needed(self, user_id: str, why: str) -> None:
        """Set the connection to `relink_needed` and tell the page/LEDs; deletes nothing."""
        await self.store.write(lambda db: connections.set_state(
            db, user_id, connections.RELINK_NEEDED), durable=True)
        logger.warning("spotify: link of %s needs re-linking (%s)", user_id, why)
        self._publish(LinkState(platform=PLATFORM, user_id=user_id, state="relink_needed",
                                detail=why))
        self._publish(ErrorRaised(
            key=relink_key(user_id), source="spotify",
            message="Spotify no longer accepts this box's link for this user.",
            hint="Open the Spotify page and press Link Spotify to link again."))

    async def link_expires_at(self, user_id: str) -> float | None:
        """When the user's link stops working (linked_at + 182 days), or None if unlinked."""
        conn = await self.connection(user_id)
        return link_expires_at_of(conn) if conn else None

    async def needs_reminder(self, user_id: str) -> bool:
        """True within `relink_reminder_days` of the link's end."""
        conn = await self.connection(user_id)
        return conn is not None and needs_reminder_of(conn, self.config.relink_reminder_days)

    async def check_expiry(self, user_id: str) -> str:
        """Publish the link's state ("linked", "expiring", "relink_needed", "unlinked")."""
        conn = await self.connection(user_id)
        if conn is None:
            return "unlinked"
        if conn.state == connections.RELINK_NEEDED:
            return "relink_needed"
        missing = REQUIRED_SCOPES - conn.scope_set
        if missing:
            self._publish(LinkState(platform=PLATFORM, user_id=user_id, state="relink_needed",
                                    detail="missing permissions"))
            self._publish(ErrorRaised(
                key=relink_key(user_id), source="spotify",
                message="The Spotify link lacks permissions the box needs "
                        f"({', '.join(sorted(missing))}).",
                hint="Open the Spotify page and press Link Spotify, accepting all permissions."))
            return "relink_needed"
        if needs_reminder_of(conn, self.config.relink_reminder_days):
            when = time.strftime("%Y-%m-%d", time.gmtime(link_expires_at_of(conn)))
            self._publish(LinkState(platform=PLATFORM, user_id=user_id, state="expiring",
                                    detail=f"link ends {when}"))
            self._publish(ErrorRaised(
                key=expiring_key(user_id), source="spotify",
                message=f"The Spotify link ends on {when} (Spotify limits links to 6 months).",
                hint="Open the Spotify page and press Link Spotify to renew it."))
            return "expiring"
        return "linked"

    def cleared(self, user_id: str) -> None:
        """Withdraw this user's link warnings (after a successful link)."""
        with contextlib.suppress(Exception):
            self._publish(ErrorCleared(key=relink_key(user_id)))
            self._publish(ErrorCleared(key=expiring_key(user_id)))
