"""Spotify's JSON shapes for the stand-in: tracks, paging objects and error bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from appliance.standins.catalog import CatalogTrack

if TYPE_CHECKING:
    from appliance.standins.spotify_server import SpotifySim

SIM_KEY: web.AppKey[SpotifySim] = web.AppKey("spotify_sim")


def error(status: int, message: str, reason: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    """Spotify's Web API error body `{"error": {"status", "message", "reason"?}}`."""
    body: dict[str, Any] = {"status": status, "message": message}
    if reason:
        body["reason"] = reason
    return web.json_response({"error": body}, status=status, headers=headers)


def oauth_error(status: int, code: str, description: str) -> web.Response:
    """The accounts service's error body `{"error", "error_description"}`."""
    return web.json_response({"error": code, "error_description": description}, status=status)


def artist_id(name: str) -> str:
    """A stable id-like string for a name."""
    return "".join(ch for ch in name if ch.isalnum())[:22].ljust(22, "0")


def track_json(t: CatalogTrack, base: str) -> dict[str, Any]:
    """A full track object as the Web API returns it to a Development Mode app.

    The shape of tests/contracts/corpus/spotify-player-track.json without `popularity`
    and `external_ids` (february-2026-migration-guide: removed for Development Mode).
    """
    artists = [{"external_urls": {"spotify": f"https://open.spotify.com/artist/{aid}"},
                "href": f"{base}artists/{aid}", "id": aid, "name": a.strip(), "type": "artist",
                "uri": f"spotify:artist:{aid}"}
               for a in t.artists.split(",") for aid in (artist_id(a.strip()),)]
    album_id = artist_id(t.album)
    return {
        "album": {"album_type": "single", "artists": artists,
                  "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
                  "href": f"{base}albums/{album_id}", "id": album_id, "images": [],
                  "name": t.album, "release_date": "2026-01-01",
                  "release_date_precision": "day", "total_tracks": 1, "type": "album",
                  "uri": f"spotify:album:{album_id}"},
        "artists": artists, "disc_number": 1, "duration_ms": t.duration_ms, "explicit": False,
        "external_urls": {"spotify": f"https://open.spotify.com/track/{t.id}"},
        "href": f"{base}tracks/{t.id}", "id": t.id, "is_local": False, "name": t.name,
        "track_number": 1, "type": "track", "uri": t.uri,
    }


def user_json(account: str, display_name: str, base: str) -> dict[str, Any]:
    """A public user object (playlist owners, `added_by`)."""
    return {"display_name": display_name,
            "external_urls": {"spotify": f"https://open.spotify.com/user/{account}"},
            "href": f"{base}users/{account}", "id": account, "type": "user",
            "uri": f"spotify:user:{account}"}


def paged(request: web.Request, items: list[Any], href: str, *, under: str | None = None,
          max_limit: int = 50, default_limit: int = 20) -> web.Response:
    """The paging object over `items` for the request's `limit` and `offset` (wrapped in
    `{under: ...}` when given, as search's `tracks`), or Spotify's 400 for a bad one."""
    try:
        limit = int(request.query.get("limit", default_limit))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        return error(400, "Invalid limit")
    if not 1 <= limit <= max_limit:
        return error(400, "Invalid limit")
    if offset < 0:
        return error(400, "Invalid offset")
    page = items[offset:offset + limit]
    nxt = f"{href}?offset={offset + limit}&limit={limit}" if offset + limit < len(items) else None
    prev = f"{href}?offset={max(0, offset - limit)}&limit={limit}" if offset > 0 else None
    body = {"href": f"{href}?offset={offset}&limit={limit}", "items": page, "limit": limit,
            "offset": offset, "total": len(items), "next": nxt, "previous": prev}
    return web.json_response({under: body} if under else body)


def episode_json(base: str) -> dict[str, Any]:
    """The podcast episode someone plays on a speaker (spotify-player-episode.json's shape)."""
    eid, show = "3o0RYoo5iOMKSmEbunsbvW", "1Y9ExMgMxoBVrgrfU7u0nD"
    return {
        "description": "A weekly show.", "duration_ms": 3690161, "explicit": False,
        "external_urls": {"spotify": f"https://open.spotify.com/episode/{eid}"},
        "href": f"{base}episodes/{eid}", "id": eid, "images": [],
        "is_externally_hosted": False, "is_playable": True, "language": "en-US",
        "languages": ["en-US"], "name": "Someone else's podcast",
        "release_date": "2024-07-26", "release_date_precision": "day",
        "resume_point": {"fully_played": False, "resume_position_ms": 0},
        "show": {"id": show, "name": "A Show", "publisher": "A Publisher", "type": "show",
                 "uri": f"spotify:show:{show}", "media_type": "audio", "total_episodes": 120},
        "type": "episode", "uri": f"spotify:episode:{eid}"}
