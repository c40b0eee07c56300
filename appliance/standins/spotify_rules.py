"""Rules of the real Web API the Spotify stand-in can switch on, each traced to the corpus.

Every switch names the recorded replies it reproduces (tests/contracts/corpus/, listed
with their sources in tests/contracts/SOURCES.md); tests/contracts/test_standin_shapes.py
checks that the stand-in's answers have the recorded shapes. All are off by default
(the stand-in then behaves like an app with extended quota); `Rules.real()` turns every
one on, as a new app in Development Mode meets Spotify since February 2026.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

NOT_REGISTERED = "User not registered in the Developer Dashboard"
DEV_MODE_USERS = 5  # february-2026-migration-guide: users per Development Mode app
DEV_MODE_SEARCH_LIMIT = 10  # spotify-devmode-search-limit.json
DEV_MODE_SEARCH_DEFAULT = 5  # rinukkusu/spotify-dart#248: default limit 20 -> 5


@dataclass
class Rules:
    """The switches; the /sim page and tests flip them at run time."""

    # spotify-devmode-search-limit.json, spotify-devmode-playlist-forbidden.json:
    # /search refuses limit > 10; items only of playlists the account owns or collaborates on.
    dev_mode: bool = False
    # spotify-not-registered.json: accounts beyond the first 5 get a plain-text 403.
    five_users: bool = False
    # spotify-player-command-text-200.json: a player command answers 200 with a text body.
    text_200_commands: bool = False
    # spotify-devices-volume-null.json, spotify-player-episode.json: restricted speakers
    # are listed with `id: null`.
    null_device_ids: bool = False
    # spotify-empty-error.json, spotify-rate-limited.json (429-empty): a 403 without a
    # player reason and a 429 come without a body.
    empty_error_bodies: bool = False
    # spotify-my-playlists-nulls.json: Spotify-owned playlists are `null` in /me/playlists.
    null_playlist_entries: bool = False
    # spotify-playlist-items-renamed.json, spotify-devmode-old-tracks-path.json: `items`
    # replaces `tracks`, entries carry `item`, and /playlists/{id}/tracks is a 403.
    items_rename: bool = False
    # spotify-player-errors-seen.json (restriction-violated): these track ids cannot be
    # started with PUT /me/player/play {"uris": [...]}.
    refuse_play: set[str] = field(default_factory=set)

    @classmethod
    def real(cls) -> Rules:
        """Every rule a Development Mode app meets today."""
        on: dict[str, Any] = {f.name: True for f in fields(cls) if f.type == "bool"}
        return cls(**on)

    def switches(self) -> dict[str, bool]:
        """The on/off rules by name (for the /sim page)."""
        return {f.name: bool(getattr(self, f.name)) for f in fields(self) if f.type == "bool"}

    def set(self, name: str, on: bool) -> None:
        """Flip one on/off rule; KeyError for an unknown name."""
        if name not in self.switches():
            raise KeyError(name)
        setattr(self, name, on)


def registered(accounts: dict[str, Any], rules: Rules) -> set[str] | None:
    """The accounts on the app's user list (None: everyone, the rule is off)."""
    return set(list(accounts)[:DEV_MODE_USERS]) if rules.five_users else None


def not_registered() -> web.Response:
    """Spotify's answer to an account missing from the user list: text, not JSON."""
    return web.Response(status=403, text=NOT_REGISTERED, content_type="text/plain")


def reshape(request: web.Request, resp: web.StreamResponse, rules: Rules) -> web.StreamResponse:
    """Apply the rules that change whole answers (player command bodies, error bodies)."""
    path = request.path
    if (rules.text_200_commands and resp.status == 204 and request.method in ("PUT", "POST")
            and path.startswith("/v1/me/player")):
        # The body looks like a snapshot id; the recorded answer had no JSON content type.
        return web.Response(status=200, text=secrets.token_urlsafe(20)[:27],
                            content_type="application/octet-stream")
    # Player reasons keep their body.
    if (rules.empty_error_bodies and resp.status in (403, 429) and path.startswith("/v1/")
            and isinstance(resp, web.Response) and resp.content_type == "application/json"
            and isinstance(resp.body, bytes) and b'"reason"' not in resp.body):
        headers = {k: v for k, v in resp.headers.items() if k.lower() == "retry-after"}
        return web.Response(status=resp.status, headers=headers)
    return resp


def device_json(device: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A device object as the rules list it (restricted speakers without id)."""
    if rules.null_device_ids and device.get("is_restricted"):
        return {**device, "id": None}
    return device


def playlist_readable(pl: dict[str, Any], account: str, rules: Rules) -> bool:
    """Development Mode: only playlists the account owns or collaborates on."""
    if not rules.dev_mode:
        return True
    return (pl.get("owner") or account) == account or bool(pl.get("collaborative"))
