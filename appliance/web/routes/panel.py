"""The virtual panel (simulator mode only): a page and a small JSON API on the mock pins.

Registered only when `panel.pin_factory == "mock"`; it stands in for the box
itself, so it answers browsers that are not paired yet (like the physical
buttons, which anyone in the room can press), but only on the box itself (a
loopback client, as in `mooddj run --sim`): mock pins can also run on a box
listening on the LAN, where an unpaired stranger pressing the virtual Play would
approve their own pairing request. Paired browsers may use it from anywhere.
The API reads and drives the very gpiozero mock pins the panel code uses:

- `GET /api/panel` -> `{"data": {"leds": {"status": {"color": [r, g, b], "pattern",
  "spec"}, "mood": {"color", "pattern"}, "camera": {"on"}}, "buttons": {"play":
  {"pressed", "pin"}, ...}, "recent": [{"gesture", "t"}], ...}}`; colours are the
  pins' levels (0..1) at the moment of the request.
- `POST /api/panel/buttons/{name}` with JSON `{"action": "press" | "hold" | "down" |
  "up", "seconds": float}` (CSRF token in `X-CSRF-Token`); `name` is play, next,
  mood, or several joined by "+" (e.g. `play+next`). press/hold answer after the
  release with the gestures they caused in `data.emitted`; a "down" releases
  itself after 60 s if no "up" follows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import web

from appliance.panel.gestures import BUTTONS, Timings
from appliance.panel.patterns import STATUS_PATTERNS
from appliance.panel.service import PanelService
from appliance.web.kit.bodies import read_body
from appliance.web.kit.guards import allow_unpaired, is_paired
from appliance.web.kit.keys import DEPS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import add_nav, render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.security import loopback_peer

logger = logging.getLogger(__name__)

ACTIONS = ("press", "hold", "down", "up")
MAX_SECONDS = 30.0
PRESS_SECONDS = 0.15
HOLD_MARGIN = 0.25



def gesture_rows(t: Timings) -> list[tuple[str, str, str]]:
    """The gesture table shown on the page, with the configured times."""
    return [
        ("Play", "press", "Play or pause the music"),
        ("Play", f"hold {t.pair_hold:g} s", "While a browser waits to pair: the next presses are "
                                            "the code its page shows (a new box needs no hold)"),
        ("Next", "press", "Skip this song (it counts against the song for this mood)"),
        ("Next", f"hold {t.hold:g} s", "Like this song for this mood"),
        ("Mood", "press", "Choose a mood by hand: auto, happy, neutral, sad, angry, "
                          "surprised"),
        ("Mood", f"hold {t.hold:g} s", "Privacy mode on or off (camera off)"),
        ("Mood held + Next", "press Next", "Next person's Spotify plays"),
        ("Play + Next", f"hold {t.reset_hold:g} s",
         f"Factory reset countdown; then release and press both again within "
         f"{t.reset_confirm:g} s to erase everything"),
    ]


def add_routes(app: web.Application) -> None:
    """Register /panel and /api/panel (only with the mock pin factory)."""
    if app[DEPS].config.panel.pin_factory != "mock":
        return
    app.router.add_get("/panel", panel_page, name="panel")
    app.router.add_get("/api/panel", panel_state)
    app.router.add_post("/api/panel/buttons/{name}", panel_button)
    allow_unpaired(app, "/panel")
    allow_unpaired(app, "/api/panel")
    add_nav(app, "/panel", "Panel", order=70)


def _at_the_box(request: web.Request) -> None:
    """Refuse unpaired browsers that are not on the box itself (loopback peer)."""
    if is_paired(request) or loopback_peer(request.remote):
        return
    if request.method == "GET" and not wants_json(request):
        raise web.HTTPSeeOther("/pair")
    raise ApiError(403, "not_paired", "The virtual panel answers browsers on the box itself "
                   "or paired ones; open /pair first.")


def _panel(request: web.Request) -> PanelService:
    svc = request.app[DEPS].panel
    if not isinstance(svc, PanelService) or not svc.running:
        raise ApiError(503, "panel_not_running",
                       "The panel is not running; check `mooddj status` and `mooddj logs`.")
    if not svc.virtual:
        raise ApiError(409, "not_virtual",
                       "This panel uses real GPIO pins; press the buttons on the box.")
    return svc


async def panel_page(request: web.Request) -> web.Response:
    """The virtual panel: three buttons and three LEDs, live."""
    _at_the_box(request)
    svc = request.app[DEPS].panel
    running = isinstance(svc, PanelService) and svc.running
    patterns = sorted(STATUS_PATTERNS.values(), key=lambda p: -p.priority)
    return render(request, "panel.html", {
        "running": running, "patterns": patterns,
        "gestures": gesture_rows(Timings.from_config(request.app[DEPS].config.panel)),
        "buttons": BUTTONS})


async def panel_state(request: web.Request) -> web.Response:
    """GET /api/panel: LEDs and buttons as the mock pins show them now."""
    _at_the_box(request)
    return json_data(_panel(request).state())


def _names(raw: str) -> list[str]:
    names = raw.split("+")
    if not names or len(set(names)) != len(names) or any(n not in BUTTONS for n in names):
        raise ApiError(404, "unknown_button",
                       f"There is no button {raw!r}; use play, next, mood or e.g. play+next.")
    return names


def _seconds(body: dict[str, Any], default: float) -> float:
    value = body.get("seconds", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ApiError(400, "bad_seconds",
                       f'"seconds" must be a number from 0 to {MAX_SECONDS:g}.')
    return float(value)


async def panel_button(request: web.Request) -> web.Response:
    """POST /api/panel/buttons/{name}: press, hold, push down or release mock buttons."""
    _at_the_box(request)
    svc = _panel(request)
    names = _names(request.match_info["name"])
    body = await read_body(request)
    action = body.get("action", "press")
    if action not in ACTIONS:
        raise ApiError(400, "bad_action", f"\"action\" must be one of {', '.join(ACTIONS)}.")
    t = svc.timings
    if len(names) == 2 and set(names) == {"play", "next"}:
        hold = t.reset_hold
    else:
        hold = max(t.hold_of(n) for n in names)
    seconds = _seconds(body, hold + HOLD_MARGIN if action == "hold" else PRESS_SECONDS)
    before = svc.gestures_published
    if action in ("press", "hold", "down"):
        for n in names:
            svc.drive(n, True)
    if action in ("press", "hold"):
        await asyncio.sleep(seconds)
    if action in ("press", "hold", "up"):
        for n in names:
            svc.drive(n, False)
    await svc.settle()
    recent = list(svc.recent)
    count = min(len(recent), svc.gestures_published - before)
    emitted = [g["gesture"] for g in recent[len(recent) - count:]]
    logger.info("virtual panel: %s %s", action, "+".join(names))
    return json_data({**svc.state(), "emitted": emitted})
