"""Pairing pages and API: ask and press the code shown on the box's buttons, or enter a
one-time code."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from aiohttp import web

from appliance.identity import accounts
from appliance.identity.pairing import CodeRateLimited, PairingManager, format_code
from appliance.identity.profiles import INVITE_FOR
from appliance.identity.sessions import WebSession
from appliance.web.kit.bodies import read_body
from appliance.web.kit.guards import current_session, current_user, require_owner
from appliance.web.kit.keys import DEPS, FLOWS, PAIRING, REQ_NEW_TOKEN, SESSIONS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.users import owner_exists_async
from appliance.web.kit.ws import LIVE

logger = logging.getLogger(__name__)


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def _become_paired(request: web.Request, sess: WebSession, via: str,
                         user_id: str = "") -> None:
    """Swap the browser's session for a new, stored, paired one (no fixation)."""
    token, _ = await request.app[SESSIONS].create(
        user_id=user_id, paired=True, user_agent=request.headers.get("User-Agent", ""),
        replaces=sess.key if sess.stored else "", via=via, client=_client(request))
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
        await _become_paired(request, sess, "button")
    return _done(request, {"state": "paired", "next": "/signin"}, "/signin")


async def pair_code(request: web.Request) -> web.StreamResponse:
    """Pair this browser with a one-time code from `mooddj pair` or the owner's page."""
    sess = current_session(request)
    if sess.paired:
        return _done(request, {"state": "paired", "next": "/"}, "/")
    code = await _field(request, "code")
    pairing: PairingManager = request.app[PAIRING]
    try:
        made_by = await pairing.redeem(code, client=_client(request), key=sess.key)
    except CodeRateLimited as err:
        raise _limited(err) from None
    if made_by is None:
        if not wants_json(request):
            raise web.HTTPSeeOther("/pair?error=code")
        raise ApiError(400, "wrong_code",
                       "That code is wrong, used or expired; check it or make a new one.")
    for_user = await _invited_profile(request, made_by)
    await _become_paired(request, sess, "code" if made_by == "cli" else "invite", for_user)
    if for_user:  # the owner made this code for someone's profile: it opens it at once
        return _done(request, {"state": "paired", "next": "/"}, "/")
    return _done(request, {"state": "paired", "next": "/signin"}, "/signin")


async def _invited_profile(request: web.Request, made_by: str) -> str:
    """The profile an invite code was made for ("for:<id>"), if it still exists; else ''."""
    if not made_by.startswith(INVITE_FOR):
        return ""
    user_id = made_by[len(INVITE_FOR):]
    found = await request.app[DEPS].store.read(lambda db: accounts.get_user(db, user_id))
    return user_id if found else ""


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
    value = (await read_body(request)).get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{name} must be text.")
    return value[:64]


def _done(request: web.Request, data: dict[str, object], redirect: str = "/") -> web.Response:
    if wants_json(request):
        return json_data(data)
    raise web.HTTPSeeOther(redirect)


# -- paired browsers (the owner's Household page) -----------------------------------------

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser", "Samsung Internet"),
             ("Firefox/", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
             ("aiohttp", "a script"), ("python-requests", "a script"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "Mac"), ("Macintosh", "Mac"),
            ("Windows", "Windows"), ("Linux", "Linux"))
NEW_FOR = 86400.0  # a browser paired this recently is marked new on the owner's page


def browser_name(user_agent: str) -> str:
    """A short name for a browser from its User-Agent, e.g. "Chrome on Android"."""
    app = next((name for mark, name in _BROWSERS if mark in user_agent), "A browser")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    return f"{app} on {system}" if system else app


def _when(t: float) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(t)) if t else "never"


async def paired_browsers(request: web.Request) -> list[dict[str, Any]]:
    """Every paired browser, for the owner's page and `GET /api/browsers`."""
    mine = current_session(request).device_id
    now = time.time()
    out: dict[str, dict[str, Any]] = {}
    for row in await request.app[SESSIONS].paired_browsers():
        device = row["device_id"]
        if device in out:  # a second live session of one browser: show it once
            continue
        out[device] = {
            "id": device, "name": browser_name(row["user_agent"] or ""),
            "pairedAt": row["paired_at"], "lastSeen": row["last_seen"],
            "pairedVia": row["paired_via"] or "", "pairedFrom": row["paired_from"] or "",
            "profile": ({"id": row["user_id"], "displayName": row["u_name"] or ""}
                        if row["user_id"] and row["u_name"] is not None else None),
            "current": device == mine, "new": now - (row["paired_at"] or 0) < NEW_FOR,
            "pairedText": _when(row["paired_at"]), "lastSeenText": _when(row["last_seen"]),
        }
    return list(out.values())


async def api_browsers(request: web.Request) -> web.Response:
    """GET /api/browsers: the owner sees every paired browser."""
    require_owner(request)
    return json_data({"browsers": await paired_browsers(request)})


async def _unpair(request: web.Request) -> int:
    require_owner(request)
    device = request.match_info["device_id"]
    count = await request.app[SESSIONS].unpair(device)
    if not count:
        raise ApiError(404, "browser_not_found", "That browser is not paired (any more).")
    request.app[FLOWS].cancel_bound(device)
    await request.app[LIVE].close_device(device)
    logger.info("the owner unpaired a browser (%d session%s)", count, "" if count == 1 else "s")
    return count


async def api_unpair(request: web.Request) -> web.Response:
    """DELETE /api/browsers/{device_id}: the owner unpairs a browser; it must pair again."""
    return json_data({"unpaired": await _unpair(request)})


async def unpair_form(request: web.Request) -> web.StreamResponse:
    """Form: unpair a browser from the Household page."""
    try:
        await _unpair(request)
    except ApiError as err:
        if wants_json(request):
            raise
        raise web.HTTPSeeOther(f"/members?error={err.code}#browsers") from None
    raise web.HTTPSeeOther("/members#browsers")


def add_routes(app: web.Application) -> None:
    """Register the pairing routes."""
    app.router.add_get("/pair", pair_page, name="pair")
    app.router.add_post("/pair/request", pair_request)
    app.router.add_get("/pair/status", pair_status)
    app.router.add_post("/pair/complete", pair_complete)
    app.router.add_post("/pair/code", pair_code)
    app.router.add_post("/api/pair/codes", create_code)
    app.router.add_get("/api/browsers", api_browsers)
    app.router.add_delete("/api/browsers/{device_id}", api_unpair)
    app.router.add_post("/browsers/{device_id}/revoke", unpair_form)
