"""Server-side browser sessions: opaque random tokens, stored only as SHA-256 hashes.

A browser gets an *anonymous* session on its first visit: a signed cookie with
no database row (so strangers cannot fill the table), used to bind the CSRF
token and a pairing request. Proving physical presence (a code on the buttons
or a pairing code) swaps it for a *stored* session (`paired=1`, a new token: no
session fixation) of a new paired browser (`device_id`, `paired_at`,
`paired_via`, `paired_from`). Signing in and out swap the token again but keep
the browser: its device id, its pairing time and its absolute expiry
(`session_lifetime_hours` counts from the proof of presence), and the old row
is deleted, not kept revoked. A stored session ends at that expiry, after
`session_idle_hours` unused (the pairing lapses), when ended (logout, "sign out
everywhere", member removed, the owner unpairs the browser) or when its user is
gone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from appliance.core.config import WebConfig
from appliance.core.store import Store

logger = logging.getLogger(__name__)

COOKIE_NAME = "mooddj_session"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_ANON_PREFIX = "a."
TOUCH_EVERY = 60.0  # seconds between last_seen updates of one session


def token_hash(token: str) -> str:
    """The stored id of a session token (hex SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebSession:
    """One browser's session as seen by a request."""

    key: str  # sha256 of the token: safe to use as an id (flow binding, logs never)
    csrf: str
    stored: bool
    paired: bool = False
    user_id: str = ""
    display_name: str = ""
    role: str = ""
    created_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0
    device_id: str = ""  # the paired browser, kept across sign-in and logout
    paired_at: float = 0.0
    paired_via: str = ""
    paired_from: str = ""

    @property
    def binding(self) -> str:
        """What a sign-in flow is bound to: the paired browser (its key before pairing)."""
        return self.device_id or self.key


class SessionStore:
    """Creates, loads, rotates and revokes sessions in the `sessions` table."""

    def __init__(self, store: Store, cfg: WebConfig, secret: bytes | None = None) -> None:
        self.store = store
        self.lifetime = cfg.session_lifetime_hours * 3600
        self.idle = cfg.session_idle_hours * 3600
        self._secret = secret or secrets.token_bytes(32)

    # -- anonymous sessions (cookie only) ----------------------------------

    def _sign(self, raw: str) -> str:
        return hmac.new(self._secret, raw.encode(), hashlib.sha256).hexdigest()[:32]

    def _anon_csrf(self, key: str) -> str:
        return hmac.new(self._secret, b"csrf|" + key.encode(), hashlib.sha256).hexdigest()

    def new_anonymous(self) -> tuple[str, WebSession]:
        """A fresh anonymous session: (cookie value, session)."""
        raw = secrets.token_urlsafe(32)
        token = f"{_ANON_PREFIX}{raw}.{self._sign(raw)}"
        return token, self._anon_session(token)

    def _anon_session(self, token: str) -> WebSession:
        key = token_hash(token)
        return WebSession(key=key, csrf=self._anon_csrf(key), stored=False)

    # -- loading -------------------------------------------------------------

    async def load(self, token: str | None) -> WebSession | None:
        """The live session for a cookie value, or None (missing, tampered, expired, revoked)."""
        if not token:
            return None
        if token.startswith(_ANON_PREFIX):
            raw, _, sig = token[len(_ANON_PREFIX):].rpartition(".")
            # Bytes: compare_digest raises on non-ASCII text (a hand-made cookie).
            if raw and _TOKEN_RE.match(raw) and hmac.compare_digest(
                    sig.encode(), self._sign(raw).encode()):
                return self._anon_session(token)
            return None
        if not _TOKEN_RE.match(token):
            return None
        key = token_hash(token)
        now = time.time()

        def q(db: Database) -> dict | None:
            rows = list(db.query(
                "SELECT s.*, u.display_name AS u_name, u.role AS u_role, u.id AS u_id "
                "FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
                [key]))
            return rows[0] if rows else None

        row = await self.store.read(q)
        if row is None or row["revoked"] or row["expires_at"] <= now:
            return None
        if row["last_seen"] + self.idle <= now:
            return None
        if row["user_id"] and not row["u_id"]:
            return None  # the user was removed
        sess = WebSession(
            key=key, csrf=row["csrf"], stored=True, paired=bool(row["paired"]),
            user_id=row["user_id"] or "", display_name=row["u_name"] or "",
            role=row["u_role"] or "", created_at=row["created_at"],
            last_seen=row["last_seen"], expires_at=row["expires_at"],
            device_id=row["device_id"] or "", paired_at=row["paired_at"] or 0.0,
            paired_via=row["paired_via"] or "", paired_from=row["paired_from"] or "")
        if now - row["last_seen"] > TOUCH_EVERY:
            await self.store.write(lambda db: db.execute(
                "UPDATE sessions SET last_seen = ? WHERE id_hash = ?", [now, key]))
        return sess

    # -- creating, rotating, revoking ----------------------------------------

    async def create(self, *, user_id: str = "", paired: bool = True, user_agent: str = "",
                     replaces: str = "", carry: WebSession | None = None, via: str = "",
                     client: str = "") -> tuple[str, str]:
        """Store a new session; returns (cookie value, key).

        `replaces` (a session key) is deleted; its paired browser (or `carry`'s, when
        that session is already gone) lives on in the new one with its pairing time
        and expiry. Otherwise this is a new paired browser, paired `via` ("button",
        "code", "invite") from address `client`.
        """
        token = secrets.token_urlsafe(32)
        key = token_hash(token)
        now = time.time()
        row = {
            "id_hash": key, "user_id": user_id, "csrf": secrets.token_urlsafe(32),
            "paired": 1 if paired else 0, "created_at": now, "last_seen": now,
            "expires_at": now + self.lifetime, "revoked": 0, "user_agent": user_agent[:200],
            "device_id": secrets.token_hex(8), "paired_at": now, "paired_via": via[:20],
            "paired_from": client[:64],
        }
        kept = ("device_id", "paired_at", "paired_via", "paired_from", "expires_at")

        def w(db: Database) -> None:
            old: dict[str, Any] | None = None
            if replaces:
                rows = list(db.query("SELECT * FROM sessions WHERE id_hash = ?", [replaces]))
                old = rows[0] if rows else None
                db.execute("DELETE FROM sessions WHERE id_hash = ?", [replaces])
            if old is None and carry is not None and carry.stored:
                old = {"paired": carry.paired, "device_id": carry.device_id,
                       "paired_at": carry.paired_at, "paired_via": carry.paired_via,
                       "paired_from": carry.paired_from, "expires_at": carry.expires_at}
            if paired and old is not None and old["paired"] and old["device_id"]:
                row.update({k: old[k] for k in kept})
            db.table("sessions").insert(row)
            # Housekeeping: forget dead sessions.
            db.execute("DELETE FROM sessions WHERE expires_at < ? OR revoked = 1 OR "
                       "last_seen < ?", [now, now - self.idle])

        await self.store.write(w)
        return token, key

    async def revoke(self, key: str) -> None:
        """End one session."""
        await self.store.write(lambda db: db.execute(
            "DELETE FROM sessions WHERE id_hash = ?", [key]))

    async def revoke_user(self, user_id: str) -> int:
        """End every session of `user_id` ("sign out everywhere"); returns how many."""
        def w(db: Database) -> int:
            return db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id]).rowcount
        return await self.store.write(w)

    async def revoke_signed_out(self) -> int:
        """End every paired session nobody is signed in to; returns how many.

        Such a browser can sign in as a new member at any time, and nothing records
        whose it is (a member who signed out, a lost phone), so removing a member or
        "sign out everywhere" makes all of them prove presence again.
        """
        def w(db: Database) -> int:
            return db.execute("DELETE FROM sessions WHERE (user_id = '' OR user_id IS NULL) "
                              "AND paired = 1").rowcount
        return await self.store.write(w)

    async def unpair(self, device_id: str) -> int:
        """End every session of one paired browser (the owner unpairs it); returns how many."""
        def w(db: Database) -> int:
            return db.execute("DELETE FROM sessions WHERE device_id = ?", [device_id]).rowcount
        return await self.store.write(w)

    async def paired_browsers(self) -> list[dict[str, Any]]:
        """Every live paired browser, newest pairing first: device, times, address, user."""
        now = time.time()

        def q(db: Database) -> list[dict[str, Any]]:
            return list(db.query(
                "SELECT s.device_id, s.id_hash, s.paired_at, s.paired_via, s.paired_from, "
                "s.last_seen, s.user_agent, s.user_id, u.display_name AS u_name "
                "FROM sessions s LEFT JOIN users u ON u.id = s.user_id "
                "WHERE s.paired = 1 AND s.revoked = 0 AND s.expires_at > ? AND s.last_seen > ? "
                "ORDER BY s.paired_at DESC", [now, now - self.idle]))
        return await self.store.read(q)

    def cookie_max_age(self) -> int:
        """Max-Age of a stored session's cookie (its absolute lifetime)."""
        return int(self.lifetime)
