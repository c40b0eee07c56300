"""`mooddj doctor` checks for Spotify: the app's Client ID, each link's state and expiry,
the chosen speaker, and (when a valid access token is at hand) whether Spotify lists it.

The database is opened read-only and tokens are never refreshed here: a refresh
may rotate the refresh token, which only the running box may store.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp

from appliance.core.config import Config
from appliance.core.settings import ACTIVE_LISTENER, SPEAKER_ID, SPEAKER_NAME, SettingsTx
from appliance.music import connections
from appliance.music.tokens import CLIENT_ID, link_expires_at_of, needs_reminder_of

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


async def checks(config: Config) -> list[Any]:
    """Spotify link state and expiry, chosen speaker, and whether Spotify lists it."""
    from appliance.core.checks import bad, ok, warn
    from appliance.core.store import StoreError, open_readonly

    try:
        db = open_readonly(config.paths.database_path)
    except StoreError:
        return []  # the core database check already says what to do
    try:
        settings = SettingsTx(db)  # read only: nothing is set
        client_id = settings.get(CLIENT_ID) or config.spotify.client_id
        links = connections.list_all(db)
        listener = settings.get(ACTIVE_LISTENER)
        speaker_id, speaker_name = settings.get(SPEAKER_ID), settings.get(SPEAKER_NAME)
    finally:
        db.conn.close()

    out = [ok("spotify app", "Client ID is set") if client_id else warn(
        "spotify app", "no Spotify Client ID is set",
        "open the setup page's Spotify page and follow step 1")]
    if not links:
        out.append(warn("spotify link", "no Spotify account is linked",
                        "open the Spotify page and press Link Spotify"))
    now = time.time()
    reminder = config.spotify.relink_reminder_days
    for conn in links:
        name = f"spotify link {conn.display_name or conn.user_id}"
        ends = link_expires_at_of(conn)
        if conn.state == connections.RELINK_NEEDED:
            out.append(bad(name, "Spotify refused this link (expired or revoked)",
                           "that user opens the Spotify page and presses Link Spotify"))
        elif ends <= now:
            out.append(bad(name, f"the link's 6 months ended on {_date(ends)}",
                           "that user opens the Spotify page and presses Link Spotify"))
        elif needs_reminder_of(conn, reminder, now):
            out.append(warn(name, f"the link ends on {_date(ends)}",
                            "that user re-links on the Spotify page before then"))
        else:
            out.append(ok(name, f"linked until {_date(ends)}"))
    if links and not any(c.user_id == listener for c in links):
        out.append(warn("spotify listener", "no linked user is the active listener",
                        "choose whose music plays on the setup page"))
    if not speaker_id and not speaker_name:
        out.append(warn("spotify speaker", "no speaker is chosen",
                        "choose one in step 3 of the Spotify page"))
        return out
    listening = next((c for c in links if c.user_id == listener), None)
    out.append(await _probe_speaker(config, listening, speaker_id, speaker_name))
    return out


async def _probe_speaker(config: Config, conn: connections.Connection | None,
                         speaker_id: str, speaker_name: str) -> Any:
    from appliance.core.checks import ok, warn
    from appliance.core.crypto import KeyFileError, Sealer, SealError

    name = "spotify speaker"
    if conn is None or conn.state != connections.LINKED or conn.expires_at <= time.time() + 30:
        return ok(name, f"{speaker_name!r} chosen (not probed: no fresh access token here; "
                  "the running box refreshes it)")
    try:
        sealer = Sealer.from_file(config.paths.key_path)
        token = sealer.open(conn.access_token, user_id=conn.user_id, platform="spotify",
                            field="access_token")
    except (KeyFileError, SealError, OSError):
        return ok(name, f"{speaker_name!r} chosen (not probed: the key is not readable here)")
    url = config.spotify.api_url.rstrip("/") + "/me/player/devices"
    try:
        async with aiohttp.ClientSession() as http, http.get(
                url, headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as resp:
            if resp.status != 200:
                return warn(name, f"Spotify answered HTTP {resp.status} to the device list",
                            "run `mooddj doctor` again later; see `mooddj logs` if it persists")
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return warn(name, "Spotify did not answer the device list request",
                    "check the box's internet connection")
    devices = body.get("devices") if isinstance(body, dict) else None
    for d in devices or []:
        if isinstance(d, dict) and (d.get("id") == speaker_id or d.get("name") == speaker_name):
            if d.get("is_restricted"):
                return warn(name, f"{speaker_name!r} does not accept remote control",
                            "choose another speaker on the Spotify page")
            return ok(name, f"{speaker_name!r} is visible to Spotify")
    return warn(name, f"{speaker_name!r} is not in Spotify's device list (asleep or off)",
                "wake it by playing something on it once from the Spotify app")
