"""Restarting every service in place (what a factory reset from the panel needs)."""

from __future__ import annotations

import asyncio

from polling import eventually as wait_for

from appliance.core.bus import Bus
from appliance.core.config import SupervisorConfig
from appliance.core.service import Service
from appliance.core.supervisor import Supervisor

FAST = SupervisorConfig(stop_timeout=1.0, backoff_initial=0.01, backoff_max=0.04)


class Recorder(Service):
    def __init__(self, name: str, log: list[str], depends_on: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.name, self.log, self.depends_on = name, log, depends_on

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


class Resetter(Recorder):
    """Asks for a restart of everything from inside its own run(), as the panel does."""

    def __init__(self, log: list[str], supervisor_box: list[Supervisor]) -> None:
        super().__init__("panel", log)
        self.box = supervisor_box
        self.asked = False

    async def run(self) -> None:
        if not self.asked:
            self.asked = True
            await asyncio.sleep(0.05)
            self.box[0].request_restart_all("factory reset")
        await asyncio.Event().wait()




async def test_restart_all_stops_in_reverse_and_starts_in_order_even_when_a_service_asks():
    log: list[str] = []
    box: list[Supervisor] = []
    services = [Recorder("store", log), Resetter(log, box), Recorder("web", log, ("store",))]
    sup = Supervisor(FAST, Bus(), services)
    box.append(sup)
    runner = asyncio.create_task(sup.run(handle_signals=False))
    await wait_for(lambda: log.count("start web") == 2)
    first = ["start store", "start panel", "start web"]
    again = ["stop web", "stop panel", "stop store", "start store", "start panel", "start web"]
    assert log == first + again
    assert all(sup.state(n) == "running" for n in ("store", "panel", "web"))
    assert sup.request_restart_all("again") is not None  # a finished restart allows another
    await wait_for(lambda: log.count("start web") == 3)
    sup.request_stop()
    assert await runner == 0
    assert log[-3:] == ["stop web", "stop panel", "stop store"]
