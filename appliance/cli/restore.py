"""`mooddj restore PATH`: put a backup made by `mooddj backup` back in place."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli.backup import box_files
from appliance.cli.locations import confirm, fail, load_config
from appliance.maintenance.backup import BackupError
from appliance.maintenance.restore import restore_backup


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj restore PATH [--force]`."""
    parser.add_argument("path", metavar="PATH", help="backup file made by `mooddj backup`")
    parser.add_argument("--force", action="store_true",
                        help="restore even though the box is running (restart it afterwards)")
    parser.add_argument("--yes", action="store_true",
                        help="replace a config file that differs from the backup's without "
                             "asking (without a terminal and without --yes it is kept)")


def run(args: argparse.Namespace) -> int:
    """Restore; 0 on success."""
    from appliance.maintenance.files import fix_state_ownership, stamp
    from appliance.maintenance.lock import box_running, running_message

    cfg = load_config(args)
    pid = box_running(cfg.paths.runtime)
    if pid is not None and not args.force:
        return fail(running_message(pid))
    try:
        config_path, calibration_path = box_files(args, cfg)
        result = restore_backup(
            Path(args.path), cfg.paths.database_path, cfg.paths.key_path, stamp=stamp(),
            config_path=config_path, calibration_path=calibration_path,
            replace_config=lambda: confirm(
                f"The backup's config differs from {config_path}. Replace it (the current "
                f"one is kept as .pre-restore)?", assume_yes=args.yes))
    except BackupError as err:
        return fail(f"{err}; nothing was changed")
    except PermissionError as err:
        return fail(f"permission denied on {err.filename}; run as the mooddj user "
                    f"(sudo -u mooddj mooddj restore ...)")
    finally:
        fix_state_ownership(cfg.paths.database_path, cfg.paths.key_path)
    m = result.manifest
    print(f"Restored the backup created {m.get('created')} "
          f"({m.get('sealed_values')} sealed value(s), key id {m.get('key_fingerprint')}).")
    for path in result.kept:
        print(f"  kept the previous file as {path}")
    for note in result.notes:
        print(f"  {note}")
    if pid is not None:
        print("The box was running: restart it now (sudo systemctl restart mooddj).")
    return 0
