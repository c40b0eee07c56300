"""`mooddj status`: one screen of the box's state for an SSH session.

Live facts (services, camera, mood, player, errors) come from the running box's
snapshot in `<runtime_dir>/status.json`; stored facts (users, links and their
expiry, listener, speaker) are read from the database file read-only, so the
command works, and changes nothing, whether or not the box runs. No secret is
ever read into the output: sealed columns are not even selected.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

# The Spotify refresh token's fixed life (platform fact; music.tokens.LINK_LIFETIME_SECONDS).
LINK_LIFETIME_DAYS = 182


def _connect_ro(path: Path) -> sqlite3.Connection:
    """Open read-only; if WAL needs write access we lack, fall back to an immutable view."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=2)
    conn.row_factory = sqlite3.Row
    return conn


def db_facts(path: Path, reminder_days: float = 14.0, now: float | None = None
             ) -> dict[str, Any]:
    """Users, links (with expiry), listener and speaker from the database, read-only."""
    now = time.time() if now is None else now
    facts: dict[str, Any] = {"path": str(path), "exists": path.exists(),
                             "size_bytes": sum(Path(f"{path}{s}").stat().st_size
                                               for s in ("", "-wal")
                                               if Path(f"{path}{s}").exists())}
    if not path.exists():
        return facts
    from sqlite_utils import Database

    try:
        conn = _connect_ro(path)
        try:
            facts.update(_read_facts(Database(conn), reminder_days, now))
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        facts["error"] = f"cannot read the database: {err}"
    return facts


def _read_facts(db: Database, reminder_days: float, now: float) -> dict[str, Any]:
    """Each package answers for its own tables; a table not there yet reads as empty."""
    from appliance.core.settings import (
        ACTIVE_LISTENER,
        PRIVACY,
        SPEAKER_ID,
        SPEAKER_NAME,
        SPEAKER_VOLUME,
        stored,
    )
    from appliance.identity.accounts import members
    from appliance.music.connections import link_facts

    out: dict[str, Any] = {"users": _or_empty(members, db), "links": [],
                           "settings": stored(db, [ACTIVE_LISTENER, SPEAKER_ID, SPEAKER_NAME,
                                                   SPEAKER_VOLUME, PRIVACY])}
    names = {u["id"]: u["display_name"] for u in out["users"]}
    for link in _or_empty(link_facts, db):
        link["user_name"] = names.get(link["user_id"], "")
        linked_at = link["linked_at"]
        ends = (linked_at or 0) + LINK_LIFETIME_DAYS * 86400 if linked_at else None
        link["link_expires_at"] = ends
        state = link["state"] or "linked"
        if ends is not None and state == "linked":
            if ends <= now:
                state = "expired"
            elif ends - now < reminder_days * 86400:
                state = "expiring"
        link["status"] = state
        out["links"].append(link)
    listener = out["settings"].get(ACTIVE_LISTENER.name)
    out["listener"] = {"user_id": listener, "display_name": names.get(listener or "", "")
                       } if listener else None
    return out


def _or_empty(query: Callable[[Database], list[dict[str, Any]]], db: Database
              ) -> list[dict[str, Any]]:
    try:
        return query(db)
    except sqlite3.OperationalError as err:
        if "no such table" not in str(err):
            raise
        return []


def gather(config: Any, now: float | None = None) -> dict[str, Any]:
    """Everything `mooddj status` shows, as one dict."""
    from appliance.core.status import read_status, status_path
    from appliance.maintenance.lock import box_running

    path = status_path(config.paths.runtime)
    live = read_status(path)
    status_error = ""
    if live is None:
        try:
            with path.open("rb"):
                pass
        except PermissionError:
            status_error = (f"cannot read {path}: permission denied; use sudo or add "
                            f"this user to the mooddj group")
        except OSError:
            pass
    try:
        pid = box_running(config.paths.runtime)
    except OSError:
        pid = None
    disk: dict[str, Any] = {}
    probe = config.paths.state if config.paths.state.exists() else Path("/")
    try:
        usage = shutil.disk_usage(probe)
        disk = {"path": str(probe), "free_bytes": usage.free, "total_bytes": usage.total}
    except OSError as err:
        disk = {"path": str(probe), "error": err.strerror}
    return {
        "running": live is not None or pid is not None, "pid": (live or {}).get("pid") or pid,
        "live": live, "status_error": status_error,
        "database": db_facts(config.paths.database_path, config.spotify.relink_reminder_days,
                             now),
        "disk": disk,
    }
