"""`/ws`: live updates for paired browsers, one bounded bus subscription per client.

Each client gets its own drop-oldest Subscription, so a phone on bad Wi-Fi only
loses its own stale events and never slows the bus, the player or the camera.
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
from appliance.web.kit.guards import require_paired

logger = logging.getLogger(__name__)

LIVE_EVENTS = (MoodReading, PresenceChanged, PlayerState, LedState, ErrorRaised, ErrorCleared,
               LinkState, CameraState, PairingWindow, SetupProgress, PrivacyChanged)
CLIENT_QUEUE = 50
HEARTBEAT = 20.0
MAX_CLIENTS = 20


class LiveHub:
    """The open WebSockets, so shutdown can close them."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.clients: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

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
    """Stream live events to a paired browser until it goes away."""
    require_paired(request)
    hub: LiveHub = request.app[LIVE]
    if len(hub.clients) >= MAX_CLIENTS:
        raise web.HTTPServiceUnavailable(text="Too many live connections; close a tab.")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=4096)
    await ws.prepare(request)
    hub.clients.add(ws)
    sub = hub.bus.subscribe(*LIVE_EVENTS, maxsize=CLIENT_QUEUE, name="web-ws")

    async def pump() -> None:
        async for ev in sub:
            await ws.send_json(event_message(ev))

    sender = asyncio.create_task(pump(), name="web-ws-send")
    try:
        for kind in LIVE_EVENTS:  # the current picture first
            ev = hub.bus.latest(kind)
            if ev is not None and kind not in (ErrorRaised, ErrorCleared):
                await ws.send_json(event_message(ev))
        async for msg in ws:  # clients only send pings; anything else is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        sub.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        hub.clients.discard(ws)
        await ws.close()
    return ws


def add_routes(app: web.Application) -> None:
    """Register `/ws`."""
    app.router.add_get("/ws", live, name="ws")
