"""Identity's tables: household accounts (profiles), their sign-in identities, pairing codes,
the household's own sign-in clients, and the browsers' sessions (who a browser is)."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from appliance.core.crypto import SealedColumn
from appliance.core.schema import declare

migrations = Migrations("identity")


@migrations()
def m001_accounts(db: Database) -> None:
    db.table("users").create({
        "id": str,  # mmp_<uuid>
        "display_name": str,
        "role": str,  # owner | member
        "created_at": float,
    }, pk="id")
    db.table("identities").create({
        "provider": str,  # google | microsoft | github
        "subject": str,  # the provider's stable subject (never the email)
        "user_id": str,
        "email": str,
        "display_name": str,
        "linked_at": float,
    }, pk=("provider", "subject"), foreign_keys=[("user_id", "users", "id")])
    db.table("identities").create_index(["user_id"])


@migrations()
def m002_pairing_codes(db: Database) -> None:
    db.table("pairing_codes").create({
        "code_hash": str,  # sha256 of the normalised one-time code; the code is never stored
        "created_at": float,
        "expires_at": float,
        "used_at": float,  # 0 until redeemed (single use)
        "created_by": str,  # "cli" or the inviting user's id
    }, pk="code_hash")


@migrations()
def m003_profiles(db: Database) -> None:
    # A profile's optional PIN: an Argon2id PHC string (identity.pins); '' = no PIN.
    db.table("users").add_column("pin_hash", str, not_null_default="")


@migrations()
def m004_identity_clients(db: Database) -> None:
    db.table("identity_clients").create({
        "provider": str,  # google | microsoft | github
        "client_id": str,  # sealed (bound to provider, "identity", "client_id")
        "client_secret": str,  # sealed; '' when the provider needs none
        "tenant": str,  # Microsoft only: common, organizations, consumers or a tenant id
        "updated_at": float,
        "checked_at": float,  # when the device-code test last passed
    }, pk="provider")


@migrations()
def m005_sessions(db: Database) -> None:
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
def m006_paired_browsers(db: Database) -> None:
    # A paired browser outlives its session tokens (sign-in and logout rotate them).
    for column, kind in (("device_id", str), ("paired_at", float), ("paired_via", str),
                         ("paired_from", str)):
        db.table("sessions").add_column(column, kind)
    db.execute("UPDATE sessions SET device_id = lower(hex(randomblob(8))), "
               "paired_at = created_at, paired_via = '', paired_from = '' "
               "WHERE device_id IS NULL")
    db.table("sessions").create_index(["device_id"])


TABLES = declare(
    migrations,
    sealed=(SealedColumn("identity_clients", "client_id", user_id_column="provider",
                         platform="identity"),
            SealedColumn("identity_clients", "client_secret", user_id_column="provider",
                         platform="identity")),
    formerly={"m001_accounts": "m001_accounts", "m002_pairing_codes": "m101_web_pairing_codes",
              "m003_profiles": "m110_profiles", "m004_identity_clients": "m111_identity_clients",
              "m005_sessions": "m001_accounts", "m006_paired_browsers": "m120_web_paired_browsers"})
