"""Home, privacy and about pages, and the small status/CSRF/privacy API."""

from __future__ import annotations

import platform
import time
from typing import Any

from aiohttp import web

from appliance.core.bus import PrivacyChanged
from appliance.core.settings import ACTIVE_LISTENER, PRIVACY, SettingsTx
from appliance.identity import accounts
from appliance.web.kit.bodies import read_body, read_json
from appliance.web.kit.deps import WebDeps
from appliance.web.kit.guards import current_session, current_user
from appliance.web.kit.keys import DEPS, ERRORS, SETTINGS
from appliance.web.kit.live import status_snapshot
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.routes.update import update_facts


async def _privacy_enabled(request: web.Request) -> bool:
    return await request.app[SETTINGS].get(PRIVACY)


async def _status(request: web.Request) -> dict[str, Any]:
    deps = request.app[DEPS]
    snap = status_snapshot(deps.bus, request.app[ERRORS])

    def q(tx: SettingsTx) -> dict[str, Any]:
        users = accounts.list_users(tx.db)
        listener = tx.get(ACTIVE_LISTENER)
        return {"members": len(users), "claimed": accounts.owner_exists(tx.db),
                "listener": next((u.get("display_name") or "" for u in users
                                  if listener and u["id"] == listener), "")}

    snap.update(await request.app[SETTINGS].view(q))
    snap["privacyEnabled"] = await _privacy_enabled(request)
    if current_user(request) is None:
        # Whether anyone is home (and their mood, what plays, who listens) is for the
        # household: a paired browser nobody is signed in to sees the box, not the room.
        snap.update(mood=None, presence=None, player=None, listener="")
    return snap


async def home(request: web.Request) -> web.Response:
    """Box status, mood, people, now playing, active errors."""
    status = await _status(request)
    return render(request, "home.html", {"status": status, "now": time.time()})


async def api_status(request: web.Request) -> web.Response:
    """GET /api/status: what the home page shows, as JSON."""
    return json_data(await _status(request))


async def api_csrf(request: web.Request) -> web.Response:
    """GET /api/csrf: this session's CSRF token for scripts."""
    return json_data({"csrfToken": current_session(request).csrf})


async def privacy_page(request: web.Request) -> web.Response:
    """Privacy mode and what the box keeps."""
    return render(request, "privacy.html", {"enabled": await _privacy_enabled(request)})


async def set_privacy(request: web.Request) -> web.StreamResponse:
    """POST /privacy (form `enabled=1|0`) or /api/privacy (JSON {"enabled": bool}).

    Anything else is a 400 and changes nothing (never the camera on by accident).
    Any paired browser may turn privacy on; only a signed-in member may turn it off.
    """
    if request.content_type == "application/json":
        body = await read_json(request)
        enabled = body.get("enabled") if isinstance(body, dict) else None
    else:
        enabled = {"1": True, "0": False}.get((await read_body(request)).get("enabled", ""))
    if not isinstance(enabled, bool):
        raise ApiError(400, "bad_request", 'Send {"enabled": true} or {"enabled": false} '
                       '(a form: enabled=1 or enabled=0).')
    if not enabled and current_user(request) is None:
        raise ApiError(401, "not_signed_in", "Sign in to turn the camera back on; anyone "
                       "paired may turn privacy mode on.")
    request.app[DEPS].bus.publish(PrivacyChanged(enabled=enabled))
    await request.app[SETTINGS].flush()  # stored by its one writer before we answer
    if wants_json(request):
        return json_data({"enabled": enabled})
    raise web.HTTPSeeOther("/privacy")


def _services(deps: WebDeps) -> list[dict[str, Any]]:
    getter = deps.supervisor_snapshot
    if getter is None:
        return []
    try:
        snap = getter()
    except Exception:
        return []
    items: Any = snap.get("services", snap) if isinstance(snap, dict) else snap
    if isinstance(items, dict):
        items = [{"name": k, **(v if isinstance(v, dict) else {"state": v})}
                 for k, v in items.items()]
    out = []
    for item in items or []:
        if isinstance(item, dict):
            out.append({"name": str(item.get("name", "?")), "state": str(item.get("state", "")),
                        "detail": str(item.get("detail", "")),
                        "crashes": item.get("crashes", 0)})
    return out


async def about_page(request: web.Request) -> web.Response:
    """Version, services and bus health."""
    deps = request.app[DEPS]
    bus = deps.bus
    return render(request, "about.html", {
        "services": _services(deps),
        "bus": {"published": bus.published, "dropped": bus.dropped,
                "subscribers": bus.subscribers},
        "python": platform.python_version(), "machine": platform.machine(),
        "db_bytes": deps.store.size_bytes(), "app_version": deps.release,
        "signed_in": current_user(request) is not None,
        "update": update_facts(deps.config),
    })


def add_routes(app: web.Application) -> None:
    """Register the pages and the small API."""
    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/privacy", privacy_page, name="privacy")
    r.add_post("/privacy", set_privacy)
    r.add_post("/api/privacy", set_privacy)
    r.add_get("/about", about_page, name="about")
    r.add_get("/api/status", api_status)
    r.add_get("/api/csrf", api_csrf)
