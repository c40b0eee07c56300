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
from appliance.web.keys import DEPS
from appliance.web.responses import ApiError, json_data

logger = logging.getLogger(__name__)

RECORDINGS = {"face": DEFAULT_RECORDING, "empty": EMPTY_ROOM_RECORDING}


class SimCamera:
    """The recording the replay camera should loop; survives camera restarts."""

    def __init__(self, path: Path, vision: Any = None) -> None:
        self.path = path
        self.vision = vision  # VisionService, set once built

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
    """`GET/POST /api/sim/camera`: the recording the simulated camera sees."""
    app.router.add_get("/api/sim/camera", _get)
    app.router.add_post("/api/sim/camera", _post)


def _camera(request: web.Request) -> SimCamera:
    return request.app[DEPS].services["sim_camera"]


async def _get(request: web.Request) -> web.Response:
    cam = _camera(request)
    return json_data({"recording": cam.path.name, "choices": sorted(RECORDINGS)})


async def _post(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_json", "send JSON like {\"recording\": \"empty\"}") from None
    name = body.get("recording") if isinstance(body, dict) else None
    if name not in RECORDINGS:
        raise ApiError(400, "bad_recording",
                       f"recording must be one of {', '.join(sorted(RECORDINGS))}")
    cam = _camera(request)
    cam.switch(RECORDINGS[name])
    return json_data({"recording": cam.path.name})
