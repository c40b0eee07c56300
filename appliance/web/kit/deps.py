"""What the web app is built from: config, bus, store, key and the other packages' parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance import __version__
from appliance.core.bus import Bus
from appliance.core.config import Config
from appliance.core.store import Store

if TYPE_CHECKING:
    from aiohttp import web
    from sqlite_utils import Database

    from appliance.core.crypto import Sealer
    from appliance.core.errors import ErrorBoard
    from appliance.core.settings import Settings
    from appliance.identity.device_flow import DeviceFlows
    from appliance.identity.providers import Provider
    from appliance.music.history import MoodHistoryService
    from appliance.music.player import PlayerService
    from appliance.music.spotify import SpotifyServices
    from appliance.panel.service import PanelService
    from appliance.simmode.camera import SimCamera


@dataclass(frozen=True)
class NavItem:
    """One link of the page's navigation bar (`order` sorts; lower first)."""

    href: str
    label: str
    order: int = 50
    owner_only: bool = False


@dataclass
class WebDeps:
    """Everything `create_app` needs; a part left None is a part the box does not run."""

    config: Config
    bus: Bus
    store: Store
    sealer: Sealer | None = None
    settings: Settings | None = None  # the box's; default: the app makes one on the bus
    errors: ErrorBoard | None = None  # the box's; default: the app makes one on the bus
    providers: dict[str, Provider] | None = None  # default: built from config.identity
    flows: DeviceFlows | None = None  # default: the app makes (and closes) its own
    spotify: SpotifyServices | None = None
    player: PlayerService | None = None
    history: MoodHistoryService | None = None
    panel: PanelService | None = None
    sim_camera: SimCamera | None = None
    sim_urls: dict[str, str] = field(default_factory=dict)  # simulator: stand-ins' pages
    # The supervisor's snapshot for the about page ({} before it runs).
    supervisor_snapshot: Callable[[], dict[str, object]] | None = None
    # Other packages' `add_routes(app)`; called once by `create_app`, before the app freezes.
    route_setups: list[Callable[[web.Application], None]] = field(default_factory=list)
    # The box's setup step from the database (app.setup_progress.current_step): the pages'
    # first-run step bar; None: no bar.
    setup_step: Callable[[Database], str] | None = None
    # Extra navigation links (other packages may also call `render.add_nav(app, ...)`).
    nav: list[NavItem] = field(default_factory=list)
    version: str = ""  # the running release; see `release`
    # Extra Host names accepted besides config.web.allowed_hosts (e.g. from tests, sim mode).
    extra_hosts: tuple[str, ...] = ()

    @property
    def release(self) -> str:
        """The running release (the package's own version when none was given)."""
        return self.version or __version__
