"""Service factories of the box: how each package's parts are built from a BoxContext.

`appliance.box.SERVICE_FACTORIES` lists them in start order. Objects the web
app and other services share go into `ctx.services` ("spotify", "player",
"panel", ...); pages other packages add go into `ctx.services["web_route_setups"]`.
Factories only construct: nothing here opens a socket or a camera.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.box import BoxContext
    from appliance.core.service import Service


def route_setups(ctx: BoxContext) -> list[Any]:
    """The list of `add_routes(app)` functions the web service calls when it starts."""
    return ctx.services.setdefault("web_route_setups", [])


def status(ctx: BoxContext) -> Service:
    """The status snapshot `mooddj status` reads (runtime dir, every few seconds)."""
    from appliance.core.status import StatusWriter, status_path

    return StatusWriter(status_path(ctx.config.paths.runtime), ctx.bus,
                        interval=ctx.config.supervisor.status_interval,
                        supervisor_snapshot=ctx.supervisor_snapshot, version=ctx.version)


def setup_progress(ctx: BoxContext) -> Service:
    from appliance.core.setup_progress import SetupProgressService

    return SetupProgressService(ctx.store, ctx.bus)


def spotify(ctx: BoxContext) -> Service:
    """Spotify client, tokens, linking and speakers, plus the service keeping them fresh."""
    from appliance.music import http as spotify_http
    from appliance.music import http_player
    from appliance.music.http import create_services
    from appliance.music.spotify_service import SpotifyWatchService

    services = create_services(ctx.config, ctx.store, ctx.sealer, ctx.bus)
    ctx.services["spotify"] = services
    ctx.closers.append(services.close)
    route_setups(ctx).extend([spotify_http.add_routes, http_player.add_routes])
    return SpotifyWatchService(services)


def player(ctx: BoxContext) -> Service:
    from appliance.music.player import create_player

    svc = create_player(ctx.config, ctx.bus, ctx.store, ctx.services["spotify"])
    ctx.services["player"] = svc
    return svc


def vision(ctx: BoxContext) -> Service:
    """The mood loop; in simulator mode its replay camera follows the /api/sim/camera switch."""
    from appliance.vision.loop import VisionService

    kwargs: dict[str, Any] = {}
    if ctx.sim is not None and ctx.config.camera.source == "replay":
        from dataclasses import replace
        from pathlib import Path

        from appliance.sim import box_routes
        from appliance.vision.sources import create_source

        cam = box_routes.SimCamera(Path(ctx.config.camera.replay_path))
        ctx.services["sim_camera"] = cam
        route_setups(ctx).append(box_routes.add_routes)
        kwargs["source_factory"] = lambda camera: create_source(
            replace(camera, replay_path=str(cam.path)))
    svc = VisionService.from_config(ctx.config, ctx.bus, ctx.store, **kwargs)
    if "sim_camera" in ctx.services:
        ctx.services["sim_camera"].vision = svc
    ctx.services["vision"] = svc
    return svc


def panel(ctx: BoxContext) -> Service:
    """Buttons and LEDs (mock pins and the virtual panel in simulator mode)."""
    from appliance.panel.service import panel_service_factory

    return panel_service_factory(ctx)


def web(ctx: BoxContext) -> Service:
    from appliance.web.service import web_service_factory

    route_setups(ctx)
    return web_service_factory(ctx)


def mdns(ctx: BoxContext) -> Service | None:
    if not ctx.config.web.mdns:
        return None  # not even imported: zeroconf costs ~3 MiB of memory
    from appliance.web.mdns import mdns_service_factory

    return mdns_service_factory(ctx)
