"""`mooddj db [TABLE]`: users, identities and connections, secrets hidden."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from appliance.cli.locations import fail, load_config
from appliance.maintenance.inspect import TABLES, read_table, summary


def _cell(col: str, value: Any) -> str:
    if value is None:
        return ""
    if _TIME_COLUMNS.search(col) and isinstance(value, int | float) and value > 0:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(value))
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table for a terminal."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[_cell(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    """`mooddj db [TABLE] [--json]`."""
    parser.add_argument("table", nargs="?", choices=TABLES,
                        help="table to show; without it, row counts of every table")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Print a table or the summary; 0 on success."""
    import sqlite3

    from appliance.core.store import StoreError, open_readonly
    from appliance.maintenance.files import fix_state_ownership

    cfg = load_config(args)
    try:
        db = open_readonly(cfg.paths.database_path)
    except StoreError as err:
        return fail(str(err))
    try:
        data: Any = read_table(db, args.table) if args.table else summary(db)
    except sqlite3.DatabaseError as err:
        return fail(f"database {cfg.paths.database_path} cannot be read: {err}; "
                    f"run `mooddj doctor`")
    finally:
        db.conn.close()
        fix_state_ownership(cfg.paths.database_path, cfg.paths.key_path)
    if args.json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif args.table:
        print(format_rows(data))
    else:
        width = max((len(k) for k in data), default=0)
        for name, count in data.items():
            print(f"{name.ljust(width)}  {count}")
    return 0


_TIME_COLUMNS = re.compile(r"(_at|^last_seen|^bucket)$")
