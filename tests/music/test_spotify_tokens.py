"""Token refresh against the stand-in: rotation stored durably first, invalid_grant, 401."""

from __future__ import annotations

import time

import pytest
from spotify_kit import spotify_env

from appliance.core.bus import ErrorRaised, LinkState
from appliance.core.settings import ACTIVE_LISTENER, Settings
from appliance.music import connections
from appliance.music.errors import NotLinked, RelinkNeeded
from appliance.music.tokens import LINK_LIFETIME_SECONDS


@pytest.fixture
async def env(tmp_path):
    async with spotify_env(tmp_path) as e:
        await e.link("u_alice", "alice")
        yield e


async def _conn(env, user_id="u_alice"):
    return await env.store.read(lambda db: connections.get(db, user_id))


async def _expire_soon(env, user_id="u_alice"):
    await env.store.write(lambda db: db.execute(
        "UPDATE connections SET expires_at = ? WHERE user_id = ?", [time.time() + 60, user_id]))


def _open(env, conn, field):
    return env.sealer.open(getattr(conn, field), user_id=conn.user_id, platform="spotify",
                           field=field)


async def test_refresh_ahead_of_expiry_rotates_and_stores_the_new_refresh_token(env):
    before = await _conn(env)
    old_rt = _open(env, before, "refresh_token")
    await _expire_soon(env)  # inside the 5-minute window
    token = await env.svc.tokens.access_token("u_alice")
    after = await _conn(env)
    new_rt = _open(env, after, "refresh_token")
    assert env.sim.token_refreshes == 1
    assert new_rt != old_rt and new_rt in env.sim.refresh_tokens
    assert old_rt not in env.sim.refresh_tokens  # the stand-in retired it
    assert _open(env, after, "access_token") == token and after.expires_at > time.time() + 3000
    assert after.linked_at == before.linked_at  # refreshing never extends the 6-month life
    # a second call uses the stored token without refreshing again
    assert await env.svc.tokens.access_token("u_alice") == token
    assert env.sim.token_refreshes == 1


async def test_rotated_refresh_token_is_committed_durably_before_the_access_token_is_used(env):
    await _expire_soon(env)
    order: list[tuple[str, float]] = []
    real_write = env.store.write

    async def spy(fn, *, durable=False):
        result = await real_write(fn, durable=durable)
        order.append(("durable" if durable else "write", time.monotonic()))
        return result
    env.store.write = spy
    await env.svc.api.devices("u_alice")
    durable_at = next(t for kind, t in order if kind == "durable")
    first_use = env.sim.calls("GET", "/v1/me/player/devices")[0][5]
    assert durable_at < first_use


async def test_failed_durable_write_means_the_new_token_is_never_used(env):
    await _expire_soon(env)

    async def broken(fn, *, durable=False):
        raise OSError("disk full")
    env.store.write = broken
    with pytest.raises(OSError):
        await env.svc.api.devices("u_alice")
    assert env.sim.calls("GET", "/v1/me/player/devices") == []


async def test_concurrent_callers_share_one_refresh(env):
    import asyncio
    await _expire_soon(env)
    tokens = await asyncio.gather(*(env.svc.tokens.access_token("u_alice") for _ in range(5)))
    assert len(set(tokens)) == 1 and env.sim.token_refreshes == 1


async def test_invalid_grant_marks_relink_needed_and_deletes_nothing(env):
    env.sim.refresh_max_age = 0.0  # the refresh token is past its life
    await _expire_soon(env)
    before = await _conn(env)
    with pytest.raises(RelinkNeeded):
        await env.svc.api.devices("u_alice")
    after = await _conn(env)
    assert after.state == "relink_needed"
    assert after.refresh_token == before.refresh_token and after.access_token == \
        before.access_token
    assert Settings(env.store).get_sync(ACTIVE_LISTENER) == "u_alice"
    users = await env.store.read(lambda db: db["users"].count)
    assert users == 2
    assert any(isinstance(e, LinkState) and e.state == "relink_needed" for e in env.events)
    assert any(isinstance(e, ErrorRaised) and e.key == "spotify.relink_needed.u_alice"
               for e in env.events)
    # later calls fail fast without asking Spotify again
    refreshes = env.sim.token_refreshes
    with pytest.raises(RelinkNeeded):
        await env.svc.tokens.access_token("u_alice")
    assert env.sim.token_refreshes == refreshes


async def test_relinking_clears_relink_needed(env):
    env.sim.refresh_max_age = 0.0
    await _expire_soon(env)
    with pytest.raises(RelinkNeeded):
        await env.svc.tokens.access_token("u_alice")
    env.sim.refresh_max_age = None
    await env.link("u_alice", "alice")
    assert (await _conn(env)).state == "linked"
    assert await env.svc.api.me("u_alice")


async def test_401_refreshes_once_and_repeats(env):
    env.sim.expire_access_tokens()
    devices = await env.svc.api.devices("u_alice")
    assert {d.name for d in devices} >= {"Living Room"}
    statuses = [r[4] for r in env.sim.calls("GET", "/v1/me/player/devices")]
    assert statuses == [401, 200] and env.sim.token_refreshes == 1


async def test_unlinked_user_gets_not_linked(env):
    with pytest.raises(NotLinked):
        await env.svc.api.devices("u_bob")


async def test_link_expiry_and_reminder_follow_the_link_date(env):
    conn = await _conn(env)
    assert await env.svc.tokens.link_expires_at("u_alice") == pytest.approx(
        conn.linked_at + LINK_LIFETIME_SECONDS)
    assert not await env.svc.tokens.needs_reminder("u_alice")
    assert await env.svc.tokens.check_expiry("u_alice") == "linked"
    old = time.time() - 170 * 86400  # 12 days before the end: inside the 14-day window
    await env.store.write(lambda db: db.execute("UPDATE connections SET linked_at = ?", [old]))
    assert await env.svc.tokens.needs_reminder("u_alice")
    assert await env.svc.tokens.check_expiry("u_alice") == "expiring"
    assert any(isinstance(e, LinkState) and e.state == "expiring" for e in env.events)


async def test_refresh_endpoint_shape_via_manager(env):
    token, expires_in = await env.svc.tokens.refresh("u_alice")
    assert token in env.sim.access_tokens and expires_in == 3600


async def test_stored_link_with_too_few_scopes_asks_for_relinking(env):
    await env.store.write(lambda db: db.execute(
        "UPDATE connections SET scopes = 'streaming user-read-private'"))
    assert await env.svc.tokens.check_expiry("u_alice") == "relink_needed"
    raised = [e for e in env.events if isinstance(e, ErrorRaised)
              and e.key == "spotify.relink_needed.u_alice"]
    assert raised and "user-library-read" in raised[-1].message


async def test_refresh_without_a_new_refresh_token_keeps_the_stored_one(env):
    env.sim.rotate_refresh = False
    before = await _conn(env)
    await _expire_soon(env)
    await env.svc.tokens.access_token("u_alice")
    after = await _conn(env)
    assert _open(env, after, "refresh_token") == _open(env, before, "refresh_token")
    assert after.access_token != before.access_token
    await _expire_soon(env)
    await env.svc.tokens.access_token("u_alice")  # the kept one still works
    assert env.sim.token_refreshes == 2
