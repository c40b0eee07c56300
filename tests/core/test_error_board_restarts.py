"""An active error stays shown when the status writer or the web page restarts.

Both read the one error board made with the bus; the real supervisor restarts them.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from polling import eventually

from appliance.core.bus import Bus, ErrorRaised
from appliance.core.config import SupervisorConfig
from appliance.core.errors import ErrorBoard
from appliance.core.status import StatusWriter, read_status, status_path
from appliance.core.supervisor import Supervisor

QUICK = SupervisorConfig(stop_timeout=1.0, backoff_initial=0.2, backoff_max=0.4)
CAMERA = ErrorRaised(key="camera", source="camera", message="camera unplugged",
                     hint="plug it in again")
NETWORK = ErrorRaised(key="network.dns", source="network", message="no DNS")


async def test_status_writer_shows_an_error_raised_while_it_was_down(tmp_path: Path) -> None:
    bus = Bus()
    board = ErrorBoard(bus)
    run_dir = tmp_path / "run"
    path = status_path(run_dir)
    writer = StatusWriter(path, bus, interval=0.05, errors=board)
    sup = Supervisor(QUICK, bus, [writer])
    task = asyncio.create_task(sup.run(handle_signals=False))
    try:
        await eventually(lambda: read_status(path) is not None, 10.0, "a first snapshot")
        shutil.rmtree(run_dir)
        run_dir.write_text("in the way")  # the next write fails: the writer crashes
        await eventually(lambda: sup.state("status") == "restarting", 10.0, "a crash")
        bus.publish(CAMERA)  # nobody listening to the bus but the board
        bus.publish(NETWORK)  # and the bus's latest error is now another one
        run_dir.unlink()
        await eventually(lambda: sup.state("status") == "running"
                         and (read_status(path) or {}).get("errors"), 10.0, "a restart")
        doc = read_status(path)
        assert doc is not None
        assert [e["key"] for e in doc["errors"]] == ["camera", "network.dns"]
    finally:
        sup.request_stop()
        await task
