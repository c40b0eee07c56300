"""PKCE linking against the Spotify stand-in: success paths and every refused state."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from spotify_kit import spotify_env

from appliance.core.bus import LinkState
from appliance.core.settings import ACTIVE_LISTENER, Settings
from appliance.music import connections
from appliance.music.errors import LinkRefused
from appliance.music.linking import REQUIRED_SCOPES, code_challenge, parse_return


@pytest.fixture
async def env(tmp_path):
    async with spotify_env(tmp_path) as e:
        yield e


async def _connection(env, user_id="u_alice"):
    return await env.store.read(lambda db: connections.get(db, user_id))


async def _count_links(env) -> int:
    return await env.store.read(lambda db: db["connections"].count)


async def test_auth_url_asks_pkce_s256_with_exact_scopes_and_loopback_redirect(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(env.sim.accounts_url + "/authorize?")
    assert q["code_challenge_method"] == "S256"
    # spotify.redirect_port (8888) is the laptop end of `ssh -L 8888:127.0.0.1:80`
    assert q["redirect_uri"] == "http://127.0.0.1:8888/platforms/spotify/callback"
    assert set(q["scope"].split()) == REQUIRED_SCOPES and len(q["scope"].split()) == 7
    assert len(q["state"]) >= 43  # >= 256 bits, base64url
    # the state is stored only as a hash, with the verifier sealed
    rows = await env.store.read(lambda db: list(db["spotify_link_states"].rows))
    assert len(rows) == 1 and q["state"] not in str(rows)


async def test_link_by_pasted_address_stores_sealed_tokens_and_sets_listener(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url, account="alice")
    assert back.startswith("http://127.0.0.1:8888/platforms/spotify/callback?code=")
    conn = await env.svc.linking.complete_link("u_alice", "sess-1", "  " + back + " ")
    assert conn.platform_user_id == "alice" and conn.display_name == "Alice"
    stored = await _connection(env)
    assert stored.state == "linked" and abs(stored.linked_at - time.time()) < 60
    assert stored.access_token.startswith("v1.") and "sim-at-" not in stored.access_token
    assert stored.refresh_token.startswith("v1.") and "sim-rt-" not in stored.refresh_token
    assert Settings(env.store).get_sync(ACTIVE_LISTENER) == "u_alice"
    assert any(isinstance(e, LinkState) and e.state == "linked" for e in env.events)
    # the token works: the client reads the account's profile with it
    assert (await env.svc.api.me("u_alice"))["id"] == "alice"


async def test_link_by_callback_query_params(env):
    url = await env.svc.linking.start_link("u_bob", "sess-b", env.svc.redirect_uri())
    back = await env.sim.approve(url, account="bob")
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    conn = await env.svc.linking.complete_link("u_bob", "sess-b", params)
    assert conn.platform_user_id == "bob"


async def test_second_user_does_not_replace_active_listener(env):
    await env.link("u_alice", "alice")
    await env.link("u_bob", "bob")
    assert Settings(env.store).get_sync(ACTIVE_LISTENER) == "u_alice"


async def _refused(env, coro, fragment: str) -> None:
    with pytest.raises(LinkRefused) as info:
        await coro
    assert fragment in info.value.message
    assert await _count_links(env) == 0


async def test_replayed_state_is_refused(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    await env.svc.linking.complete_link("u_alice", "sess-1", back)
    await env.svc.linking.unlink("u_alice")
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", back), "used already")


async def test_forged_state_is_refused(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    forged = back.replace("state=", "state=x")
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", forged),
                   "not from a link started here")


async def test_expired_state_is_refused(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    await env.store.write(lambda db: db.execute(
        "UPDATE spotify_link_states SET expires_at = ?", [time.time() - 1]))
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", back), "expired")


async def test_state_of_another_user_or_session_is_refused_and_stays_usable(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    await _refused(env, env.svc.linking.complete_link("u_bob", "sess-1", back), "another user")
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-2", back), "another user")
    # the rightful browser can still finish
    conn = await env.svc.linking.complete_link("u_alice", "sess-1", back)
    assert conn.platform_user_id == "alice"


async def test_access_denied_is_refused_and_consumes_the_state(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url, decision="deny")
    assert "error=access_denied" in back
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", back), "declined")
    left = await env.store.read(lambda db: db["spotify_link_states"].count)
    assert left == 0


async def test_code_issued_for_another_verifier_is_refused(env):
    # Two link attempts: the code of the first comes back with the state of the second.
    url1 = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    url2 = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back1 = await env.sim.approve(url1)
    code1 = parse_qs(urlsplit(back1).query)["code"][0]
    state2 = parse_qs(urlsplit(url2).query)["state"][0]
    mixed = f"http://127.0.0.1:8080/platforms/spotify/callback?code={code1}&state={state2}"
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", mixed),
                   "another link attempt")


async def test_scope_shortfall_asks_to_relink_and_links_nothing(env):
    env.sim.granted_scopes = "user-read-private streaming"
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", back),
                   "accept all of them to re-link")


@pytest.mark.parametrize("pasted", [
    "http://192.168.1.5:8080/platforms/spotify/callback?code=a&state=b",
    "http://localhost:8080/platforms/spotify/callback?code=a&state=b",
    "https://127.0.0.1:8080/platforms/spotify/callback?code=a&state=b",
    "http://127.0.0.1:8080/elsewhere?code=a&state=b",
    "http://127.0.0.1:8080/platforms/spotify/callback",
    "",
])
def test_pasted_addresses_of_other_hosts_or_paths_are_refused(pasted):
    with pytest.raises(LinkRefused):
        parse_return(pasted)


def test_ipv6_loopback_paste_is_accepted():
    got = parse_return("http://[::1]:8080/platforms/spotify/callback?code=c1&state=s1")
    assert got == {"code": "c1", "state": "s1"}


def test_code_challenge_is_rfc7636_s256():
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_localhost_redirect_is_rejected_by_the_stand_in(env):
    url = await env.svc.linking.start_link("u_alice", "sess-1",
                                           "http://localhost:8080/platforms/spotify/callback")
    with pytest.raises(RuntimeError, match="Insecure redirect URI"):
        await env.sim.approve(url)


async def test_link_survives_restart_midway(env, tmp_path):
    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url)
    # a fresh LinkManager over the same database (the box restarted) finishes the link
    from appliance.music.spotify import create_services
    from appliance.schema import open_store
    env.store.close()
    store2 = open_store(tmp_path / "mooddj.db")
    try:
        svc2 = create_services(env.config, store2, env.sealer)
        conn = await svc2.linking.complete_link("u_alice", "sess-1", back)
        assert conn.platform_user_id == "alice"
        await svc2.close()
    finally:
        store2.close()


async def test_only_the_latest_few_link_attempts_stay_open(env):
    from appliance.music.linking import MAX_PENDING
    urls = [await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
            for _ in range(MAX_PENDING + 2)]
    assert await env.store.read(lambda db: db["spotify_link_states"].count) == MAX_PENDING
    oldest = await env.sim.approve(urls[0])
    await _refused(env, env.svc.linking.complete_link("u_alice", "sess-1", oldest), "used already")
    newest = await env.sim.approve(urls[-1])
    assert (await env.svc.linking.complete_link("u_alice", "sess-1", newest)).platform_user_id


async def test_a_link_in_progress_survives_a_key_rotation(env, tmp_path):
    from appliance.core.secrets_store import rotate_key_sync

    url = await env.svc.linking.start_link("u_alice", "sess-1", env.svc.redirect_uri())
    back = await env.sim.approve(url, account="alice")
    result = rotate_key_sync(env.store, tmp_path / "secret.key", env.sealer)
    assert result.resealed == 1  # the pending link's sealed PKCE verifier is a sealed column
    conn = await env.svc.linking.complete_link("u_alice", "sess-1", back)
    assert conn.platform_user_id == "alice"
