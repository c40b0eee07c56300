"""Typed application keys of the web app (`app[DEPS]`, `app[NAV]`, ...)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from appliance.core.errors import ErrorBoard
from appliance.core.settings import Settings
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.pairing import PairingManager
from appliance.identity.providers import Provider
from appliance.identity.sessions import SessionStore, WebSession
from appliance.web.kit.deps import NavItem, WebDeps
from appliance.web.kit.security import HostAllowList

DEPS = web.AppKey("deps", WebDeps)
# Navigation links shown in base.html; append with `render.add_nav(app, href, label)`.
NAV = web.AppKey("nav", list[NavItem])
# Path prefixes reachable by a browser that has not proved physical presence yet
# (append with `guards.allow_unpaired(app, "/panel")`).
UNPAIRED_PREFIXES = web.AppKey("unpaired_prefixes", list[str])
# Parts built by create_app (the live hub's key, LIVE, lives beside it in ws.py).
SESSIONS = web.AppKey("sessions", SessionStore)
PAIRING = web.AppKey("pairing", PairingManager)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
HOSTS = web.AppKey("hosts", HostAllowList)
ERRORS = web.AppKey("errors", ErrorBoard)  # the box's (deps.errors), else the app's own
SETTINGS = web.AppKey("settings", Settings)  # the box's (deps.settings), else the app's own
FLOWS = web.AppKey("flows", DeviceFlows)
PROVIDERS = web.AppKey("providers", dict[str, Provider])

# Request-scoped values: the session (sessions.WebSession), a cookie value to set.
REQ_SESSION = web.RequestKey("mooddj_session", WebSession)
REQ_NEW_TOKEN = web.RequestKey("mooddj_new_token", str)
REQ_CLEAR_COOKIE = web.RequestKey("mooddj_clear_cookie", bool)
