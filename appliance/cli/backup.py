"""`mooddj backup PATH`: an online backup of the database and the key."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli.locations import fail, load_config
from appliance.core.config import Config, resolve_path
from appliance.maintenance.backup import SUFFIX, BackupError, make_backup


def box_files(args: argparse.Namespace, cfg: Config) -> tuple[Path | None, Path]:
    """The config file in use (None in the simulator) and the calibration's path."""
    from appliance.vision.geometry import calibration_path

    sim = getattr(args, "sim", False) or getattr(args, "state_dir", None)
    config_path = None if sim else resolve_path(getattr(args, "config", None))
    return config_path, calibration_path(cfg.vision.calibration_file, cfg.paths.state)


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj backup PATH`."""
    parser.add_argument("path", metavar="PATH",
                        help=f"backup file to create (e.g. box{SUFFIX}) or an existing folder")
    parser.epilog = ("The backup is a gzip'd tar (manifest.json, mooddj.db, secret.key, and "
                     "config.toml and calibration.json when present), mode 0600. It contains "
                     "the key: store it like a password.")


def run(args: argparse.Namespace) -> int:
    """Make the backup; 0 on success."""
    cfg = load_config(args)
    config_path, calibration_path = box_files(args, cfg)
    try:
        result = make_backup(cfg.paths.database_path, cfg.paths.key_path, Path(args.path),
                             config_path=config_path, calibration_path=calibration_path)
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
