"""Run the box: build the services from the context and run them under the supervisor."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from appliance.app.context import BoxContext, BoxError, SimInfo, apply_sim, open_context
from appliance.app.services import build_services

if TYPE_CHECKING:
    from appliance.core.config import Config

logger = logging.getLogger(__name__)

LOOP_CLOSE_GRACE = 2.0  # seconds left-over tasks get after the supervisor returns


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


def run_box(config: Config, *, sim_mode: bool = False,
            stand_ins: dict[str, object] | None = None) -> int:
    """Open the context, build and supervise every service until stopped; the exit code.

    Raises BoxError (one line saying what to do) when the box cannot start.
    """
    from appliance.core.sdnotify import Notifier
    from appliance.core.supervisor import Supervisor, SupervisorError
    from appliance.maintenance.version import installed

    version = installed().name  # the release's VERSION file, or git in a checkout
    sim = SimInfo(state_dir=config.paths.state, stand_ins=stand_ins or {}) if sim_mode else None
    ctx = open_context(config, version=version, sim=sim)
    try:
        if sim is not None:
            apply_sim(ctx)
        services = build_services(ctx)
        supervisor = Supervisor(config.supervisor, ctx.bus, services, Notifier.from_env(),
                                version=version)
    except (SupervisorError, BoxError) as err:
        ctx.store.close()
        raise BoxError(str(err)) from None
    ctx.supervisor = supervisor
    for event in ctx.startup_events:
        supervisor.publish_when_ready(event)
    if sim is not None:
        _print_sim_banner(ctx)
    logger.info("mooddj %s starting %d services: %s", version, len(services),
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


def _print_sim_banner(ctx: BoxContext) -> None:
    assert ctx.sim is not None
    print("MoodDJ simulator running. Press Ctrl-C to stop.", flush=True)
    for name, url in ctx.sim.urls.items():
        print(f"  {name:<8} {url}", flush=True)
