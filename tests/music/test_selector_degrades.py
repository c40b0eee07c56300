"""Selection degrades, never stops: a refused playlist is skipped and named; nothing at all
playable is a problem on the page and the LED, cleared by the next good pick."""

from __future__ import annotations

import json
from pathlib import Path

from spotify_kit import spotify_env

from appliance.core.bus import ErrorCleared, ErrorRaised
from appliance.core.config import PlayerConfig
from appliance.core.settings import Settings, text_key
from appliance.music.moods import DEFAULT_TARGETS
from appliance.music.selector import NOTHING_KEY, Selector

EVERYTHING = "99simEverything0000000"


async def test_a_refused_playlist_is_skipped_and_named_and_the_rest_is_used(
        tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.inject("GET", rf"/playlists/{EVERYTHING}/items", 403, message="Forbidden",
                       times=10)
        happy = env.sim.playlists[0]["id"]
        await Settings(env.store).set(text_key("mood_playlists"),
                                      json.dumps({"happy": [happy, EVERYTHING]}))
        sel = Selector(env.svc.api, env.store, None, PlayerConfig(), bus=env.bus)
        picks = await sel.pick("u_alice", "happy", DEFAULT_TARGETS["happy"], count=3)
        assert len(picks) == 3
        [skipped] = sel.skipped("u_alice")
        assert (skipped.playlist_id, skipped.name) == (EVERYTHING, "Everything")
        assert "owns" in skipped.why
        pool = await sel.pool("u_alice")
        happy_ids = set(env.sim.playlists[0]["tracks"])
        assert {t.id for t in picks} <= happy_ids and len(pool.tracks) > len(happy_ids)
        assert not env.published(ErrorRaised)


async def test_nothing_playable_is_reported_once_and_cleared(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.accounts["alice"]["saved"] = []
        env.sim.inject("GET", r"/playlists/[^/]+/items", 403, message="Forbidden", times=100)
        sel = Selector(env.svc.api, env.store, None, PlayerConfig())  # the client's bus
        assert await sel.pick("u_alice", "xyzzy", DEFAULT_TARGETS["happy"]) == []
        assert await sel.pick("u_alice", "xyzzy", DEFAULT_TARGETS["happy"]) == []
        raised = [e for e in env.published(ErrorRaised) if e.key == NOTHING_KEY]
        assert len(raised) == 1 and raised[0].source == "spotify"
        message = raised[0].message
        assert "'Happy Vibes'" in message and "3 more" in message and "music page" in message
        env.sim.injections.clear()
        await Settings(env.store).set(text_key("mood_playlists"), json.dumps(
            {"happy": env.sim.playlists[0]["id"]}))
        sel.invalidate()
        assert await sel.pick("u_alice", "happy", DEFAULT_TARGETS["happy"])
        assert [e.key for e in env.published(ErrorCleared)].count(NOTHING_KEY) == 1
