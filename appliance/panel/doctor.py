"""`mooddj doctor` checks of the panel: the pin map, the pin factory, the GPIO chip.

Pins are never claimed here (the running box holds them); only the GPIO chip is
opened, which lgpio allows next to another process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from appliance.panel.pins import PinFactoryError, all_pins, make_factory, pin_problems

logger = logging.getLogger(__name__)

MODEL_FILE = Path("/proc/device-tree/model")
DEV_DIR = Path("/dev")


def _check(name: str, status: str, message: str, hint: str = "") -> Any:
    from appliance.core.checks import Check

    return Check(name, status, message, hint)  # type: ignore[arg-type]


def board_model(model_file: Path = MODEL_FILE) -> str:
    """The board's model string ('' when not a device-tree board such as a Pi)."""
    try:
        return model_file.read_bytes().rstrip(b"\0").decode(errors="replace").strip()
    except OSError:
        return ""


def check_pin_map(cfg: Any) -> list[Any]:
    """Three pins per RGB LED, header GPIOs only, no pin used twice."""
    problems = pin_problems(cfg)
    if problems:
        return [_check("panel.pins", "fail", p, "fix the [panel] pins in config.toml "
                       "(see firmware-config/NOTES.md for the wiring)") for p in problems]
    pins = all_pins(cfg)
    summary = ", ".join(f"{role} {n}" for role, n in pins.items())
    return [_check("panel.pins", "pass", f"pin map has no conflicts ({summary})")]


def check_factory(cfg: Any, *, model_file: Path = MODEL_FILE, dev_dir: Path = DEV_DIR
                  ) -> list[Any]:
    """The configured pin factory loads; on a Pi the GPIO chip opens."""
    model = board_model(model_file)
    on_pi = "raspberry pi" in model.lower()
    if cfg.pin_factory == "mock":
        if on_pi:
            return [_check("panel.pin_factory", "warn",
                           f"mock pins on a {model}: the real buttons and LEDs do nothing",
                           'set panel.pin_factory = "lgpio" in config.toml')]
        return [_check("panel.pin_factory", "pass", "mock pins (the virtual panel at /panel)")]
    if importlib.util.find_spec("gpiozero") is None:
        return [_check("panel.pin_factory", "fail", "gpiozero is not installed",
                       "reinstall mooddj into its venv (scripts/install-pi.sh)")]
    if importlib.util.find_spec("lgpio") is None:
        return [_check("panel.pin_factory", "fail", "the lgpio module is not installed",
                       "sudo apt install python3-lgpio (the venv needs "
                       "--system-site-packages), or set panel.pin_factory = \"mock\"")]
    chips = sorted(dev_dir.glob("gpiochip*"))
    if not chips:
        return [_check("panel.gpio_chip", "fail", f"no {dev_dir}/gpiochip* device",
                       "this is not a Raspberry Pi: set panel.pin_factory = \"mock\"")]
    unreadable = [c.name for c in chips if not os.access(c, os.R_OK | os.W_OK)]
    if len(unreadable) == len(chips):
        return [_check("panel.gpio_chip", "fail",
                       f"no permission to use {', '.join(unreadable)}",
                       "add the service user to the 'gpio' group: sudo usermod -aG gpio "
                       "mooddj, then restart")]
    try:
        factory = make_factory(cfg.pin_factory)
    except PinFactoryError as err:
        return [_check("panel.gpio_chip", "fail", str(err),
                       "check `ls -l /dev/gpiochip*` and the 'gpio' group")]
    try:
        factory.close()
    except Exception as err:  # closing a probe must not fail the check
        logger.debug("closing the probe factory: %s", err)
    return [_check("panel.gpio_chip", "pass",
                   f"lgpio opened the GPIO chip ({model or 'unknown board'})")]


def checks(config: Any) -> list[Any]:
    """Every panel check for `mooddj doctor`."""
    cfg = config.panel
    return check_pin_map(cfg) + check_factory(cfg)
