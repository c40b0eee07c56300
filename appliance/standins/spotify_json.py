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
    """A full track object as the Web API returns it (no popularity, like new apps)."""
    artists = [{"id": artist_id(a.strip()), "name": a.strip(), "type": "artist",
                "uri": f"spotify:artist:{artist_id(a.strip())}",
                "href": f"{base}artists/{artist_id(a.strip())}"}
               for a in t.artists.split(",")]
    album_id = artist_id(t.album)
    return {
        "id": t.id, "name": t.name, "type": "track", "uri": t.uri,
        "href": f"{base}tracks/{t.id}", "duration_ms": t.duration_ms, "explicit": False,
        "is_local": False, "is_playable": True, "track_number": 1, "disc_number": 1,
        "artists": artists,
        "album": {"id": album_id, "name": t.album, "type": "album", "album_type": "single",
                  "uri": f"spotify:album:{album_id}", "images": [], "artists": artists},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{t.id}"},
    }


def paging(request: web.Request, items: list[Any], href: str, *, max_limit: int = 50,
           default_limit: int = 20) -> dict[str, Any] | web.Response:
    """A paging object over `items` from the request's `limit` and `offset`."""
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
    return {"href": f"{href}?offset={offset}&limit={limit}", "items": page, "limit": limit,
            "offset": offset, "total": len(items), "next": nxt, "previous": prev}
