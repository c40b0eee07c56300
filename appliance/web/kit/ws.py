"""`/ws`: live updates for signed-in household members, one bounded bus subscription each.

Each client gets its own drop-oldest Subscription, so a phone on bad Wi-Fi only
loses its own stale events and never slows the bus, the player or the camera.
The stream says whether anyone is home, so a paired browser nobody is signed in
to gets none. One paired browser holds at most PER_BROWSER sockets (a new one
closes its oldest), so it cannot take the MAX_CLIENTS slots from the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import asdict

from aiohttp import WSMsgType, web

from appliance.core.bus import (
    Bus,
    CameraState,
    ErrorCleared,
    ErrorRaised,
    LedState,
    LinkState,
    MoodReading,
    PairingWindow,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
    SetupProgress,
)
from appliance.web.kit.guards import current_session, require_user
from appliance.web.kit.keys import ERRORS

logger = logging.getLogger(__name__)

LIVE_EVENTS = (MoodReading, PresenceChanged, PlayerState, LedState, ErrorRaised, ErrorCleared,
               LinkState, CameraState, PairingWindow, SetupProgress, PrivacyChanged)
CLIENT_QUEUE = 50
HEARTBEAT = 20.0
MAX_CLIENTS = 20
PER_BROWSER = 3


class LiveHub:
    """The open WebSockets (by paired browser), so shutdown and unpairing can close them."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.clients: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.by_device: dict[str, list[web.WebSocketResponse]] = {}

    def add(self, device: str, ws: web.WebSocketResponse) -> list[web.WebSocketResponse]:
        """Count `ws` for `device`; returns that browser's sockets over PER_BROWSER (oldest)."""
        self.clients.add(ws)
        mine = self.by_device.setdefault(device, [])
        mine.append(ws)
        extra = mine[:-PER_BROWSER] if len(mine) > PER_BROWSER else []
        del mine[:len(extra)]
        return extra

    def discard(self, device: str, ws: web.WebSocketResponse) -> None:
        """Forget a closed socket."""
        self.clients.discard(ws)
        mine = self.by_device.get(device, [])
        if ws in mine:
            mine.remove(ws)
        if not mine:
            self.by_device.pop(device, None)

    async def close_device(self, device: str) -> None:
        """Close every socket of one browser (it was unpaired)."""
        for ws in list(self.by_device.pop(device, [])):
            with contextlib.suppress(Exception):
                await ws.close(code=1008, message=b"this browser was unpaired")

    async def close(self) -> None:
        """Close every open WebSocket (server shutting down)."""
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")


LIVE = web.AppKey("live", LiveHub)

def event_message(ev: object) -> dict[str, object]:
    """The JSON sent for one event: {"type": class name, "data": fields}."""
    return {"type": type(ev).__name__, "data": asdict(ev)}  # type: ignore[call-overload]


async def live(request: web.Request) -> web.WebSocketResponse:
    """Stream live events to a signed-in member's browser until it goes away."""
    require_user(request)
    device = current_session(request).binding
    hub: LiveHub = request.app[LIVE]
    if len(hub.clients) >= MAX_CLIENTS and len(hub.by_device.get(device, [])) < PER_BROWSER:
        raise web.HTTPServiceUnavailable(text="Too many live connections; close a tab.")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=4096)
    await ws.prepare(request)
    for old in hub.add(device, ws):  # this browser's oldest tab makes room
        with contextlib.suppress(Exception):
            await old.close(code=1008, message=b"opened in another tab")
    sub = hub.bus.subscribe(*LIVE_EVENTS, maxsize=CLIENT_QUEUE, name="web-ws")

    async def pump() -> None:
        async for ev in sub:
            await ws.send_json(event_message(ev))

    sender = asyncio.create_task(pump(), name="web-ws-send")
    try:
        for kind in LIVE_EVENTS:  # the current picture first: the latest events...
            ev = hub.bus.latest(kind)
            if ev is not None and kind not in (ErrorRaised, ErrorCleared):
                await ws.send_json(event_message(ev))
        for error in request.app[ERRORS].active():  # ...and every active error
            await ws.send_json(event_message(error))
        async for msg in ws:  # clients only send pings; anything else is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        sub.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        hub.discard(device, ws)
        await ws.close()
    return ws


def add_routes(app: web.Application) -> None:
    """Register `/ws`."""
    app.router.add_get("/ws", live, name="ws")
