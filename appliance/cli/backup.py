"""`mooddj backup PATH`: an online backup of the database and the key."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli.locations import fail, load_config
from appliance.maintenance.backup import SUFFIX, BackupError, make_backup


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj backup PATH`."""
    parser.add_argument("path", metavar="PATH",
                        help=f"backup file to create (e.g. box{SUFFIX}) or an existing folder")
    parser.epilog = ("The backup is a gzip'd tar (manifest.json, mooddj.db, secret.key), mode "
                     "0600. It contains the key: store it like a password.")


def run(args: argparse.Namespace) -> int:
    """Make the backup; 0 on success."""
    cfg = load_config(args)
    try:
        result = make_backup(cfg.paths.database_path, cfg.paths.key_path, Path(args.path))
    except BackupError as err:
        return fail(str(err))
    except PermissionError as err:
        return fail(f"permission denied on {err.filename}; run as the mooddj user "
                    f"(sudo -u mooddj mooddj backup ...) into a folder it can write")
    m = result.manifest
    print(f"Backup written to {result.path}")
    print(f"  created {m['created']}, key id {m['key_fingerprint']}, "
          f"{m['sealed_values']} sealed value(s), database {m['database_bytes']} bytes")
    print("  It contains the key: keep it as safe as a password.")
    return 0
