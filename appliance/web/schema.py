"""The web's table: browser sessions (one row per paired browser, across sign-ins)."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from appliance.core.schema import declare

migrations = Migrations("web")


@migrations()
def m001_sessions(db: Database) -> None:
    db.table("sessions").create({
        "id_hash": str,  # sha256 of the opaque token; the token itself is never stored
        "user_id": str,  # empty for a paired-but-not-signed-in browser
        "csrf": str,
        "paired": int,  # 1 once the browser proved physical presence
        "created_at": float,
        "last_seen": float,
        "expires_at": float,
        "revoked": int,
        "user_agent": str,
    }, pk="id_hash")
    db.table("sessions").create_index(["user_id"])


@migrations()
def m002_paired_browsers(db: Database) -> None:
    # A paired browser outlives its session tokens (sign-in and logout rotate them).
    for column, kind in (("device_id", str), ("paired_at", float), ("paired_via", str),
                         ("paired_from", str)):
        db.table("sessions").add_column(column, kind)
    db.execute("UPDATE sessions SET device_id = lower(hex(randomblob(8))), "
               "paired_at = created_at, paired_via = '', paired_from = '' "
               "WHERE device_id IS NULL")
    db.table("sessions").create_index(["device_id"])


TABLES = declare(migrations, formerly={"m001_sessions": "m001_accounts",
                                       "m002_paired_browsers": "m120_web_paired_browsers"})
