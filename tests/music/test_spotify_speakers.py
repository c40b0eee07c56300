"""The chosen speaker: remembered by id and name, asleep and back, restricted, volume fades."""

from __future__ import annotations

import asyncio

import pytest
from spotify_kit import spotify_env

from appliance.core.bus import ErrorCleared, ErrorRaised, LinkState
from appliance.core.settings import SPEAKER_ID, SPEAKER_NAME, SPEAKER_VOLUME, Settings
from appliance.music.errors import DeviceNotControllable, SpeakerMissing
from appliance.standins.catalog import catalog

TRACKS = catalog()


@pytest.fixture
async def env(tmp_path):
    async with spotify_env(tmp_path) as e:
        await e.link("u_alice", "alice")
        yield e


async def test_choose_stores_id_name_and_volume(env):
    sid = env.sim.speaker_id("Living Room")
    await env.svc.speakers.choose(sid, "Living Room", 35)
    assert Settings(env.store).get_sync(SPEAKER_ID) == sid
    assert Settings(env.store).get_sync(SPEAKER_NAME) == "Living Room"
    assert Settings(env.store).get_sync(SPEAKER_VOLUME) == 35
    assert (await env.svc.speakers.resolve("u_alice")).id == sid


async def test_list_is_cached_until_refresh(env):
    await env.svc.speakers.list("u_alice")
    await env.svc.speakers.list("u_alice")
    assert len(env.sim.calls("GET", "/v1/me/player/devices")) == 1
    await env.svc.speakers.list("u_alice", refresh=True)
    assert len(env.sim.calls("GET", "/v1/me/player/devices")) == 2


async def test_changed_device_id_is_resolved_by_name_and_remembered(env):
    await env.svc.speakers.choose(env.sim.speaker_id("Kitchen"), "Kitchen", 40)
    new_id = env.sim.change_device_id("Kitchen")
    device = await env.svc.speakers.resolve("u_alice")
    assert device.id == new_id and device.name == "Kitchen"
    assert Settings(env.store).get_sync(SPEAKER_ID) == new_id


async def test_sleeping_speaker_is_reported_then_comes_back_and_playback_starts(env):
    await env.svc.speakers.choose(env.sim.speaker_id("Kitchen"), "Kitchen", 40)
    env.sim.player.speaker("Kitchen").sleeps_after = 0.2  # falls asleep when idle
    await asyncio.sleep(0.3)
    names = {d.name for d in await env.svc.speakers.list("u_alice", refresh=True)}
    assert "Kitchen" not in names
    with pytest.raises(SpeakerMissing):
        await env.svc.speakers.resolve("u_alice")
    assert any(isinstance(e, LinkState) and e.state == "speaker_missing" for e in env.events)
    assert any(isinstance(e, ErrorRaised) and e.key == "spotify.speaker_missing"
               for e in env.events)

    async def wake_later():
        await asyncio.sleep(0.4)
        env.sim.player.speaker("Kitchen").sleeps_after = 60.0
        env.sim.wake("Kitchen")
    waker = asyncio.create_task(wake_later())
    device = await env.svc.speakers.wait_for("u_alice", within=10, initial=0.1, maximum=0.3)
    await waker
    assert device.name == "Kitchen"
    assert len(env.sim.calls("GET", "/v1/me/player/devices")) >= 3  # retried with backoff
    await env.svc.api.play("u_alice", device_id=device.id, uris=[TRACKS[0].uri])
    assert env.sim.player.is_playing and env.sim.player.active().name == "Kitchen"
    assert any(isinstance(e, ErrorCleared) and e.key == "spotify.speaker_missing"
               for e in env.events)


async def test_wait_for_gives_up_with_speaker_missing(env):
    await env.svc.speakers.choose(env.sim.speaker_id("Kitchen"), "Kitchen", 40)
    env.sim.sleep("Kitchen")
    with pytest.raises(SpeakerMissing):
        await env.svc.speakers.wait_for("u_alice", within=0.3, initial=0.05)


async def test_restricted_speaker_is_refused(env):
    tv = env.sim.speaker_id("Neighbour's TV")
    await env.svc.speakers.choose(tv, "Neighbour's TV", 40)
    with pytest.raises(DeviceNotControllable):
        await env.svc.speakers.resolve("u_alice")
    assert any(isinstance(e, ErrorRaised) and e.key == "spotify.speaker_restricted"
               for e in env.events)


async def test_no_choice_yet_is_speaker_missing(env):
    with pytest.raises(SpeakerMissing, match="No speaker is chosen"):
        await env.svc.speakers.resolve("u_alice")


async def test_watch_service_reports_a_sleeping_speaker_and_expiring_links(env):
    import time

    from appliance.music.spotify_watch import SpotifyWatchService
    await env.svc.speakers.choose(env.sim.speaker_id("Kitchen"), "Kitchen", 40)
    watch = SpotifyWatchService(env.svc)
    await watch.tick()
    assert "visible" in watch.detail and "not" not in watch.detail
    env.sim.sleep("Kitchen")
    old = time.time() - 175 * 86400
    await env.store.write(lambda db: db.execute("UPDATE connections SET linked_at = ?", [old]))
    watch._last_expiry_check = 0.0
    await watch.tick()
    assert "not visible" in watch.detail
    assert any(isinstance(e, LinkState) and e.state == "speaker_missing" for e in env.events)
    assert any(isinstance(e, LinkState) and e.state == "expiring" for e in env.events)
