"""The setup page's aiohttp application, built from injected dependencies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from appliance.core.errors import ErrorBoard
from appliance.core.settings import Settings
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.pairing import PairingManager
from appliance.identity.providers import build_providers
from appliance.identity.sessions import SessionStore
from appliance.web.kit import ws
from appliance.web.kit.deps import NavItem, WebDeps
from appliance.web.kit.keys import (
    DEPS,
    ERRORS,
    FLOWS,
    HOSTS,
    NAV,
    PAIRING,
    PROVIDERS,
    SESSIONS,
    SETTINGS,
    TEMPLATES,
    UNPAIRED_PREFIXES,
)
from appliance.web.kit.middleware import MIDDLEWARES, on_response_prepare
from appliance.web.kit.render import make_environment
from appliance.web.kit.security import HostAllowList
from appliance.web.kit.steps import steps_middleware
from appliance.web.routes import auth as routes_auth
from appliance.web.routes import pages as routes_pages
from appliance.web.routes import pair as routes_pair
from appliance.web.routes import profiles as routes_profiles
from appliance.web.routes import providers as routes_providers
from appliance.web.routes import update as routes_update
from appliance.web.routes import user as routes_user

logger = logging.getLogger(__name__)

DEFAULT_NAV = (
    NavItem("/", "Home", 0),
    NavItem("/members", "Household", 20),
    NavItem("/profile", "Profile", 30),
    NavItem("/privacy", "Privacy", 80),
    NavItem("/about", "About", 90),
)


def create_app(deps: WebDeps) -> web.Application:
    """The web application: middlewares, our routes, then every `deps.route_setups` entry."""
    cfg = deps.config
    app = web.Application(middlewares=[*MIDDLEWARES, steps_middleware],
                          client_max_size=cfg.web.max_body_bytes)
    app[DEPS] = deps
    app[NAV] = [*DEFAULT_NAV, *deps.nav]
    app[UNPAIRED_PREFIXES] = []
    app[SESSIONS] = SessionStore(deps.store, cfg.web)
    app[PAIRING] = PairingManager(deps.bus, deps.store, cfg.web)
    app[TEMPLATES] = make_environment(cfg.paths.web)
    app[HOSTS] = HostAllowList(cfg.web, deps.extra_hosts)
    app[ERRORS] = deps.errors if deps.errors is not None else ErrorBoard(deps.bus)
    app[SETTINGS] = deps.settings if deps.settings is not None else Settings(deps.store, deps.bus)
    app[ws.LIVE] = ws.LiveHub(deps.bus)
    providers = deps.providers or build_providers(cfg.identity)
    app[PROVIDERS] = providers
    own_flows = deps.flows is None
    app[FLOWS] = deps.flows if deps.flows is not None else DeviceFlows(providers)
    if own_flows:
        app.on_cleanup.append(_close_flows)
    app.on_response_prepare.append(on_response_prepare)
    app.cleanup_ctx.append(_background)

    routes_pages.add_routes(app)
    routes_profiles.add_routes(app)
    routes_providers.add_routes(app)
    routes_pair.add_routes(app)
    routes_auth.add_routes(app)
    routes_user.add_routes(app)
    routes_update.add_routes(app)
    ws.add_routes(app)
    static = cfg.paths.web / "static"
    app.router.add_static("/static/", static, name="static", append_version=False)
    for setup in deps.route_setups:
        setup(app)
    return app


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Start and stop the pairing listener and the live hub."""
    await app[PAIRING].start()
    await routes_providers.load_stored(app)
    yield
    await app[ws.LIVE].close()
    await app[PAIRING].close()


async def _close_flows(app: web.Application) -> None:
    await app[FLOWS].close()
