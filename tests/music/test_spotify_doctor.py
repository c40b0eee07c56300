"""`mooddj doctor` Spotify checks against a real database and the stand-in."""

from __future__ import annotations

import time

import pytest
from spotify_kit import spotify_env

from appliance.music import connections
from appliance.music.doctor import checks


@pytest.fixture
async def env(tmp_path):
    async with spotify_env(tmp_path) as e:
        yield e


def _by_name(results):
    return {c.name: c for c in results}


async def test_nothing_linked_yet_warns_with_next_steps(env):
    results = _by_name(await checks(env.config))
    assert results["spotify app"].status == "pass"  # Client ID from config
    assert results["spotify link"].status == "warn" and "Link Spotify" in results[
        "spotify link"].hint
    assert results["spotify speaker"].status == "warn"


async def test_linked_with_visible_speaker_passes_then_asleep_warns(env):
    await env.link("u_alice")
    await env.svc.speakers.choose(env.sim.speaker_id("Living Room"), "Living Room", 40)
    results = _by_name(await checks(env.config))
    assert results["spotify link Alice"].status == "pass"
    assert results["spotify speaker"].status == "pass"
    assert "visible" in results["spotify speaker"].message
    env.sim.sleep("Living Room")
    results = _by_name(await checks(env.config))
    assert results["spotify speaker"].status == "warn"
    assert "asleep" in results["spotify speaker"].message


async def test_relink_needed_fails_and_expiry_warns(env):
    await env.link("u_alice")
    await env.link("u_bob", "bob")
    await env.store.write(lambda db: connections.set_state(db, "u_alice", "relink_needed"))
    old = time.time() - 175 * 86400
    await env.store.write(lambda db: db.execute(
        "UPDATE connections SET linked_at = ? WHERE user_id = 'u_bob'", [old]))
    results = _by_name(await checks(env.config))
    assert results["spotify link Alice"].status == "fail"
    assert results["spotify link Bob"].status == "warn"
    assert "ends on" in results["spotify link Bob"].message
