"""The single migration set every mooddj.db was made with before the tables had owners.

A verbatim copy of `appliance/core/schema.py` as it shipped until then, so the tests
can make a database exactly as boxes in the field have one.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("mooddj")


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
    db.table("settings").create({"key": str, "value": str, "updated_at": float}, pk="key")


@migrations()
def m002_platforms(db: Database) -> None:
    db.table("connections").create({
        "user_id": str,
        "platform": str,  # spotify
        "platform_user_id": str,
        "display_name": str,
        "access_token": str,  # sealed
        "refresh_token": str,  # sealed
        "scopes": str,  # space separated, as granted
        "expires_at": float,  # access token expiry
        "linked_at": float,  # start of the refresh token's 6-month life
        "state": str,  # linked | relink_needed
        "updated_at": float,
    }, pk=("user_id", "platform"), foreign_keys=[("user_id", "users", "id")])


@migrations()
def m003_music(db: Database) -> None:
    db.table("mood_history").create({
        "bucket": float,  # start of the 15-minute bucket
        "mood": str,
        "samples": int,
        "valence_sum": float,
        "arousal_sum": float,
        "people_max": int,
    }, pk=("bucket", "mood"))
    db.table("track_features").create({
        "track_id": str,  # Spotify track id
        "name": str,
        "artists": str,
        "valence": float,  # 0..1
        "energy": float,  # 0..1
        "tempo": float,  # BPM
        "source": str,  # reccobeats | soundnet | csv
        "fetched_at": float,
    }, pk="track_id")
    db.table("feedback").create({
        "id": int,
        "user_id": str,
        "track_id": str,
        "mood": str,
        "kind": str,  # skip | like
        "at": float,
    }, pk="id")
    db.table("feedback").create_index(["user_id", "mood", "track_id"])
    db.table("plays").create({
        "id": int,
        "user_id": str,
        "track_id": str,
        "mood": str,
        "started_at": float,
    }, pk="id")
    db.table("plays").create_index(["started_at"])


@migrations()
def m101_web_pairing_codes(db: Database) -> None:
    db.table("pairing_codes").create({
        "code_hash": str,  # sha256 of the normalised one-time code; the code is never stored
        "created_at": float,
        "expires_at": float,
        "used_at": float,  # 0 until redeemed (single use)
        "created_by": str,  # "cli" or the inviting user's id
    }, pk="code_hash")


@migrations()
def m102_music_link_states(db: Database) -> None:
    db.table("spotify_link_states").create({
        "state_hash": str,  # sha256 of the OAuth state; the state itself is never stored
        "user_id": str,
        "session_hash": str,  # sha256 of the browser session id the link was started from
        "verifier": str,  # PKCE code verifier, sealed
        "redirect_uri": str,
        "created_at": float,
        "expires_at": float,
    }, pk="state_hash")


@migrations()
def m110_profiles(db: Database) -> None:
    # A profile's optional PIN: an Argon2id PHC string (identity.pins); '' = no PIN.
    db.table("users").add_column("pin_hash", str, not_null_default="")


@migrations()
def m111_identity_clients(db: Database) -> None:
    db.table("identity_clients").create({
        "provider": str,  # google | microsoft | github
        "client_id": str,  # sealed (bound to provider, "identity", "client_id")
        "client_secret": str,  # sealed; '' when the provider needs none
        "tenant": str,  # Microsoft only: common, organizations, consumers or a tenant id
        "updated_at": float,
        "checked_at": float,  # when the device-code test last passed
    }, pk="provider")


@migrations()
def m120_web_paired_browsers(db: Database) -> None:
    # A paired browser outlives its session tokens (sign-in and logout rotate them).
    for column, kind in (("device_id", str), ("paired_at", float), ("paired_via", str),
                         ("paired_from", str)):
        db.table("sessions").add_column(column, kind)
    db.execute("UPDATE sessions SET device_id = lower(hex(randomblob(8))), "
               "paired_at = created_at, paired_via = '', paired_from = '' "
               "WHERE device_id IS NULL")
    db.table("sessions").create_index(["device_id"])
