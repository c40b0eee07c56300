"""Spotify routes of the setup page: linking, token refresh and the speaker picker.

`GET /platforms/spotify/callback` changes state on a GET because it is the OAuth
redirect; it is protected by the single-use state bound to the user and the
browser session (not by CSRF), and only answers on a loopback Host.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from appliance.music.errors import (
    DeviceNotControllable,
    LinkRefused,
    NotLinked,
    NotRegistered,
    PremiumRequired,
    RateLimited,
    RelinkNeeded,
    SpeakerMissing,
    SpotifyError,
    SpotifyUnavailable,
)
from appliance.music.linking import (
    CALLBACK_PATH,
    LOOPBACK_HOSTS,
    SCOPES,
)
from appliance.music.spotify import SpotifyServices
from appliance.music.spotify_api import Device
from appliance.music.tokens import link_expires_at_of, needs_reminder_of
from appliance.web.kit.bodies import read_body, sent_json
from appliance.web.kit.guards import allow_unpaired, current_user, require_user
from appliance.web.kit.keys import DEPS, REQ_NEW_TOKEN
from appliance.web.kit.render import add_nav, render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.security import loopback_peer

logger = logging.getLogger(__name__)


def _services(request: web.Request) -> SpotifyServices:
    svc = request.app[DEPS].spotify
    if svc is None:
        raise ApiError(503, "spotify_unavailable", "Spotify support is not running; restart "
                       "the box (mooddj doctor shows why).")
    return svc


def api_error(err: SpotifyError) -> ApiError:
    """The JSON error for a Spotify domain error."""
    table: list[tuple[type[SpotifyError], int, str]] = [
        (LinkRefused, 400, "link_refused"), (NotLinked, 404, "not_linked"),
        (RelinkNeeded, 409, "relink_needed"), (RateLimited, 429, "rate_limited"),
        (PremiumRequired, 403, "premium_required"), (NotRegistered, 403, "not_registered"),
        (DeviceNotControllable, 409, "device_not_controllable"),
        (SpeakerMissing, 404, "speaker_missing"), (SpotifyUnavailable, 503, "spotify_unavailable"),
    ]
    for kind, status, code in table:
        if isinstance(err, kind):
            return ApiError(status, code, err.message)
    return ApiError(502, "spotify_error", err.message)


def _is_loopback_host(request: web.Request) -> bool:
    host = request.host or ""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in LOOPBACK_HOSTS


def _device_json(d: Device) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "type": d.type, "isActive": d.is_active,
            "isRestricted": d.is_restricted, "volumePercent": d.volume_percent}


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


async def _page_context(request: web.Request, svc: SpotifyServices, user_id: str,
                        refresh_devices: bool = False) -> dict[str, Any]:
    conn = await svc.tokens.connection(user_id)
    link: dict[str, Any] = {"state": "unlinked"}
    if conn is not None:
        link = {"state": conn.state, "display_name": conn.display_name,
                "linked_on": _date(conn.linked_at), "expires_on": _date(link_expires_at_of(conn)),
                "reminder": needs_reminder_of(conn, svc.config.spotify.relink_reminder_days),
                "scopes": conn.scopes}
    listener = await svc.active_listener()
    speakers: list[Device] = []
    speakers_error = ""
    account = listener or (user_id if conn else "")
    if account:
        try:
            speakers = await svc.speakers.list(account, refresh=refresh_devices)
        except SpotifyError as err:
            speakers_error = err.message
    user = current_user(request)
    return {
        "client_id": await svc.linking.client_id(), "redirect_uri": svc.redirect_uri(),
        "port": svc.redirect_port or svc.config.web.port,
        "scopes": SCOPES.split(), "link": link, "speakers": speakers,
        "speakers_error": speakers_error, "chosen": await svc.speakers.chosen(),
        "can_choose": bool(user and (user.is_owner or user.user_id == listener)),
        "is_owner": bool(user and user.is_owner), "message": "", "error": "",
    }


async def spotify_page(request: web.Request) -> web.Response:
    """The guided Spotify setup page."""
    user = current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/signin")
    svc = _services(request)
    ctx = await _page_context(request, svc, user.user_id,
                              refresh_devices=request.query.get("refresh") == "1")
    if request.query.get("linked") == "1":
        ctx["message"] = "Spotify is linked."
    return _allow_spotify_form(render(request, "spotify.html", ctx), svc)


def _allow_spotify_form(resp: web.Response, svc: SpotifyServices) -> web.Response:
    """Let this page's no-JavaScript "Link Spotify" form land on Spotify's authorize page."""
    from urllib.parse import urlsplit

    from appliance.web.kit.security import CSP

    parts = urlsplit(svc.config.spotify.accounts_url)
    resp.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return resp


async def _refused_page(request: web.Request, svc: SpotifyServices, user_id: str,
                        message: str, status: int = 400) -> web.Response:
    ctx = await _page_context(request, svc, user_id)
    ctx["error"] = message
    return _allow_spotify_form(render(request, "spotify.html", ctx, status=status), svc)


async def set_client_id(request: web.Request) -> web.Response:
    """Store the household's Spotify Client ID (owner only)."""
    user = require_user(request)
    if not user.is_owner:
        raise ApiError(403, "owner_only", "Only the box's owner can set the Spotify app; ask them.")
    svc = _services(request)
    body = await read_body(request)
    try:
        value = await svc.linking.set_client_id(str(body.get("clientId") or body.get(
            "client_id") or ""))
    except LinkRefused as err:
        if sent_json(request):
            raise api_error(err) from None
        return await _refused_page(request, svc, user.user_id, err.message)
    if sent_json(request):
        return json_data({"clientId": value, "redirectUri": svc.redirect_uri()})
    if body.get("link") == "1":  # "Save and link": go straight on to Spotify (one tap)
        return await connect(request)
    raise web.HTTPSeeOther("/spotify")


async def connect(request: web.Request) -> web.Response:
    """Start a link: `{"data": {"authUrl": ...}}` (a form post is redirected there)."""
    user = require_user(request)
    svc = _services(request)
    try:
        url = await svc.linking.start_link(user.user_id, user.session_id, svc.redirect_uri())
    except SpotifyError as err:
        if sent_json(request):
            raise api_error(err) from None
        return await _refused_page(request, svc, user.user_id, err.message)
    if sent_json(request):
        return json_data({"authUrl": url})
    raise web.HTTPSeeOther(url)


async def _finish(request: web.Request, params: Any) -> web.Response:
    user = current_user(request)
    if user is None:
        raise ApiError(401, "not_signed_in", "Sign in on this browser first, then link again, "
                       "or paste the address into the Spotify page where you are signed in.")
    svc = _services(request)
    try:
        conn = await svc.linking.complete_link(user.user_id, user.session_id, params)
    except SpotifyError as err:
        logger.info("spotify: link refused for %s (%s)", user.user_id, type(err).__name__)
        if sent_json(request):
            raise api_error(err) from None
        return await _refused_page(request, svc, user.user_id, err.message,
                                   400 if isinstance(err, LinkRefused) else 502)
    if sent_json(request):
        return json_data({"linked": True, "displayName": conn.display_name})
    raise web.HTTPSeeOther("/spotify?linked=1")


async def callback(request: web.Request) -> web.Response:
    """The OAuth redirect, reached through the loopback (e.g. a laptop with `ssh -L`).

    Spotify's redirect is a cross-site navigation, so the SameSite=Strict session
    cookie is not sent with it: without a session the page answers with a
    same-site reload of itself (which carries the cookie), and must not replace
    the browser's real cookie with a new anonymous one meanwhile.
    """
    # Both: the page is the loopback one (Host) and the browser is on the box itself
    # (the peer address; a LAN client can send any Host header).
    if not (_is_loopback_host(request) and loopback_peer(request.remote)):
        raise ApiError(400, "not_loopback", "This address only works on the box's loopback; "
                       "paste the whole address into the Spotify page instead.")
    params = {k: v for k, v in request.query.items() if k != "resumed"}
    if current_user(request) is None:
        request.pop(REQ_NEW_TOKEN, None)
        resumed = request.query.get("resumed") == "1"
        again = f"{CALLBACK_PATH}?{urlencode({**params, 'resumed': '1'})}"
        return render(request, "spotify_callback.html", {
            "next_url": "" if resumed else again, "paste_url": "/spotify#link"},
            status=401 if resumed else 200)
    return await _finish(request, params)


async def paste(request: web.Request) -> web.Response:
    """Finish a link from the failed http://127.0.0.1 address pasted from a phone."""
    require_user(request)
    body = await read_body(request)
    return await _finish(request, str(body.get("url") or ""))


async def refresh(request: web.Request) -> web.Response:
    """A fresh access token for the signed-in user (as the earlier backend returned)."""
    user = require_user(request)
    svc = _services(request)
    try:
        token, expires_in = await svc.tokens.refresh(user.user_id)
    except SpotifyError as err:
        raise api_error(err) from None
    return json_data({"accessToken": token, "expiresIn": expires_in})


async def list_speakers(request: web.Request) -> web.Response:
    """Connect devices of the active listener's account and the chosen speaker."""
    user = require_user(request)
    svc = _services(request)
    account = await svc.active_listener() or user.user_id
    try:
        devices = await svc.speakers.list(account, refresh=request.query.get("refresh") == "1")
    except SpotifyError as err:
        raise api_error(err) from None
    return json_data({"speakers": [_device_json(d) for d in devices],
                      "chosen": await svc.speakers.chosen()})


async def choose_speaker(request: web.Request) -> web.Response:
    """Choose the speaker and its default volume (owner or the active listener)."""
    try:
        return await _choose_speaker(request)
    except ApiError as err:
        user = current_user(request)
        if sent_json(request) or user is None:
            raise
        return await _refused_page(request, _services(request), user.user_id, err.message,
                                   err.status)


async def _choose_speaker(request: web.Request) -> web.Response:
    user = require_user(request)
    svc = _services(request)
    listener = await svc.active_listener()
    if not (user.is_owner or user.user_id == listener):
        raise ApiError(403, "not_allowed", "Only the owner or the active listener can choose "
                       "the speaker.")
    body = await read_body(request)
    device_id = str(body.get("id") or body.get("device_id") or "")
    try:
        raw = body.get("volume")
        if isinstance(raw, bool):
            raise TypeError(raw)
        volume = int(raw if raw not in (None, "") else svc.config.player.default_volume)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ApiError(400, "bad_volume", "Volume must be a whole number from 0 to 100.") from None
    if not 0 <= volume <= 100:
        raise ApiError(400, "bad_volume", "Volume must be a whole number from 0 to 100.")
    try:
        devices = await svc.speakers.list(listener or user.user_id, refresh=True)
    except SpotifyError as err:
        raise api_error(err) from None
    device = next((d for d in devices if d.id == device_id), None)
    if device is None:
        raise ApiError(404, "speaker_missing", "That speaker is not in Spotify's list any more; "
                       "reload the list and choose again.")
    if device.is_restricted:
        raise ApiError(409, "device_not_controllable", DeviceNotControllable().message)
    first = not (await svc.speakers.chosen()).get("name")
    await svc.speakers.choose(device.id, device.name, volume)
    if sent_json(request):
        return json_data({"chosen": await svc.speakers.chosen()})
    raise web.HTTPSeeOther("/" if first else "/spotify")  # set up: on to the music


def add_routes(app: web.Application) -> None:
    """Register the Spotify page, linking endpoints and the speaker API."""
    app.router.add_get("/spotify", spotify_page)
    app.router.add_post("/platforms/spotify/client-id", set_client_id)
    app.router.add_post("/platforms/spotify/connect", connect)
    app.router.add_get("/platforms/spotify/callback", callback)
    app.router.add_post("/platforms/spotify/paste", paste)
    app.router.add_post("/platforms/spotify/refresh", refresh)
    app.router.add_get("/api/speakers", list_speakers)
    app.router.add_post("/api/speakers", choose_speaker)
    allow_unpaired(app, CALLBACK_PATH)  # the cookie-less first hop of the OAuth redirect
    add_nav(app, "/spotify", "Spotify", order=40)
