"""Files of the state dir for maintenance operations: stamps, opening the store, ownership."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.store import Store


def stamp(t: float | None = None) -> str:
    """A UTC timestamp for file names: 20261123T174000Z."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def open_store(path: Path) -> Store:
    """Open the database for a maintenance command, telling the person about repairs."""
    from appliance import schema

    store = schema.open_store(path)
    if store.report.moved_aside:
        print(f"mooddj: the database was damaged ({store.report.reason}); it was moved aside "
              f"as {', '.join(store.report.moved_aside)} and a fresh one was created",
              file=sys.stderr)
    return store


def fix_state_ownership(db_path: Path, key_path: Path) -> list[str]:
    """Give files a root-run command created in the state dir back to the dir's owner.

    `sudo mooddj ...` would otherwise leave a root-owned secret.key or -shm behind
    that the box, running as mooddj, cannot open. No-op unless running as root.
    """
    if os.geteuid() != 0 or not key_path.parent.is_dir():
        return []
    owner = key_path.parent.stat()
    fixed = []
    candidates = [Path(f"{db_path}{s}") for s in ("", "-wal", "-shm")]
    candidates += [key_path, key_path.with_name(key_path.name + ".new")]
    candidates += sorted(key_path.parent.glob("*.pre-restore-*"))
    for path in candidates:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if (st.st_uid, st.st_gid) != (owner.st_uid, owner.st_gid):
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            fixed.append(str(path))
    return fixed
