"""The page still shows every active error after the web service restarts (real supervisor)."""

from __future__ import annotations

import asyncio

from polling import eventually

from appliance.core.bus import Bus, ErrorRaised
from appliance.core.config import SupervisorConfig
from appliance.core.errors import ErrorBoard
from appliance.core.supervisor import Supervisor
from appliance.identity.providers import build_providers
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.service import WebService

QUICK = SupervisorConfig(stop_timeout=1.0, backoff_initial=0.05, backoff_max=0.1)


async def test_a_camera_error_is_still_shown_after_the_web_service_restarts(tmp_path, idsim):
    from web_box import Box, Browser, make_config

    config = make_config(tmp_path, idsim)
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    board = ErrorBoard(bus)  # made with the bus, as the box's context does
    deps = WebDeps(config=config, bus=bus, store=store, errors=board,
                   providers=build_providers(config.identity))
    web_svc = WebService(deps, port=0)
    sup = Supervisor(QUICK, bus, [web_svc])
    task = asyncio.create_task(sup.run(handle_signals=False))
    browser = None
    try:
        await eventually(lambda: sup.ready, timeout=10.0, what="the start")
        box = Box(web_svc.base_url, web_svc.port, bus, store, idsim, web_svc, config)
        browser = Browser(box)
        await browser.pair_with_button()
        bus.publish(ErrorRaised(key="camera", source="camera", message="Camera unplugged"))
        bus.publish(ErrorRaised(key="network.dns", source="network", message="No DNS"))

        async def shown() -> list[str]:
            r = await browser.get("/api/status")
            assert r.status == 200, await r.text()
            return [e["key"] for e in (await r.json())["data"]["errors"]]

        assert await shown() == ["camera", "network.dns"]
        await sup.request_restart_all("test")
        assert sup.state("web") == "running"
        box.base = web_svc.base_url  # port 0: it listens somewhere new
        assert await shown() == ["camera", "network.dns"]  # not only the last one raised
    finally:
        if browser is not None:
            await browser.close()
        sup.request_stop()
        await task
        store.close()
