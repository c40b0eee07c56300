"""`mooddj update [--check] [--retry]`: the newest release beside this one, or a rollback."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from appliance.cli.backup import box_files
from appliance.cli.locations import fail, load_config
from appliance.maintenance.update import (
    REQUEST_NAME,
    Layout,
    UpdateError,
    check,
    migrate_in_place,
    update,
)


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj update [--check] [--retry] [--requested]`."""
    parser.add_argument("--check", action="store_true",
                        help="only show the installed version and what the source has")
    parser.add_argument("--retry", action="store_true",
                        help="try a version that failed and was rolled back before")
    parser.add_argument("--requested", action="store_true",
                        help="the owner's page asked for it (mooddj-update.service)")
    # One step of an update, run by the *new* release: its migrations on a database copy.
    parser.add_argument("--migrate-copy", metavar="DB", help=argparse.SUPPRESS)
    parser.epilog = ("Needs root (sudo mooddj update): it writes /opt/mooddj and restarts "
                     "the service. It backs up first into <state_dir>/backups, builds the "
                     "new release beside the running one, migrates a copy of the database, "
                     "switches, restarts and waits for systemd's ready signal; if the box "
                     "is not ready in time or its doctor fails a new check, the previous "
                     "release and its database come back.")


def run(args: argparse.Namespace) -> int:
    """Check or update; 0 when the box runs the newest version afterwards."""
    if args.migrate_copy:
        migrate_in_place(Path(args.migrate_copy))
        return 0
    cfg = load_config(args)
    if args.requested:
        (cfg.paths.state / REQUEST_NAME).unlink(missing_ok=True)
    if os.geteuid() != 0:
        return fail("updating writes /opt/mooddj and restarts the service: run it as root "
                    "(sudo mooddj update)")
    try:
        layout = Layout.of_running_code()
        if args.check:
            mine, new = check(layout)
            print(f"installed: {mine.describe()}")
            print(f"available: {new.describe()} from {new.source}")
            print("up to date" if new.commit == mine.commit
                  else "an update is available: sudo mooddj update")
            return 0
        config_path, calibration_path = box_files(args, cfg)
        outcome = update(layout, cfg, retry=args.retry, config_path=config_path,
                         calibration_path=calibration_path)
    except UpdateError as err:
        return fail(str(err))
    print(outcome.message)
    return 0 if outcome.ok() else 1
