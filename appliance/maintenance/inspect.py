"""`mooddj db [TABLE] [--json]`: look inside mooddj.db without ever printing a secret.

Sealed columns show as `sealed (N bytes)` or `<none>`, session ids are cut to
8 characters, CSRF tokens and secret-looking settings are hidden. The database
is opened read-only: inspecting never creates, migrates or repairs it.
"""

from __future__ import annotations

import re
from typing import Any

TABLES = ("users", "identities", "connections", "sessions", "settings")
HIDDEN = "<hidden>"
_SECRET_NAME = re.compile(r"secret|token|password|passwd|cookie|csrf|(^|[._-])key$|api_?key",
                          re.IGNORECASE)
_SEALED = re.compile(r"^v\d+\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$")


def _sealed_columns(table: str) -> set[str]:
    from appliance.schema import SEALED

    return {c.column for c in SEALED if c.table == table}


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
