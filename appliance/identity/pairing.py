"""Pairing a browser by physical presence: the Play button, or a one-time code.

A browser asks (`request`); while exactly one request is pending, a Play press
on the box approves it. Two or more pending requests approve none (someone
else on the LAN is racing: each must retry alone). The alternative proof is an
8-character code from `mooddj pair` (SSH) or from the owner's page; codes are
single use, expire, are stored hashed, compared in constant time and rate
limited per client and globally. Wrong codes never limit the button path, and the
global limit only holds back clients that have failed themselves, so a stranger
guessing codes cannot lock the owner out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from appliance.core.bus import Bus, ButtonGesture, PairingWindow
from appliance.core.config import WebConfig
from appliance.core.store import Store
from appliance.identity.accounts import owner_exists
from appliance.identity.ratelimit import SlidingLimiter

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: easy to read aloud and type on a phone.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
CODE_TTL = 600.0
APPROVED_TTL = 300.0  # how long an approval waits for its browser to collect it

RequestState = Literal["none", "pending", "approved", "conflict", "expired"]


def new_code() -> str:
    """A random one-time pairing code, e.g. 'KM7P-XD3A' without the dash."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """Upper-case, without spaces or dashes."""
    return text.strip().upper().replace("-", "").replace(" ", "")


def code_hash(code: str) -> str:
    """What the database keeps of a code."""
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def format_code(code: str) -> str:
    """'ABCD-EFGH' for display."""
    return f"{code[:4]}-{code[4:]}"


def store_code(db: Database, code: str, *, created_by: str, ttl: float = CODE_TTL) -> float:
    """Save a new code's hash; returns its expiry time."""
    now = time.time()
    db.execute("DELETE FROM pairing_codes WHERE expires_at < ?", [now - 86400])
    db.table("pairing_codes").insert({"code_hash": code_hash(code), "created_at": now,
                                "expires_at": now + ttl, "used_at": 0.0,
                                "created_by": created_by})
    return now + ttl


def consume_code(db: Database, code: str) -> bool:
    """Use up `code` if it is valid, unused and unexpired (constant-time compare)."""
    wanted = code_hash(code)
    now = time.time()
    rows = list(db.query("SELECT code_hash FROM pairing_codes WHERE used_at = 0 AND "
                         "expires_at > ?", [now]))
    match = ""
    for row in rows:  # few rows; compare all of them in constant time each
        if hmac.compare_digest(row["code_hash"], wanted):
            match = row["code_hash"]
    if not match:
        return False
    db.execute("UPDATE pairing_codes SET used_at = ? WHERE code_hash = ?", [now, match])
    return True


@dataclass
class PairRequest:
    """One browser's wish to pair, waiting for a Play press."""

    key: str  # the browser session's key
    client: str
    asked_at: float
    until: float
    state: RequestState = "pending"


class CodeRateLimited(Exception):
    """Too many wrong codes; `retry_after` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class PairingManager:
    """Pending button-pairing requests and code redemption; runs while the web app runs."""

    def __init__(self, bus: Bus, store: Store, cfg: WebConfig) -> None:
        self.bus = bus
        self.store = store
        self.window = cfg.pairing_window_seconds
        self._requests: dict[str, PairRequest] = {}
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._window_open = False
        self._armed_until = 0.0  # a Play hold opened the window before any browser asked
        # Codes: 5 wrong per client (IP) in 5 min, 5 per session, 30 globally per minute.
        self.per_client = SlidingLimiter(5, 300.0)
        self.per_session = SlidingLimiter(5, 300.0)
        self.global_limit = SlidingLimiter(30, 60.0, max_lock=300.0)
        # Button requests: a client may ask at most 6 times a minute.
        self.ask_limit = SlidingLimiter(6, 60.0, max_lock=300.0)

    async def start(self) -> None:
        """Listen for Play presses."""
        self._task = asyncio.create_task(self._listen(), name="web-pairing")

    async def close(self) -> None:
        """Stop listening and close the window."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._timer:
            self._timer.cancel()
        if self._window_open:
            self._window_open = False
            self.bus.publish(PairingWindow(open=False))

    async def _listen(self) -> None:
        with self.bus.subscribe(ButtonGesture, maxsize=20, name="web-pairing") as sub:
            async for ev in sub:
                if isinstance(ev, ButtonGesture) and ev.gesture == "play_press":
                    # A press pairs only an unclaimed box (nothing plays yet). Once claimed,
                    # a press is for the music and only the deliberate hold pairs, so a
                    # stranger's waiting request is never approved by someone pausing.
                    if not await self.store.read(owner_exists):
                        self.button_pressed()
                elif isinstance(ev, ButtonGesture) and ev.gesture == "play_hold":
                    self.button_held()

    # -- the button path --------------------------------------------------------

    def request(self, key: str, client: str) -> PairRequest:
        """Ask to pair the browser `key`; opens the window for `pairing_window_seconds`."""
        self._expire()
        existing = self._requests.get(key)
        if existing and existing.state in ("pending", "approved"):
            return existing
        retry = self.ask_limit.retry_after(client)
        if retry:
            raise CodeRateLimited(retry)
        self.ask_limit.failure(client)  # every ask counts toward the client's ask budget
        now = time.time()
        req = PairRequest(key=key, client=client, asked_at=now, until=now + self.window)
        self._requests[key] = req
        if self._armed_until > now and len(self.pending()) == 1:
            # Play was held first (like a Hue bridge's link button): the first browser to
            # ask within the window is approved, and the window closes.
            self._armed_until = 0.0
            req.state, req.until = "approved", now + APPROVED_TTL
            logger.info("pairing approved for the browser at %s (Play was held)", client)
        else:
            logger.info("pairing requested by a browser at %s; waiting for a Play press", client)
        self._update_window()
        return req

    def pending(self) -> list[PairRequest]:
        """Requests still waiting for the button."""
        self._expire()
        return [r for r in self._requests.values() if r.state == "pending"]

    def button_pressed(self) -> str:
        """Handle a Play press: approve the one pending request. Returns what happened."""
        pending = self.pending()
        if not pending:
            return "nothing_pending"
        if len(pending) > 1:
            for r in pending:
                r.state = "conflict"
            logger.warning("Play pressed while %d browsers asked to pair; approved none",
                           len(pending))
            self._update_window()
            return "conflict"
        req = pending[0]
        req.state = "approved"
        req.until = time.time() + APPROVED_TTL
        logger.info("Play pressed: pairing approved for the browser at %s", req.client)
        self._update_window()
        return "approved"

    def button_held(self) -> str:
        """Handle a Play hold: approve a waiting browser, or open the window for the next one."""
        if self.pending():
            return self.button_pressed()
        self._armed_until = time.time() + self.window
        logger.info("Play held: the next browser to ask within %.0f s is paired", self.window)
        self._update_window()
        return "armed"

    def state_of(self, key: str) -> tuple[RequestState, float]:
        """(state, seconds left) of the request of browser `key`."""
        self._expire()
        req = self._requests.get(key)
        if req is None:
            return "none", 0.0
        return req.state, max(0.0, req.until - time.time())

    def take_approval(self, key: str) -> bool:
        """Consume the approval of browser `key` (once)."""
        self._expire()
        req = self._requests.get(key)
        if req is None or req.state != "approved":
            return False
        del self._requests[key]
        return True

    def cancel(self, key: str) -> None:
        """Withdraw browser `key`'s request."""
        if self._requests.pop(key, None):
            self._update_window()

    def _expire(self) -> None:
        now = time.time()
        changed = False
        if self._armed_until and self._armed_until <= now:
            self._armed_until = 0.0
            changed = True
        for key, req in list(self._requests.items()):
            if req.until <= now:
                if req.state == "pending":
                    req.state = "expired"
                    req.until = now + APPROVED_TTL
                    changed = True
                else:
                    del self._requests[key]
        if changed:
            self._update_window()

    def _update_window(self) -> None:
        pending = [r for r in self._requests.values() if r.state == "pending"]
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if pending or self._armed_until:
            until = max([r.until for r in pending] + [self._armed_until])
            self._window_open = True
            self.bus.publish(PairingWindow(open=True, until=until))
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(max(0.0, until - time.time()) + 0.05, self._expire)
        elif self._window_open:
            self._window_open = False
            self.bus.publish(PairingWindow(open=False))

    # -- the code path ---------------------------------------------------------

    async def create_code(self, created_by: str) -> tuple[str, float]:
        """A new one-time code (shown once) and its expiry."""
        code = new_code()
        until = await self.store.write(lambda db: store_code(db, code, created_by=created_by))
        return code, until

    async def redeem(self, code: str, *, client: str, key: str) -> bool:
        """True if `code` is valid (and now used up); raises CodeRateLimited when throttled."""
        retry = max(self.per_client.retry_after(client), self.per_session.retry_after(key))
        if retry:
            raise CodeRateLimited(retry)
        # The box-wide limit holds back addresses that have failed; one that has not
        # (the owner's new phone) still gets its try, so a flood cannot lock it out.
        retry = self.global_limit.retry_after("all")
        if retry and not (self.per_client.clean(client) and self.per_session.clean(key)):
            raise CodeRateLimited(retry)
        ok = False
        if len(normalise_code(code)) == CODE_LENGTH:
            ok = await self.store.write(lambda db: consume_code(db, code))
        if ok:
            self.per_session.success(key)
            return True
        self.per_client.failure(client)
        self.per_session.failure(key)
        self.global_limit.failure("all")
        logger.warning("wrong pairing code from %s", client)
        return False
