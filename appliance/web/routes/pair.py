"""Pairing pages and API: ask and press Play, or enter a one-time code."""

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


def _pair_state(request: web.Request) -> dict[str, object]:
    pairing: PairingManager = request.app[PAIRING]
    sess = current_session(request)
    state, left = pairing.state_of(sess.key)
    return {"state": "paired" if sess.paired else state, "expiresIn": math.ceil(left),
            "waiting": len(pairing.pending())}


async def pair_page(request: web.Request) -> web.StreamResponse:
    """The claim/pair page."""
    if current_user(request) is not None:
        raise web.HTTPSeeOther("/")
    info = _pair_state(request)
    claimed = await owner_exists_async(request)
    return render(request, "pair.html", {"info": info, "claimed": claimed,
                                         "error": request.query.get("error", "")})


async def pair_request(request: web.Request) -> web.StreamResponse:
    """Ask to pair this browser; a Play press on the box approves it."""
    sess = current_session(request)
    if sess.paired:
        return _done(request, {"state": "paired"})
    pairing: PairingManager = request.app[PAIRING]
    try:
        pairing.request(sess.key, _client(request))
    except CodeRateLimited as err:
        raise _limited(err) from None
    return _done(request, _pair_state(request), "/pair")


async def pair_status(request: web.Request) -> web.StreamResponse:
    """Where this browser's pairing request stands."""
    return json_data(_pair_state(request))


async def pair_complete(request: web.Request) -> web.StreamResponse:
    """Collect an approval given by the Play button: this browser becomes paired."""
    sess = current_session(request)
    if not sess.paired:
        if not request.app[PAIRING].take_approval(sess.key):
            raise ApiError(409, "not_approved",
                           "The box has not approved this browser; ask again and press Play.")
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
    return ApiError(429, "rate_limited",
                    f"Too many attempts; wait {secs} s, or press Play on the box instead.",
                    headers={"Retry-After": str(secs)})


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
