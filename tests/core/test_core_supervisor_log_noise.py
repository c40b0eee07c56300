"""A service failing the same way again logs its traceback once, not on every retry."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from appliance.core.bus import Bus
from appliance.core.config import SupervisorConfig
from appliance.core.service import Service
from appliance.core.supervisor import Supervisor

FAST = SupervisorConfig(stop_timeout=1.0, max_crashes=3, crash_window=60.0,
                        backoff_initial=0.01, backoff_max=0.02, status_interval=0.1)


class NoPins(Service):
    name = "panel"

    async def start(self) -> None:
        raise RuntimeError("the lgpio pin factory cannot be loaded")


async def test_same_start_failure_logs_one_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="appliance.core.supervisor")
    sup = Supervisor(FAST, Bus(), [NoPins()], rng=random.Random(1))
    task = asyncio.create_task(sup.run(handle_signals=False))
    for _ in range(500):
        if sup.state("panel") == "failed":
            break
        await asyncio.sleep(0.01)
    assert sup.state("panel") == "failed"
    sup.request_stop()
    await task
    crashes = [r for r in caplog.records if "start failed" in r.getMessage()]
    assert len(crashes) == 3
    assert [r.exc_info is not None for r in crashes] == [True, False, False]
