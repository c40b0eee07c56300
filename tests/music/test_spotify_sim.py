"""The Spotify stand-in's own behaviour: playback clock, track boundaries, sleep, shapes."""

from __future__ import annotations

import aiohttp
import pytest

from appliance.standins.catalog import catalog
from appliance.standins.spotify_player import SimPlayer, SimSpeaker
from appliance.standins.spotify_server import SpotifySim

TRACKS = catalog()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _player(speed: float = 1.0) -> tuple[SimPlayer, Clock, SimSpeaker]:
    clock = Clock()
    p = SimPlayer({t.id: t for t in TRACKS}, clock=clock, speed=speed)
    sp = p.add_speaker(SimSpeaker("Living Room"))
    p.transfer(sp, play=False)
    return p, clock, sp


def test_queued_track_starts_exactly_when_the_current_one_ends():
    p, clock, _ = _player()
    p.play([TRACKS[0].id, TRACKS[1].id])
    p.add_to_queue(TRACKS[5].id)
    clock.now += TRACKS[0].duration_ms / 1000 - 0.5
    p.tick()
    assert p.current.id == TRACKS[0].id
    clock.now += 1.0
    p.tick()
    assert p.current.id == TRACKS[5].id and p.queue == []
    assert p.history[-1].why == "end"
    assert p.history[-1].t == pytest.approx(1000.0 + TRACKS[0].duration_ms / 1000)
    assert 400 <= p.progress_ms() <= 600
    clock.now += TRACKS[5].duration_ms / 1000
    p.tick()
    assert p.current.id == TRACKS[1].id  # then the context goes on


def test_speed_factor_compresses_time_and_pause_freezes_position():
    p, clock, _ = _player(speed=10.0)
    p.play([TRACKS[0].id])
    clock.now += 2.0
    assert p.progress_ms() == 20_000
    p.pause()
    clock.now += 5.0
    assert p.progress_ms() == 20_000 and not p.is_playing
    p.resume()
    clock.now += 1.0
    assert p.progress_ms() == 30_000


def test_idle_speaker_falls_asleep_and_wakes():
    p, clock, _ = _player()
    kitchen = p.add_speaker(SimSpeaker("Kitchen", sleeps_after=60))
    clock.now += 30
    assert kitchen in p.visible()
    clock.now += 31
    assert kitchen not in p.visible()
    p.wake("Kitchen")
    assert kitchen in p.visible()


def test_playing_speaker_stays_awake():
    p, clock, _ = _player()
    kitchen = p.add_speaker(SimSpeaker("Kitchen", sleeps_after=60))
    p.transfer(kitchen, play=False)
    p.play([t.id for t in TRACKS[:10]])
    clock.now += 300
    assert kitchen in p.visible() and p.active() is kitchen


async def test_wire_shapes_state_endpoint_and_errors():
    sim = SpotifySim()
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.api_url + "me/player/devices") as r:
                assert r.status == 401
                assert (await r.json())["error"]["status"] == 401
            async with http.get(sim.base_url + "/sim/state") as r:
                state = await r.json()
            names = {s["name"] for s in state["speakers"]}
            assert names == {"Living Room", "Kitchen", "Neighbour's TV"}
            assert state["recent_calls"][0]["path"] == "/v1/me/player/devices"
            async with http.post(sim.accounts_url + "/api/token", data={
                    "grant_type": "refresh_token", "refresh_token": "x",
                    "client_id": "unknown"}) as r:
                assert r.status == 400 and (await r.json())["error"] == "invalid_client"
            async with http.post(sim.accounts_url + "/api/token", data={
                    "grant_type": "refresh_token", "refresh_token": "x",
                    "client_id": sim.client_id}) as r:
                assert (await r.json())["error"] == "invalid_grant"
    finally:
        await sim.stop()
