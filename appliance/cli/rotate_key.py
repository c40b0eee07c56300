"""`mooddj rotate-key`: re-seal every stored secret under a new key, keep nothing of the old.

The box must be stopped: it holds the old key in memory. The rotation is crash-safe
(see `appliance.core.secrets_store`); a crash is finished or undone at the next start.
"""

from __future__ import annotations

import argparse
import logging

from appliance.cli.locations import fail, load_config

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """No options: the key and database come from the config."""
    parser.epilog = ("Stop the box first (sudo systemctl stop mooddj). Backups made before "
                     "the rotation hold the old key: make a new backup afterwards.")


def run(args: argparse.Namespace) -> int:
    """Rotate the key; 0 on success."""
    from appliance.core.crypto import KeyFileError, SealError
    from appliance.core.secrets_store import rotate_key_sync
    from appliance.core.store import StoreError
    from appliance.maintenance.files import fix_state_ownership, open_store
    from appliance.maintenance.lock import box_running

    cfg = load_config(args)
    pid = box_running(cfg.paths.runtime)
    if pid is not None:
        who = f" (pid {pid})" if pid else ""
        return fail(f"the box is running{who} and holds the current key in memory; "
                    f"stop it (sudo systemctl stop mooddj), rotate, then start it again")
    key_path = cfg.paths.key_path
    try:
        store = open_store(cfg.paths.database_path)
    except StoreError as err:
        return fail(str(err))
    try:
        result = rotate_key_sync(store, key_path)
    except (KeyFileError, SealError) as err:
        return fail(f"{err}; nothing was changed")
    except OSError as err:
        return fail(f"cannot write the new key next to {key_path}: {err.strerror}; "
                    f"run as the mooddj user (sudo -u mooddj mooddj rotate-key)")
    finally:
        store.close()
        fix_state_ownership(cfg.paths.database_path, key_path)
    print(f"Re-sealed {result.resealed} value(s) under a new key "
          f"(key id {result.old_fingerprint} -> {result.new_fingerprint}).")
    print("The old key is gone. Backups made before now hold the old key: "
          "make a new one with `mooddj backup PATH`.")
    return 0
