"""Every service factory of the box, in start order: how each part is built from the context.

Factories only construct (nothing here opens a socket or a camera) and import
their packages when called, so `mooddj --help` stays fast. A factory returns
None when the config turns its part off. Parts other services use go into
`ctx.parts`; pages other packages add go into `ctx.parts.routes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.app.context import BoxContext
    from appliance.core.service import Service


def status(ctx: BoxContext) -> Service:
    """The status snapshot `mooddj status` reads (runtime dir, every few seconds)."""
    from appliance.core.status import StatusWriter, status_path

    return StatusWriter(status_path(ctx.config.paths.runtime), ctx.bus,
                        interval=ctx.config.supervisor.status_interval,
                        supervisor_snapshot=ctx.supervisor_snapshot, version=ctx.version,
                        errors=ctx.errors)


def setup_progress(ctx: BoxContext) -> Service:
    """Which setup step the household is at, for the page and the LEDs."""
    from appliance.app.setup_progress import SetupProgressService

    return SetupProgressService(ctx.settings, ctx.bus)


def panel(ctx: BoxContext) -> Service:
    """Buttons and LEDs (mock pins and the virtual panel in simulator mode).

    The factory-reset gesture runs the maintenance operation on the box's store,
    key file and Sealer, then restarts every service (sessions, pairings, tokens
    and the player's state live in memory too).
    """
    from appliance.maintenance.reset import factory_reset
    from appliance.panel.service import PanelService
    from appliance.web.routes import panel as panel_routes

    async def reset() -> None:
        await factory_reset(ctx.store, ctx.config.paths.key_path, ctx.sealer)
        ctx.settings.announce()  # every setting is gone: no cache may keep one
        if ctx.supervisor is not None:
            ctx.supervisor.request_restart_all("factory reset")

    svc = PanelService(ctx.config.panel, ctx.bus, settings=ctx.settings, errors=ctx.errors,
                       on_factory_reset=reset)
    ctx.parts.panel = svc
    ctx.parts.routes.append(panel_routes.add_routes)  # they register only with mock pins
    return svc


def vision(ctx: BoxContext) -> Service:
    """The mood loop; in simulator mode its replay camera follows the /api/sim/camera switch."""
    from pathlib import Path

    from appliance.vision.loop import VisionService

    cam = None
    if ctx.sim is not None and ctx.config.camera.source == "replay":
        from appliance.simmode.camera import SimCamera
        from appliance.web.routes import sim as sim_routes

        cam = SimCamera(Path(ctx.config.camera.replay_path))
        ctx.parts.sim_camera = cam
        ctx.parts.routes.append(sim_routes.add_routes)
    svc = VisionService.from_config(ctx.config, ctx.bus, ctx.store, settings=ctx.settings,
                                    source_factory=cam.source if cam else None)
    if cam is not None:
        cam.vision = svc
    ctx.parts.vision = svc
    return svc


def spotify(ctx: BoxContext) -> Service:
    """Spotify client, tokens, linking and speakers, plus the service keeping them fresh."""
    from appliance.music.spotify import create_services
    from appliance.music.spotify_watch import SpotifyWatchService
    from appliance.web.routes import music as music_routes
    from appliance.web.routes import spotify as spotify_routes

    services = create_services(ctx.config, ctx.store, ctx.sealer, ctx.bus,
                               settings=ctx.settings)
    ctx.parts.spotify = services
    ctx.closers.append(services.close)
    ctx.parts.routes.extend([spotify_routes.add_routes, music_routes.add_routes])
    return SpotifyWatchService(services)


def player(ctx: BoxContext) -> Service | None:
    """The player: mood, presence and buttons in, Spotify commands out."""
    from appliance.music.player import create_player

    if ctx.parts.spotify is None:
        return None
    svc = create_player(ctx.config, ctx.bus, ctx.store, ctx.parts.spotify,
                        box_settings=ctx.settings)
    ctx.parts.player = svc
    return svc


def mood_history(ctx: BoxContext) -> Service:
    """The mood history: 15-minute aggregates of the room's readings, for the music page."""
    from appliance.music.history import MoodHistoryService

    svc = MoodHistoryService(ctx.store, ctx.bus, ctx.config.player.mood_history_days,
                             settings=ctx.settings)
    ctx.parts.history = svc
    return svc


def web(ctx: BoxContext) -> Service:
    """The setup page with every part built before it (and the supervisor's snapshot)."""
    from appliance.app.setup_progress import current_step
    from appliance.identity.providers import build_providers
    from appliance.web.kit.deps import WebDeps
    from appliance.web.service import WebService

    parts = ctx.parts
    if parts.providers is None:
        parts.providers = build_providers(ctx.config.identity)
    # No flows here: without one, each app makes its own DeviceFlows and closes it.
    deps = WebDeps(config=ctx.config, bus=ctx.bus, store=ctx.store, sealer=ctx.sealer,
                   settings=ctx.settings, errors=ctx.errors, providers=parts.providers,
                   spotify=parts.spotify, player=parts.player, history=parts.history,
                   panel=parts.panel, sim_camera=parts.sim_camera,
                   sim_urls=ctx.sim.urls if ctx.sim is not None else {},
                   supervisor_snapshot=ctx.supervisor_snapshot, route_setups=parts.routes,
                   version=ctx.version,
                   setup_step=current_step)
    svc = WebService(deps)
    parts.web = svc
    return svc


def mdns(ctx: BoxContext) -> Service | None:
    """The `<name>.local` advertisement of the page (after "web"); None when web.mdns is off."""
    if not ctx.config.web.mdns:
        return None  # not even imported: zeroconf costs ~3 MiB of memory
    from appliance.web.mdns import MdnsService

    web_service = ctx.parts.web
    port = (lambda: web_service.port) if web_service is not None else None
    return MdnsService(ctx.config.web, ctx.bus, port, version=ctx.version)


Factory = Callable[["BoxContext"], "Service | None"]

# name -> factory, in start order.
SERVICE_FACTORIES: dict[str, Factory] = {
    "status": status,
    "setup": setup_progress,
    "panel": panel,
    "vision": vision,
    "spotify": spotify,
    "player": player,
    "history": mood_history,
    "web": web,
    "mdns": mdns,
}


def build_services(ctx: BoxContext, factories: dict[str, Factory] | None = None
                   ) -> list[Service]:
    """One service per factory that is turned on, in table order."""
    services = []
    for factory in (SERVICE_FACTORIES if factories is None else factories).values():
        svc = factory(ctx)
        if svc is not None:
            services.append(svc)
    return services
