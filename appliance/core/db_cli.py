"""`mooddj db [TABLE] [--json]`: look inside mooddj.db without ever printing a secret.

Sealed columns show as `sealed (N bytes)` or `<none>`, session ids are cut to
8 characters, CSRF tokens and secret-looking settings are hidden. The database
is opened read-only: inspecting never creates, migrates or repairs it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from appliance.core.cliutil import fail, load_config

TABLES = ("users", "identities", "connections", "sessions", "settings")
HIDDEN = "<hidden>"
_SECRET_NAME = re.compile(r"secret|token|password|passwd|cookie|csrf|(^|[._-])key$|api_?key",
                          re.IGNORECASE)
_SEALED = re.compile(r"^v\d+\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$")
_TIME_COLUMNS = re.compile(r"(_at|^last_seen|^bucket)$")


def _sealed_columns(table: str) -> set[str]:
    from appliance.core.crypto import SEALED_COLUMNS

    return {c.column for c in SEALED_COLUMNS if c.table == table}


def _is_secret(table: str, col: str, row: dict[str, Any]) -> bool:
    if table == "sessions" and col == "csrf":
        return True
    if table == "settings" and col == "value":
        return bool(_SECRET_NAME.search(str(row.get("key"))))
    return col != "key" and bool(_SECRET_NAME.search(col))


def redact_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row as it may be shown to a person: no secret, sealed or not."""
    from appliance.core.secrets_store import describe_sealed

    sealed = _sealed_columns(table)
    out: dict[str, Any] = {}
    for col, value in row.items():
        if col in sealed or (isinstance(value, str) and _SEALED.match(value)):
            out[col] = describe_sealed(value)
        elif table == "sessions" and col == "id_hash":
            out[col] = (str(value)[:8] + "…") if value else "<none>"
        elif _is_secret(table, col, row):
            out[col] = HIDDEN if value else "<none>"
        else:
            out[col] = value
    return out


def read_table(db: Any, table: str) -> list[dict[str, Any]]:
    """Redacted rows of `table` ([] if the table does not exist yet)."""
    if not db[table].exists():
        return []
    return [redact_row(table, dict(r)) for r in db[table].rows]


def summary(db: Any) -> dict[str, int]:
    """Row count of every table."""
    return {name: db[name].count for name in db.table_names()}


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

    from appliance.core.maint import fix_state_ownership
    from appliance.core.store import StoreError, open_readonly

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
