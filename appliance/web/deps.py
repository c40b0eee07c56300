"""What the web app is built from: config, bus, store, sealer and other packages' parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from appliance.core.bus import Bus
from appliance.core.config import Config
from appliance.core.store import Store


@dataclass(frozen=True)
class NavItem:
    """One link of the page's navigation bar (`order` sorts; lower first)."""

    href: str
    label: str
    order: int = 50
    owner_only: bool = False


@dataclass
class WebDeps:
    """Everything `create_app` needs; other packages add services and route setups."""

    config: Config
    bus: Bus
    store: Store
    sealer: Any = None  # appliance.core.crypto.Sealer
    # Named objects from other packages: "flows" (DeviceFlows), "providers"
    # (dict[str, Provider]), "spotify", "speakers", "player", "panel", "supervisor", ...
    services: dict[str, Any] = field(default_factory=dict)
    # Other packages' `add_routes(app)`; called once by `create_app`, before the app freezes.
    route_setups: list[Callable[[web.Application], None]] = field(default_factory=list)
    # Extra navigation links (other packages may also call `render.add_nav(app, ...)`).
    nav: list[NavItem] = field(default_factory=list)
    # Extra Host names accepted besides config.web.allowed_hosts (e.g. from tests, sim mode).
    extra_hosts: tuple[str, ...] = ()
