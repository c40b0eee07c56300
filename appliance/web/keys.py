"""Typed application keys of the web app (`app[DEPS]`, `app[NAV]`, ...)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.web.deps import NavItem, WebDeps

DEPS = web.AppKey("deps", WebDeps)
# Navigation links shown in base.html; append with `render.add_nav(app, href, label)`.
NAV = web.AppKey("nav", list[NavItem])
# Path prefixes reachable by a browser that has not proved physical presence yet
# (append with `guards.allow_unpaired(app, "/panel")`).
UNPAIRED_PREFIXES = web.AppKey("unpaired_prefixes", list[str])
# Internal parts built by create_app (typed as Any to keep imports one-way).
SESSIONS = web.AppKey("sessions", Any)
PAIRING = web.AppKey("pairing", Any)
TEMPLATES = web.AppKey("templates", Any)
HOSTS = web.AppKey("hosts", Any)
ERRORS = web.AppKey("errors", Any)
LIVE = web.AppKey("live", Any)
FLOWS = web.AppKey("flows", Any)  # appliance.identity.device_flow.DeviceFlows
PROVIDERS = web.AppKey("providers", Any)  # dict[str, appliance.identity.providers.Provider]

# Request-scoped values: the session (sessions.WebSession), a cookie value to set.
REQ_SESSION = web.RequestKey("mooddj_session", Any)
REQ_NEW_TOKEN = web.RequestKey("mooddj_new_token", str)
REQ_CLEAR_COOKIE = web.RequestKey("mooddj_clear_cookie", bool)
