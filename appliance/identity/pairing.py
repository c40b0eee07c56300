"""Pairing a browser by physical presence: a code entered on the box's buttons, or a
one-time code typed in.

A browser asks (`request`) and is shown a short **button code**: 4 presses of Play,
Next and Mood. The person at the box holds Play (an unclaimed box skips the hold)
and presses the code; the panel publishes `PairingEntered` and only the request
with exactly that code is approved. Codes come from BUTTON_CODES, 27 sequences
whose symbol indices sum to 0 mod 3, so any two differ in at least two presses:
one wrong press never approves another waiting browser. Waiting requests always
have distinct codes. Re-asking while pending returns the same request (same code,
same deadline) and still counts toward the client's ask budget; a client may have
MAX_PENDING_PER_CLIENT requests waiting, the box MAX_PENDING. An approval is
collected only by the session and the client address that asked.

The alternative proof is an 8-character code from `mooddj pair` (SSH) or from the
owner's page; codes are single use, expire, are stored hashed, compared in
constant time and rate limited per client and globally. Wrong codes never limit
the button path, and the global limit only holds back clients that have failed
themselves, so a stranger guessing codes cannot lock the owner out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from appliance.core.bus import Bus, PairingChecked, PairingEntered, PairingWindow, SetupProgress
from appliance.core.config import WebConfig
from appliance.core.store import Store
from appliance.identity.ratelimit import SlidingLimiter

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: easy to read aloud and type on a phone.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
CODE_TTL = 600.0
APPROVED_TTL = 120.0  # how long an approval waits for its browser to collect it

PRESSES = ("play", "next", "mood")
BUTTON_CODE_LENGTH = 4
BUTTON_CODES: tuple[tuple[str, ...], ...] = tuple(
    c for c in itertools.product(PRESSES, repeat=BUTTON_CODE_LENGTH)
    if sum(PRESSES.index(p) for p in c) % 3 == 0)
MAX_PENDING = 8
MAX_PENDING_PER_CLIENT = 2

RequestState = Literal["none", "pending", "approved", "expired"]


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


def consume_code(db: Database, code: str) -> str | None:
    """Use up `code` if it is valid, unused and unexpired (constant-time compare);
    returns who made it ("cli" or the inviting user's id), or None."""
    wanted = code_hash(code)
    now = time.time()
    rows = list(db.query("SELECT code_hash, created_by FROM pairing_codes WHERE used_at = 0 "
                         "AND expires_at > ?", [now]))
    match = None
    for row in rows:  # few rows; compare all of them in constant time each
        if hmac.compare_digest(row["code_hash"], wanted):
            match = row
    if match is None:
        return None
    db.execute("UPDATE pairing_codes SET used_at = ? WHERE code_hash = ?",
               [now, match["code_hash"]])
    return str(match["created_by"] or "cli")


@dataclass
class PairRequest:
    """One browser's wish to pair, waiting for its code on the buttons."""

    key: str  # the browser session's key
    client: str  # the address that asked (the only one that may collect the approval)
    challenge: tuple[str, ...]
    asked_at: float
    until: float
    state: RequestState = "pending"


class CodeRateLimited(Exception):
    """Too many attempts; `retry_after` seconds to wait."""

    def __init__(self, retry_after: float, code: str = "rate_limited") -> None:
        super().__init__(f"retry in {retry_after:.0f} s")
        self.retry_after = retry_after
        self.code = code


class PairingManager:
    """Waiting button-pairing requests and code redemption; runs while the web app runs."""

    def __init__(self, bus: Bus, store: Store, cfg: WebConfig) -> None:
        self.bus = bus
        self.store = store
        self.window = cfg.pairing_window_seconds
        self.claimed = True  # an unclaimed box takes a code without a Play hold first
        self._requests: dict[str, PairRequest] = {}
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._window_open = False
        # Codes: 5 wrong per client (IP) in 5 min, 5 per session, 30 globally per minute.
        self.per_client = SlidingLimiter(5, 300.0)
        self.per_session = SlidingLimiter(5, 300.0)
        self.global_limit = SlidingLimiter(30, 60.0, max_lock=300.0)
        # Button requests: a client may ask at most 6 times a minute (re-asks included).
        self.ask_limit = SlidingLimiter(6, 60.0, max_lock=300.0)

    async def start(self) -> None:
        """Listen for codes entered on the panel."""
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
        with self.bus.subscribe(PairingEntered, SetupProgress, maxsize=20,
                                name="web-pairing") as sub:
            async for ev in sub:
                if isinstance(ev, PairingEntered):
                    self.entered(tuple(ev.presses))
                elif isinstance(ev, SetupProgress) and (ev.step != "unclaimed") != self.claimed:
                    # Claimed (or reset) while browsers wait: the panel must learn whether
                    # a Play hold starts a code now.
                    self.claimed = ev.step != "unclaimed"
                    self._update_window()

    # -- the button path --------------------------------------------------------

    def request(self, key: str, client: str, *, claimed: bool = True) -> PairRequest:
        """Ask to pair browser `key`; its request waits `pairing_window_seconds` for its
        code. Raises CodeRateLimited (asking too often, too many waiting)."""
        self._expire()
        retry = self.ask_limit.retry_after(client)
        if retry:
            raise CodeRateLimited(retry)
        self.ask_limit.failure(client)  # every ask counts, a re-ask too
        existing = self._requests.get(key)
        if existing and existing.state in ("pending", "approved"):
            return existing  # same code, same deadline: re-asking buys nothing
        pending = self.pending()
        if sum(1 for r in pending if r.client == client) >= MAX_PENDING_PER_CLIENT:
            raise CodeRateLimited(self._soonest(r for r in pending if r.client == client))
        taken = {r.challenge for r in pending}
        free = [c for c in BUTTON_CODES if c not in taken]
        if len(pending) >= MAX_PENDING or not free:
            raise CodeRateLimited(self._soonest(pending), "pairing_busy")
        now = time.time()
        req = PairRequest(key=key, client=client, challenge=secrets.choice(free),
                          asked_at=now, until=now + self.window)
        self._requests[key] = req
        self.claimed = claimed
        logger.info("pairing requested by a browser at %s; waiting for its code on the "
                    "buttons", client)
        self._update_window()
        return req

    def _soonest(self, reqs: object) -> float:
        ends = [r.until for r in reqs]  # type: ignore[attr-defined]
        return max(1.0, min(ends, default=time.time() + 1.0) - time.time())

    def pending(self) -> list[PairRequest]:
        """Requests still waiting for their code."""
        self._expire()
        return [r for r in self._requests.values() if r.state == "pending"]

    def entered(self, presses: tuple[str, ...]) -> bool:
        """A code entered on the buttons: approve the one request with exactly that code."""
        match = [r for r in self.pending() if r.challenge == presses]
        ok = len(match) == 1
        if ok:
            req = match[0]
            req.state, req.until = "approved", time.time() + APPROVED_TTL
            logger.info("pairing approved for the browser at %s (its code was entered on "
                        "the buttons)", req.client)
            self._update_window()
        else:
            logger.warning("a code was entered on the buttons that no waiting browser has")
        self.bus.publish(PairingChecked(approved=ok))
        return ok

    def state_of(self, key: str) -> tuple[RequestState, float, PairRequest | None]:
        """(state, seconds left, request) of browser `key`'s request."""
        self._expire()
        req = self._requests.get(key)
        if req is None:
            return "none", 0.0, None
        return req.state, max(0.0, req.until - time.time()), req

    def take_approval(self, key: str, client: str) -> bool:
        """Consume the approval of browser `key` (once), only from the address that asked."""
        self._expire()
        req = self._requests.get(key)
        if req is None or req.state != "approved":
            return False
        if not hmac.compare_digest(req.client.encode(), client.encode()):
            logger.warning("pairing approval for %s was asked for from %s; refused",
                           req.client, client)
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
        if pending:
            until = max(r.until for r in pending)
            self._window_open = True
            self.bus.publish(PairingWindow(open=True, until=until, hold=self.claimed,
                                           length=BUTTON_CODE_LENGTH))
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                soonest = min(r.until for r in pending)
                self._timer = loop.call_later(max(0.0, soonest - time.time()) + 0.05,
                                              self._expire)
        elif self._window_open:
            self._window_open = False
            self.bus.publish(PairingWindow(open=False))

    # -- the code path ---------------------------------------------------------

    async def create_code(self, created_by: str) -> tuple[str, float]:
        """A new one-time code (shown once) and its expiry."""
        code = new_code()
        until = await self.store.write(lambda db: store_code(db, code, created_by=created_by))
        return code, until

    async def redeem(self, code: str, *, client: str, key: str) -> str | None:
        """Who made `code` if it is valid (and now used up), else None; raises
        CodeRateLimited when throttled."""
        retry = max(self.per_client.retry_after(client), self.per_session.retry_after(key))
        if retry:
            raise CodeRateLimited(retry)
        # The box-wide limit holds back addresses that have failed; one that has not
        # (the owner's new phone) still gets its try, so a flood cannot lock it out.
        retry = self.global_limit.retry_after("all")
        if retry and not (self.per_client.clean(client) and self.per_session.clean(key)):
            raise CodeRateLimited(retry)
        made_by = None
        if len(normalise_code(code)) == CODE_LENGTH:
            made_by = await self.store.write(lambda db: consume_code(db, code))
        if made_by is not None:
            self.per_session.success(key)
            return made_by
        self.per_client.failure(client)
        self.per_session.failure(key)
        self.global_limit.failure("all")
        logger.warning("wrong pairing code from %s", client)
        return None
