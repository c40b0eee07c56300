"""ID tokens: forged ones are refused, key rotation is followed, Microsoft tenants checked."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest

from appliance.core.config import IdentityConfig, from_dict
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.id_tokens import (
    IdTokenError,
    JwksCache,
    ProviderUnavailable,
    decode_unverified,
    verify_id_token,
)
from appliance.identity.providers import build_providers
from appliance.standins.identity import CONSUMERS_TENANT_ID, DEFAULT_TENANT_ID, IdentitySim

BIND = "b"
DONE = ("approved", "denied", "expired", "error")


@pytest.fixture
async def sim():
    s = IdentitySim(interval=0.05, expires_in=10, slow_down_step=0.05)
    await s.start()
    yield s
    await s.stop()


def make_flows(sim: IdentitySim, overrides: dict | None = None, **kw) -> DeviceFlows:
    table = sim.identity_config()
    for name, extra in (overrides or {}).items():
        table[name] |= extra
    kw = {"min_interval": 0.01, "slow_down_step": 0.05} | kw
    return DeviceFlows(build_providers(from_dict(IdentityConfig, table)), **kw)


async def sign_in(sim: IdentitySim, flows: DeviceFlows, provider: str, **approve):
    view = await flows.start(provider, BIND)
    sim.approve(view.user_code, **approve)
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while (status := flows.status(view.flow_id, BIND)).state not in DONE:
        assert loop.time() < end
        await asyncio.sleep(0.01)
    return status


FORGERIES = {"wrong_key": "signature is not the provider's",
             "wrong_aud": "issued to another application", "expired": "has expired",
             "alg_none": "not signed with RS256", "hs256": "not signed with RS256",
             "wrong_iss": "issued by someone else"}


@pytest.mark.parametrize("provider", ["google", "microsoft"])
@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_id_token_is_refused(sim, provider, forgery):
    flows = make_flows(sim)
    try:
        sim.forge_next(forgery)
        status = await sign_in(sim, flows, provider)
        assert status.state == "error" and status.identity is None
        assert "could not be verified" in status.message
        assert FORGERIES[forgery] in status.message
        # the same flow set still accepts an honest token afterwards
        assert (await sign_in(sim, flows, provider)).state == "approved"
    finally:
        await flows.close()


async def test_google_token_carries_the_real_issuer_and_verifies(sim):
    flows = make_flows(sim)
    try:
        status = await sign_in(sim, flows, "google", subject="1234567890", email="a@b.example",
                               name="A")
        assert status.identity.subject == "1234567890"
    finally:
        await flows.close()


async def test_unknown_kid_refetches_the_key_set(sim):
    flows = make_flows(sim)
    flows.jwks.cooldown = 0.0
    try:
        assert (await sign_in(sim, flows, "google")).state == "approved"
        assert flows.jwks.fetches == 1
        assert (await sign_in(sim, flows, "google")).state == "approved"
        assert flows.jwks.fetches == 1  # cached
        sim.rotate_key("google")
        assert (await sign_in(sim, flows, "google")).state == "approved"
        assert flows.jwks.fetches == 2
    finally:
        await flows.close()


async def test_unknown_kid_within_cooldown_does_not_refetch(sim):
    flows = make_flows(sim)  # default cooldown: 60 s
    try:
        assert (await sign_in(sim, flows, "google")).state == "approved"
        sim.rotate_key("google")
        status = await sign_in(sim, flows, "google")
        assert status.state == "error" and flows.jwks.fetches == 1
    finally:
        await flows.close()


async def test_jwks_outage_is_reported_not_crashed(sim):
    flows = make_flows(sim)
    sim.fail_next(500, count=3, endpoint="jwks")
    try:
        status = await sign_in(sim, flows, "microsoft")
        assert status.state == "error" and "internet connection" in status.message
    finally:
        await flows.close()


async def test_jwks_blip_is_retried(sim):
    flows = make_flows(sim)
    sim.fail_next(500, count=1, endpoint="jwks")
    try:
        assert (await sign_in(sim, flows, "google")).state == "approved"
    finally:
        await flows.close()


async def test_microsoft_issuer_names_the_tenant_from_the_token(sim):
    flows = make_flows(sim)
    try:
        status = await sign_in(sim, flows, "microsoft", email="pat@contoso.example")
        assert status.state == "approved"
        assert status.identity.email == "pat@contoso.example"
    finally:
        await flows.close()


async def test_microsoft_pinned_tenant_refuses_other_tenants(sim):
    flows = make_flows(sim, {"microsoft": {"tenant": DEFAULT_TENANT_ID}})
    try:
        assert (await sign_in(sim, flows, "microsoft")).state == "approved"
        other = "00000000-1111-2222-3333-444444444444"
        status = await sign_in(sim, flows, "microsoft", tid=other)
        assert status.state == "error" and "another Microsoft tenant" in status.message
    finally:
        await flows.close()


async def test_microsoft_consumers_tenant_takes_only_personal_accounts(sim):
    flows = make_flows(sim, {"microsoft": {"tenant": "consumers"}})
    try:
        assert (await sign_in(sim, flows, "microsoft")).state == "approved"  # tid from path
        status = await sign_in(sim, flows, "microsoft", tid=DEFAULT_TENANT_ID)
        assert status.state == "error"
        assert any(p == "/microsoft/consumers/oauth2/v2.0/token" for _, p, _ in sim.requests)
    finally:
        await flows.close()
    assert CONSUMERS_TENANT_ID != DEFAULT_TENANT_ID


async def test_github_identity_uses_numeric_id_and_primary_verified_email(sim):
    flows = make_flows(sim)
    try:
        status = await sign_in(sim, flows, "github", subject="583231", email="octo@example.com",
                               name="Mona")
        ident = status.identity
        assert (ident.subject, ident.email, ident.display_name) == ("583231", "octo@example.com",
                                                                     "Mona")
    finally:
        await flows.close()


async def test_github_api_outage_after_approval_is_an_error_not_a_hang(sim):
    flows = make_flows(sim)
    sim.fail_next(502, count=10, endpoint="api")
    try:
        status = await sign_in(sim, flows, "github")
        assert status.state == "error" and status.identity is None
    finally:
        await flows.close()


def _token(header: dict, claims: dict, sig: bytes = b"x") -> str:
    def enc(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{enc(header)}.{enc(claims)}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!!.###.$$$", "e30.W10.e30"])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(IdTokenError):
        decode_unverified(token)


async def test_token_without_kid_or_with_other_alg_never_fetches_keys(sim):
    providers = build_providers(from_dict(IdentityConfig, sim.identity_config()))
    async with aiohttp.ClientSession() as session:
        async def get() -> aiohttp.ClientSession:
            return session
        cache = JwksCache(get)
        for header in ({"alg": "RS256"}, {"alg": "RS512", "kid": "k"}, {"alg": "none"}):
            with pytest.raises(IdTokenError):
                await verify_id_token(_token(header, {"sub": "1"}), providers["google"], cache)
        assert cache.fetches == 0


async def test_key_set_unreachable_raises_provider_unavailable(sim):
    providers = build_providers(from_dict(IdentityConfig, sim.identity_config()))
    await sim.stop()
    async with aiohttp.ClientSession() as session:
        async def get() -> aiohttp.ClientSession:
            return session
        cache = JwksCache(get)
        with pytest.raises(ProviderUnavailable):
            await verify_id_token(_token({"alg": "RS256", "kid": "k"}, {"sub": "1"}),
                                  providers["google"], cache)
    await sim.start(port=sim.port)


async def test_key_set_is_refreshed_after_max_age_even_for_known_kids(sim):
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        async def get() -> aiohttp.ClientSession:
            return session
        cache = JwksCache(get, clock=lambda: now[0], cooldown=60, max_age=3600)
        url = sim.provider_url("google") + "/oauth2/v3/certs"
        kid = sim.keys["google"][0].kid
        await cache.key(url, kid)
        now[0] += 3000
        await cache.key(url, kid)
        assert cache.fetches == 1
        now[0] += 700
        await cache.key(url, kid)
        assert cache.fetches == 2
        with pytest.raises(IdTokenError):  # unknown kid inside the cooldown: no third fetch
            await cache.key(url, "not-a-kid")
        assert cache.fetches == 2
        now[0] += 61
        with pytest.raises(IdTokenError):
            await cache.key(url, "not-a-kid")
        assert cache.fetches == 3
