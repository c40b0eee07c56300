"""Device-flow sign-in (pages and API), logout and "sign out everywhere"."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from aiohttp import web
from sqlite_utils import Database

from appliance.identity import accounts
from appliance.identity.device_flow import (
    FlowError,
    FlowNotApproved,
    FlowNotFound,
    FlowStartError,
    FlowView,
    ProviderNotConfigured,
    TooManyFlows,
    UnknownProvider,
)
from appliance.identity.models import VerifiedIdentity
from appliance.web.kit.guards import current_session, current_user, is_paired, require_paired
from appliance.web.kit.keys import DEPS, FLOWS, PROVIDERS, REQ_NEW_TOKEN, SESSIONS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.users import account_error

logger = logging.getLogger(__name__)


def _flow_error(err: FlowError) -> ApiError:
    if isinstance(err, UnknownProvider):
        return ApiError(404, "unknown_provider", str(err))
    if isinstance(err, ProviderNotConfigured):
        return ApiError(409, "provider_not_configured", str(err))
    if isinstance(err, TooManyFlows):
        return ApiError(429, "too_many_sign_ins", str(err))
    if isinstance(err, FlowNotFound):
        return ApiError(404, "flow_not_found", str(err))
    if isinstance(err, FlowNotApproved):
        return ApiError(409, "flow_not_approved", str(err))
    if isinstance(err, FlowStartError):
        return ApiError(502, "provider_unavailable", str(err))
    return ApiError(getattr(err, "status", 400), getattr(err, "code", "sign_in_failed"), str(err))


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def flow_json(view: FlowView) -> dict[str, Any]:
    """The API shape of a flow."""
    return {"flowId": view.flow_id, "provider": view.provider, "state": view.state,
            "userCode": view.user_code, "verificationUrl": _safe_url(view.verification_url),
            "verificationUrlComplete": _safe_url(view.verification_url_complete),
            "expiresIn": view.expires_in, "expiresAt": view.expires_at,
            "interval": view.interval, "message": view.message}


def qr_data_uri(url: str) -> str:
    """An SVG QR code of `url` as a data: URI (no external request, no inline markup)."""
    if not url:
        return ""
    import segno  # only while someone signs in: ~1 MiB the box need not keep

    return segno.make(url, error="m").svg_data_uri(scale=5, border=2, dark="#111111",
                                                   light="#ffffff")


async def start_flow(request: web.Request, provider: str) -> FlowView:
    """Start a device flow bound to this browser's session."""
    sess = require_paired(request)
    try:
        return await request.app[FLOWS].start(provider, sess.binding)
    except FlowError as err:
        raise _flow_error(err) from None


async def finish_sign_in(request: web.Request, flow_id: str) -> dict[str, Any]:
    """Claim an approved flow, create or link the account, and rotate the session."""
    sess = current_session(request)
    try:
        identity: VerifiedIdentity = request.app[FLOWS].claim(flow_id, sess.binding)
    except FlowError as err:
        raise _flow_error(err) from None
    user = current_user(request)
    link_to = user.user_id if user else None

    def w(db: Database) -> Any:
        role = "member" if accounts.owner_exists(db) else "owner"
        return accounts.sign_in(db, identity, link_to=link_to, role_if_new=role)

    try:
        result = await request.app[DEPS].store.write(w, durable=True)
    except accounts.AccountError as err:
        raise account_error(err) from None
    token, _ = await request.app[SESSIONS].create(
        user_id=result.user_id, paired=True,
        user_agent=request.headers.get("User-Agent", ""), replaces=sess.key, carry=sess)
    request[REQ_NEW_TOKEN] = token
    logger.info("signed in with %s (%s)", identity.provider,
                "new account" if result.created else "linked" if result.linked else "existing")
    return {"userId": result.user_id, "created": result.created, "linked": result.linked}


# -- API --------------------------------------------------------------------

async def api_login(request: web.Request) -> web.Response:
    """POST /auth/{provider}/login: start a device flow."""
    view = await start_flow(request, request.match_info["provider"])
    return json_data({"userCode": view.user_code,
                      "verificationUrl": _safe_url(view.verification_url),
                      "verificationUrlComplete": _safe_url(view.verification_url_complete),
                      "expiresIn": view.expires_in, "interval": view.interval,
                      "flowId": view.flow_id})


async def api_status(request: web.Request) -> web.Response:
    """GET /auth/{provider}/status?flowId=: pending, approved (signs in), denied, expired."""
    sess = require_paired(request)
    flow_id = request.query.get("flowId", "")
    try:
        view = request.app[FLOWS].status(flow_id, sess.binding)
    except FlowError as err:
        raise _flow_error(err) from None
    if view.provider != request.match_info["provider"]:
        raise ApiError(404, "flow_not_found", "This sign-in belongs to another provider.")
    data = {"state": view.state, "expiresIn": view.expires_in, "interval": view.interval,
            "message": view.message}
    if view.state == "approved":
        if view.claimed:
            data["redirect"] = "/"
        else:
            data.update(await finish_sign_in(request, flow_id))
            data["redirect"] = "/"
    return json_data(data)


async def logout(request: web.Request) -> web.StreamResponse:
    """End this session; the browser stays paired (a fresh, signed-out session)."""
    sess = current_session(request)
    if sess.stored:
        token, _ = await request.app[SESSIONS].create(
            paired=sess.paired, user_agent=request.headers.get("User-Agent", ""),
            replaces=sess.key)
        request[REQ_NEW_TOKEN] = token
    if wants_json(request):
        return json_data({"signedOut": True})
    raise web.HTTPSeeOther("/signin")


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    """End every session of the signed-in user (lost phone): other browsers must pair again."""
    user = current_user(request)
    if user is None:
        raise ApiError(401, "not_signed_in", "Sign in first: open /signin on this browser.")
    count = await request.app[SESSIONS].revoke_user(user.user_id)
    await request.app[SESSIONS].revoke_signed_out()  # e.g. a lost phone that was signed out
    token, _ = await request.app[SESSIONS].create(  # this browser stays paired, signed out
        paired=True, user_agent=request.headers.get("User-Agent", ""),
        carry=current_session(request))
    request[REQ_NEW_TOKEN] = token
    if wants_json(request):
        return json_data({"signedOut": True, "sessions": count})
    raise web.HTTPSeeOther("/signin")


# -- pages --------------------------------------------------------------------

async def _signin_page(request: web.Request, error: str = "", status: int = 200
                       ) -> web.Response:
    """Who is this: your name (unclaimed box), your profile, or an outside sign-in."""
    from appliance.web.routes.profiles import FORM_ERRORS, list_for_picker

    providers = request.app[PROVIDERS]
    items = [{"name": p.name, "label": p.label, "configured": p.configured,
              "how": "" if p.configured else p.how_to_configure} for p in providers.values()]
    claimed = await request.app[DEPS].store.read(accounts.owner_exists)
    code = request.query.get("error", "")
    error = error or FORM_ERRORS.get(code, "That did not work; try again." if code else "")
    people = await list_for_picker(request) if is_paired(request) else []
    return render(request, "signin.html", {
        "providers": items, "claimed": claimed, "error": error, "profiles": people,
        "labels": {n: p.label for n, p in providers.items()},
        "any_provider": any(i["configured"] for i in items)}, status=status)


async def signin_page(request: web.Request) -> web.Response:
    """GET /signin."""
    return await _signin_page(request)


async def signin_start(request: web.Request) -> web.StreamResponse:
    """Form: start a device flow and show its code."""
    try:
        view = await start_flow(request, request.match_info["provider"])
    except ApiError as err:
        return await _signin_page(request, err.message, err.status)
    raise web.HTTPSeeOther(f"/signin/flow/{view.flow_id}")


async def signin_flow_page(request: web.Request) -> web.StreamResponse:
    """The code page: user code, address, QR, countdown; signs in once approved."""
    sess = require_paired(request)
    flow_id = request.match_info["flow_id"]
    try:
        view = request.app[FLOWS].status(flow_id, sess.binding)
    except FlowNotFound:
        raise web.HTTPSeeOther("/signin") from None
    if view.state == "approved":
        if not view.claimed:
            await finish_sign_in(request, flow_id)
        raise web.HTTPSeeOther("/")
    provider = request.app[PROVIDERS].get(view.provider)
    url = _safe_url(view.verification_url)
    return render(request, "signin_flow.html", {
        "flow": flow_json(view), "label": provider.label if provider else view.provider,
        "qr": qr_data_uri(_safe_url(view.verification_url_complete) or url),
        "verification_url": url, "now": time.time(),
        "refresh": max(3, int(view.interval)),
    })


async def signin_cancel(request: web.Request) -> web.StreamResponse:
    """Form: stop waiting for a code."""
    sess = require_paired(request)
    with contextlib.suppress(FlowNotFound):
        request.app[FLOWS].cancel(request.match_info["flow_id"], sess.binding)
    raise web.HTTPSeeOther("/signin")


def add_routes(app: web.Application) -> None:
    """Register the sign-in routes."""
    app.router.add_post("/auth/logout", logout)
    app.router.add_post("/auth/logout-everywhere", logout_everywhere)
    app.router.add_post("/auth/{provider}/login", api_login)
    app.router.add_get("/auth/{provider}/status", api_status)
    app.router.add_get("/signin", signin_page, name="signin")
    app.router.add_post("/signin/flow/{flow_id}/cancel", signin_cancel)
    app.router.add_get("/signin/flow/{flow_id}", signin_flow_page)
    app.router.add_post("/signin/{provider}", signin_start)
