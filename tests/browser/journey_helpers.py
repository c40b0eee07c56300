"""Helpers of the browser journey: run `mooddj run --sim` as a subprocess and take screenshots."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
_BANNER = re.compile(r"^\s{2}(\w+)\s+(\S+)\s*$")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SimBox:
    """A running `mooddj run --sim`: its banner addresses and everything it printed."""

    process: subprocess.Popen[str]
    urls: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The setup page's address without the trailing slash."""
        return self.urls["page"].rstrip("/")

    def output(self) -> str:
        """What the box printed so far (for failure messages)."""
        return "".join(self.lines[-80:])

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in `timeout` s; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def write_config(path: Path, text: str) -> Path:
    """Write a TOML config file (values the test shortens) and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def start_sim_box(state_dir: Path, port: int, config: Path | None = None,
                  timeout: float = 45.0) -> SimBox:
    """Start `mooddj run --sim` and wait until its banner and "box ready" line are printed."""
    args = ["run", "--sim", "--state-dir", str(state_dir), "--port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    box = _start(args, timeout)
    if "page" not in box.urls:
        box.stop()
        raise RuntimeError(f"mooddj run --sim did not start:\n{box.output()}")
    return box


def start_box(config: Path, page: str, timeout: float = 45.0) -> SimBox:
    """Start a plain `mooddj run --config CONFIG` (no simulator) serving `page`."""
    box = _start(["run", "--config", str(config)], timeout)
    box.urls["page"] = page
    return box


def _start(args: list[str], timeout: float) -> SimBox:
    exe = Path(sys.executable).with_name("mooddj")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "appliance.cli"]
    cmd += args
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("MOODDJ_CONFIG", None)
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    box = SimBox(proc)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            box.lines.append(line)
            m = _BANNER.match(line)
            if m and m.group(2).startswith(("http", "/")):
                box.urls.setdefault(m.group(1), m.group(2))
            if "box ready" in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, name="sim-box-output", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if time.monotonic() > deadline:
            box.stop()
            raise RuntimeError(f"mooddj {args[0]} was not ready in {timeout:.0f} s:\n"
                               f"{box.output()}")
    if proc.poll() is not None or not any("box ready" in line for line in box.lines):
        box.stop()
        raise RuntimeError(f"mooddj {args[0]} did not start:\n{box.output()}")
    return box


class Shots:
    """Numbered screenshots: artifacts/screenshots/journey-NN-<step>.png."""

    def __init__(self, prefix: str = "journey", folder: Path = SHOTS) -> None:
        self.prefix = prefix
        self.folder = folder
        self.n = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{prefix}-*.png"):
            old.unlink()

    def take(self, page: object, step: str, *, full_page: bool = True) -> Path:
        """Save a screenshot of `page` (a Playwright page) for this step."""
        self.n += 1
        path = self.folder / f"{self.prefix}-{self.n:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
        return path
