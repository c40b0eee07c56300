"""`mooddj status`: one screen of the box's state for an SSH session.

Live facts (services, camera, mood, player, errors) come from the running box's
snapshot in `<runtime_dir>/status.json`; stored facts (users, links and their
expiry, listener, speaker) are read from the database file read-only, so the
command works, and changes nothing, whether or not the box runs. No secret is
ever read into the output: sealed columns are not even selected.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

# The Spotify refresh token's fixed life (platform fact; music.tokens.LINK_LIFETIME_SECONDS).
LINK_LIFETIME_DAYS = 182


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj status`."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--sim", action="store_true", help="the simulator's box (mooddj run --sim)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="the box started with `mooddj run --state-dir DIR`")


def _connect_ro(path: Path) -> sqlite3.Connection:
    """Open read-only; if WAL needs write access we lack, fall back to an immutable view."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=2)
    conn.row_factory = sqlite3.Row
    return conn


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        [name]).fetchone() is not None


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
    try:
        conn = _connect_ro(path)
        try:
            facts.update(_read_facts(conn, reminder_days, now))
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        facts["error"] = f"cannot read the database: {err}"
    return facts


def _read_facts(conn: sqlite3.Connection, reminder_days: float, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {"users": [], "links": [], "settings": {}}
    if _table_exists(conn, "users"):
        out["users"] = [dict(r) for r in conn.execute(
            "SELECT id, display_name, role FROM users ORDER BY created_at")]
    names = {u["id"]: u["display_name"] for u in out["users"]}
    if _table_exists(conn, "connections"):
        for r in conn.execute("SELECT user_id, platform, display_name, state, expires_at, "
                              "linked_at, scopes FROM connections ORDER BY user_id"):
            link = dict(r)
            link["user_name"] = names.get(r["user_id"], "")
            ends = (r["linked_at"] or 0) + LINK_LIFETIME_DAYS * 86400 if r["linked_at"] else None
            link["link_expires_at"] = ends
            state = r["state"] or "linked"
            if ends is not None and state == "linked":
                if ends <= now:
                    state = "expired"
                elif ends - now < reminder_days * 86400:
                    state = "expiring"
            link["status"] = state
            out["links"].append(link)
    if _table_exists(conn, "settings"):
        wanted = ("active_listener", "speaker.id", "speaker.name", "speaker.volume", "privacy")
        marks = ",".join("?" * len(wanted))
        out["settings"] = {r["key"]: r["value"] for r in conn.execute(
            f"SELECT key, value FROM settings WHERE key IN ({marks})", wanted)}  # noqa: S608
    listener = out["settings"].get("active_listener")
    out["listener"] = {"user_id": listener, "display_name": names.get(listener or "", "")
                       } if listener else None
    return out


def gather(config: Any, now: float | None = None) -> dict[str, Any]:
    """Everything `mooddj status` shows, as one dict."""
    from appliance.core.maint import box_running
    from appliance.core.status import read_status, status_path

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


def _clean(value: Any) -> str:
    """Text safe for a terminal: names come from outside (no control characters)."""
    return "".join(c if c.isprintable() else "?" for c in str(value))


def _size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _date(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _ago(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def render(doc: dict[str, Any], now: float | None = None) -> str:
    """The status screen as text."""
    now = time.time() if now is None else now
    live = doc.get("live")
    db = doc.get("database", {})
    lines: list[str] = []
    if live:
        lines.append(f"MoodDJ {live.get('version', '')}: running (pid {live.get('pid')}, "
                     f"up {_ago(now - live.get('started_at', now))})")
    elif doc.get("status_error"):
        lines.append(f"MoodDJ: state unknown: {doc['status_error']}")
    elif doc.get("running"):
        pid = doc.get("pid")
        lines.append(f"MoodDJ: running{f' (pid {pid})' if pid else ''} but its status is not "
                     f"fresh: it may be starting or stuck; see `mooddj logs`")
    else:
        lines.append("MoodDJ: not running (start it: sudo systemctl start mooddj, "
                     "or `mooddj run --sim`)")
    if live:
        lines += _live_lines(live, now)
    lines += _db_lines(db, live, now)
    disk = doc.get("disk", {})
    lines.append(f"Storage   database {_size(db.get('size_bytes'))} ({_clean(db.get('path'))})"
                 + (f", disk free {_size(disk.get('free_bytes'))} of "
                    f"{_size(disk.get('total_bytes'))}" if "free_bytes" in disk else ""))
    return "\n".join(lines)


def _live_lines(live: dict[str, Any], now: float) -> list[str]:
    lines = ["Services"]
    for s in live.get("services", []):
        crashes = f"  crashes {s['crashes']}" if s.get("crashes") else ""
        facts = "  ".join(f"{k} {_clean(v)}" for k, v in (s.get("snapshot") or {}).items()
                          if isinstance(v, str | int | float) and not isinstance(v, bool))
        detail = f"  {_clean(s['detail'])}" if s.get("detail") and s["state"] != "running" else ""
        lines.append(f"  {s['name']:<10} {s['state']:<10}{crashes}{detail}"
                     + (f"  [{facts}]" if facts else ""))
    cam = live.get("camera")
    if cam:
        state = f"capturing at {cam.get('fps', 0):.1f} fps" if cam.get("capturing") else "off"
        err = f"; last error: {_clean(cam['error'])}" if cam.get("error") else ""
        lines.append(f"Camera    {state}{err}")
    else:
        lines.append("Camera    no report yet")
    mood, presence = live.get("mood"), live.get("presence")
    people = presence["people"] if presence else (mood or {}).get("faces")
    if mood:
        lines.append(f"Room      {mood['mood']} (valence {mood['valence']:+.2f}, arousal "
                     f"{mood['arousal']:+.2f}, confidence {mood['confidence']:.2f}), "
                     f"{_people(people)}")
    else:
        lines.append(f"Room      no mood yet{f', {_people(people)}' if people is not None else ''}")
    if live.get("privacy"):
        lines.append("Privacy   on: the camera is off")
    player = live.get("player")
    if player:
        what = (f"{player['state']}: \"{_clean(player.get('track_name'))}\" by "
                f"{_clean(player.get('artists'))}" if player.get("track_name")
                else player["state"])
        lines.append(f"Speaker   {_clean(player.get('speaker') or 'none chosen')}: {what}"
                     + (f" (mood {player['mood']}, volume {player['volume']})"
                        if player.get("mood") else ""))
    errors = live.get("errors", [])
    lines.append("Errors    none" if not errors else "Errors")
    for e in errors:
        hint = f" ({_clean(e['hint'])})" if e.get("hint") else ""
        lines.append(f"  - [{_clean(e['source'])}] {_clean(e['message'])}{hint}")
    lag = live.get("loop_lag_ms")
    bus = live.get("bus", {})
    lines.append(f"Loop      lag {lag if lag is not None else '?'} ms, bus drops "
                 f"{bus.get('dropped', 0)}")
    return lines


def _people(n: Any) -> str:
    return "? people" if n is None else f"{n} person" if n == 1 else f"{n} people"


def _db_lines(db: dict[str, Any], live: dict[str, Any] | None, now: float) -> list[str]:
    lines: list[str] = []
    if not db.get("exists"):
        return ["Database  not created yet (the box creates it on first start)"]
    if db.get("error"):
        return [f"Database  {_clean(db['error'])}; run `mooddj doctor`"]
    users = db.get("users", [])
    lines.append(f"Accounts  {len(users)} user(s)"
                 + (": " + ", ".join(f"{_clean(u['display_name'])} ({u['role']})"
                                     for u in users) if users else ""))
    listener = (live or {}).get("listener") or db.get("listener")
    lines.append(f"Listener  {_clean(listener.get('display_name') or listener.get('user_id'))}"
                 if listener else "Listener  none chosen")
    settings = db.get("settings", {})
    if not (live or {}).get("player"):
        lines.append(f"Speaker   {_clean(settings.get('speaker.name') or 'none chosen')}")
    links = db.get("links", [])
    lines.append("Links     none" if not links else "Links")
    for link in links:
        who = _clean(link.get("user_name") or link["user_id"])
        lines.append(f"  {link['platform']:<8} {who:<16} {link['status']:<14} access until "
                     f"{_date(link.get('expires_at'))}, re-link by "
                     f"{_date(link.get('link_expires_at'))}")
    return lines


def run(args: argparse.Namespace) -> int:
    """`mooddj status`."""
    from appliance.box import load_box_config

    config = load_box_config(args)
    doc = gather(config)
    if args.json:
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render(doc))
    return 0
