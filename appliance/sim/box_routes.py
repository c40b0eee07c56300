"""Simulator-only routes on the box's own page: which recording the replay camera loops.

Registered by `mooddj run --sim` only (the physical box has no such thing): a
person or a test switches the "room" between the face recording and the empty
room, and the real vision loop sees the change at its next frame.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.sim.launcher import DEFAULT_RECORDING, EMPTY_ROOM_RECORDING
from appliance.web.keys import DEPS, TEMPLATES
from appliance.web.responses import ApiError, json_data

logger = logging.getLogger(__name__)

RECORDINGS = {"face": DEFAULT_RECORDING, "empty": EMPTY_ROOM_RECORDING}
LABELS = {"face": "A face", "empty": "Empty room"}
PANEL_URL = "/panel"


class SimCamera:
    """The recording the replay camera should loop; survives camera restarts."""

    def __init__(self, path: Path, vision: Any = None) -> None:
        self.path = path
        self.vision = vision  # VisionService, set once built

    @property
    def name(self) -> str:
        """"face" or "empty" for the built-in recordings, else the file's name."""
        return next((k for k, p in RECORDINGS.items() if p == self.path), self.path.name)

    @property
    def label(self) -> str:
        """What the camera sees, for people ("A face", "Empty room" or the file name)."""
        return LABELS.get(self.name, self.path.name)

    def switch(self, path: Path) -> None:
        """Loop `path` from the next frame on (and after any camera restart)."""
        if not path.exists():
            raise ApiError(404, "recording_not_found",
                           f"recording {path} not found; run scripts/fetch-test-media")
        self.path = path
        source = getattr(self.vision, "source", None)
        if source is not None and hasattr(source, "set_path"):
            source.set_path(path)
        logger.info("simulator camera now replays %s", path.name)


def add_routes(app: web.Application) -> None:
    """`GET/POST /api/sim/camera`: the recording the simulated camera sees.

    Also gives the page templates a `sim` global, so the home page shows the
    camera switch (a plain form posting here) and links to the virtual panel.
    """
    app.router.add_get("/api/sim/camera", _get)
    app.router.add_post("/api/sim/camera", _post)
    deps = app[DEPS]
    box = deps.services.get("supervisor")  # the BoxContext: its sim urls
    urls = getattr(getattr(box, "sim", None), "urls", None) or {}
    app[TEMPLATES].globals["sim"] = {
        "camera": deps.services["sim_camera"],
        "choices": [{"name": k, "label": LABELS[k]} for k in RECORDINGS],
        "panel_url": PANEL_URL,
        "stand_ins_url": urls.get("sim", ""),
    }


def _json_client(request: web.Request) -> bool:
    return (request.content_type == "application/json"
            or "application/json" in request.headers.get("Accept", ""))


def _camera(request: web.Request) -> SimCamera:
    return request.app[DEPS].services["sim_camera"]


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
    if name not in RECORDINGS:
        raise ApiError(400, "bad_recording",
                       f"recording must be one of {', '.join(sorted(RECORDINGS))}")
    cam = _camera(request)
    cam.switch(RECORDINGS[name])
    if not _json_client(request):
        raise web.HTTPSeeOther("/#sim")
    return json_data({"recording": cam.path.name})
