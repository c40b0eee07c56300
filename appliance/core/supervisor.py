"""The supervisor: owns the asyncio loop's services, restarts, watchdog and shutdown.

Policy (the choices the foundation issue leaves open):
- Services start one after another in dependency order (`depends_on`); each
  first `start()` is awaited before the next begins. A service whose start
  fails goes into its own restart loop in the background and the services
  after it still start: the box comes up with whatever works.
- A dependent of a crashed or failed service keeps running. Dependencies order
  start-up and shutdown; they are not a kill switch. Each service copes with a
  missing peer itself (and shows it through ErrorRaised).
- A crash (start raises or takes longer than `start_timeout`, run raises or
  returns, or the heartbeat is older than `heartbeat_deadline`) is followed by
  `stop()`, then a restart after an exponential backoff with jitter.
  `max_crashes` crashes within `crash_window` mark the service failed:
  ServiceState "failed" and ErrorRaised `service.<name>` are published and it
  is not restarted (until `restart_service(name)`), while the rest keeps running.
- READY=1 is sent once every service has had its first start attempt, so a
  broken camera cannot hold the whole unit in "activating" until systemd kills it.
- WATCHDOG=1 is sent every half WATCHDOG_USEC from a periodic task (so a blocked
  loop sends none) and only while no service is restarting or hung. A *failed*
  service does not withhold it: it is already given up on and shown, and
  letting systemd kill the box for it would take everything else down too.
  Withholding during a restart series is bounded: with the defaults the series
  reaches "failed" after about 15 s of backoff, so WatchdogSec must be larger.
- SIGTERM/SIGINT stop services in reverse order within `stop_timeout` in total;
  a service whose stop hangs is abandoned (logged) and the rest still stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised, Event, ServiceState
from appliance.core.config import SupervisorConfig
from appliance.core.sdnotify import Notifier, watchdog_interval
from appliance.core.service import Service
from appliance.core.start_order import SupervisorError, start_order

logger = logging.getLogger(__name__)

LAG_WINDOW = 120  # loop-lag samples kept for the max figure
LAG_WARN = 0.5  # seconds of loop lag worth a warning (at most one a minute)
__all__ = ["Supervisor", "SupervisorError", "start_order"]


@dataclass
class _Slot:
    service: Service
    state: str = "stopped"
    crashes: int = 0  # total since the box started
    recent: list[float] = field(default_factory=list)  # clock() of crashes in the window
    last_error: str = ""
    detail: str = ""  # the supervisor's word on the last transition
    since: float = field(default_factory=time.time)
    runner: asyncio.Task[None] | None = None
    run_task: asyncio.Task[None] | None = None
    stop_task: asyncio.Task[None] | None = None
    needs_stop: bool = False
    hung: bool = False
    crashing: bool = False  # between a crash and the restart decision
    first_attempt: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.service.name


class Supervisor:
    """Runs `services` on one loop; `await run()` until SIGTERM/SIGINT or `request_stop()`."""

    def __init__(self, config: SupervisorConfig, bus: Bus, services: list[Service],
                 notifier: Notifier | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None,
                 env: dict[str, str] | None = None,
                 version: str = "") -> None:
        self.config = config
        self.bus = bus
        self.notifier = notifier or Notifier(None)
        self.clock = clock
        self.rng = rng or random.Random()
        self.version = version
        self._slots = [_Slot(s) for s in start_order(services)]
        self._by_name = {s.name: s for s in self._slots}
        self.watchdog_every = watchdog_interval(env)
        self.started_at = time.time()
        self.ready = False
        self.stopping = False
        self.abandoned: list[str] = []
        self.lag = 0.0
        self._lags: list[float] = []
        self._lag_warned = -1e9
        self._stop_event = asyncio.Event()
        self._last_status = ""
        self._last_pet = 0.0
        self.watchdog_pets = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deferred: list[Event] = []
        self._restart_task: asyncio.Task[None] | None = None

    # -- public -----------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Service names in start order."""
        return [s.name for s in self._slots]

    def state(self, name: str) -> str:
        return self._by_name[name].state

    def publish_when_ready(self, event: Event) -> None:
        """Publish `event` once every service has started (so every subscriber sees it)."""
        if self.ready:
            self.bus.publish(event)
        else:
            self._deferred.append(event)

    def request_stop(self) -> None:
        """Begin the orderly shutdown (what SIGTERM does); before `run`, it returns at once."""
        self._stop_event.set()

    def restart_service(self, name: str) -> bool:
        """Give a failed service a fresh start (crash count reset); False if not failed."""
        slot = self._by_name[name]
        if slot.state != "failed" or self.stopping:
            return False
        slot.recent.clear()
        self.bus.publish(ErrorCleared(key=f"service.{name}"))
        slot.runner = asyncio.create_task(self._runner(slot), name=f"supervise:{name}")
        return True

    def request_restart_all(self, why: str) -> asyncio.Task[None] | None:
        """Stop every service in reverse order and start them again, in a task of our own.

        For changes no service can follow in place (a factory reset erases what
        they hold in memory). The caller may itself be a service: the work runs in
        the supervisor's task, so stopping the caller does not cancel it.
        """
        if self.stopping or (self._restart_task is not None and not self._restart_task.done()):
            return None
        self._restart_task = asyncio.create_task(self._restart_all(why), name="restart-all")
        return self._restart_task

    async def _restart_all(self, why: str) -> None:
        logger.info("restarting every service: %s", why)
        self._status(f"restarting every service: {why}")
        budget = self.config.stop_timeout / max(1, len(self._slots))
        for slot in reversed(self._slots):
            await self._stop_slot(slot, budget)
        for slot in self._slots:
            if self.stopping:
                return
            slot.recent.clear()
            slot.first_attempt = asyncio.Event()
            slot.runner = asyncio.create_task(self._runner(slot), name=f"supervise:{slot.name}")
            await slot.first_attempt.wait()
        logger.info("every service restarted: %s", self._summary())
        self._status(self._summary())

    def healthy(self) -> bool:
        """No service restarting or hung (failed ones do not count: see module doc)."""
        return not any(s.hung or s.crashing or s.state == "restarting" for s in self._slots)

    def snapshot(self) -> dict[str, Any]:
        """Everything the status screen shows about services and the loop."""
        services = []
        for s in self._slots:
            try:
                extra = dict(s.service.snapshot())
            except Exception as err:  # a status read must never take the box down
                extra = {"snapshot_error": str(err)}
            services.append({
                "name": s.name, "state": s.state, "crashes": s.crashes,
                "recent_crashes": len(s.recent), "since": s.since,
                "detail": (s.service.detail if s.state == "running" else s.detail) or "",
                "last_error": s.last_error,
                "depends_on": list(s.service.depends_on), "snapshot": extra,
            })
        return {
            "services": services, "ready": self.ready, "stopping": self.stopping,
            "healthy": self.healthy(), "started_at": self.started_at,
            "loop_lag_ms": round(self.lag * 1000, 2),
            "loop_lag_max_ms": round(max(self._lags, default=0.0) * 1000, 2),
            "watchdog_interval": self.watchdog_every, "watchdog_pets": self.watchdog_pets,
            "notify_socket": self.notifier.address or "",
            "bus_dropped": self.bus.dropped, "bus_published": self.bus.published,
            "bus_subscribers": self.bus.subscribers, "version": self.version,
            "tasks": _task_count(self._loop),  # a steady count means no task leak (soak)
        }

    async def run(self, *, handle_signals: bool = True) -> int:
        """Start everything, supervise until asked to stop, stop everything; the exit code."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.bus.bind(loop)
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
        monitor = asyncio.create_task(self._monitor(), name="supervisor-monitor")
        try:
            self._status(f"starting {len(self._slots)} services")
            for slot in self._slots:
                if self._stop_event.is_set():
                    break
                slot.runner = asyncio.create_task(self._runner(slot), name=f"supervise:{slot.name}")
                waiter = asyncio.create_task(slot.first_attempt.wait())
                stopper = asyncio.create_task(self._stop_event.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
            if not self._stop_event.is_set():
                self.ready = True
                self.notifier.ready(self._summary())
                self._last_status = self._summary()
                logger.info("box ready: %s", self._summary())
                for event in self._deferred:
                    self.bus.publish(event)
                self._deferred.clear()
            await self._stop_event.wait()
        finally:
            self.stopping = True
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            await self._shutdown()
            for sig in installed:
                loop.remove_signal_handler(sig)
        return 0

    # -- signals and shutdown ---------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_event.is_set():
            logger.warning("%s again while stopping; still waiting (at most %.0f s)",
                           sig.name, self.config.stop_timeout)
            return
        logger.info("%s received: stopping", sig.name)
        self.request_stop()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        if self._restart_task is not None and not self._restart_task.done():
            self._restart_task.cancel()
            await asyncio.wait({self._restart_task}, timeout=self.config.stop_timeout / 2)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.stop_timeout
        order = list(reversed(self._slots))
        reserve = min(0.5, self.config.stop_timeout / (2 * max(1, len(order))))
        for i, slot in enumerate(order):
            remaining = deadline - loop.time()
            after = len(order) - i - 1
            budget = max(remaining / (after + 1), remaining - reserve * after, 0.0)
            await self._stop_slot(slot, budget)
        logger.info("all services stopped%s",
                    f" ({', '.join(self.abandoned)} abandoned)" if self.abandoned else "")

    async def _stop_slot(self, slot: _Slot, budget: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        tasks = [t for t in (slot.runner, slot.run_task) if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=max(0.0, end - loop.time()))
            for t in done:  # a crash racing the shutdown: log it, don't leave it unretrieved
                if not t.cancelled() and t.exception() is not None:
                    logger.error("service %s ended with %s while stopping", slot.name,
                                 _describe(t.exception()))  # type: ignore[arg-type]
            if pending:
                self._abandon(slot, "run() ignored cancellation")
        if slot.needs_stop:
            if slot.stop_task is None or slot.stop_task.done():
                slot.stop_task = asyncio.create_task(self._call_stop(slot))
            _, pending = await asyncio.wait({slot.stop_task},
                                            timeout=max(0.0, end - loop.time()))
            if pending:
                slot.stop_task.cancel()
                self._abandon(slot, f"stop() did not finish within {budget:.1f} s")
        self._set(slot, "stopped", slot.last_error)

    def _abandon(self, slot: _Slot, why: str) -> None:
        logger.error("service %s abandoned while stopping: %s", slot.name, why)
        if slot.name not in self.abandoned:
            self.abandoned.append(slot.name)

    async def _call_stop(self, slot: _Slot) -> None:
        try:
            await slot.service.stop()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("service %s failed while stopping", slot.name)
        slot.needs_stop = False

    # -- one service's life -----------------------------------------------

    async def _runner(self, slot: _Slot) -> None:
        svc = slot.service
        while True:
            self._set(slot, "starting", slot.last_error)
            slot.needs_stop = True
            slot.hung = False
            try:
                await asyncio.wait_for(svc.start(), self.config.start_timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError as err:
                slot.first_attempt.set()
                if await self._crashed(slot, f"start timed out after "
                                       f"{self.config.start_timeout:g} s", err):
                    continue
                return
            except Exception as err:
                slot.first_attempt.set()
                if await self._crashed(slot, f"start failed: {_describe(err)}", err):
                    continue
                return
            slot.first_attempt.set()
            svc.beat()
            self._set(slot, "running")
            slot.run_task = asyncio.create_task(svc.run(), name=f"service:{slot.name}")
            await asyncio.wait({slot.run_task})
            task, slot.run_task = slot.run_task, None
            exc: BaseException | None = None
            if task.cancelled():
                reason = (f"hung: no heartbeat for {svc.heartbeat_deadline:g} s" if slot.hung
                          else "run() was cancelled")
            elif (exc := task.exception()) is not None:
                reason = f"crashed: {_describe(exc)}"
            else:
                reason = "run() returned unexpectedly"
            if not await self._crashed(slot, reason, exc):
                return

    async def _crashed(self, slot: _Slot, reason: str, exc: BaseException | None) -> bool:
        """Record a crash, stop the service; True to restart it, False if now failed."""
        slot.crashing = True
        try:
            return await self._handle_crash(slot, reason, exc)
        finally:
            slot.crashing = False

    async def _handle_crash(self, slot: _Slot, reason: str, exc: BaseException | None) -> bool:
        now = self.clock()
        slot.recent = [t for t in slot.recent if now - t < self.config.crash_window] + [now]
        slot.crashes += 1
        # the same failure again within the window: its traceback was logged the first time
        repeated = reason == slot.last_error and len(slot.recent) > 1
        slot.last_error = reason
        logger.error("service %s %s (crash %d in %.0f s)", slot.name, reason, len(slot.recent),
                     self.config.crash_window, exc_info=None if repeated else exc)
        slot.stop_task = asyncio.create_task(self._call_stop(slot))
        _, pending = await asyncio.wait({slot.stop_task}, timeout=self.config.stop_timeout)
        if pending:
            slot.stop_task.cancel()
            logger.error("service %s: stop() after a crash did not finish within %.1f s",
                         slot.name, self.config.stop_timeout)
        slot.hung = False
        if len(slot.recent) >= self.config.max_crashes:
            self._set(slot, "failed", reason)
            self.bus.publish(ErrorRaised(
                key=f"service.{slot.name}", source="service",
                message=f"{slot.name} stopped working: {len(slot.recent)} crashes in "
                        f"{self.config.crash_window:g} s; last: {reason}",
                hint="see `mooddj logs`; after fixing the cause run "
                     "`sudo systemctl restart mooddj`"))
            logger.error("service %s marked failed after %d crashes in %.0f s; "
                         "the rest of the box keeps running", slot.name, len(slot.recent),
                         self.config.crash_window)
            return False
        delay = self._backoff(len(slot.recent))
        self._set(slot, "restarting", f"{reason}; retry in {delay:.1f} s")
        await asyncio.sleep(delay)
        return True

    def _backoff(self, crashes: int) -> float:
        """Exponential backoff with 'equal jitter': half fixed, half random."""
        base = min(self.config.backoff_max,
                   self.config.backoff_initial * (2 ** max(0, crashes - 1)))
        return base / 2 + self.rng.uniform(0, base / 2)

    def _set(self, slot: _Slot, state: str, detail: str = "") -> None:
        if state != slot.state:
            slot.since = time.time()
        slot.state = state
        slot.detail = detail
        self.bus.publish(ServiceState(name=slot.name, state=state,  # type: ignore[arg-type]
                                      crashes=slot.crashes, detail=detail))
        if self.ready and not self.stopping:
            self._status(self._summary())

    # -- the periodic monitor: heartbeats, loop lag, watchdog --------------

    def _tick(self) -> float:
        tick = 0.5
        if self.watchdog_every:
            tick = min(tick, self.watchdog_every / 2)
        for s in self._slots:
            if s.service.heartbeat_deadline:
                tick = min(tick, s.service.heartbeat_deadline / 4)
        return max(tick, 0.01)

    async def _monitor(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self._tick()
        expected = loop.time() + tick
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            self.lag = max(0.0, now - expected)
            self._lags = [*self._lags[-(LAG_WINDOW - 1):], self.lag]
            expected = now + tick
            if self.lag > LAG_WARN and now - self._lag_warned > 60:
                self._lag_warned = now
                logger.warning("event loop was blocked for %.2f s: something runs blocking "
                               "work on the loop", self.lag)
            self._check_heartbeats()
            if (self.watchdog_every and self.ready and self.healthy()
                    and now - self._last_pet >= self.watchdog_every):
                if self.notifier.watchdog():
                    self.watchdog_pets += 1
                self._last_pet = now

    def _check_heartbeats(self) -> None:
        now = time.monotonic()  # Service.beat() records time.monotonic()
        for slot in self._slots:
            deadline = slot.service.heartbeat_deadline
            task = slot.run_task
            if (deadline and slot.state == "running" and task is not None and not task.done()
                    and not slot.hung and now - slot.service.last_beat > deadline):
                slot.hung = True
                logger.error("service %s made no progress for %.1f s (deadline %g s): "
                             "restarting it", slot.name, now - slot.service.last_beat, deadline)
                self._set(slot, "restarting", f"hung: no heartbeat for {deadline:g} s")
                task.cancel()

    # -- systemd status line ----------------------------------------------

    def _summary(self) -> str:
        running = sum(1 for s in self._slots if s.state == "running")
        parts = [f"{running}/{len(self._slots)} services running"]
        for s in self._slots:
            if s.state in ("restarting", "failed", "starting"):
                parts.append(f"{s.name} {s.state}")
        return "; ".join(parts)

    def _status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self.notifier.status(text)


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _task_count(loop: asyncio.AbstractEventLoop | None) -> int | None:
    """Unfinished asyncio tasks on the box's loop (None before it runs)."""
    if loop is None or loop.is_closed():
        return None
    return sum(1 for t in asyncio.all_tasks(loop) if not t.done())
