"""Music's tables: Spotify links and link states, mood history, track features, feedback, plays.

`connections.user_id` refers to identity's `users`: identity's set is applied first.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from appliance.core.crypto import SealedColumn
from appliance.core.schema import declare

migrations = Migrations("music")


@migrations()
def m001_connections(db: Database) -> None:
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
def m002_music(db: Database) -> None:
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
def m003_link_states(db: Database) -> None:
    db.table("spotify_link_states").create({
        "state_hash": str,  # sha256 of the OAuth state; the state itself is never stored
        "user_id": str,
        "session_hash": str,  # sha256 of the browser session id the link was started from
        "verifier": str,  # PKCE code verifier, sealed
        "redirect_uri": str,
        "created_at": float,
        "expires_at": float,
    }, pk="state_hash")


TABLES = declare(
    migrations,
    sealed=(SealedColumn("connections", "access_token"),
            SealedColumn("connections", "refresh_token"),
            # A link in progress: rotate-key, backup and doctor must see it too.
            SealedColumn("spotify_link_states", "verifier", platform="spotify")),
    formerly={"m001_connections": "m002_platforms", "m002_music": "m003_music",
              "m003_link_states": "m102_music_link_states"})
