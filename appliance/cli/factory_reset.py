"""`mooddj factory-reset`: erase accounts, links and settings, and replace the key."""

from __future__ import annotations

import argparse

from appliance.cli.locations import fail, load_config
from appliance.maintenance.reset import factory_reset_sync


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj factory-reset [--yes] [--force]`."""
    parser.add_argument("--yes", action="store_true",
                        help="do not ask for confirmation (for scripts)")
    parser.add_argument("--force", action="store_true",
                        help="reset even though the box is running (restart it afterwards)")


def run(args: argparse.Namespace) -> int:
    """Ask, then reset; 0 on success."""
    from appliance.cli.locations import confirm
    from appliance.core.store import StoreError
    from appliance.maintenance.files import fix_state_ownership, open_store
    from appliance.maintenance.lock import box_running, running_message

    cfg = load_config(args)
    pid = box_running(cfg.paths.runtime)
    if pid is not None and not args.force:
        return fail(running_message(pid) + " (or use the panel's reset gesture)")
    question = (f"This erases every account, sign-in, Spotify link, setting and the mood "
                f"history in {cfg.paths.database_path}, and replaces the key.")
    if not confirm(question, assume_yes=args.yes):
        return fail("factory reset not confirmed; nothing was changed "
                    "(type 'yes' at the prompt, or pass --yes in scripts)")
    try:
        store = open_store(cfg.paths.database_path)
    except StoreError as err:
        return fail(str(err))
    try:
        result = factory_reset_sync(store, cfg.paths.key_path)
    except PermissionError as err:
        return fail(f"permission denied on {err.filename}; run as the mooddj user")
    finally:
        store.close()
        fix_state_ownership(cfg.paths.database_path, cfg.paths.key_path)
    print(f"Factory reset done: erased {sum(result.erased.values())} row(s) "
          f"({', '.join(f'{t} {n}' for t, n in sorted(result.erased.items()) if n) or 'none'}); "
          f"new key id {result.key_fingerprint}.")
    if pid is not None:
        print("The box was running: restart it now (sudo systemctl restart mooddj).")
    return 0
