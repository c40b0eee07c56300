"""The client against the stand-in with the real rules switched on: nothing stops the music."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.core.bus import ErrorRaised
from appliance.core.config import PlayerConfig
from appliance.core.settings import Settings, text_key
from appliance.music.errors import (
    DeviceNotControllable,
    NotRegistered,
    PlaybackRefused,
    PlaylistUnavailable,
)
from appliance.music.moods import DEFAULT_TARGETS
from appliance.music.selector import Selector
from appliance.standins.spotify_rules import DEV_MODE_USERS, Rules
from appliance.web.routes.spotify import api_error
from tests.music.spotify_kit import spotify_env

EVERYTHING = "99simEverything0000000"


async def test_selection_with_every_real_rule_on(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.rules = Rules.real()
        happy = env.sim.playlists[0]["id"]
        await Settings(env.store).set(text_key("mood_playlists"),
                                      json.dumps({"happy": [happy, EVERYTHING]}))
        sel = Selector(env.svc.api, env.store, None, PlayerConfig(), bus=env.bus)
        picks = await sel.pick("u_alice", "happy", DEFAULT_TARGETS["happy"], count=3)
        assert len(picks) == 3 and {t.id for t in picks} <= set(env.sim.playlists[0]["tracks"])
        assert [s.playlist_id for s in sel.skipped("u_alice")] == [EVERYTHING]
        lists = await env.svc.api.playlists("u_alice")
        assert EVERYTHING not in {p["id"] for p in lists}  # a null entry, skipped
        found = await env.svc.api.search_tracks("u_alice", "a", limit=25)
        assert len(found) == 25
        searches = [r for r in env.sim.requests if r[1] == "/v1/search"]
        assert searches and all(int(r[2]["limit"]) <= 10 and r[4] == 200 for r in searches)
        assert not [e for e in env.published(ErrorRaised) if e.key.startswith("music.")]


async def test_refused_playlist_with_an_empty_body_is_still_named(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.rules.dev_mode = env.sim.rules.empty_error_bodies = True
        with pytest.raises(PlaylistUnavailable) as got:
            await env.svc.api.playlist_tracks("u_alice", EVERYTHING)
        assert got.value.status == 403 and "own" in got.value.message
        last = env.sim.requests[-1]
        assert last[1].endswith("/items") and last[4] == 403


async def test_the_sixth_household_member_is_told_to_add_the_account(tmp_path: Path) -> None:
    async with spotify_env(tmp_path, users=("u_alice", "u_frank")) as env:
        env.sim.rules.five_users = True
        assert list(env.sim.accounts).index("frank") == DEV_MODE_USERS
        with pytest.raises(NotRegistered) as got:
            await env.link("u_frank", "frank")
        assert "User Management" in got.value.message and "at most 5" in got.value.message
        assert "try again" not in got.value.message
        assert api_error(got.value).code == "not_registered"
        await env.link("u_alice", "alice")  # the first five are fine


async def test_a_member_dropped_from_the_list_later_sees_it_as_a_problem(tmp_path: Path) -> None:
    async with spotify_env(tmp_path, users=("u_frank",)) as env:
        await env.link("u_frank", "frank")
        env.sim.rules.five_users = True
        with pytest.raises(NotRegistered):
            await env.svc.api.devices("u_frank")
        [raised] = [e for e in env.published(ErrorRaised) if e.key.startswith("spotify.not_reg")]
        assert "User Management" in raised.hint


async def test_player_commands_under_the_real_rules(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.rules = Rules.real()
        api = env.svc.api
        dev = env.sim.speaker_id("Living Room")
        first, second = list(env.sim.player.tracks)[:2]
        await api.play("u_alice", device_id=dev, uris=[f"spotify:track:{first}"])
        await api.queue("u_alice", f"spotify:track:{second}", device_id=dev)
        await api.set_volume("u_alice", 35, device_id=dev)
        await api.pause("u_alice", device_id=dev)
        assert [r[4] for r in env.sim.requests[-4:]] == [200, 200, 200, 200]  # text bodies
        env.sim.rules.refuse_play = {second}
        with pytest.raises(PlaybackRefused):
            await api.play("u_alice", device_id=dev, uris=[f"spotify:track:{second}"])


async def test_a_restricted_speaker_without_id_is_refused_not_crashed(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.rules.null_device_ids = True
        devices = await env.svc.speakers.list("u_alice", refresh=True)
        tv = next(d for d in devices if d.is_restricted)
        assert tv.id == "" and not tv.controllable
        await env.svc.speakers.choose(tv.id, tv.name)
        with pytest.raises(DeviceNotControllable):
            await env.svc.speakers.resolve("u_alice")


async def test_podcast_and_ad_on_the_speaker(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        env.sim.play_podcast("Kitchen")
        pb = await env.svc.api.playback("u_alice")
        assert pb.kind == "episode" and pb.foreign and pb.track is None
        assert pb.device is not None and pb.device.name == "Kitchen"
        env.sim.play_ad()
        assert (await env.svc.api.playback("u_alice")).kind == "ad"
        env.sim.stop_foreign()
        assert (await env.svc.api.playback("u_alice")).kind == "nothing"
