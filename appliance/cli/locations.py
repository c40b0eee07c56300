"""Small helpers shared by the `mooddj` subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from appliance.core import config as config_mod


def fail(message: str, code: int = 1) -> int:
    """Print a one-line error for a person on stderr and return `code`."""
    print(f"mooddj: {message}", file=sys.stderr)
    return code


def load_config(args: argparse.Namespace) -> config_mod.Config:
    """The config named by `--config` / MOODDJ_CONFIG / the default; exits 2 on error.

    With `--sim` or `--state-dir` the paths are those `mooddj run` uses with the same flags.
    """
    if getattr(args, "sim", False) or getattr(args, "state_dir", None):
        return load_box_config(args)
    try:
        return config_mod.load(getattr(args, "config", None))
    except config_mod.ConfigError as err:
        print(f"mooddj: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def confirm(question: str, *, assume_yes: bool, stdin: TextIO | None = None,
            stdout: TextIO | None = None) -> bool:
    """Ask a yes/no question on a terminal; without a terminal only `--yes` agrees."""
    if assume_yes:
        return True
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if stdin is None or stdin.closed or not stdin.isatty():
        return False
    stdout.write(f"{question} Type 'yes' to continue: ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    return answer == "yes"


SIM_STATE_DIR = Path("~/.local/state/mooddj-sim")


SIM_PORT = 8080


def sim_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config values simulator mode uses (the user's own flags still win over them)."""
    from appliance.simmode.launcher import DEFAULT_RECORDING

    state_dir = getattr(args, "state_dir", None)
    state = Path(state_dir).expanduser() if state_dir else SIM_STATE_DIR.expanduser()
    recording = getattr(args, "recording", None)
    return {
        "paths": {"state_dir": str(state), "runtime_dir": str(state / "run"),
                  "log_file": str(state / "mooddj.log")},
        "web": {"port": SIM_PORT, "host": "127.0.0.1", "mdns": False},
        # The browser runs on this machine: Spotify returns straight to the page's port.
        "spotify": {"redirect_port": 0},
        "panel": {"pin_factory": "mock"},
        "camera": {"source": "replay", "replay_path": str(
            Path(recording).expanduser().resolve() if recording else DEFAULT_RECORDING)},
    }


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config values from `--camera`, `--port` and `--state-dir` (absent flags: none)."""
    out: dict[str, Any] = {}
    state_dir = getattr(args, "state_dir", None)
    if state_dir:
        state = Path(state_dir).expanduser().resolve()
        out["paths"] = {"state_dir": str(state), "runtime_dir": str(state / "run")}
    if getattr(args, "port", None) is not None:
        out["web"] = {"port": args.port}
    if getattr(args, "camera", None):
        out["camera"] = {"source": args.camera}
    return out


def load_box_config(args: argparse.Namespace,
                    extra: dict[str, Any] | None = None) -> config_mod.Config:
    """The config with simulator and flag overrides applied; exits 2 on a config error.

    Maintenance commands with `--sim` / `--state-dir` use it too, so they look where
    `mooddj run --sim` keeps its files.
    """
    overrides: dict[str, Any] = {}
    if getattr(args, "sim", False):
        overrides = sim_overrides(args)
    if extra:
        overrides = config_mod.merge(overrides, extra)
    overrides = config_mod.merge(overrides, flag_overrides(args))
    try:
        return config_mod.load(getattr(args, "config", None), overrides=overrides or None)
    except config_mod.ConfigError as err:
        print(f"mooddj: {err}", file=sys.stderr)
        raise SystemExit(2) from None
