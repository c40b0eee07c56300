"""Domain errors of the Spotify client: what happened, and what a person can do next.

Messages never contain tokens, codes or Authorization headers; they are shown on
the page, on the CLI and in the log as they are.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

DEFAULT_RETRY_AFTER = 5.0


class SpotifyError(Exception):
    """A Spotify call failed; `status` is the HTTP status (0: no answer), `reason` Spotify's."""

    default_message = "Spotify did not accept the request; try again in a moment."

    def __init__(self, message: str | None = None, *, status: int = 0, reason: str = "") -> None:
        self.message = message or self.default_message
        self.status = status
        self.reason = reason
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotLinked(SpotifyError):
    """This user has no Spotify link yet."""

    default_message = "No Spotify account is linked for this user; link one on the Spotify page."


class RelinkNeeded(SpotifyError):
    """The refresh token was refused (expired or revoked): the user must link again."""

    default_message = ("Spotify no longer accepts this link (it expired or was revoked); "
                       "press Link Spotify on the Spotify page to link again.")


class LinkRefused(SpotifyError):
    """A link attempt was refused (state, denial, code or scopes); nothing was linked."""

    default_message = "Linking Spotify failed; press Link Spotify and try again."


class RateLimited(SpotifyError):
    """Spotify asked the box to wait `retry_after` seconds (quota_exceeded: the app's quota)."""

    def __init__(self, retry_after: float, quota_exceeded: bool = False, *,
                 message: str | None = None, status: int = 429,
                 reason: str = "") -> None:
        self.retry_after = max(0.0, float(retry_after))
        self.quota_exceeded = quota_exceeded
        if message is None:
            wait = _human_seconds(self.retry_after)
            if quota_exceeded:
                message = (f"Spotify says this app's request quota is spent; the box waits "
                           f"{wait} before asking again (check the app in Spotify's dashboard).")
            else:
                message = (f"Spotify asked the box to slow down; it waits {wait} before "
                           f"asking again. Nothing to do.")
        super().__init__(message, status=status,
                         reason=reason or ("QUOTA_EXCEEDED" if quota_exceeded else ""))


class NoActiveDevice(SpotifyError):
    """No Connect device is active and none was named (404 NO_ACTIVE_DEVICE)."""

    default_message = ("No Spotify speaker is active; choose a speaker on the Spotify page "
                       "or start Spotify on it once.")


class PremiumRequired(SpotifyError):
    """The account cannot control playback (403 PREMIUM_REQUIRED)."""

    default_message = ("This Spotify account has no Premium, which speaker control needs; "
                       "choose another listener or upgrade the account.")


class DeviceNotControllable(SpotifyError):
    """The speaker refuses remote control (restricted device, or no volume control)."""

    default_message = ("This speaker does not accept remote control from Spotify's Web API; "
                       "choose another speaker on the Spotify page.")


class SpeakerMissing(SpotifyError):
    """The chosen speaker is not in the device list (asleep or switched off)."""

    default_message = ("The chosen speaker is not visible to Spotify (asleep or off); "
                       "wake it (e.g. play something on it from the Spotify app) and the box "
                       "will find it.")


class SpotifyUnavailable(SpotifyError):
    """Spotify answered 5xx or did not answer in time, after the retries that are safe."""

    default_message = ("Spotify is not answering right now; the box keeps its state and "
                       "tries again shortly.")


class NotRegistered(SpotifyError):
    """The account is not on the app's user list (Development Mode): a plain-text 403."""

    default_message = ("Spotify refuses this account because it is not on your Spotify app's "
                       "user list. In the Spotify Developer Dashboard open your app, Settings, "
                       "User Management, and add this account's name and e-mail (an app in "
                       "Development Mode allows at most 5 users); then link again.")


class PlaylistUnavailable(SpotifyError):
    """The items of one playlist cannot be read; `playlist_id` names it."""

    default_message = ("Spotify does not let this app read the songs of this playlist: an "
                       "app in Development Mode reads only playlists the account owns or "
                       "collaborates on.")

    def __init__(self, message: str | None = None, *, playlist_id: str = "", status: int = 0,
                 reason: str = "") -> None:
        self.playlist_id = playlist_id
        super().__init__(message, status=status, reason=reason)


class Restricted(SpotifyError):
    """The command is not allowed in the current state ("Restriction violated").

    Example: pausing while already paused: callers of pause, resume, next and queue may
    treat it as success. On a play of tracks or a context it is `PlaybackRefused`.
    """

    default_message = "Spotify ignored the command because the player is already in that state."


class PlaybackRefused(Restricted):
    """Spotify would not start this track or context ("Restriction violated" on play).

    The same answer as `Restricted`, but on a play it is no harmless no-op: nothing
    started. Seen on single-track plays of tracks Spotify cannot play in the account's
    market. Catch it before `Restricted` where that is treated as success.
    """

    default_message = ("Spotify refused to play this on the speaker (\"Restriction "
                       "violated\"); nothing started.")


def _human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def parse_retry_after(value: str | None, now: float | None = None,
                      default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return default
    return max(0.0, when - (time.time() if now is None else now))


def _spotify_message(err: Any) -> str:
    return str(err.msg or "").split(":\n ", 1)[-1]


# Plain-text 403 bodies for an account missing from the app's user list (see
# tests/contracts/corpus/spotify-not-registered.json): three wordings seen so far.
_NOT_REGISTERED = re.compile(r"not registered|may not be registered|not approved for app", re.I)
# Player reasons meaning "already in that state": harmless to the caller.
_SAME_STATE = frozenset({"ALREADY_PAUSED", "NOT_PAUSED", "ALREADY_PLAYING"})


def not_registered(status: int, text: str) -> bool:
    """True for the 403 Spotify sends an account that is not on the app's user list."""
    return status == 403 and bool(_NOT_REGISTERED.search(text or ""))


def map_error(err: Any, *, device_id: str | None = None) -> SpotifyError:
    """The domain error for a spotipy `SpotifyException` (by status and `error.reason`)."""
    status = int(err.http_status or 0)
    reason = str(err.reason or "").upper()
    if status == 429:
        headers = err.headers or {}
        return RateLimited(parse_retry_after(headers.get("Retry-After")),
                           quota_exceeded=reason == "QUOTA_EXCEEDED"
                           or _spotify_message(err).strip().upper() == "QUOTA_EXCEEDED")
    if reason == "NO_ACTIVE_DEVICE":
        return NoActiveDevice(status=status, reason=reason)
    if reason == "PREMIUM_REQUIRED":
        return PremiumRequired(status=status, reason=reason)
    if reason == "VOLUME_CONTROL_DISALLOW":
        return DeviceNotControllable("This speaker does not let Spotify change its volume.",
                                     status=status, reason=reason)
    if reason in ("DEVICE_NOT_CONTROLLABLE", "REMOTE_CONTROL_DISALLOW"):
        return DeviceNotControllable(status=status, reason=reason)
    if reason in _SAME_STATE:
        return Restricted(status=status, reason=reason)
    if reason == "RATE_LIMITED":  # too many track plays in a row: a 403, no Retry-After
        return RateLimited(DEFAULT_RETRY_AFTER * 6, status=status, reason=reason)
    message = _spotify_message(err)
    if status == 403 and reason in ("", "UNKNOWN") and "Restriction violated" in message:
        # Spotify's only signal for this is the message text under reason UNKNOWN.
        return Restricted(status=status, reason=reason or "UNKNOWN")
    if not reason and not_registered(status, message):
        return NotRegistered(status=status)
    if status == 404 and device_id:
        return SpeakerMissing(status=status, reason=reason)
    if status >= 500:
        return SpotifyUnavailable(status=status, reason=reason)
    if reason:  # a documented player reason: the command cannot be done now
        return SpotifyError(f"Spotify cannot do that on the speaker right now ({reason}).",
                            status=status, reason=reason)
    what = f"HTTP {status}".strip()
    return SpotifyError(f"Spotify refused the request ({what}); try again, or re-link if it "
                        "keeps happening.",
                        status=status, reason=reason)
