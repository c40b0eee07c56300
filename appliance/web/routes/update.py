"""The owner's "Update now" on the About page: the same `mooddj update` as over SSH.

The box runs as the unprivileged mooddj user; an update needs root (a new release in
/opt/mooddj, a restart of the service). So the page only asks: it writes
<state_dir>/update-request, systemd's mooddj-update.path sees it and starts
mooddj-update.service, which runs `mooddj update --requested` as root. The result of
the last update (<prefix>/update.json) is shown on the About page.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from appliance.core.config import Config
from appliance.maintenance.update import REQUEST_NAME, Layout, UpdateError, read_outcome
from appliance.maintenance.version import installed
from appliance.web.kit.guards import require_owner
from appliance.web.kit.keys import DEPS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.responses import json_data


def update_facts(config: Config) -> dict[str, Any]:
    """The installed version, whether an update was asked for, the last update's result."""
    try:
        last = read_outcome(Layout.of_running_code())
        installed_box = True
    except UpdateError:
        last, installed_box = {}, False
    return {"version": installed().describe(), "installed": installed_box,
            "requested": (config.paths.state / REQUEST_NAME).exists(),
            "last": {k: last.get(k, "") for k in ("status", "message", "finished")}
            if last else {}}


async def request_update(request: web.Request) -> web.StreamResponse:
    """POST /about/update (form) or /api/update: ask for `mooddj update` (owner only)."""
    user = require_owner(request)
    state = request.app[DEPS].config.paths.state
    (state / REQUEST_NAME).write_text(json.dumps({"by": user.user_id, "at": time.time()}))
    if wants_json(request):
        return json_data({"requested": True}, status=202)
    raise web.HTTPSeeOther("/about")


def add_routes(app: web.Application) -> None:
    """Register the update request."""
    app.router.add_post("/about/update", request_update)
    app.router.add_post("/api/update", request_update)
