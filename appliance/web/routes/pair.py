"""Pairing pages and API: ask and press the code shown on the box's buttons, or enter a
one-time code."""

from __future__ import annotations

import math

from aiohttp import web

from appliance.identity.pairing import CodeRateLimited, PairingManager, format_code
from appliance.web.kit.guards import current_session, current_user, require_owner
from appliance.web.kit.keys import PAIRING, REQ_NEW_TOKEN, SESSIONS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.sessions import WebSession
from appliance.web.kit.users import owner_exists_async


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def _become_paired(request: web.Request, sess: WebSession) -> None:
    """Swap the browser's session for a new, stored, paired one (no fixation)."""
    token, _ = await request.app[SESSIONS].create(
        paired=True, user_agent=request.headers.get("User-Agent", ""),
        replaces=sess.key if sess.stored else "")
    request[REQ_NEW_TOKEN] = token


def _pair_state(request: web.Request, key: str | None = None) -> dict[str, object]:
    """This browser's own request only: strangers learn nothing of other browsers."""
    pairing: PairingManager = request.app[PAIRING]
    sess = current_session(request)
    if sess.paired:
        return {"state": "paired", "expiresIn": 0}
    state, left, req = pairing.state_of(key or sess.key)
    info: dict[str, object] = {"state": state, "expiresIn": math.ceil(left)}
    if req is not None and state == "pending":
        info.update(challenge=list(req.challenge), holdFirst=pairing.claimed)
    return info


async def pair_page(request: web.Request) -> web.StreamResponse:
    """The claim/pair page."""
    if current_user(request) is not None:
        raise web.HTTPSeeOther("/")
    info = _pair_state(request)
    claimed = await owner_exists_async(request)
    return render(request, "pair.html", {"info": info, "claimed": claimed,
                                         "error": request.query.get("error", "")})


async def pair_request(request: web.Request) -> web.StreamResponse:
    """Ask to pair this browser: the answer is the code to press on the box's buttons.

    A new request gets a new anonymous cookie (and CSRF token), so a cookie planted
    in this browser beforehand cannot collect the approval.
    """
    sess = current_session(request)
    if sess.paired:
        return _done(request, {"state": "paired"})
    pairing: PairingManager = request.app[PAIRING]
    claimed = await owner_exists_async(request)
    key, csrf = sess.key, sess.csrf
    state, _left, _req = pairing.state_of(sess.key)
    if not sess.stored and state not in ("pending", "approved"):
        token, fresh = request.app[SESSIONS].new_anonymous()
        key, csrf = fresh.key, fresh.csrf
    try:
        pairing.request(key, _client(request), claimed=claimed)
    except CodeRateLimited as err:
        raise _limited(err) from None
    if key != sess.key:
        request[REQ_NEW_TOKEN] = token
    return _done(request, {**_pair_state(request, key), "csrfToken": csrf}, "/pair")


async def pair_status(request: web.Request) -> web.StreamResponse:
    """Where this browser's pairing request stands."""
    return json_data(_pair_state(request))


async def pair_complete(request: web.Request) -> web.StreamResponse:
    """Collect an approval given on the buttons: this browser becomes paired.

    Only the session and the address that asked may collect it.
    """
    sess = current_session(request)
    if not sess.paired:
        if not request.app[PAIRING].take_approval(sess.key, _client(request)):
            raise ApiError(409, "not_approved",
                           "The box has not approved this browser; ask again and press "
                           "the code on the box's buttons.")
        await _become_paired(request, sess)
    return _done(request, {"state": "paired", "next": "/signin"}, "/signin")


async def pair_code(request: web.Request) -> web.StreamResponse:
    """Pair this browser with a one-time code from `mooddj pair` or the owner's page."""
    sess = current_session(request)
    if sess.paired:
        return _done(request, {"state": "paired", "next": "/"}, "/")
    code = await _field(request, "code")
    pairing: PairingManager = request.app[PAIRING]
    try:
        ok = await pairing.redeem(code, client=_client(request), key=sess.key)
    except CodeRateLimited as err:
        raise _limited(err) from None
    if not ok:
        if not wants_json(request):
            raise web.HTTPSeeOther("/pair?error=code")
        raise ApiError(400, "wrong_code",
                       "That code is wrong, used or expired; check it or make a new one.")
    await _become_paired(request, sess)
    return _done(request, {"state": "paired", "next": "/signin"}, "/signin")


async def create_code(request: web.Request) -> web.StreamResponse:
    """The owner makes an invite code for a new browser (shown once)."""
    user = require_owner(request)
    code, until = await request.app[PAIRING].create_code(user.user_id)
    return json_data({"code": format_code(code), "expiresAt": until}, status=201)


def _limited(err: CodeRateLimited) -> ApiError:
    secs = math.ceil(err.retry_after)
    if err.code == "pairing_busy":
        message = (f"Too many browsers are waiting to pair; try again in {secs} s, or use a "
                   f"pairing code from the owner or `mooddj pair`.")
    else:
        message = f"Too many attempts; wait {secs} s, or use a pairing code instead."
    return ApiError(429, err.code, message, headers={"Retry-After": str(secs)})


async def _field(request: web.Request, name: str) -> str:
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json", "The request body is not valid JSON.") from None
        value = body.get(name, "") if isinstance(body, dict) else ""
    else:
        value = (await request.post()).get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be text.")
    return value[:64]


def _done(request: web.Request, data: dict[str, object], redirect: str = "/") -> web.Response:
    if wants_json(request):
        return json_data(data)
    raise web.HTTPSeeOther(redirect)


def add_routes(app: web.Application) -> None:
    """Register the pairing routes."""
    app.router.add_get("/pair", pair_page, name="pair")
    app.router.add_post("/pair/request", pair_request)
    app.router.add_get("/pair/status", pair_status)
    app.router.add_post("/pair/complete", pair_complete)
    app.router.add_post("/pair/code", pair_code)
    app.router.add_post("/api/pair/codes", create_code)
