"""Simulator-only routes on the box's own page: which recording the replay camera loops.

Registered by `mooddj run --sim` only (the physical box has no such thing): a
person or a test switches the "room" between the face recording and the empty
room, and the real vision loop sees the change at its next frame.
"""

from __future__ import annotations

import logging

from aiohttp import web

from appliance.simmode.camera import LABELS, RECORDINGS, SimCamera
from appliance.web.kit.keys import DEPS, TEMPLATES
from appliance.web.kit.responses import ApiError, json_data

logger = logging.getLogger(__name__)

PANEL_URL = "/panel"


def add_routes(app: web.Application) -> None:
    """`GET/POST /api/sim/camera`: the recording the simulated camera sees.

    Also gives the page templates a `sim` global, so the home page shows the
    camera switch (a plain form posting here) and links to the virtual panel.
    """
    app.router.add_get("/api/sim/camera", _get)
    app.router.add_post("/api/sim/camera", _post)
    deps = app[DEPS]
    app[TEMPLATES].globals["sim"] = {
        "camera": deps.sim_camera,
        "choices": [{"name": k, "label": LABELS[k]} for k in RECORDINGS],
        "panel_url": PANEL_URL,
        "stand_ins_url": deps.sim_urls.get("sim", ""),
    }


def _json_client(request: web.Request) -> bool:
    return (request.content_type == "application/json"
            or "application/json" in request.headers.get("Accept", ""))


def _camera(request: web.Request) -> SimCamera:
    cam = request.app[DEPS].sim_camera
    if cam is None:
        raise ApiError(404, "not_simulator", "This box has a real camera.")
    return cam


async def _get(request: web.Request) -> web.Response:
    cam = _camera(request)
    return json_data({"recording": cam.path.name, "choices": sorted(RECORDINGS)})


async def _post(request: web.Request) -> web.Response:
    """JSON `{"recording": "empty"}`, or the home page's form (answered with a redirect)."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json",
                           "send JSON like {\"recording\": \"empty\"}") from None
        name = body.get("recording") if isinstance(body, dict) else None
    else:
        name = (await request.post()).get("recording")
    if not isinstance(name, str) or name not in RECORDINGS:
        raise ApiError(400, "bad_recording",
                       f"recording must be one of {', '.join(sorted(RECORDINGS))}")
    cam = _camera(request)
    try:
        cam.switch(RECORDINGS[name])
    except FileNotFoundError as err:
        raise ApiError(404, "recording_not_found", str(err)) from None
    if not _json_client(request):
        raise web.HTTPSeeOther("/#sim")
    return json_data({"recording": cam.path.name})
