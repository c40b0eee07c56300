"""Small helpers shared by the `mooddj` subcommands."""

from __future__ import annotations

import argparse
import sys

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
        from appliance.box import load_box_config

        return load_box_config(args)
    try:
        return config_mod.load(getattr(args, "config", None))
    except config_mod.ConfigError as err:
        print(f"mooddj: {err}", file=sys.stderr)
        raise SystemExit(2) from None
