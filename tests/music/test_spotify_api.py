"""The Web API client against the stand-in: error mapping, retries, rate limits, commands."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

import pytest
from spotify_kit import spotify_env

from appliance.core.bus import ErrorCleared, ErrorRaised, LinkState
from appliance.music.errors import (
    DeviceNotControllable,
    PremiumRequired,
    RateLimited,
    Restricted,
    SpotifyUnavailable,
)
from appliance.music.spotify_api import parse_retry_after
from appliance.simmode.spotify_link import ensure_user
from appliance.standins.catalog import catalog
from appliance.standins.spotify_webapi import REMOVED

TRACKS = catalog()


@pytest.fixture
async def env(tmp_path):
    async with spotify_env(tmp_path) as e:
        await e.link("u_alice", "alice")
        await e.link("u_bob", "bob")
        yield e


def living(env) -> str:
    return env.sim.speaker_id("Living Room")


async def _start(env, n=3):
    await env.svc.api.play("u_alice", device_id=living(env), uris=[t.uri for t in TRACKS[:n]])


async def test_play_sends_the_exact_request_and_playback_reads_it_back(env):
    await _start(env)
    put = env.sim.calls("PUT", "/v1/me/player/play")[-1]
    assert put[2] == {"device_id": living(env)}
    assert put[3] == {"uris": [t.uri for t in TRACKS[:3]]}
    pb = await env.svc.api.playback("u_alice")
    assert pb.is_playing and pb.track.id == TRACKS[0].id and pb.device.name == "Living Room"
    assert pb.track.artists == TRACKS[0].artists and pb.track.duration_ms == TRACKS[0].duration_ms


async def test_playback_when_nothing_is_active(env):
    pb = await env.svc.api.playback("u_alice")
    assert not pb.is_playing and pb.track is None and pb.device is None


async def test_502_on_next_skips_exactly_one_track(env):
    await _start(env)
    env.sim.inject("POST", r"/me/player/next$", 502, applied=True)  # the skip happens, then 502
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.next("u_alice", device_id=living(env))
    assert len(env.sim.calls("POST", "/v1/me/player/next")) == 1
    assert env.sim.player.current.id == TRACKS[1].id
    assert [e.why for e in env.sim.player.history].count("next") == 1


async def test_502_on_a_get_is_retried_with_backoff(env):
    env.sim.inject("GET", r"/me/player/devices$", 502, times=2)
    devices = await env.svc.api.devices("u_alice")
    assert len(devices) == 3
    assert [r[4] for r in env.sim.calls("GET", "/v1/me/player/devices")] == [502, 502, 200]


async def test_gets_give_up_after_bounded_retries(env):
    env.sim.inject("GET", r"/me/player/devices$", 503, times=10)
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.devices("u_alice")
    assert len(env.sim.calls("GET", "/v1/me/player/devices")) == 3


async def test_queue_and_play_are_never_repeated_after_a_502(env):
    await _start(env)
    env.sim.inject("POST", r"/me/player/queue$", 502)
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.queue("u_alice", TRACKS[9].uri, device_id=living(env))
    env.sim.inject("PUT", r"/me/player/play$", 502)
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.play("u_alice", device_id=living(env), uris=[TRACKS[5].uri])
    assert len(env.sim.calls("POST", "/v1/me/player/queue")) == 1
    assert len(env.sim.calls("PUT", "/v1/me/player/play")) == 2  # the start and the one try


async def test_429_is_honoured_for_that_user_while_others_proceed(env):
    env.sim.inject("GET", r"/me/player/devices$", 429, retry_after=3600)
    t0 = time.monotonic()
    with pytest.raises(RateLimited) as info:
        await env.svc.api.devices("u_alice")
    assert info.value.retry_after == pytest.approx(3600, abs=5)
    with pytest.raises(RateLimited):  # refused locally: Spotify is not asked again
        await env.svc.api.playback("u_alice")
    assert len(env.sim.calls("GET", "/v1/me/player/devices")) == 1
    assert env.sim.calls("GET", "/v1/me/player") == []
    # another user and another endpoint class go on at once (nothing sleeps for an hour)
    assert len(await env.svc.api.devices("u_bob")) == 3
    assert len(await env.svc.api.saved_tracks("u_alice", limit=10)) == 10
    assert time.monotonic() - t0 < 60
    assert any(isinstance(e, ErrorRaised) and e.key == "spotify.rate_limited" for e in env.events)
    assert any(isinstance(e, LinkState) and e.state == "rate_limited" for e in env.events)
    assert env.svc.api.blocked_for("u_alice", "player") > 3000


async def test_429_wait_ends_and_the_error_clears(env):
    env.sim.inject("GET", r"/me/player/devices$", 429, retry_after=1)
    with pytest.raises(RateLimited):
        await env.svc.api.devices("u_alice")
    await asyncio.sleep(1.1)
    assert len(await env.svc.api.devices("u_alice")) == 3
    assert any(isinstance(e, ErrorCleared) and e.key == "spotify.rate_limited"
               for e in env.events)


async def test_429_quota_exceeded_is_reported_as_such(env):
    env.sim.inject("GET", r"/me/tracks$", 429, reason="QUOTA_EXCEEDED", retry_after=60)
    with pytest.raises(RateLimited) as info:
        await env.svc.api.saved_tracks("u_alice")
    assert info.value.quota_exceeded and "quota" in info.value.message


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    now = time.time()
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(120, abs=1.5)
    assert parse_retry_after("garbage") > 0


async def test_no_active_device_transfers_to_the_chosen_speaker_then_plays(env):
    env.sim.inject("PUT", r"/me/player/play$", 404, reason="NO_ACTIVE_DEVICE")
    await env.svc.api.play("u_alice", device_id=living(env), uris=[TRACKS[0].uri])
    calls = [(m, p, s) for m, p, _q, _b, s, _t in env.sim.requests if p.startswith("/v1/me/pl")]
    assert calls == [("PUT", "/v1/me/player/play", 404), ("PUT", "/v1/me/player", 204),
                     ("PUT", "/v1/me/player/play", 204)]
    transfer = env.sim.calls("PUT", "/v1/me/player")[0]
    assert transfer[3] == {"device_ids": [living(env)], "play": False}
    assert env.sim.player.is_playing and env.sim.player.current.id == TRACKS[0].id


async def test_queue_without_active_device_transfers_then_queues(env):
    await env.svc.api.queue("u_alice", TRACKS[4].uri, device_id=living(env))
    assert [r[4] for r in env.sim.calls("POST", "/v1/me/player/queue")] == [404, 204]
    assert env.sim.player.queue == [TRACKS[4].id]


async def test_premium_required_is_a_clear_error(env):
    await ensure_user(env.store, "u_carol", "Carol")
    await env.link("u_carol", "carol")  # the stand-in's Free account
    with pytest.raises(PremiumRequired) as info:
        await env.svc.api.play("u_carol", device_id=living(env), uris=[TRACKS[0].uri])
    assert "Premium" in info.value.message
    assert any(isinstance(e, LinkState) and e.state == "premium_required"
               and e.user_id == "u_carol" for e in env.events)
    assert any(isinstance(e, ErrorRaised) and e.key == "spotify.premium_required.u_carol"
               for e in env.events)


async def test_injected_premium_required_maps_too(env):
    env.sim.inject("PUT", r"/me/player/play$", 403, reason="PREMIUM_REQUIRED")
    with pytest.raises(PremiumRequired):
        await env.svc.api.play("u_alice", device_id=living(env), uris=[TRACKS[0].uri])


async def test_restricted_device_is_not_controllable(env):
    tv = env.sim.speaker_id("Neighbour's TV")
    with pytest.raises(DeviceNotControllable):
        await env.svc.api.play("u_alice", device_id=tv, uris=[TRACKS[0].uri])


async def test_pause_when_paused_is_restricted(env):
    await _start(env)
    await env.svc.api.pause("u_alice", device_id=living(env))
    with pytest.raises(Restricted):
        await env.svc.api.pause("u_alice", device_id=living(env))
    await env.svc.api.resume("u_alice", device_id=living(env))
    assert env.sim.player.is_playing


async def test_volume_and_transfer(env):
    await _start(env)
    await env.svc.api.set_volume("u_alice", 37, device_id=living(env))
    assert env.sim.player.speaker("Living Room").volume == 37
    kitchen = env.sim.speaker_id("Kitchen")
    await env.svc.api.transfer("u_alice", kitchen, play=True)
    assert env.sim.player.active_id == kitchen and env.sim.player.is_playing


async def test_library_playlists_and_search_page_through_results(env):
    saved = await env.svc.api.saved_tracks("u_alice", limit=200)
    assert len(saved) == 80 and saved[0].id == TRACKS[0].id
    lists = await env.svc.api.playlists("u_alice")
    names = {p["name"] for p in lists}
    assert {"Happy Vibes", "Sad Songs", "Everything"} <= names
    everything = next(p for p in lists if p["name"] == "Everything")
    assert everything["tracks"] == 150
    tracks = await env.svc.api.playlist_tracks("u_alice", everything["id"], limit=200)
    assert len(tracks) == 150
    assert len(env.sim.calls("GET", f"/v1/playlists/{everything['id']}/items")) == 2
    found = await env.svc.api.search_tracks("u_alice", "Rain", limit=5)
    assert 0 < len(found) <= 5
    assert all("rain" in f"{t.name} {t.artists}".lower() for t in found)
    assert (await env.svc.api.me("u_alice"))["display_name"] == "Alice"


async def test_removed_endpoints_are_never_used(env):
    await _start(env)
    await env.svc.api.devices("u_alice")
    await env.svc.api.playback("u_alice")
    await env.svc.api.saved_tracks("u_alice", limit=60)
    lists = await env.svc.api.playlists("u_alice")
    await env.svc.api.playlist_tracks("u_alice", lists[0]["id"])
    await env.svc.api.search_tracks("u_alice", "Sun")
    await env.svc.api.queue("u_alice", TRACKS[7].uri, device_id=living(env))
    await env.svc.api.next("u_alice", device_id=living(env))
    paths = [p for _m, p, *_ in env.sim.requests]
    assert env.sim.removed_calls == 0
    assert not [p for p in paths for pattern, _ in REMOVED if pattern.match(p)]


async def test_stand_in_refuses_removed_endpoints_like_spotify(env):
    import aiohttp
    async with aiohttp.ClientSession() as http:
        async with http.get(env.sim.api_url + "audio-features?ids=" + TRACKS[0].id) as resp:
            assert resp.status == 403
        async with http.get(env.sim.api_url + "recommendations?seed_genres=pop") as resp:
            assert resp.status == 403


async def test_outage_and_restart_on_the_same_port(env):
    await _start(env)
    await env.sim.stop()
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.next("u_alice", device_id=living(env))
    with pytest.raises(SpotifyUnavailable):
        await env.svc.api.devices("u_alice")
    await env.sim.start(port=env.sim.port)
    assert len(await env.svc.api.devices("u_alice")) == 3
    assert env.sim.player.current.id == TRACKS[0].id  # the failed Next never happened


async def test_tokens_never_appear_in_logs(env, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="spotipy.client")  # someone debugging turns it on
    await env.link("u_alice", "alice")
    env.sim.expire_access_tokens()
    await _start(env)
    await env.svc.api.devices("u_alice")
    await env.svc.tokens.refresh("u_alice")
    env.sim.inject("GET", r"/me/player/devices$", 502)
    await env.svc.api.devices("u_alice")
    secrets = [*env.sim.access_tokens, *env.sim.refresh_tokens, *env.sim.codes]
    assert secrets and caplog.text
    leaked = [s for s in secrets if s in caplog.text]
    assert leaked == []
    assert "Bearer sim-" not in caplog.text
    assert "Bearer [redacted]" in caplog.text  # spotipy did log its headers: redacted


async def test_read_timeouts_retry_gets_but_never_repeat_a_command(tmp_path):
    async with spotify_env(tmp_path / "t", timeout=1.0) as env:
        await env.link("u_alice", "alice")
        await _start(env)
        env.sim.inject("POST", r"/me/player/next$", 0, delay=1.5)  # runs, answers too late
        with pytest.raises(SpotifyUnavailable):
            await env.svc.api.next("u_alice", device_id=living(env))
        assert [e.why for e in env.sim.player.history].count("next") == 1
        env.sim.inject("GET", r"/me/player/devices$", 0, delay=1.5)
        assert len(await env.svc.api.devices("u_alice")) == 3
        await asyncio.sleep(0.6)  # let the late answers land in the log
        assert len(env.sim.calls("POST", "/v1/me/player/next")) == 1
        assert len(env.sim.calls("GET", "/v1/me/player/devices")) == 2
