"""Linking a Spotify account: Authorization Code with PKCE (S256), no client secret.

The OAuth `state` is random (256 bits), stored only as a hash in
`spotify_link_states` with the sealed PKCE verifier, bound to the user and the
browser session, valid for 10 minutes and deleted when used: a restart in the
middle of a link still works, and a replay finds nothing. The code comes back
either through the loopback callback (a laptop with `ssh -L`) or pasted from a
phone's failed `http://127.0.0.1:...` page; both go through `complete_link`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from appliance.core.bus import Bus, LinkState
from appliance.core.config import SpotifyConfig
from appliance.core.crypto import Sealer, SealError
from appliance.core.settings import ACTIVE_LISTENER, Settings, SettingsTx
from appliance.core.store import Store
from appliance.music import connections
from appliance.music.connections import Connection
from appliance.music.errors import (
    LinkRefused,
    NotRegistered,
    SpotifyError,
    SpotifyUnavailable,
    not_registered,
)
from appliance.music.tokens import (
    CLIENT_ID,
    PLATFORM,
    REQUIRED_SCOPES,
    SCOPES,
    TokenManager,
    client_id,
    post_token,
)

logger = logging.getLogger(__name__)

STATE_TTL_SECONDS = 600.0
MAX_PENDING = 5
CALLBACK_PATH = "/platforms/spotify/callback"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9]{16,64}$")

TRY_AGAIN = "press Link Spotify and try again"


def redirect_uri(port: int) -> str:
    """The redirect URI to register in the Spotify app (loopback IP literal, never localhost)."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_challenge(verifier: str) -> str:
    """PKCE S256 challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def parse_return(value: str | Mapping[str, Any]) -> dict[str, str]:
    """The callback's query parameters from a mapping, a query string or a pasted address."""
    if isinstance(value, Mapping):
        return {k: str(v) for k, v in value.items()}
    text = value.strip()
    if not text:
        raise LinkRefused("Nothing was pasted; paste the whole address from the phone's "
                          "address bar (it starts with http://127.0.0.1).")
    if "://" in text:
        try:
            parts = urlsplit(text)
            host = (parts.hostname or "").lower()
        except ValueError:  # e.g. an unclosed "[" of an IPv6 address
            host, parts = "", urlsplit("")
        if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.path != CALLBACK_PATH:
            raise LinkRefused("That is not the address Spotify sent you back to; paste the "
                              f"whole address that starts with http://127.0.0.1 and contains "
                              f"{CALLBACK_PATH}.")
        text = parts.query
    elif text.startswith("?"):
        text = text[1:]
    params = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items() if v}
    if "state" not in params or not ("code" in params or "error" in params):
        raise LinkRefused("The pasted address has no Spotify answer in it (no code and state); "
                          "paste the whole address from the phone's address bar.")
    return params


class LinkManager:
    """Starts and completes Spotify links for signed-in users."""

    def __init__(self, store: Store, sealer: Sealer, config: SpotifyConfig,
                 tokens: TokenManager, bus: Bus | None = None,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings(store)
        self.sealer = sealer
        self.config = config
        self.tokens = tokens
        self.bus = bus

    async def client_id(self) -> str:
        """The household's Client ID (page setting, else config)."""
        return await client_id(self.settings, self.config)

    async def set_client_id(self, value: str) -> str:
        """Store the household's Client ID after checking its shape."""
        value = value.strip()
        if not _CLIENT_ID_RE.match(value):
            raise LinkRefused("That does not look like a Spotify Client ID (32 letters and "
                              "digits from the app's page in Spotify's developer dashboard).")
        await self.settings.set(CLIENT_ID, value)
        return value

    async def start_link(self, user_id: str, session_id: str, redirect_uri: str) -> str:
        """A new single-use state for this user and session; the Spotify authorize URL."""
        cid = await self.client_id()
        if not cid:
            raise LinkRefused("Enter the Client ID of your Spotify app first (step 1 on the "
                              "Spotify page).")
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43-128
        now = time.time()
        row = {
            "state_hash": _sha256(state), "user_id": user_id,
            "session_hash": _sha256(session_id),
            "verifier": self.sealer.seal(verifier, user_id=user_id, platform=PLATFORM,
                                         field="verifier"),
            "redirect_uri": redirect_uri, "created_at": now,
            "expires_at": now + STATE_TTL_SECONDS,
        }

        def save(db: Any) -> None:
            db.execute("DELETE FROM spotify_link_states WHERE expires_at < ?", [now])
            # At most MAX_PENDING open attempts per user: the oldest give way.
            db.execute("DELETE FROM spotify_link_states WHERE user_id = ? AND state_hash NOT IN "
                       "(SELECT state_hash FROM spotify_link_states WHERE user_id = ? "
                       "ORDER BY created_at DESC LIMIT ?)", [user_id, user_id, MAX_PENDING - 1])
            db.table("spotify_link_states").insert(row)
        await self.store.write(save)
        query = urlencode({
            "client_id": cid, "response_type": "code", "redirect_uri": redirect_uri,
            "code_challenge_method": "S256", "code_challenge": code_challenge(verifier),
            "state": state, "scope": SCOPES,
        })
        return f"{self.config.accounts_url.rstrip('/')}/authorize?{query}"

    async def _take_state(self, user_id: str, session_id: str, state: str) -> dict[str, Any]:
        """Consume the state if it is this user's and session's and still valid."""
        state_hash, session_hash, now = _sha256(state), _sha256(session_id), time.time()

        def take(db: Any) -> tuple[str, dict[str, Any] | None]:
            rows = list(db.query("SELECT * FROM spotify_link_states WHERE state_hash = ?",
                                 [state_hash]))
            if not rows:
                return "unknown", None
            row = rows[0]
            if row["user_id"] != user_id or row["session_hash"] != session_hash:
                return "foreign", None
            db.execute("DELETE FROM spotify_link_states WHERE state_hash = ?", [state_hash])
            if row["expires_at"] < now:
                return "expired", None
            return "ok", row
        verdict, row = await self.store.write(take)
        if verdict == "unknown":
            raise LinkRefused("This Spotify answer is not from a link started here, or it was "
                              f"used already; {TRY_AGAIN}.")
        if verdict == "foreign":
            raise LinkRefused("This Spotify answer belongs to a link started by another user "
                              f"or browser; {TRY_AGAIN} on this browser.")
        if verdict == "expired":
            raise LinkRefused(f"The link attempt expired (10 minutes); {TRY_AGAIN}.")
        assert row is not None
        return row

    async def complete_link(self, user_id: str, session_id: str,
                            url_or_params: str | Mapping[str, Any]) -> Connection:
        """Finish a link from the callback's parameters or a pasted address (all or nothing)."""
        params = parse_return(url_or_params)
        row = await self._take_state(user_id, session_id, params.get("state", ""))
        if params.get("error"):
            if params["error"] == "access_denied":
                raise LinkRefused("Spotify access was declined, so nothing was linked; press "
                                  "Link Spotify and choose Agree to link.")
            raise LinkRefused(f"Spotify returned an error ({params['error'][:40]}); {TRY_AGAIN}.")
        code = params.get("code", "")
        if not code:
            raise LinkRefused(f"Spotify's answer has no code; {TRY_AGAIN}.")
        try:
            verifier = self.sealer.open(row["verifier"], user_id=user_id, platform=PLATFORM,
                                        field="verifier")
        except SealError as err:
            raise LinkRefused(f"The link attempt cannot be read with this box's key; "
                              f"{TRY_AGAIN}.") from err
        cid = await self.client_id()
        status, body = await post_token(self.tokens.http(), self.config, {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": row["redirect_uri"], "client_id": cid, "code_verifier": verifier})
        error = str(body.get("error") or "")
        if status != 200 or error:
            if error == "invalid_grant":
                raise LinkRefused("Spotify refused the code (already used, expired, or issued "
                                  f"for another link attempt); {TRY_AGAIN}.")
            if error in ("invalid_client", "unauthorized_client"):
                raise LinkRefused("Spotify does not recognise the Client ID or the redirect URI; "
                                  "check both in your Spotify app and on this page.")
            if status >= 500:
                raise SpotifyUnavailable()
            raise LinkRefused(f"Spotify refused the link (HTTP {status}); {TRY_AGAIN}.")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
            raise LinkRefused(f"Spotify's answer had no tokens in it; {TRY_AGAIN}.")
        granted = frozenset(str(body.get("scope") or "").split())
        missing = REQUIRED_SCOPES - granted
        if missing:
            raise LinkRefused("Spotify granted fewer permissions than the box needs (missing: "
                              f"{', '.join(sorted(missing))}); press Link Spotify and accept all "
                              "of them to re-link.")
        profile = await self._profile(access)
        now = time.time()
        conn = Connection(
            user_id=user_id, platform_user_id=str(profile.get("id") or ""),
            display_name=str(profile.get("display_name") or profile.get("id") or ""),
            scopes=" ".join(sorted(granted)), expires_at=now + int(body.get("expires_in") or 3600),
            linked_at=now, state=connections.LINKED, updated_at=now,
            access_token=self.tokens.seal(user_id, "access_token", access),
            refresh_token=self.tokens.seal(user_id, "refresh_token", refresh))

        def save(tx: SettingsTx) -> None:
            connections.save(tx.db, conn)
            if not tx.get(ACTIVE_LISTENER):  # the first account linked plays
                tx.set(ACTIVE_LISTENER, user_id)
        await self.settings.change(save, durable=True)
        logger.info("spotify: linked for %s", user_id)
        self.tokens.cleared(user_id)
        if self.bus is not None:
            self.bus.publish(LinkState(platform=PLATFORM, user_id=user_id, state="linked"))
        return conn

    async def _profile(self, access: str) -> dict[str, Any]:
        url = self.config.api_url.rstrip("/") + "/me"
        try:
            async with self.tokens.http().get(url, headers={
                    "Authorization": f"Bearer {access}"}, timeout=aiohttp.ClientTimeout(
                    total=self.config.timeout)) as resp:
                if resp.status != 200:
                    text = await resp.text()
                    if not_registered(resp.status, text):  # plain text, not JSON
                        raise NotRegistered(status=resp.status)
                    raise SpotifyError(f"Spotify did not return the account's profile (HTTP "
                                       f"{resp.status}); {TRY_AGAIN}.", status=resp.status)
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise SpotifyUnavailable() from err
        return body if isinstance(body, dict) else {}

    async def unlink(self, user_id: str) -> bool:
        """Forget the user's Spotify link (tokens included); True if there was one."""
        removed = await self.store.write(lambda db: connections.delete(db, user_id),
                                         durable=True)
        if removed and self.bus is not None:
            self.bus.publish(LinkState(platform=PLATFORM, user_id=user_id, state="unlinked"))
        return removed
