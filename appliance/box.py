"""`mooddj run`: build the box from the config and run it under the supervisor.

The services come from `SERVICE_FACTORIES`, a name -> factory table; each
factory takes the `BoxContext` and returns a Service (or None when the config
turns that part off). Adding a service is one line in that table. Heavy
imports happen inside `run` so `mooddj --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import wiring

if TYPE_CHECKING:
    from appliance.core.bus import Bus, Event
    from appliance.core.config import Config
    from appliance.core.crypto import Sealer
    from appliance.core.service import Service
    from appliance.core.store import Store
    from appliance.core.supervisor import Supervisor

logger = logging.getLogger(__name__)

SIM_STATE_DIR = Path("~/.local/state/mooddj-sim")
SIM_PORT = 8080
LOOP_CLOSE_GRACE = 2.0  # seconds left-over tasks get after the supervisor returns


class BoxError(Exception):
    """The box cannot start; the message is one line saying what to do."""


@dataclass
class SimInfo:
    """What simulator mode set up (the lead's `apply_sim` adds stand-in addresses)."""

    state_dir: Path
    urls: dict[str, str] = field(default_factory=dict)  # name -> address to print
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BoxContext:
    """Everything a service factory may need; `services` holds shared named objects."""

    config: Config
    bus: Bus
    store: Store
    sealer: Sealer
    version: str = ""
    sim: SimInfo | None = None
    services: dict[str, Any] = field(default_factory=dict)
    supervisor: Supervisor | None = None  # set once built (factories run before)
    startup_events: list[Event] = field(default_factory=list)  # published when ready
    closers: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    def supervisor_snapshot(self) -> dict[str, Any]:
        """The supervisor's snapshot, or {} before it exists."""
        return self.supervisor.snapshot() if self.supervisor is not None else {}


# name -> factory(context) -> Service | None (None: turned off by the config), in start order.
# The factories live in appliance.wiring and import their packages only when called.
SERVICE_FACTORIES: dict[str, Callable[[BoxContext], Service | None]] = {
    "status": wiring.status,
    "setup": wiring.setup_progress,
    "panel": wiring.panel,
    "vision": wiring.vision,
    "spotify": wiring.spotify,
    "player": wiring.player,
    "web": wiring.web,
    "mdns": wiring.mdns,
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj run`."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    parser.add_argument("--sim", action="store_true",
                        help="simulator mode: stand-ins on loopback, mock pins, replay camera, "
                             f"state in {SIM_STATE_DIR}")
    parser.add_argument("--camera", choices=("webcam", "replay", "picamera2"),
                        help="frame source (overrides camera.source)")
    parser.add_argument("--port", type=int, help="port of the setup page (overrides web.port)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="keep the database, key and runtime files under DIR")
    parser.add_argument("--recording", metavar="PATH",
                        help="simulator: video, image or folder the replay camera loops "
                             "(default: tests/media/single_face.mp4)")
    parser.add_argument("--stand-ins", metavar="URL",
                        help="simulator: use stand-ins already running at this control URL "
                             "(from `python -m appliance.sim`) instead of starting them")


def sim_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config values simulator mode uses (the user's own flags still win over them)."""
    from appliance.sim.launcher import DEFAULT_RECORDING

    state_dir = getattr(args, "state_dir", None)
    state = Path(state_dir).expanduser() if state_dir else SIM_STATE_DIR.expanduser()
    recording = getattr(args, "recording", None)
    return {
        "paths": {"state_dir": str(state), "runtime_dir": str(state / "run"),
                  "log_file": str(state / "mooddj.log")},
        "web": {"port": SIM_PORT, "host": "127.0.0.1", "mdns": False},
        # The browser runs on this machine: Spotify returns straight to the page's port.
        "spotify": {"redirect_port": 0},
        "panel": {"pin_factory": "mock"},
        "camera": {"source": "replay", "replay_path": str(
            Path(recording).expanduser().resolve() if recording else DEFAULT_RECORDING)},
    }


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config values from `--camera`, `--port` and `--state-dir` (absent flags: none)."""
    out: dict[str, Any] = {}
    state_dir = getattr(args, "state_dir", None)
    if state_dir:
        state = Path(state_dir).expanduser().resolve()
        out["paths"] = {"state_dir": str(state), "runtime_dir": str(state / "run")}
    if getattr(args, "port", None) is not None:
        out["web"] = {"port": args.port}
    if getattr(args, "camera", None):
        out["camera"] = {"source": args.camera}
    return out


def apply_sim(context: BoxContext) -> None:
    """Simulator mode's setup once the store is open: the addresses the banner prints."""
    assert context.sim is not None
    web_cfg = context.config.web
    host = "127.0.0.1" if web_cfg.host in ("0.0.0.0", "", "::") else web_cfg.host
    page = f"http://{host}:{web_cfg.port}"
    context.sim.urls.setdefault("page", f"{page}/")
    context.sim.urls.setdefault("panel", f"{page}/panel")
    stand_ins = context.sim.extra.get("stand_ins") or {}
    if stand_ins.get("sim"):
        context.sim.urls.setdefault("sim", stand_ins["sim"])
    context.sim.urls.setdefault("state", str(context.config.paths.state))
    if context.config.paths.log_file:
        context.sim.urls.setdefault("log", context.config.paths.log_file)


def load_box_config(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config with simulator and flag overrides applied; exits 2 on a config error.

    Maintenance commands with `--sim` / `--state-dir` use it too, so they look where
    `mooddj run --sim` keeps its files.
    """
    from appliance.core import config as config_mod

    overrides: dict[str, Any] = {}
    if getattr(args, "sim", False):
        overrides = sim_overrides(args)
    if extra:
        overrides = config_mod.merge(overrides, extra)
    overrides = config_mod.merge(overrides, flag_overrides(args))
    try:
        return config_mod.load(getattr(args, "config", None), overrides=overrides or None)
    except config_mod.ConfigError as err:
        print(f"mooddj: {err}", file=sys.stderr)
        raise SystemExit(2) from None


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
    foreign = sorted(store.read_sync(key_versions) - {sealer.version})
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
    from appliance.core.store import Store, StoreError

    try:
        store = Store.open(config.paths.database_path if store_path == "" else store_path)
    except StoreError as err:
        raise BoxError(str(err)) from None
    try:
        sealer = open_sealer(config, store)
    except BoxError:
        store.close()
        raise
    ctx = BoxContext(config=config, bus=Bus(), store=store, sealer=sealer, version=version,
                     sim=sim)
    report = store.report
    if report.moved_aside:
        ctx.startup_events.append(ErrorRaised(
            key="store.moved_aside", source="store",
            message=f"the database was damaged ({report.reason}) and was moved aside as "
                    f"{report.moved_aside[0]}; the box started with a fresh one",
            hint="restore a backup with `mooddj restore`, or set the box up again"))
    return ctx


def build_services(ctx: BoxContext,
                   factories: dict[str, Callable[[BoxContext], Service | None]] | None = None
                   ) -> list[Service]:
    """One service per factory that is turned on, in table order."""
    services = []
    for name, factory in (SERVICE_FACTORIES if factories is None else factories).items():
        svc = factory(ctx)
        if svc is not None:
            ctx.services.setdefault(name, svc)
            services.append(svc)
    return services


def run_loop(main: Coroutine[Any, Any, int], grace: float = LOOP_CLOSE_GRACE) -> int:
    """Run `main` on a new loop; give left-over tasks `grace` s, never hang on exit.

    Unlike asyncio.run, tasks that ignore cancellation (a hung service that was
    abandoned) cannot keep the process alive: they are logged and the process
    exits anyway.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stuck: set[asyncio.Task[Any]] = set()
    try:
        code = loop.run_until_complete(main)
    finally:
        tasks = {t for t in asyncio.all_tasks(loop) if not t.done()}
        for t in tasks:
            t.cancel()
        if tasks:
            _, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=grace))
        if not stuck:
            loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
    if stuck:
        logger.error("%d task(s) did not finish after shutdown (%s); exiting anyway",
                     len(stuck), ", ".join(sorted(t.get_name() for t in stuck)))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # threads of abandoned work must not keep the process alive
    return code


def run(args: argparse.Namespace) -> int:
    """`mooddj run`: run the box until SIGTERM or Ctrl-C."""
    import errno

    from appliance.core.cliutil import fail
    from appliance.core.logging_setup import setup_logging
    from appliance.core.maint import BoxRunningError, acquire_box_lock

    stand_ins = None
    extra: dict[str, Any] = {}
    first = load_box_config(args)
    problem = (_models_problem(first) or _recording_problem(first, args)
               or _port_problem(first))  # before anything is started
    if problem:
        return fail(problem)
    if getattr(args, "sim", False):
        from appliance.sim import launcher

        state = Path(sim_overrides(args)["paths"]["state_dir"])
        try:
            stand_ins = launcher.start(state, getattr(args, "stand_ins", None))
            extra = stand_ins.info["config"]
        except launcher.SimError as err:
            if stand_ins is not None:
                stand_ins.stop()
            return fail(str(err))
    try:
        config = load_box_config(args, extra)
        setup_logging(config.log.level, config.paths.log_file or None)
        try:
            lock = acquire_box_lock(config.paths.runtime)
        except BoxRunningError as err:
            return fail(str(err))
        except OSError as err:
            why = "a file is in the way" if err.errno == errno.ENOTDIR else err.strerror
            flag = "pass a writable --state-dir or " if getattr(args, "state_dir", None) else ""
            return fail(f"runtime dir {config.paths.runtime} cannot be used: {why}; "
                        f"{flag}set paths.runtime_dir to a writable folder")
        try:
            return _run_box(args, config, stand_ins.info if stand_ins else None)
        finally:
            lock.release()
    finally:
        if stand_ins is not None:
            stand_ins.stop()


def _run_box(args: argparse.Namespace, config: Config,
             stand_ins: dict[str, Any] | None = None) -> int:
    from appliance import __version__
    from appliance.core.cliutil import fail
    from appliance.core.sdnotify import Notifier
    from appliance.core.supervisor import Supervisor, SupervisorError

    sim = None
    if getattr(args, "sim", False):
        sim = SimInfo(state_dir=config.paths.state, extra={"stand_ins": stand_ins or {}})
    try:
        ctx = open_context(config, version=__version__, sim=sim)
    except BoxError as err:
        return fail(str(err))
    try:
        if sim is not None:
            apply_sim(ctx)
        services = build_services(ctx)
        supervisor = Supervisor(config.supervisor, ctx.bus, services, Notifier.from_env(),
                                version=__version__)
    except (SupervisorError, BoxError) as err:
        ctx.store.close()
        return fail(str(err))
    ctx.supervisor = supervisor
    for event in ctx.startup_events:
        supervisor.publish_when_ready(event)
    if sim is not None:
        _print_sim_banner(ctx)
    logger.info("mooddj %s starting %d services: %s", __version__, len(services),
                ", ".join(supervisor.names))
    async def main() -> int:
        try:
            return await supervisor.run()
        finally:
            for close in ctx.closers:
                try:
                    await close()
                except Exception:
                    logger.exception("closing %s failed", close)

    try:
        code = run_loop(main())
    finally:
        ctx.store.close()
    logger.info("mooddj stopped (exit %d)", code)
    return code


def _models_problem(config: Config) -> str:
    """One line naming a missing or damaged model file and the fix, or ''."""
    from appliance.vision.models import verify_all

    problems = verify_all(config.paths.models)
    return problems[0] if problems else ""


def _port_problem(config: Config) -> str:
    """One line when the setup page's port is taken (or not ours to use), or ''."""
    import errno
    import socket

    host, port = config.web.host or "0.0.0.0", config.web.port
    if port == 0:
        return ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return ""  # a bad web.host: the web service reports it with its own message
    family, kind, proto, _name, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds it
        try:
            sock.bind(addr)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another mooddj, or another "
                        f"server); stop it, or pick another port with --port N or web.port")
            if err.errno == errno.EACCES:
                return (f"no permission to listen on port {port}; run under the systemd unit "
                        f"(CAP_NET_BIND_SERVICE), or use --port N / web.port above 1023")
    return ""


def _recording_problem(config: Config, args: argparse.Namespace) -> str:
    """One line if the simulator's replay camera has nothing to replay, or ''."""
    if not getattr(args, "sim", False) or config.camera.source != "replay":
        return ""
    path = Path(config.camera.replay_path)
    if path.exists():
        return ""
    fix = ("pass --recording PATH" if getattr(args, "recording", None)
           else "run scripts/fetch-test-media, or pass --recording PATH")
    return f"recording {path} not found; {fix}"


def _print_sim_banner(ctx: BoxContext) -> None:
    assert ctx.sim is not None
    print("MoodDJ simulator running. Press Ctrl-C to stop.", flush=True)
    for name, url in ctx.sim.urls.items():
        print(f"  {name:<8} {url}", flush=True)
