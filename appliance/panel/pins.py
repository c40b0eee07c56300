"""gpiozero pin factories by name: lgpio on the Pi, MockFactory (PWM-capable) elsewhere.

Devices always get the factory passed in as `pin_factory=`; the global
`Device.pin_factory` is never touched, so two panels (or a test and the box)
never share pins by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class PinFactoryError(Exception):
    """The configured pin factory cannot be used; the message says what to do."""


def _lgpio(chip: int | None = None) -> Any:
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as err:
        raise PinFactoryError(
            f"the lgpio pin factory cannot be loaded ({err}); install python3-lgpio "
            f"(apt) on the Pi, or set panel.pin_factory = \"mock\" away from one") from None
    try:
        return LGPIOFactory() if chip is None else LGPIOFactory(chip=chip)
    except Exception as err:  # lgpio.error, OSError: no /dev/gpiochip*, no permission
        raise PinFactoryError(
            f"the GPIO chip cannot be opened ({err}); add the service user to the "
            f"'gpio' group, or set panel.pin_factory = \"mock\" away from a Pi") from None


def _mock(chip: int | None = None) -> Any:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    return MockFactory(pin_class=MockPWMPin)


# name -> constructor of a gpiozero pin factory
PIN_FACTORIES: dict[str, Callable[..., Any]] = {
    "lgpio": _lgpio,
    "mock": _mock,
}


def make_factory(name: str) -> Any:
    """A new gpiozero pin factory called `name` (see PIN_FACTORIES)."""
    try:
        build = PIN_FACTORIES[name]
    except KeyError:
        raise PinFactoryError(f"unknown pin factory {name!r}; use one of "
                              f"{', '.join(sorted(PIN_FACTORIES))}") from None
    return build()


def is_mock(factory: Any) -> bool:
    """True for gpiozero's MockFactory (the virtual panel can drive its pins)."""
    from gpiozero.pins.mock import MockFactory

    return isinstance(factory, MockFactory)


def all_pins(cfg: Any) -> dict[str, int]:
    """Every BCM pin the panel config uses, by role (e.g. "status.red": 5)."""
    pins: dict[str, int] = {"button.play": cfg.button_play, "button.next": cfg.button_next,
                            "button.mood": cfg.button_mood, "camera": cfg.camera_led}
    for led in ("status", "mood"):
        numbers = tuple(getattr(cfg, f"{led}_led"))
        for colour, number in zip(("red", "green", "blue"), numbers, strict=False):
            pins[f"{led}.{colour}"] = number
    return pins


def pin_problems(cfg: Any) -> list[str]:
    """What is wrong with the pin map (wrong LED pin counts, pins used twice), one line each."""
    out = []
    for led in ("status", "mood"):
        numbers = tuple(getattr(cfg, f"{led}_led"))
        if len(numbers) != 3:
            out.append(f"panel.{led}_led needs 3 BCM pins (red, green, blue), got "
                       f"{len(numbers)}")
        for n in numbers:
            if not 0 <= int(n) <= 27:
                out.append(f"panel.{led}_led has {n}, not a header GPIO (0-27)")
    seen: dict[int, str] = {}
    for role, number in all_pins(cfg).items():
        if number in seen:
            out.append(f"BCM {number} is used twice ({seen[number]} and {role}); give each "
                       f"a pin of its own in the [panel] config")
        else:
            seen[number] = role
    return out
