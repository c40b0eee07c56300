"""Device-flow sign-in (RFC 8628) for every provider, polled in the background.

`DeviceFlows.start` asks the provider for a user code and starts one polling
task per flow. The task waits the provider's interval between polls (plus 5 s
on every `slow_down`, or the new interval the provider names), keeps trying
through network errors, 5xx and 429 until the code expires, stops at denial,
expiry or any other error, and never polls after expiry. A flow belongs to the
browser session that started it (`bind`) and its identity can be claimed once.
Tokens from the provider are used only to learn who signed in, then dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from appliance.identity.id_tokens import (
    JwksCache,
    ProviderUnavailable,
    github_identity,
    identity_from_claims,
    verify_id_token,
)
from appliance.identity.models import (  # re-exported: callers import them from here
    FlowError,
    FlowNotApproved,
    FlowNotFound,
    FlowStartError,
    IdentityError,
    ProviderNotConfigured,
    TooManyFlows,
    UnknownProvider,
    VerifiedIdentity,
)
from appliance.identity.provider_settings import refusal_text
from appliance.identity.providers import DEVICE_GRANT, Provider

logger = logging.getLogger(__name__)

FlowState = Literal["pending", "approved", "denied", "expired", "error"]
TRANSIENT_ERRORS = ("rate_limit_exceeded", "temporarily_unavailable", "server_error")
# Token-endpoint refusals that mean the OAuth client is set up wrong (the owner can fix it).
CLIENT_ERRORS = ("invalid_client", "unauthorized_client", "device_flow_disabled")
__all__ = ["DeviceFlows", "FlowError", "FlowNotApproved", "FlowNotFound", "FlowStartError",
           "FlowState", "FlowView", "ProviderNotConfigured", "TooManyFlows", "UnknownProvider",
           "VerifiedIdentity"]


@dataclass(frozen=True)
class FlowView:
    """What the page shows about one flow (no device code, no tokens)."""

    flow_id: str
    provider: str
    user_code: str
    verification_url: str
    verification_url_complete: str
    expires_at: float  # wall-clock epoch seconds
    interval: float  # seconds between polls right now
    state: FlowState
    message: str
    identity: VerifiedIdentity | None = None
    expires_in: int = 0  # whole seconds left when the view was taken
    claimed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The API shape (camelCase, no identity): flowId, userCode, verificationUrl, ..."""
        return {"flowId": self.flow_id, "provider": self.provider, "userCode": self.user_code,
                "verificationUrl": self.verification_url,
                "verificationUrlComplete": self.verification_url_complete,
                "expiresIn": self.expires_in, "expiresAt": self.expires_at,
                "interval": self.interval, "status": self.state, "message": self.message}


@dataclass
class _Flow:
    id: str
    bind: str
    provider: Provider
    device_code: str
    user_code: str
    verification_url: str
    verification_url_complete: str
    deadline: float  # monotonic
    expires_at: float  # wall clock
    interval: float
    state: FlowState = "pending"
    message: str = ""
    identity: VerifiedIdentity | None = None
    claimed: bool = False
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    polls: int = 0


@dataclass(frozen=True)
class Refusal:
    """A token-endpoint answer that ends the flow: its error code, status and body."""

    error: str
    status: int
    body: Mapping[str, Any]


def _http_url(value: Any) -> str:
    """`value` if it is an http(s) address, else '' (a page must never link javascript:)."""
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), str(b).encode("utf-8"))


def _short(code: Any) -> str:
    return re.sub(r"[^a-z0-9_]", "", str(code).lower())[:40] or "unknown"


def _number(value: Any, default: float) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


class DeviceFlows:
    """All sign-in flows in progress on the box.

    Polls at the provider's interval; `min_interval` is only a floor against a
    zero interval. `slow_down_step` is what a `slow_down` without a new
    interval adds (RFC 8628: 5 s). `session_factory` makes the one HTTP
    session (closed by `close()`); `clock` is monotonic, `wall_clock` epoch.
    """

    def __init__(self, providers: Mapping[str, Provider],
                 session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
                 clock: Callable[[], float] = time.monotonic, *,
                 wall_clock: Callable[[], float] = time.time,
                 min_interval: float = 0.01, slow_down_step: float = 5.0,
                 max_backoff: float = 60.0, request_timeout: float = 10.0,
                 max_per_bind: int = 3, max_flows: int = 20,
                 keep_finished: float = 600.0, jwks: JwksCache | None = None) -> None:
        self.providers = dict(providers)
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._clock = clock
        self._wall = wall_clock
        self.min_interval = min_interval
        self.slow_down_step = slow_down_step
        self.max_backoff = max_backoff
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.max_per_bind = max_per_bind
        self.max_flows = max_flows
        self.keep_finished = keep_finished
        self.jwks = jwks or JwksCache(self._get_session, clock=clock)
        self._flows: dict[str, _Flow] = {}
        self._starting: dict[str, int] = {}
        self._closed = False

    # -- public API ---------------------------------------------------------

    async def start(self, provider_name: str, bind: str) -> FlowView:
        """Ask `provider_name` for a user code and start polling; the flow belongs to `bind`."""
        provider = self.providers.get(provider_name)
        if provider is None:
            raise UnknownProvider(f"there is no sign-in called {_short(provider_name)!r}; "
                                  f"use google, microsoft or github")
        if not provider.configured:
            raise ProviderNotConfigured(provider.how_to_configure)
        if self._closed:
            raise FlowStartError("the box is shutting down; try again in a minute")
        self._prune()
        pending = [f for f in self._flows.values() if f.state == "pending"]
        mine = sum(1 for f in pending if _same(f.bind, bind))
        if mine + self._starting.get(bind, 0) >= self.max_per_bind:
            raise TooManyFlows("too many sign-ins are waiting in this browser; "
                               "cancel one or let it expire, then try again")
        if len(pending) + sum(self._starting.values()) >= self.max_flows:
            raise TooManyFlows("the box is busy with other sign-ins; try again in a few minutes")
        self._starting[bind] = self._starting.get(bind, 0) + 1
        try:
            flow = await self._request_code(provider, bind)
        finally:
            self._starting[bind] -= 1
            if not self._starting[bind]:
                del self._starting[bind]
        if self._closed:
            raise FlowStartError("the box is shutting down; try again in a minute")
        self._flows[flow.id] = flow
        flow.task = asyncio.create_task(self._poll(flow), name=f"signin-{provider.name}")
        logger.info("sign-in %s.. with %s started (expires in %.0f s, interval %.1f s)",
                    flow.id[:6], provider.label, flow.deadline - self._clock(), flow.interval)
        return self._view(flow)

    def status(self, flow_id: str, bind: str) -> FlowView:
        """The flow as the page shows it; FlowNotFound unless `bind` started it."""
        self._prune()
        return self._view(self._get(flow_id, bind))

    def claim(self, flow_id: str, bind: str) -> VerifiedIdentity:
        """The approved identity, exactly once; FlowNotApproved before approval or after."""
        flow = self._get(flow_id, bind)
        if flow.state != "approved" or flow.identity is None or flow.claimed:
            raise FlowNotApproved("this sign-in has no approved identity to use; "
                                  "ask for a new code")
        identity = flow.identity
        flow.claimed, flow.identity = True, None
        flow.message = "Signed in."
        logger.info("sign-in %s.. with %s claimed", flow.id[:6], flow.provider.label)
        return identity

    def cancel(self, flow_id: str, bind: str) -> None:
        """Stop polling and forget the flow."""
        flow = self._get(flow_id, bind)
        self._flows.pop(flow.id, None)
        if flow.task and not flow.task.done():
            flow.task.cancel()
        logger.info("sign-in %s.. with %s cancelled", flow.id[:6], flow.provider.label)

    def cancel_bound(self, bind: str) -> int:
        """Stop every flow of `bind` (a browser was unpaired); returns how many."""
        flows = [f for f in self._flows.values() if _same(f.bind, bind)]
        for flow in flows:
            self.cancel(flow.id, bind)
        return len(flows)

    def active(self) -> int:
        """How many flows are still waiting for approval."""
        return sum(1 for f in self._flows.values() if f.state == "pending")

    def snapshot(self) -> dict[str, Any]:
        """Secret-free figures for the diagnostics page and `doctor`."""
        return {"waiting": self.active(), "kept": len(self._flows),
                "keySetFetches": self.jwks.fetches,
                "providers": {n: p.configured for n, p in self.providers.items()}}

    async def close(self) -> None:
        """Stop every poller and close the HTTP session."""
        self._closed = True
        tasks = [f.task for f in self._flows.values() if f.task and not f.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._flows.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- internals ----------------------------------------------------------

    def _get(self, flow_id: str, bind: str) -> _Flow:
        flow = self._flows.get(flow_id) if isinstance(flow_id, str) else None
        if flow is None or not _same(flow.bind, bind):
            raise FlowNotFound("this sign-in is not known here (it may have been cancelled or "
                               "belong to another browser); start a new one")
        return flow

    def _view(self, flow: _Flow) -> FlowView:
        left = max(0, int(flow.deadline - self._clock())) if flow.state == "pending" else 0
        return FlowView(flow.id, flow.provider.name, flow.user_code, flow.verification_url,
                        flow.verification_url_complete, flow.expires_at, flow.interval,
                        flow.state, flow.message, flow.identity, left, flow.claimed)

    def _prune(self) -> None:
        now = self._clock()
        for fid, flow in list(self._flows.items()):
            if flow.finished_at is not None and now - flow.finished_at > self.keep_finished:
                del self._flows[fid]

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._session_factory()
        return self._session

    async def _post(self, provider: Provider, url: str, data: dict[str, str]
                    ) -> tuple[int, dict[str, Any] | None, float]:
        """(status, body or None if unreadable, Retry-After seconds) of a form POST."""
        session = await self._get_session()
        headers = {"Accept": "application/json"} if provider.spec.accept_json else {}
        async with session.post(url, data=data, headers=headers, timeout=self._timeout) as resp:
            text = await resp.text()
            retry_after = _number(resp.headers.get("Retry-After"), 0.0)
            body: Any = None
            if resp.content_type == "application/x-www-form-urlencoded":
                body = dict(parse_qsl(text))
            else:
                with contextlib.suppress(ValueError):
                    body = json.loads(text)
            return resp.status, body if isinstance(body, dict) else None, retry_after

    async def _request_code(self, provider: Provider, bind: str) -> _Flow:
        label = provider.label
        data = {"client_id": provider.client_id, "scope": provider.spec.scopes}
        try:
            status, body, _ = await self._post(provider, provider.device_code_url, data)
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.warning("%s device code request failed: %s", label, type(err).__name__)
            raise FlowStartError(f"{label} could not be reached; check the box's internet "
                                 f"connection and try again") from err
        if status >= 500 or status == 429 or (body is None and status == 200):
            raise FlowStartError(f"{label} is not answering properly right now (HTTP {status}); "
                                 f"try again in a minute")
        if body is None or status != 200 or "error" in body:
            code = _short((body or {}).get("error", f"http_{status}"))
            logger.warning("%s refused to start a sign-in: %s", label, code)
            why = refusal_text(provider.name, "device", status, body or {})
            raise FlowStartError(f"{label} refused to start a sign-in ({code}): {why}. The "
                                 f"owner fixes it on the Sign-in setup page (or "
                                 f"[identity.{provider.name}] client_id in the box's config)")
        spec = provider.spec
        url = _http_url(body.get(spec.verification_field) or body.get("verification_uri")
                        or body.get("verification_url"))
        device_code, user_code = body.get("device_code"), body.get("user_code")
        if not url or not isinstance(device_code, str) or not isinstance(user_code, str) \
                or not device_code or not user_code:
            raise FlowStartError(f"{label} sent an incomplete answer; try again in a minute")
        expires_in = min(_number(body.get("expires_in"), 900.0), 3600.0)
        interval = _number(body.get("interval"), spec.default_interval)
        complete = _http_url(body.get("verification_uri_complete")
                             or body.get("verification_url_complete"))
        return _Flow(
            id=secrets.token_urlsafe(24), bind=bind, provider=provider,
            device_code=device_code, user_code=user_code[:64], verification_url=url,
            verification_url_complete=complete, deadline=self._clock() + expires_in,
            expires_at=self._wall() + expires_in, interval=interval,
            message=f"Open {url} and enter the code {user_code[:64]}.")

    def _finish(self, flow: _Flow, state: FlowState, message: str) -> None:
        flow.state, flow.message, flow.finished_at = state, message, self._clock()
        flow.device_code = ""
        logger.info("sign-in %s.. with %s %s after %d polls", flow.id[:6], flow.provider.label,
                    state, flow.polls)

    async def _poll(self, flow: _Flow) -> None:
        label = flow.provider.label
        try:
            await self._poll_loop(flow)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("sign-in %s.. with %s failed", flow.id[:6], label)
            if flow.state == "pending":
                self._finish(flow, "error", f"Something went wrong while waiting for {label}; "
                             "ask for a new code.")

    async def _poll_loop(self, flow: _Flow) -> None:
        label = flow.provider.label
        failures, retry_after = 0, 0.0
        expired_msg = "The code expired before it was approved. Ask for a new code."
        while flow.state == "pending":
            delay = max(flow.interval, self.min_interval)
            if failures:
                delay = max(min(delay * 2 ** failures, self.max_backoff), retry_after, delay)
            if self._clock() + delay >= flow.deadline:
                await asyncio.sleep(max(0.0, flow.deadline - self._clock()))
                self._finish(flow, "expired", expired_msg)
                return
            await asyncio.sleep(delay)
            if flow.state != "pending":
                return
            if self._clock() >= flow.deadline:
                self._finish(flow, "expired", expired_msg)
                return
            kind, value, retry_after = await self._poll_once(flow)
            flow.polls += 1
            if kind == "transient":
                failures += 1
                flow.message = (f"{label} is not answering right now; the box keeps trying "
                                f"until the code expires.")
                continue
            failures, retry_after = 0, 0.0
            if kind == "pending":
                flow.message = (f"Open {flow.verification_url} and enter the code "
                                f"{flow.user_code}.")
            elif kind == "slow_down":
                new = _number(value, 0.0)
                flow.interval = new if new > flow.interval else flow.interval + self.slow_down_step
            elif kind == "denied":
                self._finish(flow, "denied", f"The sign-in was declined at {label}. "
                             "Ask for a new code to try again.")
            elif kind == "expired":
                self._finish(flow, "expired", expired_msg)
            elif kind == "error" and isinstance(value, Refusal) and value.error in CLIENT_ERRORS:
                # The whole refusal: Google tells a wrong client type from a wrong secret
                # only by its error_description (google-token-seen.json).
                why = refusal_text(flow.provider.name, "token", value.status, value.body)
                self._finish(flow, "error", f"{label} stopped the sign-in "
                             f"({_short(value.error)}): {why}.")
            elif kind == "error":
                code = value.error if isinstance(value, Refusal) else value
                self._finish(flow, "error", f"{label} stopped the sign-in ({_short(code)}); "
                             "ask for a new code.")
            else:
                await self._approve(flow, value)

    async def _poll_once(self, flow: _Flow) -> tuple[str, Any, float]:
        """One token request: (kind, detail, retry-after)."""
        p = flow.provider
        data = {"grant_type": DEVICE_GRANT, "device_code": flow.device_code,
                "client_id": p.client_id}
        if p.client_secret:
            data["client_secret"] = p.client_secret
        try:
            status, body, retry_after = await self._post(p, p.token_url, data)
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.info("%s token poll failed: %s", p.label, type(err).__name__)
            return "transient", None, 0.0
        if status >= 500 or status == 429 or body is None:
            logger.info("%s token poll answered HTTP %d", p.label, status)
            return "transient", None, retry_after
        error = body.get("error")
        spec = p.spec
        if error is None and status == 200:
            if isinstance(body.get("access_token"), str) or isinstance(body.get("id_token"), str):
                return "approved", body, 0.0
            return "error", "no_token", 0.0
        if error in spec.pending_errors:
            return "pending", None, 0.0
        if error in spec.slow_down_errors:
            return "slow_down", body.get("interval"), 0.0
        if error in spec.denied_errors:
            return "denied", None, 0.0
        if error in spec.expired_errors:
            return "expired", None, 0.0
        if error in TRANSIENT_ERRORS:
            return "transient", None, retry_after
        return "error", Refusal(str(error or f"http_{status}"), status, body), 0.0

    async def _approve(self, flow: _Flow, body: dict[str, Any]) -> None:
        p = flow.provider
        for attempt in range(3):
            try:
                identity = await self._identity(p, body)
            except ProviderUnavailable as err:
                logger.warning("%s identity check failed (attempt %d): %s", p.label,
                               attempt + 1, err)
                await asyncio.sleep(max(flow.interval, self.min_interval) * (attempt + 1))
                continue
            except IdentityError as err:
                logger.warning("%s sign-in refused: %s", p.label, err)
                self._finish(flow, "error", f"The answer from {p.label} could not be verified "
                             f"({err}); ask for a new code.")
                return
            flow.identity = identity
            self._finish(flow, "approved", f"Signed in with {p.label}.")
            return
        self._finish(flow, "error", f"{p.label} could not confirm who signed in; "
                     "check the box's internet connection and ask for a new code.")

    async def _identity(self, p: Provider, body: dict[str, Any]) -> VerifiedIdentity:
        if p.spec.has_id_token:
            token = body.get("id_token")
            if not isinstance(token, str):
                raise IdentityError(f"{p.label} sent no ID token")
            claims = await verify_id_token(token, p, self.jwks, now=self._wall())
            return identity_from_claims(p, claims)
        return await github_identity(await self._get_session(), p, str(body["access_token"]))
