"""`mooddj status`: one screen of the running box's state."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from appliance.cli.locations import load_box_config
from appliance.maintenance.facts import gather


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj status`."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--sim", action="store_true", help="the simulator's box (mooddj run --sim)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="the box started with `mooddj run --state-dir DIR`")


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
    from appliance.core.settings import SPEAKER_NAME

    settings = db.get("settings", {})
    if not (live or {}).get("player"):
        lines.append(f"Speaker   {_clean(settings.get(SPEAKER_NAME.name) or 'none chosen')}")
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

    config = load_box_config(args)
    doc = gather(config)
    if args.json:
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render(doc))
    return 0
