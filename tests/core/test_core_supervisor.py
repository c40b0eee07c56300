"""Supervisor behaviour with small real services on a real loop."""

from __future__ import annotations

import asyncio
import random

import pytest
from polling import eventually as until

from appliance.core.bus import Bus, ErrorRaised, ServiceState
from appliance.core.config import SupervisorConfig
from appliance.core.service import Service
from appliance.core.supervisor import Supervisor, SupervisorError, start_order

FAST = SupervisorConfig(stop_timeout=1.0, max_crashes=5, crash_window=60.0,
                        backoff_initial=0.01, backoff_max=0.04, status_interval=0.1)




class Toy(Service):
    """Records its lifecycle in a shared log."""

    def __init__(self, name: str, log: list[str], depends_on: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.name = name
        self.depends_on = depends_on
        self.log = log
        self.starts = 0
        self.stops = 0

    async def start(self) -> None:
        self.starts += 1
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.stops += 1
        self.log.append(f"stop {self.name}")


class FailsToStart(Toy):
    def __init__(self, name: str, log: list[str], failures: int) -> None:
        super().__init__(name, log)
        self.failures = failures

    async def start(self) -> None:
        await super().start()
        if self.starts <= self.failures:
            raise OSError("camera busy")


class Crasher(Toy):
    async def run(self) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")


class Hangs(Toy):
    """Beats for its first run only briefly, then stops making progress."""

    heartbeat_deadline = 0.15

    async def run(self) -> None:
        for _ in range(3):
            self.beat()
            await asyncio.sleep(0.02)
        await asyncio.Event().wait()  # stuck: no more beats


class StopHangs(Toy):
    async def stop(self) -> None:
        await super().stop()
        await asyncio.sleep(3600)


def sup_for(services: list[Service], bus: Bus | None = None, **kw) -> Supervisor:
    return Supervisor(kw.pop("config", FAST), bus or Bus(), services, rng=random.Random(1), **kw)


async def launch(sup: Supervisor) -> asyncio.Task[int]:
    task = asyncio.create_task(sup.run(handle_signals=False))
    await until(lambda: sup.ready or task.done())
    return task


async def test_services_start_in_dependency_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    c = Toy("c", log, depends_on=("b",))
    a = Toy("a", log)
    b = Toy("b", log, depends_on=("a",))
    bus = Bus()
    states = bus.subscribe(ServiceState, maxsize=100)
    sup = sup_for([c, a, b], bus)
    assert sup.names == ["a", "b", "c"]
    task = await launch(sup)
    assert [sup.state(n) for n in "abc"] == ["running"] * 3
    sup.request_stop()
    assert await task == 0
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    seen = [(e.name, e.state) for e in iter(states.get_nowait, None)]
    assert ("a", "starting") in seen and ("a", "running") in seen and ("a", "stopped") in seen
    assert seen.index(("c", "stopped")) < seen.index(("a", "stopped"))


def test_unknown_dependency_and_cycle_are_clear_errors() -> None:
    log: list[str] = []
    with pytest.raises(SupervisorError, match=r"'player' depends on 'spotify'.*not configured"):
        start_order([Toy("player", log, depends_on=("spotify",))])
    with pytest.raises(SupervisorError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        start_order([Toy("a", log, depends_on=("b",)), Toy("b", log, depends_on=("a",))])
    with pytest.raises(SupervisorError, match="unique"):
        start_order([Toy("a", log), Toy("a", log)])


async def test_service_raising_at_start_is_stopped_retried_and_others_still_start() -> None:
    log: list[str] = []
    flaky = FailsToStart("camera", log, failures=2)
    other = Toy("web", log)
    sup = sup_for([flaky, other])
    task = await launch(sup)
    await until(lambda: sup.state("camera") == "running")
    assert flaky.starts == 3
    assert flaky.stops == 2  # stop() after each failed start, to release what it took
    assert other.starts == 1 and sup.state("web") == "running"
    snap = sup.snapshot()
    cam = next(s for s in snap["services"] if s["name"] == "camera")
    assert cam["crashes"] == 2 and "OSError: camera busy" in cam["last_error"]
    sup.request_stop()
    assert await task == 0


async def test_repeated_crashes_mark_failed_while_others_keep_running() -> None:
    log: list[str] = []
    bus = Bus()
    errors = bus.subscribe(ErrorRaised)
    states = bus.subscribe(ServiceState, maxsize=1000)
    crasher = Crasher("vision", log)
    steady = Toy("player", log)
    sup = sup_for([crasher, steady], bus, clock=lambda: 1000.0)  # all crashes in one window
    task = await launch(sup)
    await until(lambda: sup.state("vision") == "failed")
    assert crasher.starts == 5
    err = errors.get_nowait()
    assert err is not None and err.key == "service.vision" and err.source == "service"
    assert "5 crashes" in err.message and "RuntimeError: boom" in err.message
    failed = [e for e in iter(states.get_nowait, None) if e.state == "failed"]
    assert [(e.name, e.crashes) for e in failed] == [("vision", 5)]
    await asyncio.sleep(0.1)
    assert crasher.starts == 5  # no more restarts once failed
    assert sup.state("player") == "running"
    assert sup.healthy()  # a failed service does not withhold the watchdog
    sup.request_stop()
    assert await task == 0
    assert steady.stops == 1


async def test_crashes_spread_beyond_the_window_never_mark_failed() -> None:
    log: list[str] = []
    now = [0.0]

    def clock() -> float:
        now[0] += 100.0  # every crash is in a window of its own
        return now[0]

    crasher = Crasher("vision", log)
    sup = sup_for([crasher], clock=clock)
    task = await launch(sup)
    await until(lambda: crasher.starts >= 8)
    assert sup.state("vision") != "failed"
    sup.request_stop()
    await task


async def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    cfg = SupervisorConfig(backoff_initial=1.0, backoff_max=8.0)
    sup = Supervisor(cfg, Bus(), [], rng=random.Random(7))
    delays = [sup._backoff(n) for n in range(1, 7)]
    for n, d in enumerate(delays, start=1):
        base = min(8.0, 2.0 ** (n - 1))
        assert base / 2 <= d <= base
    assert delays[-1] >= 4.0


async def test_hung_service_without_heartbeat_is_restarted() -> None:
    log: list[str] = []
    bus = Bus()
    states = bus.subscribe(ServiceState, maxsize=1000)
    hung = Hangs("vision", log)
    sup = sup_for([hung, Toy("web", log)], bus)
    task = await launch(sup)
    await until(lambda: hung.starts >= 2)
    assert hung.stops >= 1
    details = [e.detail for e in iter(states.get_nowait, None) if e.name == "vision"]
    assert any("hung: no heartbeat" in d for d in details)
    assert sup.state("web") == "running"
    sup.request_stop()
    await task


async def test_stop_is_bounded_when_a_service_stop_hangs() -> None:
    log: list[str] = []
    first = Toy("store-user", log)
    stuck = StopHangs("web", log, depends_on=("store-user",))
    cfg = SupervisorConfig(stop_timeout=0.5, backoff_initial=0.01, backoff_max=0.02)
    sup = sup_for([first, stuck], config=cfg)
    task = await launch(sup)
    sup.request_stop()
    assert await asyncio.wait_for(task, timeout=5) == 0
    assert sup.abandoned == ["web"]
    assert log[-2:] == ["stop web", "stop store-user"]  # the rest still stopped, in order
    assert sup.state("web") == "stopped"


async def test_failed_service_can_be_restarted_on_request() -> None:
    log: list[str] = []

    class Recovers(Crasher):
        async def run(self) -> None:
            if self.starts <= 5:
                await super().run()
            await asyncio.Event().wait()

    svc = Recovers("vision", log)
    sup = sup_for([svc], clock=lambda: 5.0)
    task = await launch(sup)
    await until(lambda: sup.state("vision") == "failed")
    assert sup.restart_service("vision")
    await until(lambda: sup.state("vision") == "running")
    assert not sup.restart_service("vision")  # only failed services
    sup.request_stop()
    await task


async def test_snapshot_reports_services_loop_lag_and_bus() -> None:
    log: list[str] = []

    class WithFacts(Toy):
        def snapshot(self) -> dict[str, object]:
            return {"fps": 4.5}

    sup = sup_for([WithFacts("vision", log)])
    task = await launch(sup)
    await asyncio.sleep(0.6)  # at least one monitor tick
    snap = sup.snapshot()
    assert snap["ready"] and snap["healthy"]
    assert snap["services"][0]["snapshot"] == {"fps": 4.5}
    assert snap["loop_lag_ms"] >= 0 and "loop_lag_max_ms" in snap
    assert snap["bus_published"] > 0
    sup.request_stop()
    await task


async def test_loop_lag_is_measured_when_something_blocks_the_loop() -> None:
    import time as _time

    log: list[str] = []

    class Blocker(Toy):
        async def run(self) -> None:
            await asyncio.sleep(0.1)
            _time.sleep(0.7)  # blocking the loop longer than a monitor tick
            await asyncio.Event().wait()

    sup = sup_for([Blocker("bad", log)])
    task = await launch(sup)
    await until(lambda: sup.snapshot()["loop_lag_max_ms"] >= 150)
    sup.request_stop()
    await task


async def test_stop_during_a_slow_start_still_stops_that_service() -> None:
    log: list[str] = []

    class SlowStart(Toy):
        async def start(self) -> None:
            await super().start()
            await asyncio.sleep(3600)

    slow = SlowStart("camera", log)
    later = Toy("web", log, depends_on=("camera",))
    sup = sup_for([slow, later])
    task = asyncio.create_task(sup.run(handle_signals=False))
    await until(lambda: slow.starts == 1)
    sup.request_stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert not sup.ready
    assert log == ["start camera", "stop camera"]  # web never started, camera released


async def test_start_that_never_finishes_counts_as_a_crash_and_the_box_comes_up() -> None:
    log: list[str] = []

    class StuckStart(Toy):
        async def start(self) -> None:
            await super().start()
            if self.starts == 1:
                await asyncio.sleep(3600)  # e.g. a camera that never answers

    stuck = StuckStart("camera", log)
    web = Toy("web", log)
    cfg = SupervisorConfig(stop_timeout=1.0, start_timeout=0.2, backoff_initial=0.01,
                           backoff_max=0.02)
    sup = sup_for([stuck, web], config=cfg)
    task = await launch(sup)
    assert sup.ready and web.starts == 1  # the rest started anyway
    await until(lambda: sup.state("camera") == "running")
    cam = next(s for s in sup.snapshot()["services"] if s["name"] == "camera")
    assert "start timed out after 0.2 s" in cam["last_error"]
    sup.request_stop()
    await task
