"""The stand-ins process of `mooddj run --sim`: its JSON line, /sim page, outage, saved grants."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from appliance.core.config import REPO_ROOT
from appliance.standins.spotify_player import SimSpeaker
from appliance.standins.stack import SIM_SPOTIFY_CLIENT_ID, SimStack

pytestmark = pytest.mark.timeout(60)

REDIRECT = "http://127.0.0.1:8080/platforms/spotify/callback"


async def _get_json(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        return await resp.json()


def test_stand_ins_process_prints_its_addresses_and_serves_them(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.standins", "--speed", "7", "--state-file",
         str(tmp_path / "sim.state")], stdout=subprocess.PIPE, text=True, cwd=str(REPO_ROOT))
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"sim", "control", "identity", "spotify", "features", "config"}
        assert info["config"]["spotify"]["client_id"] == SIM_SPOTIFY_CLIENT_ID
        assert info["config"]["spotify"]["api_url"] == info["spotify"] + "/v1/"
        assert set(info["config"]["identity"]) == {"google", "microsoft", "github"}
        config = asyncio.run(_get_json(info["control"] + "/sim/config"))
        assert config == info
        state = asyncio.run(_get_json(info["control"] + "/sim/state"))
        assert state["speed"] == 7.0 and state["plays"] == 0
        assert {s["name"] for s in state["spotify"]["speakers"]} >= {"Living Room", "Kitchen"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert (tmp_path / "sim.state").exists()  # grants saved on the way out


def test_stand_ins_refuse_a_speed_of_zero() -> None:
    done = subprocess.run([sys.executable, "-m", "appliance.standins", "--speed", "0"],
                          capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=30)
    assert done.returncode == 2 and "--speed must be above 0" in done.stderr


async def test_sim_page_escapes_names_and_shows_what_plays() -> None:
    stack = SimStack()
    await stack.start()
    try:
        stack.spotify.player.add_speaker(SimSpeaker("<script>alert(1)</script> & Co"))
        speaker = stack.spotify.player.speaker("Living Room")
        assert speaker is not None
        track = stack.spotify.playlists[0]["tracks"][0]
        stack.spotify.player.transfer(speaker, play=False)
        stack.spotify.player.play([track])
        async with aiohttp.ClientSession() as http, \
                http.get(stack.info()["sim"]) as resp:
            page = await resp.text()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
        name = stack.spotify.player.tracks[track].name
        assert "Living Room" in page and "(playing)" in page
        assert html.escape(name) in page
    finally:
        await stack.stop()


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status < 500
    except aiohttp.ClientConnectionError:
        return False


async def test_outage_stops_spotify_and_brings_it_back_on_the_same_port() -> None:
    stack = SimStack()
    info = await stack.start()
    devices = info["spotify"] + "/v1/me/player/devices"
    try:
        assert await _answers(devices)
        async with aiohttp.ClientSession() as http, \
                http.post(info["control"] + "/sim/spotify/outage?seconds=0.5") as resp:
            assert (await resp.json()) == {"down_for": 0.5}
        assert not await _answers(devices)
        deadline = time.monotonic() + 15
        while not await _answers(devices):
            assert time.monotonic() < deadline, "the Spotify stand-in did not come back"
            await asyncio.sleep(0.1)
        assert stack.spotify.base_url == info["spotify"]  # same port as before
    finally:
        await stack.stop()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def _token(http: aiohttp.ClientSession, accounts: str, form: dict) -> tuple[int, dict]:
    async with http.post(accounts + "/api/token",
                         data={"client_id": SIM_SPOTIFY_CLIENT_ID, **form}) as resp:
        return resp.status, await resp.json()


async def _link(stack: SimStack) -> str:
    """A real PKCE grant from the stand-in; returns its refresh token."""
    verifier, challenge = _pkce()
    auth = stack.spotify.accounts_url + "/authorize?" + urlencode({
        "client_id": SIM_SPOTIFY_CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT,
        "code_challenge_method": "S256", "code_challenge": challenge, "state": "s1",
        "scope": "user-read-playback-state user-modify-playback-state"})
    back = await stack.spotify.approve(auth)
    code = parse_qs(urlsplit(back).query)["code"][0]
    async with aiohttp.ClientSession() as http:
        status, body = await _token(http, stack.spotify.accounts_url, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier})
    assert status == 200, body
    return str(body["refresh_token"])


async def _refresh(stack: SimStack, refresh_token: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        return await _token(http, stack.spotify.accounts_url,
                            {"grant_type": "refresh_token", "refresh_token": refresh_token})


async def test_state_file_keeps_spotify_grants_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "stand-ins.state"
    first = SimStack(state_file=state)
    await first.start()
    try:
        refresh_token = await _link(first)
    finally:
        await first.stop()

    again = SimStack(state_file=state)
    await again.start()
    try:
        status, body = await _refresh(again, refresh_token)
        assert status == 200, body
        async with aiohttp.ClientSession() as http, http.get(
                again.spotify.api_url + "me/player/devices",
                headers={"Authorization": f"Bearer {body['access_token']}"}) as resp:
            assert resp.status == 200
            assert any(d["name"] == "Living Room" for d in (await resp.json())["devices"])
    finally:
        await again.stop()

    forgetful = SimStack()  # no state file: the grant is gone, as the control case
    await forgetful.start()
    try:
        status, body = await _refresh(forgetful, refresh_token)
        assert status == 400 and body["error"] == "invalid_grant"
    finally:
        await forgetful.stop()


async def test_housekeeping_trims_the_play_history_but_keeps_the_count() -> None:
    stack = SimStack(speed=1000.0)
    await stack.start()
    try:
        player = stack.spotify.player
        tracks = [t for pl in stack.spotify.playlists for t in pl["tracks"]]
        for _ in range(3):
            player.play(tracks)
            for _ in range(len(tracks) - 1):
                player.next()
        total = len(player.history)
        assert total > 500
        stack._trim_player()
        assert len(player.history) == 500
        assert stack.state()["plays"] == total
    finally:
        await stack.stop()


async def test_sim_page_switches_the_real_spotify_rules_and_someone_elses_audio() -> None:
    stack = SimStack()
    await stack.start()
    sim_url = stack.info()["sim"]
    control = sim_url.rsplit("/sim", 1)[0]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(sim_url) as resp:
                page = await resp.text()
            assert 'id="rules"' in page and "dev mode" in page and "five users" in page
            async with http.post(control + "/sim/spotify/rules",
                                 data={"name": "dev_mode", "on": "1"}) as resp:
                assert resp.status == 200 and resp.url.path == "/sim"  # the form goes back
            assert stack.spotify.rules.dev_mode and not stack.spotify.rules.five_users
            async with http.post(control + "/sim/spotify/rules?preset=real") as resp:
                assert all((await resp.json())["rules"].values())
            async with http.post(control + "/sim/spotify/rules?name=nonsense&on=1") as resp:
                assert resp.status == 400
            async with http.post(control + "/sim/spotify/foreign",
                                 data={"what": "episode"}) as resp:
                assert resp.status == 200
            assert stack.spotify.foreign == "episode"
            async with http.get(control + "/sim/state") as resp:
                state = (await resp.json())["spotify"]
            assert state["foreign"] == "episode" and state["rules"]["items_rename"]
            async with http.post(control + "/sim/spotify/foreign?what=off") as resp:
                assert (await resp.json())["foreign"] is None
    finally:
        await stack.stop()
