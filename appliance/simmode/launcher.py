"""Start (or find) the stand-ins for `mooddj run --sim` and derive the box's config from them."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.config import REPO_ROOT

DEFAULT_RECORDING = REPO_ROOT / "tests" / "media" / "single_face.mp4"
EMPTY_ROOM_RECORDING = REPO_ROOT / "tests" / "media" / "no_face.mp4"
START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


class SimError(Exception):
    """The stand-ins cannot be started or reached; the message says what to do."""


@dataclass
class StandIns:
    """Running stand-ins: their addresses and config, and the child process if we own it."""

    info: dict[str, Any]
    process: subprocess.Popen[str] | None = None

    def stop(self) -> None:
        """Stop the child process we started (an external one is left alone)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # A box killed with SIGKILL must not leave its stand-ins behind.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(state_dir: Path, external: str | None = None) -> StandIns:
    """Connect to stand-ins at `external` (a control URL), or start our own child process."""
    if external:
        url = external.rstrip("/").removesuffix("/sim") + "/sim/config"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback URL
                return StandIns(json.loads(resp.read()))
        except (OSError, ValueError) as err:
            raise SimError(f"stand-ins at {external} did not answer ({err}); start them with "
                           f"`python -m appliance.standins` or drop --stand-ins") from None
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        why = "it is a file" if state_dir.is_file() else err.strerror
        raise SimError(f"state dir {state_dir} cannot be used: {why}; "
                       f"pass --state-dir with a writable folder") from None
    cmd = [sys.executable, "-m", "appliance.standins", "--state-file",
           str(state_dir / "stand-ins.state")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
                            cwd=str(REPO_ROOT), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SimError(f"the stand-ins exited at start (code {proc.returncode}); "
                           f"run `python -m appliance.standins` to see why")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.strip():
                return StandIns(json.loads(line), proc)
    proc.kill()
    raise SimError(f"the stand-ins did not start within {START_TIMEOUT:.0f} s")
