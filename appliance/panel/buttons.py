"""The three buttons through gpiozero; raw edges are handed to the event loop.

gpiozero calls back on its own threads (lgpio's alert thread on the Pi; the
caller's thread for mock pins). Each edge is stamped with time.monotonic() where
it happens and handed over with `loop.call_soon_threadsafe`; debouncing and
gestures are the recogniser's job (appliance.panel.gestures), so the Pi and the
mock pins behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from appliance.panel.gestures import BUTTONS

logger = logging.getLogger(__name__)

EdgeHandler = Callable[[str, bool, float], None]


class ButtonBank:
    """gpiozero Buttons for play, next and mood; `on_edge(name, pressed, t)` runs on `loop`."""

    def __init__(self, cfg: Any, factory: Any, loop: asyncio.AbstractEventLoop,
                 on_edge: EdgeHandler) -> None:
        from gpiozero import Button

        self.loop = loop
        self.on_edge = on_edge
        self.pull_up = bool(cfg.buttons_pull_up)
        self.pins = {"play": int(cfg.button_play), "next": int(cfg.button_next),
                     "mood": int(cfg.button_mood)}
        self.factory = factory
        self.buttons: dict[str, Any] = {}
        try:
            for name in BUTTONS:
                # bounce_time=None: debouncing happens in the recogniser, the same
                # way for lgpio and mock pins (MockPin ignores bounce).
                btn = Button(self.pins[name], pull_up=self.pull_up, bounce_time=None,
                             pin_factory=factory)
                btn.when_pressed = self._callback(name, True)
                btn.when_released = self._callback(name, False)
                self.buttons[name] = btn
        except Exception:
            self.close()
            raise

    def _callback(self, name: str, pressed: bool) -> Callable[[], None]:
        def edge() -> None:
            t = time.monotonic()
            with contextlib.suppress(RuntimeError):  # loop closed: shutting down
                self.loop.call_soon_threadsafe(self.on_edge, name, pressed, t)
        return edge

    def is_pressed(self, name: str) -> bool:
        """The button's current level as a press (no debouncing)."""
        return bool(self.buttons[name].is_pressed)

    def pin(self, name: str) -> Any:
        """The gpiozero pin object of button `name`."""
        return self.buttons[name].pin

    def drive(self, name: str, pressed: bool) -> None:
        """Press or release a button on mock pins (pull-up: pressed is low)."""
        pin = self.pin(name)
        if not hasattr(pin, "drive_low"):
            raise TypeError("only mock pins can be driven")
        if pressed == self.pull_up:
            pin.drive_low()
        else:
            pin.drive_high()

    def close(self) -> None:
        """Release the pins."""
        for btn in self.buttons.values():
            try:
                btn.close()
            except Exception as err:
                logger.warning("closing a button failed: %s", err)
        self.buttons = {}
