"""The panel built by the box's factory: the reset gesture really erases the box."""

from __future__ import annotations

import asyncio
import time

import pytest
from panel_kit import FAST, eventually

from appliance.app.context import open_context
from appliance.app.services import panel as panel_service_factory
from appliance.core.bus import ButtonGesture, SetupProgress
from appliance.core.config import Config, from_dict
from appliance.core.crypto import SealError
from appliance.panel.service import PanelService
from appliance.web.routes import panel as panel_http

pytestmark = pytest.mark.timeout(60)


async def test_box_factory_wires_the_real_factory_reset(tmp_path):
    cfg = from_dict(Config, {
        "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
        "panel": FAST,
    })
    ctx = open_context(cfg, version="t")
    ctx.bus.bind(asyncio.get_running_loop())
    old_key = cfg.paths.key_path.read_bytes()
    ctx.store.write_sync(lambda db: db["users"].insert(
        {"id": "mmp_1", "display_name": "Alex", "role": "owner", "created_at": time.time()}))
    sealed = ctx.sealer.seal("token", user_id="mmp_1", platform="spotify", field="t")
    svc = panel_service_factory(ctx)
    try:
        assert isinstance(svc, PanelService) and ctx.parts.panel is svc
        assert panel_http.add_routes in ctx.parts.routes
        await svc.start()
        sub = ctx.bus.subscribe(ButtonGesture, SetupProgress)
        for name in ("play", "next"):
            svc.drive(name, True)
        await eventually(lambda: svc.recognizer.armed, what="armed")
        for name in ("play", "next"):
            svc.drive(name, False)
        await svc.settle()
        for name in ("play", "next"):
            svc.drive(name, True)
        await svc.settle()
        await eventually(lambda: isinstance(ctx.bus.latest(SetupProgress), SetupProgress),
                         timeout=10, what="the reset finished")
        seen = []
        while (ev := sub.get_nowait()) is not None:
            seen.append(getattr(ev, "gesture", getattr(ev, "step", "")))
        assert seen == ["factory_reset_armed", "factory_reset_confirmed", "unclaimed"]
        assert ctx.store.read_sync(lambda db: db["users"].count) == 0
        assert cfg.paths.key_path.read_bytes() != old_key
        with pytest.raises(SealError):  # the old key is gone
            ctx.sealer.open(sealed, user_id="mmp_1", platform="spotify", field="t")
    finally:
        await svc.stop()
        ctx.store.close()
