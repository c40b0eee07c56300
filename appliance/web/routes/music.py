"""The music page (`/music`) and its JSON API: mood targets, per-mood playlists,
manual mood, active listener, mood history. Plain forms work without JavaScript;
JSON callers send `Accept: application/json` and the `X-CSRF-Token` header.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiohttp import web

from appliance.core.bus import MOODS, ManualMood, PlayerState
from appliance.core.settings import ACTIVE_LISTENER
from appliance.music import history, listeners, moods
from appliance.music.errors import SpotifyError
from appliance.music.player import PlayerService
from appliance.music.selector import MOOD_PLAYLISTS, parse_playlist_id
from appliance.web.kit.bodies import read_body, sent_json
from appliance.web.kit.guards import current_user, require_user
from appliance.web.kit.keys import DEPS, SETTINGS
from appliance.web.kit.render import add_nav, render
from appliance.web.kit.responses import ApiError, json_data

logger = logging.getLogger(__name__)


def _player(request: web.Request) -> PlayerService | None:
    return request.app[DEPS].player


# Fixed texts for plain-form results (the address carries a code, never a message).
NOTICES = {
    "targets": "Mood targets saved.", "playlists": "Mood playlists saved.",
    "listener": "The listener was changed.", "mood": "Mood chosen.",
}
ERRORS = {
    "bad_targets": "Those targets are not valid: valence and energy go from 0 to 1, tempo from "
                   "40 to 220. Nothing was changed.",
    "bad_playlist": "That is not a Spotify playlist link; copy the playlist's link in Spotify "
                    "and paste it.",
    "not_linked": "That person has no linked Spotify account; link one on the Spotify page.",
    "bad_mood": "Unknown mood; choose one of the buttons.",
    "bad_minutes": "Minutes must be a number between 1 second and 24 hours.",
    "bad_json": "The request could not be read; reload the page and try again.",
}


def _done(request: web.Request, data: Any, notice: str) -> web.Response:
    if sent_json(request):
        return json_data(data)
    raise web.HTTPSeeOther(f"/music?done={notice}")


def _form_errors(handler: Any) -> Any:
    """Plain forms get the page back with a message instead of a JSON error."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            if sent_json(request) or err.code not in ERRORS:
                raise
            raise web.HTTPSeeOther(f"/music?error={err.code}") from None
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _targets_json(targets: dict[str, moods.MoodTarget]) -> dict[str, dict[str, float]]:
    return {m: {"valence": t.valence, "energy": t.energy, "tempo": t.tempo}
            for m, t in targets.items()}


def _targets_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """`happy.valence=0.8` form fields -> {"happy": {"valence": 0.8, ...}}."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in form.items():
        if "." not in key:
            continue
        mood, field = key.split(".", 1)
        try:
            out.setdefault(mood, {})[field] = float(value)
        except (TypeError, ValueError):
            out.setdefault(mood, {})[field] = value
    return out


async def get_targets(request: web.Request) -> web.Response:
    """The five mood targets (and the defaults)."""
    require_user(request)
    targets = await moods.load_targets(request.app[SETTINGS])
    return json_data({"targets": _targets_json(targets),
                      "defaults": _targets_json(moods.DEFAULT_TARGETS)})


async def post_targets(request: web.Request) -> web.Response:
    """Change some mood targets; `{"reset": true}` restores the defaults."""
    require_user(request)
    settings = request.app[SETTINGS]
    body = await read_body(request)
    if body.get("reset") in (True, "1", "true"):
        await settings.set(moods.MOOD_TARGETS, moods.DEFAULT_TARGETS)
        return _done(request, {"targets": _targets_json(moods.DEFAULT_TARGETS)}, "targets")
    data = body.get("targets", body) if request.content_type == "application/json" \
        else _targets_from_form(body)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_targets", 'Send {"targets": {"happy": {"valence": 0.8, ...}}}; '
                       "nothing was changed.")
    try:
        changes = moods.validate_targets({k: v for k, v in data.items() if k != "csrf_token"})
    except ValueError as err:
        raise ApiError(400, "bad_targets", f"{err}; nothing was changed.") from None
    targets = await moods.save_targets(settings, changes)
    return _done(request, {"targets": _targets_json(targets)}, "targets")


async def post_playlists(request: web.Request) -> web.Response:
    """Pick playlists for moods: `{"sad": "<id, uri or link>", "happy": ""}` ('' clears)."""
    require_user(request)
    settings = request.app[SETTINGS]
    body = await read_body(request)
    current = await settings.get(MOOD_PLAYLISTS)
    for mood in MOODS:
        if mood not in body:
            continue
        raw = str(body[mood] or "").strip()
        if not raw:
            current.pop(mood, None)
            continue
        pid = parse_playlist_id(raw)
        if not pid:
            raise ApiError(400, "bad_playlist", f"{mood}: that is not a Spotify playlist id or "
                           "link; copy the playlist's link from Spotify and paste it.")
        current[mood] = [pid]
    await settings.set(MOOD_PLAYLISTS, current)
    player = _player(request)
    if player is not None:
        player.selection_changed()
    return _done(request, {"playlists": current}, "playlists")


async def post_listener(request: web.Request) -> web.Response:
    """Choose whose Spotify account plays (a household member with a linked account)."""
    require_user(request)
    deps = request.app[DEPS]
    body = await read_body(request)
    user_id = str(body.get("user_id") or body.get("userId") or "")
    player = _player(request)
    try:
        if player is not None:
            await player.set_listener(user_id)
        else:
            await listeners.set_active(request.app[SETTINGS], deps.bus, user_id)
    except ValueError as err:
        raise ApiError(400, "not_linked", str(err)) from None
    return _done(request, {"listener": user_id}, "listener")


async def post_mood(request: web.Request) -> web.Response:
    """Choose a mood by hand for `minutes` (`{"mood": null}` or `"auto"`: automatic again)."""
    require_user(request)
    deps = request.app[DEPS]
    body = await read_body(request)
    mood = body.get("mood") or None
    if mood == "auto":  # the README's and the Mood button's name for "no manual mood"
        mood = None
    if mood is not None and mood not in MOODS:
        raise ApiError(400, "bad_mood", f"Unknown mood; choose one of {', '.join(MOODS)}.")
    try:
        minutes = float(body.get("minutes") or deps.config.panel.manual_mood_minutes)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_minutes", "Minutes must be a number.") from None
    if not 1 / 60 <= minutes <= 24 * 60:
        raise ApiError(400, "bad_minutes", "Minutes must be between 1 second and 24 hours.")
    until = time.time() + minutes * 60 if mood else 0.0
    deps.bus.publish(ManualMood(mood=mood, until=until))
    return _done(request, {"mood": mood, "until": until}, "mood")


async def get_history(request: web.Request) -> web.Response:
    """Mood history summary over `days` (default 7; at most the retention)."""
    require_user(request)
    deps = request.app[DEPS]
    try:
        days = float(request.query.get("days", "7"))
        if not math.isfinite(days):
            raise ValueError(days)
    except ValueError:
        raise ApiError(400, "bad_days", "days must be a number.") from None
    days = min(max(days, 1 / 24), float(deps.config.player.mood_history_days))
    return json_data(await _summary(request, days))


async def _summary(request: web.Request, days: float) -> dict[str, Any]:
    """From the history service (with what it has not written yet), else from the store."""
    deps = request.app[DEPS]
    if deps.history is not None:
        return await deps.history.summary(days)
    return await deps.store.read(lambda db: history.summary(db, days))


async def music_page(request: web.Request) -> web.Response:
    """The music page: now playing, listener, manual mood, targets, playlists, history."""
    user = current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/signin")
    deps = request.app[DEPS]
    store, settings = deps.store, request.app[SETTINGS]
    player = _player(request)
    listener = await store.read(lambda db: listeners.linked_users(db))
    active = await settings.get(ACTIVE_LISTENER)
    mood_lists = await settings.get(MOOD_PLAYLISTS)
    own_lists: list[dict[str, Any]] = []
    if deps.spotify is not None and active:
        try:  # the page must not wait long for Spotify: a pasted link works too
            own_lists = await asyncio.wait_for(deps.spotify.api.playlists(active), 3.0)
        except (SpotifyError, TimeoutError) as err:
            logger.info("music page: playlists unavailable (%s)", type(err).__name__)
    state = deps.bus.latest(PlayerState)
    summary = await _summary(request, 7)
    return render(request, "music.html", {
        "me": user, "moods": MOODS, "state": state,
        "snapshot": player.snapshot() if player is not None else {},
        "listeners": listener, "listener_id": active,
        "targets": await moods.load_targets(settings), "mood_playlists": mood_lists,
        "own_playlists": own_lists, "summary": summary,
        "skipped": player.skipped_playlists(active) if player is not None and active else [],
        "manual_minutes": deps.config.panel.manual_mood_minutes,
        "config_days": deps.config.player.mood_history_days,
        "error": ERRORS.get(request.query.get("error", ""), ""),
        "message": NOTICES.get(request.query.get("done", ""), ""),
    })


def add_routes(app: web.Application) -> None:
    """Register the music page and its API."""
    app.router.add_get("/music", music_page)
    app.router.add_get("/api/mood-targets", get_targets)
    app.router.add_post("/api/mood-targets", _form_errors(post_targets))
    app.router.add_post("/api/mood-playlists", _form_errors(post_playlists))
    app.router.add_post("/api/listener", _form_errors(post_listener))
    app.router.add_post("/api/mood", _form_errors(post_mood))
    app.router.add_get("/api/history", get_history)
    add_nav(app, "/music", "Music", order=30)
