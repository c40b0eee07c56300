"""`PanelService`: buttons -> gestures on the bus, bus -> LEDs.

Every gesture is published as one ButtonGesture; Mood press also publishes
ManualMood, Mood hold PrivacyChanged, except while a pairing code is entered
(appliance.panel.entry): then presses are published as pair_play / pair_next /
pair_mood with no other effect, and the whole code as PairingEntered. A
confirmed factory reset runs the injected `on_factory_reset` (then SetupProgress
"unclaimed", or ErrorRaised "panel.factory_reset" if it failed). The LEDs follow the bus (see
appliance.panel.patterns); LedState is published when what an LED shows
changes, at most every LED_EVENT_INTERVAL seconds per LED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    LedState,
    ManualMood,
    PairingEntered,
    PrivacyChanged,
    SetupProgress,
)
from appliance.core.errors import ErrorBoard
from appliance.core.service import Service
from appliance.core.settings import PRIVACY, Settings
from appliance.panel import pins
from appliance.panel.buttons import ButtonBank
from appliance.panel.conditions import FOLLOWED, Conditions
from appliance.panel.entry import CodeEntry
from appliance.panel.gestures import BUTTONS, GestureRecognizer, Timings
from appliance.panel.leds import PanelLeds
from appliance.panel.patterns import OFF, RGB, Pattern, countdown_pattern, winner

logger = logging.getLogger(__name__)

MOOD_CYCLE: tuple[str | None, ...] = (None, "happy", "neutral", "sad", "angry", "surprised")
REFRESH_SECONDS = 0.2  # LEDs re-evaluated at least this often (window ends, countdown)
LED_EVENT_INTERVAL = 0.25
RECENT_GESTURES = 20
VIRTUAL_MAX_HOLD = 60.0  # a virtual "down" releases itself after this long
RESET_ERROR_KEY = "panel.factory_reset"
CAMERA_ON: RGB = (1.0, 0.0, 0.0)

FactoryReset = Callable[[], Awaitable[object]]


class PanelError(Exception):
    """The panel cannot start; the message says what to do."""


class PanelService(Service):
    """The physical (or mock) panel: gpiozero buttons and LEDs wired to the bus."""

    name = "panel"

    def __init__(self, config: Any, bus: Bus, *, settings: Settings | None = None,
                 errors: ErrorBoard | None = None, factory: Any = None,
                 on_factory_reset: FactoryReset | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.config = config  # PanelConfig
        self.bus = bus
        self.settings = settings  # privacy mode as stored, until the bus says otherwise
        self.errors = errors  # the box's error board (None: fold the bus's errors here)
        self.clock = clock
        self.on_factory_reset = on_factory_reset
        self._given_factory = factory
        self.factory: Any = None
        self.timings = Timings.from_config(config)
        self.recognizer = GestureRecognizer(self.timings)
        self.conditions = Conditions(errors)
        self.entry = CodeEntry(idle=config.pair_entry_seconds)
        self.leds: PanelLeds | None = None
        self.buttons: ButtonBank | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_GESTURES)
        self.gestures_published = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub: Any = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._led_sent: dict[str, tuple[RGB, str]] = {}
        self._led_sent_at: dict[str, float] = {}
        self._led_pending: dict[str, asyncio.TimerHandle] = {}
        self._virtual_release: dict[str, asyncio.TimerHandle] = {}

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pins, follow the bus and light the LEDs."""
        problems = pins.pin_problems(self.config)
        if problems:
            raise PanelError(problems[0])
        self._loop = asyncio.get_running_loop()
        self.recognizer = GestureRecognizer(self.timings)
        self.conditions = Conditions(self.errors)
        self.entry = CodeEntry(idle=self.config.pair_entry_seconds)
        try:
            self.factory = self._given_factory or pins.make_factory(self.config.pin_factory)
        except pins.PinFactoryError as err:
            raise PanelError(str(err)) from None
        try:
            self.leds = PanelLeds(self.config, self.factory)
            self.buttons = ButtonBank(self.config, self.factory, self._loop, self._on_edge)
        except Exception as err:
            await self.stop()
            raise PanelError(f"the panel's GPIO pins cannot be used ({err}); check the "
                             f"[panel] pins (`mooddj doctor`)") from err
        # Subscribe first: whatever is published while we look at the past is queued.
        self._sub = self.bus.subscribe(*FOLLOWED, maxsize=200, name="panel")
        if self.settings is not None and self.bus.latest(PrivacyChanged) is None:
            self.conditions.privacy = await self.settings.get(PRIVACY)
        for kind in FOLLOWED:
            ev = self.bus.latest(kind)
            if ev is not None:
                self.conditions.apply(ev)
        self.refresh()
        self.detail = f"pins: {self.config.pin_factory}"
        logger.info("panel started with the %s pin factory", self.config.pin_factory)

    async def run(self) -> None:
        """Follow the bus and keep the LEDs current."""
        while (sub := self._sub) is not None:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that races with a completed get(), and the task would never stop.
            try:
                async with asyncio.timeout(REFRESH_SECONDS):
                    ev: Any = await sub.get()
            except TimeoutError:
                ev = None
            while ev is not None:
                self.conditions.apply(ev)
                ev = sub.get_nowait()
            self.refresh()
            self.beat()

    async def stop(self) -> None:
        """Release the pins (LEDs off) and stop following the bus."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        for handle in [*self._led_pending.values(), *self._virtual_release.values()]:
            handle.cancel()
        self._led_pending.clear()
        self._virtual_release.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if self.buttons is not None:
            self.buttons.close()
            self.buttons = None
        if self.leds is not None:
            self.leds.close()
            self.leds = None
        if self.factory is not None and self.factory is not self._given_factory:
            with contextlib.suppress(Exception):
                self.factory.close()
        self.factory = None

    def snapshot(self) -> dict[str, object]:
        """Pin factory, what the LEDs show and the gesture count for `mooddj status`."""
        leds = self.leds
        return {
            "pin_factory": self.config.pin_factory,
            "status_pattern": leds.status_pattern.name if leds and leds.status_pattern else "",
            "mood_led": leds.mood_pattern if leds else "",
            "camera_led": self.conditions.camera_on,
            "gestures": self.gestures_published,
            "gestures_dropped": self.recognizer.dropped,
        }

    # -- buttons -> gestures ---------------------------------------------------------------

    def _on_edge(self, name: str, pressed: bool, t: float) -> None:
        """A raw edge from gpiozero (already on the loop)."""
        self._handle(self.recognizer.feed(name, pressed, t))

    def _tick(self) -> None:
        self._tick_handle = None
        self._handle(self.recognizer.tick(time.monotonic()))

    def _schedule_tick(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        deadline = self.recognizer.next_deadline()
        if deadline is not None and self._loop is not None and not self._loop.is_closed():
            delay = max(0.0, deadline - time.monotonic()) + 0.001
            self._tick_handle = self._loop.call_later(delay, self._tick)

    def _handle(self, gestures: list[str]) -> None:
        for gesture in gestures:
            self._route(gesture)
        self._schedule_tick()
        self.refresh()

    def _route(self, gesture: str) -> None:
        """Emit `gesture`, or take it as a press of a pairing code."""
        c = self.conditions
        shown, code = self.entry.take(gesture, time.monotonic(),
                                      window_open=c.pairing_open(self.clock()),
                                      hold=c.pairing_hold, length=c.pairing_length)
        if shown is None:
            logger.info("button gesture %s ignored: a pairing code is being entered", gesture)
            return
        self._emit(shown)
        if code is not None:
            logger.info("a pairing code was entered on the buttons")
            self.bus.publish(PairingEntered(presses=code))

    def _emit(self, gesture: str) -> None:
        now = self.clock()
        logger.info("button gesture: %s", gesture)
        self.gestures_published += 1
        self.recent.append({"gesture": gesture, "t": now})
        self.bus.publish(ButtonGesture(gesture=gesture))  # type: ignore[arg-type]
        if gesture == "mood_press":
            self._cycle_mood(now)
        elif gesture == "mood_hold":
            self._toggle_privacy()
        elif gesture == "factory_reset_confirmed":
            self._spawn(self._factory_reset(), "panel-factory-reset")

    def _cycle_mood(self, now: float) -> None:
        current = self.conditions.manual_mood(now)
        index = MOOD_CYCLE.index(current) if current in MOOD_CYCLE else 0
        mood = MOOD_CYCLE[(index + 1) % len(MOOD_CYCLE)]
        until = now + self.config.manual_mood_minutes * 60 if mood else 0.0
        ev = ManualMood(mood=mood, until=until)  # type: ignore[arg-type]
        self.conditions.apply(ev)
        self.bus.publish(ev)

    def _toggle_privacy(self) -> None:
        enabled = not self.conditions.privacy
        ev = PrivacyChanged(enabled=enabled)
        self.conditions.apply(ev)
        self.bus.publish(ev)  # the box's Settings stores it

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("panel task %s failed: %s", task.get_name(), task.exception())

    async def _factory_reset(self) -> None:
        """Run the injected factory reset, showing it on the status LED."""
        self.conditions.resetting = True
        self.refresh()
        try:
            if self.on_factory_reset is None:
                raise PanelError("this box was started without a factory reset function")
            logger.warning("factory reset confirmed on the panel: erasing everything")
            await self.on_factory_reset()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            logger.error("factory reset from the panel failed: %s", err)
            self.bus.publish(ErrorRaised(
                key=RESET_ERROR_KEY, source="panel",
                message=f"the factory reset from the buttons failed: {err}",
                hint="run `sudo mooddj factory-reset` over SSH, and check `mooddj logs`"))
        else:
            self.bus.publish(ErrorCleared(key=RESET_ERROR_KEY))
            if self.conditions.privacy:
                self.bus.publish(PrivacyChanged(enabled=False))
            if self.conditions.manual is not None:
                self.bus.publish(ManualMood(mood=None))
            self.bus.publish(SetupProgress(step="unclaimed"))
            logger.warning("factory reset done: the box is unclaimed")
        finally:
            self.conditions.resetting = False
            self.refresh()

    # -- bus -> LEDs ---------------------------------------------------------------------------

    def status_pattern(self) -> Pattern:
        """The pattern the status LED should show now."""
        now = time.monotonic()
        progress = self.recognizer.countdown(now)
        self.conditions.countdown = progress
        self.conditions.armed = self.recognizer.armed
        if self.entry.expire(now, self.conditions.pairing_open(self.clock())):
            logger.info("pairing code entry ended without a whole code")
        self.conditions.entering = self.entry.active
        if progress is not None:
            return countdown_pattern(progress)
        return winner(self.conditions.active(self.clock()))

    def refresh(self) -> None:
        """Bring the three LEDs in line with the current conditions."""
        leds = self.leds
        if leds is None:
            return
        pattern = self.status_pattern()
        leds.show_status(pattern)
        target = self.conditions.mood_light(self.clock())
        leds.show_mood(target.color, target.pattern)
        camera = self.conditions.camera_on
        leds.set_camera(camera)
        self._led_event("status", pattern.color, pattern.name)
        self._led_event("mood", target.color, target.pattern)
        self._led_event("camera", CAMERA_ON if camera else OFF, "on" if camera else "off")

    def _led_event(self, led: str, color: RGB, pattern: str) -> None:
        """Publish LedState when `led` changed, at most every LED_EVENT_INTERVAL seconds."""
        if self._led_sent.get(led) == (color, pattern):
            return
        now = time.monotonic()
        wait = self._led_sent_at.get(led, -1e9) + LED_EVENT_INTERVAL - now
        if wait > 0:
            if led not in self._led_pending and self._loop is not None:
                self._led_pending[led] = self._loop.call_later(wait, self._led_due, led)
            return
        self._led_sent[led] = (color, pattern)
        self._led_sent_at[led] = now
        self.bus.publish(LedState(led=led, color=color, pattern=pattern))

    def _led_due(self, led: str) -> None:
        self._led_pending.pop(led, None)
        self.refresh()

    # -- the virtual panel -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the pins are open."""
        return self.leds is not None and self.buttons is not None

    @property
    def virtual(self) -> bool:
        """True if the pins are gpiozero mock pins that the virtual panel may drive."""
        return self.factory is not None and pins.is_mock(self.factory)

    def state(self) -> dict[str, Any]:
        """LEDs and buttons as the pins show them (the virtual panel's GET /api/panel)."""
        if self.leds is None or self.buttons is None:
            raise PanelError("the panel is not running")
        buttons = {name: {"pressed": self.buttons.is_pressed(name),
                          "pin": self.buttons.pins[name]} for name in BUTTONS}
        return {"leds": self.leds.read(), "buttons": buttons,
                "recent": list(self.recent)[-10:], "pinFactory": self.config.pin_factory,
                "countdown": self.conditions.countdown, "armed": self.recognizer.armed,
                "privacy": self.conditions.privacy}

    def drive(self, name: str, pressed: bool) -> None:
        """Press or release mock button `name` (the real gesture code sees the edge)."""
        if self.buttons is None:
            raise PanelError("the panel is not running")
        handle = self._virtual_release.pop(name, None)
        if handle is not None:
            handle.cancel()
        self.buttons.drive(name, pressed)
        if pressed and self._loop is not None:
            self._virtual_release[name] = self._loop.call_later(
                VIRTUAL_MAX_HOLD, self._auto_release, name)

    def _auto_release(self, name: str) -> None:
        self._virtual_release.pop(name, None)
        if self.buttons is not None and self.buttons.is_pressed(name):
            logger.info("virtual %s button released after %.0f s", name, VIRTUAL_MAX_HOLD)
            self.buttons.drive(name, False)

    async def settle(self) -> None:
        """Wait until edges just driven have been debounced and turned into gestures."""
        await asyncio.sleep(self.timings.bounce + 0.02)
        await asyncio.sleep(0)
