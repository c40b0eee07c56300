"""A real setup page on 127.0.0.1:0 with a real SQLite file, bus and identity stand-in."""

from __future__ import annotations

import asyncio

import pytest
from web_box import Box, Browser, make_config

from appliance.app.setup_progress import current_step
from appliance.core.bus import Bus
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.providers import build_providers
from appliance.schema import open_store
from appliance.standins.identity import IdentitySim
from appliance.web.kit.deps import WebDeps
from appliance.web.service import WebService


@pytest.fixture
async def idsim():
    sim = IdentitySim(interval=0.05, expires_in=30, slow_down_step=0.05)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def box(tmp_path, idsim):
    config = make_config(tmp_path, idsim)
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    providers = build_providers(config.identity)
    flows = DeviceFlows(providers, min_interval=0.01, slow_down_step=0.05)
    deps = WebDeps(config=config, bus=bus, store=store,
                   providers=providers, flows=flows, setup_step=current_step)
    svc = WebService(deps, port=0)
    await svc.start()
    yield Box(svc.base_url, svc.port, bus, store, idsim, svc, config)
    await svc.stop()
    await flows.close()
    store.close()


@pytest.fixture
async def browser(box):
    clients: list[Browser] = []

    def make() -> Browser:
        b = Browser(box)
        clients.append(b)
        return b

    yield make
    for c in clients:
        await c.close()
