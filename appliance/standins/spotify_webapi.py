"""The stand-in's Web API: profile, player, devices, library, playlists, search.

Player endpoints need Premium (403 PREMIUM_REQUIRED otherwise), refuse
restricted devices, and answer like Spotify: 404 NO_ACTIVE_DEVICE, 404 "Device
not found", 403 "Restriction violated" (reason UNKNOWN), 403
VOLUME_CONTROL_DISALLOW. Endpoints Spotify removed for new apps answer 403/404.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from appliance.standins.spotify_accounts import bearer_account
from appliance.standins.spotify_json import (
    SIM_KEY,
    episode_json,
    error,
    paged,
    track_json,
    user_json,
)
from appliance.standins.spotify_player import SimSpeaker
from appliance.standins.spotify_rules import (
    DEV_MODE_SEARCH_DEFAULT,
    DEV_MODE_SEARCH_LIMIT,
    Rules,
    device_json,
    playlist_readable,
)

REMOVED = (  # (pattern, status) of endpoints gone for new apps
    (re.compile(r"^/v1/audio-features(/.*)?$"), 403),
    (re.compile(r"^/v1/audio-analysis/.*$"), 403),
    (re.compile(r"^/v1/recommendations(/.*)?$"), 403),
    (re.compile(r"^/v1/artists/[^/]+/related-artists$"), 403),
    (re.compile(r"^/v1/artists/[^/]+/top-tracks$"), 403),
    (re.compile(r"^/v1/browse/.*$"), 403),
    (re.compile(r"^/v1/(tracks|albums|artists)$"), 403),
)

NO_ACTIVE = ("Player command failed: No active device found", "NO_ACTIVE_DEVICE")


def _account(request: web.Request) -> tuple[str, web.Response | None]:
    account, problem = bearer_account(request)
    if account is None:
        return "", error(401, problem)
    return account, None


def _premium_problem(request: web.Request, account: str) -> web.Response | None:
    sim = request.app[SIM_KEY]
    if not sim.accounts[account].get("premium", True):
        return error(403, "Player command failed: Premium required", "PREMIUM_REQUIRED")
    return None


def _premium_account(request: web.Request) -> tuple[str, web.Response | None]:
    """The caller's account for a player command: 401 without a token, 403 without Premium."""
    account, bad = _account(request)
    return account, bad or _premium_problem(request, account)


def _target(request: web.Request, *, activate: bool) -> tuple[SimSpeaker | None,
                                                               web.Response | None]:
    """The device a command acts on (named by device_id or the active one)."""
    sim = request.app[SIM_KEY]
    player = sim.player
    device_id = request.query.get("device_id")
    if device_id:
        sp = next((s for s in player.visible() if s.id == device_id), None)
        if sp is None:
            return None, error(404, "Device not found")
        if sp.is_restricted:
            return None, error(403, "Player command failed: Device not controllable",
                               "DEVICE_NOT_CONTROLLABLE")
        if activate:
            player.transfer(sp, play=False)
        elif player.active_id != sp.id:
            return None, error(404, *NO_ACTIVE)
        player.touch(sp)
        return sp, None
    sp = player.active()
    if sp is None:
        return None, error(404, *NO_ACTIVE)
    player.touch(sp)
    return sp, None


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def me(request: web.Request) -> web.Response:
    """`GET /me`: the profile (no product, email or country)."""
    account, bad = _account(request)
    if bad:
        return bad
    acc = request.app[SIM_KEY].accounts[account]
    # No product / email / country: removed from /me for new apps.
    # followers: gone for new apps too (spotify-me.json)
    return web.json_response({**user_json(account, acc["display_name"],
                                          request.app[SIM_KEY].api_url), "images": []})


async def player_state(request: web.Request) -> web.Response:
    """`GET /me/player`: 204 when nothing is active; a podcast or an ad when one is on."""
    _acct, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    p = sim.player
    sp = p.active()
    if sim.foreign and sp is not None:
        return web.json_response(_foreign_state(request, sim, sp))
    if sp is None or p.current is None:
        return web.Response(status=204)
    pid = (p.context_uri or "").rsplit(":", 1)[-1]
    ctx = ({"external_urls": {"spotify": f"https://open.spotify.com/playlist/{pid}"},
            "href": f"{sim.api_url}playlists/{pid}", "type": "playlist", "uri": p.context_uri}
           if p.context_uri else None)
    return web.json_response({
        "device": device_json(sp.to_json(True), sim.rules), "repeat_state": "off",
        "shuffle_state": False, "smart_shuffle": False,
        "context": ctx, "timestamp": int(time.time() * 1000), "progress_ms": p.progress_ms(),
        "is_playing": p.is_playing, "item": track_json(p.current, sim.api_url),
        "currently_playing_type": "track",
        # Spotify lists only what is disallowed now (spotify-player-track.json).
        "actions": {"disallows": {"resuming": True} if p.is_playing else {"pausing": True}}})


def _foreign_state(request: web.Request, sim: Any, sp: SimSpeaker) -> dict[str, Any]:
    """Someone else's podcast or an ad on the speaker (spotify-player-episode*.json, -ad)."""
    kind = sim.foreign
    asked = request.query.get("additional_types", "").split(",")
    item = episode_json(sim.api_url) if kind == "episode" and "episode" in asked else None
    ctx = ({"type": "show", "uri": "spotify:show:1Y9ExMgMxoBVrgrfU7u0nD",
            "href": f"{sim.api_url}shows/1Y9ExMgMxoBVrgrfU7u0nD",
            "external_urls": {"spotify": "https://open.spotify.com/show/1Y9ExMgMxoBVrgrfU7u0nD"}}
           if kind == "episode" else None)
    return {"device": device_json(sp.to_json(True), sim.rules), "repeat_state": "off",
            "shuffle_state": False, "smart_shuffle": False, "context": ctx,
            "timestamp": int(time.time() * 1000), "progress_ms": 5410, "is_playing": True,
            "item": item,
            "currently_playing_type": kind,
            "actions": {"disallows": {"resuming": True}}}


async def devices(request: web.Request) -> web.Response:
    """`GET /me/player/devices`."""
    _acct, bad = _account(request)
    if bad:
        return bad
    p = request.app[SIM_KEY].player
    rules = request.app[SIM_KEY].rules
    return web.json_response({"devices": [device_json(s.to_json(s.id == p.active_id), rules)
                                          for s in p.visible()]})


async def transfer(request: web.Request) -> web.Response:
    """`PUT /me/player`: transfer to one device."""
    _, bad = _premium_account(request)
    if bad:
        return bad
    body = await _json_body(request)
    ids = body.get("device_ids")
    if not isinstance(ids, list) or len(ids) != 1:
        return error(400, "Exactly one device id must be given")
    p = request.app[SIM_KEY].player
    sp = next((s for s in p.visible() if s.id == ids[0]), None)
    if sp is None:
        return error(404, "Device not found")
    if sp.is_restricted:
        return error(403, "Player command failed: Device not controllable",
                     "DEVICE_NOT_CONTROLLABLE")
    p.transfer(sp, play=bool(body.get("play")))
    return web.Response(status=204)


def _track_ids(sim: Any, uris: list[Any]) -> list[str] | None:
    out = []
    for uri in uris:
        tid = str(uri).rsplit(":", 1)[-1]
        if not str(uri).startswith("spotify:track:") or tid not in sim.player.tracks:
            return None
        out.append(tid)
    return out


async def play(request: web.Request) -> web.Response:
    """`PUT /me/player/play`: start uris or a context, or resume."""
    account, bad = _premium_account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    body = await _json_body(request)
    _sp, bad = _target(request, activate=True)
    if bad:
        return bad
    p = sim.player
    position = int(body.get("position_ms") or 0)
    offset: dict[str, Any] = body["offset"] if isinstance(body.get("offset"), dict) else {}
    if body.get("uris") is not None:
        ids = _track_ids(sim, body["uris"]) if isinstance(body["uris"], list) else None
        if not ids:
            return error(400, "Invalid track uri")
        if sim.rules.refuse_play & set(ids):
            return error(403, "Player command failed: Restriction violated", "UNKNOWN")
        p.play(ids, None, int(offset.get("position") or 0), position)
        sim.foreign = None
    elif body.get("context_uri"):
        ids = sim.context_tracks(account, str(body["context_uri"]))
        if not ids:
            return error(404, "Context not found")
        p.play(ids, str(body["context_uri"]), int(offset.get("position") or 0), position)
        sim.foreign = None
    elif not p.resume():
        return error(403, "Player command failed: Restriction violated", "UNKNOWN")
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    """`PUT /me/player/pause`."""
    return await _command(request, "pause")


async def next_track(request: web.Request) -> web.Response:
    """`POST /me/player/next`."""
    return await _command(request, "next")


async def previous_track(request: web.Request) -> web.Response:
    """`POST /me/player/previous`."""
    return await _command(request, "previous")


async def _command(request: web.Request, what: str) -> web.Response:
    _, bad = _premium_account(request)
    if bad:
        return bad
    _sp, bad = _target(request, activate=False)
    if bad:
        return bad
    p = request.app[SIM_KEY].player
    if what == "pause":
        if not p.pause():
            return error(403, "Player command failed: Restriction violated", "UNKNOWN")
    elif what == "next":
        p.next()
    else:
        p.previous()
    return web.Response(status=204)


async def volume(request: web.Request) -> web.Response:
    """`PUT /me/player/volume`."""
    _, bad = _premium_account(request)
    if bad:
        return bad
    try:
        value = int(request.query.get("volume_percent", ""))
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        return error(400, "Invalid volume percent")
    sp, bad = _target(request, activate=False)
    if bad:
        return bad
    assert sp is not None
    if not sp.supports_volume:
        return error(403, "Player command failed: Cannot control device volume",
                     "VOLUME_CONTROL_DISALLOW")
    request.app[SIM_KEY].player.set_volume(sp, value)
    return web.Response(status=204)


async def queue(request: web.Request) -> web.Response:
    """`POST /me/player/queue`."""
    _, bad = _premium_account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    ids = _track_ids(sim, [request.query.get("uri", "")])
    if not ids:
        return error(400, "Invalid base62 id")
    _sp, bad = _target(request, activate=False)
    if bad:
        return bad
    sim.player.add_to_queue(ids[0])
    return web.Response(status=204)


async def saved_tracks(request: web.Request) -> web.Response:
    """`GET /me/tracks`."""
    account, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    items = [{"added_at": "2026-01-01T00:00:00Z", "track": track_json(sim.player.tracks[t],
                                                                      sim.api_url)}
             for t in sim.accounts[account]["saved"]]
    return paged(request, items, f"{sim.api_url}me/tracks")


def _renamed(rules: Rules, new: str) -> str:
    """`items`/`item` after the February 2026 rename, `tracks`/`track` before it."""
    return new if rules.items_rename else {"items": "tracks", "item": "track"}[new]


async def playlists(request: web.Request) -> web.Response:
    """`GET /me/playlists` (the count under `tracks`, or `items` after the rename)."""
    account, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    rules = sim.rules
    items: list[dict[str, Any] | None] = []
    for pl in sim.accounts[account]["playlists"]:
        owner = pl.get("owner") or account
        if owner == "spotify" and rules.null_playlist_entries:
            items.append(None)
            continue
        counts = {"href": f"{sim.api_url}playlists/{pl['id']}/{_renamed(rules, 'items')}",
                  "total": len(pl["tracks"])}
        name = sim.accounts[owner]["display_name"] if owner in sim.accounts else "Spotify"
        items.append({
            "collaborative": bool(pl.get("collaborative")), "description": "",
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{pl['id']}"},
            "href": f"{sim.api_url}playlists/{pl['id']}", "id": pl["id"], "images": [],
            "name": pl["name"], "owner": user_json(owner, name, sim.api_url),
            "primary_color": None, "public": False, "snapshot_id": "c2lt",
            _renamed(rules, "items"): counts, "type": "playlist",
            "uri": f"spotify:playlist:{pl['id']}"})
    return paged(request, items, f"{sim.api_url}me/playlists")


async def playlist_items(request: web.Request) -> web.Response:
    """`GET /playlists/{id}/items` (and the old `/tracks`, refused after the rename)."""
    account, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    rules = sim.rules
    if rules.items_rename and request.path.endswith("/tracks"):
        return error(403, "Forbidden")
    pid = request.match_info["pid"]
    pl = sim.playlist(pid)
    if pl is None:
        return error(404, "Resource not found")
    if not playlist_readable(pl, account, rules):
        return error(403, "Forbidden")
    key = _renamed(rules, "item")
    owner = pl.get("owner") or account
    by = user_json(owner, sim.accounts[owner]["display_name"] if owner in sim.accounts
                   else "Spotify", sim.api_url)
    items = [{"added_at": "2026-01-01T00:00:00Z", "added_by": by, "is_local": False,
              "primary_color": None, key: track_json(sim.player.tracks[t], sim.api_url)}
             for t in pl["tracks"]]
    return paged(request, items, f"{sim.api_url}playlists/{pid}/items", max_limit=100,
                 default_limit=100)


async def search(request: web.Request) -> web.Response:
    """`GET /search?type=track`."""
    _acct, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    q = request.query.get("q", "").strip()
    if not q:
        return error(400, "No search query")
    if "track" not in request.query.get("type", "").split(","):
        return error(400, "Bad search type field")
    words = [w.lower() for w in re.findall(r"\w+", q)]
    hits = [track_json(t, sim.api_url) for t in sim.player.tracks.values()
            if any(w in f"{t.name} {t.artists} {t.album}".lower() for w in words)]
    dev = sim.rules.dev_mode
    return paged(request, hits, f"{sim.api_url}search", under="tracks",
                 max_limit=DEV_MODE_SEARCH_LIMIT if dev else 50,
                 default_limit=DEV_MODE_SEARCH_DEFAULT if dev else 20)


async def track(request: web.Request) -> web.Response:
    """`GET /tracks/{id}`."""
    _acct, bad = _account(request)
    if bad:
        return bad
    sim = request.app[SIM_KEY]
    t = sim.player.tracks.get(request.match_info["tid"])
    if t is None:
        return error(404, "Resource not found")
    return web.json_response(track_json(t, sim.api_url))


def removed_status(path: str) -> int | None:
    """403/404 for endpoints Spotify removed for new apps, else None."""
    for pattern, status in REMOVED:
        if pattern.match(path):
            return status
    return None


def add_routes(app: web.Application) -> None:
    """Register the Web API routes."""
    r = app.router
    r.add_get("/v1/me", me)
    r.add_get("/v1/me/", me)  # spotipy asks for "me/"
    r.add_get("/v1/me/player", player_state)
    r.add_put("/v1/me/player", transfer)
    r.add_get("/v1/me/player/devices", devices)
    r.add_put("/v1/me/player/play", play)
    r.add_put("/v1/me/player/pause", pause)
    r.add_post("/v1/me/player/next", next_track)
    r.add_post("/v1/me/player/previous", previous_track)
    r.add_put("/v1/me/player/volume", volume)
    r.add_post("/v1/me/player/queue", queue)
    r.add_get("/v1/me/tracks", saved_tracks)
    r.add_get("/v1/me/playlists", playlists)
    r.add_get("/v1/playlists/{pid}/tracks", playlist_items)
    r.add_get("/v1/playlists/{pid}/items", playlist_items)
    r.add_get("/v1/search", search)
    r.add_get("/v1/tracks/{tid}", track)
