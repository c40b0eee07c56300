"""The box's context: config, bus, store, key, the error board and the parts services share."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from appliance.core.bus import Bus, Event
    from appliance.core.config import Config
    from appliance.core.crypto import Sealer
    from appliance.core.errors import ErrorBoard
    from appliance.core.settings import Settings
    from appliance.core.store import Store
    from appliance.core.supervisor import Supervisor
    from appliance.identity.providers import Provider
    from appliance.music.history import MoodHistoryService
    from appliance.music.player import PlayerService
    from appliance.music.spotify import SpotifyServices
    from appliance.panel.service import PanelService
    from appliance.simmode.camera import SimCamera
    from appliance.vision.loop import VisionService
    from appliance.web.service import WebService

RouteSetup = Callable[["web.Application"], None]
Closer = Callable[[], Coroutine[None, None, None]]


class BoxError(Exception):
    """The box cannot start; the message is one line saying what to do."""


@dataclass
class SimInfo:
    """What simulator mode set up: the addresses the banner prints, the stand-ins' info."""

    state_dir: Path
    urls: dict[str, str] = field(default_factory=dict)  # name -> address to print
    stand_ins: dict[str, object] = field(default_factory=dict)


@dataclass
class BoxParts:
    """The parts one service builds and others use (None: not built, or turned off)."""

    spotify: SpotifyServices | None = None
    player: PlayerService | None = None
    history: MoodHistoryService | None = None
    vision: VisionService | None = None
    panel: PanelService | None = None
    web: WebService | None = None
    sim_camera: SimCamera | None = None
    providers: dict[str, Provider] | None = None
    routes: list[RouteSetup] = field(default_factory=list)  # other packages' page routes


@dataclass
class BoxContext:
    """Everything a service factory may need.

    `errors` and `settings` are made with the bus and live as long as the process:
    every service reads the same active errors and the same cached settings.
    """

    config: Config
    bus: Bus
    store: Store
    sealer: Sealer
    errors: ErrorBoard
    settings: Settings
    version: str = ""
    sim: SimInfo | None = None
    parts: BoxParts = field(default_factory=BoxParts)
    supervisor: Supervisor | None = None  # set once built (factories run before)
    startup_events: list[Event] = field(default_factory=list)  # published when ready
    closers: list[Closer] = field(default_factory=list)

    def supervisor_snapshot(self) -> dict[str, object]:
        """The supervisor's snapshot, or {} before it exists."""
        return self.supervisor.snapshot() if self.supervisor is not None else {}


def apply_sim(context: BoxContext) -> None:
    """Simulator mode's setup once the store is open: the addresses the banner prints."""
    assert context.sim is not None
    web_cfg = context.config.web
    host = "127.0.0.1" if web_cfg.host in ("0.0.0.0", "", "::") else web_cfg.host
    page = f"http://{host}:{web_cfg.port}"
    context.sim.urls.setdefault("page", f"{page}/")
    context.sim.urls.setdefault("panel", f"{page}/panel")
    sim_url = context.sim.stand_ins.get("sim")
    if isinstance(sim_url, str) and sim_url:
        context.sim.urls.setdefault("sim", sim_url)
    context.sim.urls.setdefault("state", str(context.config.paths.state))
    if context.config.paths.log_file:
        context.sim.urls.setdefault("log", context.config.paths.log_file)


def open_sealer(config: Config, store: Store) -> Sealer:
    """The key: finishes an interrupted rotation, never replaces a key tokens depend on."""
    from appliance.core.crypto import KeyFileError
    from appliance.core.secrets_store import key_versions, load_sealer

    key_path = config.paths.key_path
    try:
        sealer = load_sealer(store, key_path, create=True)
    except KeyFileError as err:
        raise BoxError(str(err)) from None
    except OSError as err:
        raise BoxError(f"key file {key_path} cannot be created: {err.strerror}; make "
                       f"{key_path.parent} writable by this user") from None
    foreign = sorted(store.read_sync(lambda db: key_versions(db, store.sealed)) - {sealer.version})
    if foreign:
        raise BoxError(f"key file {key_path} does not match sealed tokens in "
                       f"{config.paths.database_path} (sealed with key id "
                       f"{', '.join(foreign)}); restore the matching secret.key "
                       f"(mooddj restore) or `mooddj factory-reset` (the tokens were kept)")
    return sealer


def open_context(config: Config, *, version: str = "", sim: SimInfo | None = None,
                 store_path: Path | str | None = "") -> BoxContext:
    """Open the store and key and build the context; BoxError with one line on failure."""
    from appliance.core.bus import Bus, ErrorRaised
    from appliance.core.errors import ErrorBoard
    from appliance.core.settings import Settings
    from appliance.core.store import StoreError
    from appliance.schema import open_store

    try:
        store = open_store(config.paths.database_path if store_path == "" else store_path)
    except StoreError as err:
        raise BoxError(str(err)) from None
    try:
        sealer = open_sealer(config, store)
    except BoxError:
        store.close()
        raise
    bus = Bus()
    ctx = BoxContext(config=config, bus=bus, store=store, sealer=sealer,
                     errors=ErrorBoard(bus), settings=Settings(store, bus), version=version,
                     sim=sim)
    ctx.closers.append(ctx.settings.flush)  # privacy changes still being stored
    report = store.report
    if report.moved_aside:
        ctx.startup_events.append(ErrorRaised(
            key="store.moved_aside", source="store",
            message=f"the database was damaged ({report.reason}) and was moved aside as "
                    f"{report.moved_aside[0]}; the box started with a fresh one",
            hint="restore a backup with `mooddj restore`, or set the box up again"))
    return ctx
