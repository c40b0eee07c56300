"""The three LEDs through gpiozero with an injected pin factory.

Status and mood are RGB LEDs on PWM (fades and brightness), the camera LED is
a plain LED. Patterns run on gpiozero's own blink thread, so the pins' state
history (MockPin.states) is exactly what a person would have seen.
"""

from __future__ import annotations

import logging
from typing import Any

from appliance.panel.patterns import OFF, RGB, Pattern

logger = logging.getLogger(__name__)


class PanelLeds:
    """Status LED (RGB, patterns), mood LED (RGB, colour) and camera LED (on/off)."""

    def __init__(self, cfg: Any, factory: Any) -> None:
        from gpiozero import LED, RGBLED

        self.active_high = bool(cfg.leds_active_high)
        self.factory = factory
        self.status_pins = tuple(cfg.status_led)
        self.mood_pins = tuple(cfg.mood_led)
        self.camera_pin = int(cfg.camera_led)
        self.status: Any = None
        self.mood: Any = None
        self.camera: Any = None
        try:
            self.status = RGBLED(*self.status_pins, active_high=self.active_high, pwm=True,
                                 pin_factory=factory)
            self.mood = RGBLED(*self.mood_pins, active_high=self.active_high, pwm=True,
                               pin_factory=factory)
            self.camera = LED(self.camera_pin, active_high=self.active_high,
                              pin_factory=factory)
        except Exception:
            self.close()
            raise
        self.status_pattern: Pattern | None = None
        self.mood_color: RGB = OFF
        self.mood_pattern = "off"

    def show_status(self, pattern: Pattern) -> None:
        """Run `pattern` on the status LED (restarts only if it differs from the current)."""
        if pattern == self.status_pattern:
            return
        self.status_pattern = pattern
        if pattern.steady:
            self.status.value = pattern.color
        else:
            self.status.blink(on_time=pattern.on, off_time=pattern.off,
                              fade_in_time=pattern.fade_in, fade_out_time=pattern.fade_out,
                              on_color=pattern.color, off_color=OFF)

    def show_mood(self, color: RGB, pattern: str) -> None:
        """Set the mood LED's colour (brightness is in the colour)."""
        self.mood_pattern = pattern
        if color != self.mood_color:
            self.mood_color = color
            self.mood.value = color

    def set_camera(self, on: bool) -> None:
        """Camera LED on or off."""
        if bool(self.camera.is_lit) != on:
            self.camera.value = on

    # -- read back from the pins ---------------------------------------------------

    def _level(self, number: int) -> float:
        state = float(self.factory.pin(number).state)
        return state if self.active_high else 1.0 - state

    def read(self) -> dict[str, Any]:
        """What the pins show right now: {"status": {...}, "mood": {...}, "camera": {...}}."""
        status = [round(self._level(n), 3) for n in self.status_pins]
        mood = [round(self._level(n), 3) for n in self.mood_pins]
        pattern = self.status_pattern
        return {
            "status": {"color": status, "pattern": pattern.name if pattern else "off",
                       "spec": pattern.to_dict() if pattern else None},
            "mood": {"color": mood, "pattern": self.mood_pattern},
            "camera": {"on": self._level(self.camera_pin) > 0.5},
        }

    def close(self) -> None:
        """Stop blinking, switch off and release the pins."""
        for dev in (self.status, self.mood, self.camera):
            if dev is None:
                continue
            try:
                dev.off()
                dev.close()
            except Exception as err:  # closing must not stop the others from closing
                logger.warning("closing an LED failed: %s", err)
        self.status = self.mood = self.camera = None
