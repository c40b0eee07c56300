"""`mooddj doctor`: check config, state, key, database, models, camera and GPIO."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from appliance.core import config as config_mod
from appliance.maintenance.doctor import render, run_checks


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj doctor [--json]`."""
    parser.add_argument("--json", action="store_true",
                        help='print {"ok": bool, "checks": [{"name", "status", "message", '
                             '"hint"}]}')


def run(args: argparse.Namespace) -> int:
    """Run every check; 1 if any failed."""
    from appliance.maintenance.files import fix_state_ownership

    located = getattr(args, "sim", False) or getattr(args, "state_dir", None)
    if located:
        from appliance.cli.locations import load_config

        checks = asyncio.run(run_checks(load_config(args), sim=bool(getattr(args, "sim", False))))
    else:
        checks = asyncio.run(run_checks(config_path=getattr(args, "config", None)))
    try:
        cfg = load_config(args) if located else config_mod.load(getattr(args, "config", None))
        fix_state_ownership(cfg.paths.database_path, cfg.paths.key_path)
    except (config_mod.ConfigError, OSError):
        pass
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        json.dump({"ok": not failed, "checks": [c.to_dict() for c in checks]}, sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
    else:
        print(render(checks))
        state_dir = getattr(args, "state_dir", None)
        if state_dir and not getattr(args, "sim", False) and (
                Path(state_dir).expanduser() / "stand-ins.state").exists():
            print(f"note: {state_dir} holds a simulator box; `mooddj doctor --sim --state-dir "
                  f"{state_dir}` checks it with the simulator's camera, pins and stand-ins")
    return 1 if failed else 0
