"""Device-flow sign-in against the loopback stand-in: every provider, every ending."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from polling import eventually as wait_for

from appliance.core.config import IdentityConfig, from_dict
from appliance.identity.device_flow import (
    DeviceFlows,
    FlowNotApproved,
    FlowNotFound,
    FlowStartError,
    ProviderNotConfigured,
    TooManyFlows,
    UnknownProvider,
)
from appliance.identity.providers import build_providers
from appliance.standins.identity import IdentitySim

PROVIDERS = ("google", "microsoft", "github")
BIND = "browser-session-hash-1"
DONE = ("approved", "denied", "expired", "error")


@pytest.fixture
async def sim():
    s = IdentitySim(interval=0.05, expires_in=10, slow_down_step=0.05)
    await s.start()
    yield s
    await s.stop()


def make_flows(sim: IdentitySim, **kw) -> DeviceFlows:
    cfg = from_dict(IdentityConfig, sim.identity_config())
    kw = {"min_interval": 0.01, "slow_down_step": 0.05} | kw
    return DeviceFlows(build_providers(cfg), **kw)


@pytest.fixture
async def flows(sim):
    f = make_flows(sim)
    yield f
    await f.close()




async def wait_done(flows: DeviceFlows, flow_id: str, bind: str = BIND, timeout: float = 5.0):
    return await wait_for(lambda: (v := flows.status(flow_id, bind)).state in DONE and v, timeout)


def token_polls(sim: IdentitySim, provider: str) -> list[dict[str, str]]:
    paths = {"google": "/google/token", "github": "/github/login/oauth/access_token"}
    return [form for _, path, form in sim.requests
            if path == paths.get(provider) or (provider == "microsoft" and path.startswith(
                "/microsoft/") and path.endswith("/token"))]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_full_sign_in_pending_slow_down_then_approved(sim, flows, provider):
    view = await flows.start(provider, BIND)
    assert view.state == "pending" and view.user_code and len(view.flow_id) >= 22
    assert view.verification_url.startswith(sim.base_url)
    assert view.user_code in view.message and view.expires_in > 0
    api = view.as_dict()
    assert api["flowId"] == view.flow_id and api["status"] == "pending"
    assert api["userCode"] == view.user_code and api["verificationUrl"] == view.verification_url
    assert "identity" not in api and "deviceCode" not in api
    await wait_for(lambda: len(token_polls(sim, provider)) >= 2)  # authorization_pending
    sim.force_slow_down(1)
    before = len(token_polls(sim, provider))
    await wait_for(lambda: flows.status(view.flow_id, BIND).interval > view.interval)
    await wait_for(lambda: len(token_polls(sim, provider)) >= before + 2)
    assert flows.status(view.flow_id, BIND).state == "pending"
    sim.approve(view.user_code, subject=None, email="ana@example.com", name="Ana Example")
    done = await wait_done(flows, view.flow_id)
    assert done.state == "approved", done.message
    ident = done.identity
    assert ident is not None and ident.provider == provider
    assert ident.email == "ana@example.com" and ident.display_name == "Ana Example"
    assert ident.subject == sim.grant(view.user_code).user["subject"]
    # the box waited its interval: the only slow_down it got was the forced one
    grant = sim.grant(view.user_code)
    assert grant.interval == pytest.approx(0.05 + 0.05)


async def test_google_poll_sends_secret_and_microsoft_does_not(sim, flows):
    g = await flows.start("google", BIND)
    m = await flows.start("microsoft", BIND)
    await wait_for(lambda: token_polls(sim, "google") and token_polls(sim, "microsoft"))
    gform, mform = token_polls(sim, "google")[0], token_polls(sim, "microsoft")[0]
    assert gform["client_secret"] == "sim-google-secret"
    assert gform["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert "client_secret" not in mform and mform["client_id"] == "sim-microsoft-app"
    # Microsoft's endpoints carry the tenant in the path
    assert any(p == "/microsoft/common/oauth2/v2.0/devicecode" for _, p, _ in sim.requests)
    flows.cancel(g.flow_id, BIND)
    flows.cancel(m.flow_id, BIND)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_denial_stops_polling(sim, flows, provider):
    view = await flows.start(provider, BIND)
    await wait_for(lambda: token_polls(sim, provider))
    sim.deny(view.user_code)
    done = await wait_done(flows, view.flow_id)
    assert done.state == "denied" and done.identity is None
    assert "declined" in done.message and "new code" in done.message
    polls = len(token_polls(sim, provider))
    await asyncio.sleep(0.2)
    assert len(token_polls(sim, provider)) == polls


async def test_a_wrong_google_client_type_refused_after_approval_says_what_to_make(sim, flows):
    """Google lately issues the code and refuses only the poll after approval
    (google-token-seen.json): the page names the client type, not the secret."""
    sim.misconfigured[sim.identity_config()["google"]["client_id"]] = "wrong_type_late"
    view = await flows.start("google", BIND)
    await wait_for(lambda: token_polls(sim, "google"))
    sim.approve(view.user_code)
    done = await wait_done(flows, view.flow_id)
    assert done.state == "error" and done.identity is None
    assert "TVs and Limited Input devices" in done.message and "secret" not in done.message


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_code_expired_at_the_provider_ends_the_flow(sim, flows, provider):
    view = await flows.start(provider, BIND)
    await wait_for(lambda: token_polls(sim, provider))
    sim.expire(view.user_code)
    done = await wait_done(flows, view.flow_id)
    assert done.state == "expired" and "new code" in done.message


async def test_box_never_polls_after_expiry():
    sim = IdentitySim(interval=0.3, expires_in=0.5)
    sim_answers: list[str] = []  # what the provider answered each poll ("" = a token)
    answer = sim._poll

    def recorded(form, provider):
        error, grant = answer(form, provider)
        sim_answers.append(error)
        return error, grant

    sim._poll = recorded
    await sim.start()
    flows = make_flows(sim)
    try:
        view = await flows.start("google", BIND)
        done = await wait_done(flows, view.flow_id)
        assert done.state == "expired"
        polls = len(token_polls(sim, "google"))
        # One poll fits (at 0.3 s; on a loaded machine the wait may overrun the 0.5 s and
        # it is rightly skipped); the next would fall after expiry, so it is never sent...
        assert polls <= 1 and len(sim_answers) == polls
        assert "expired_token" not in sim_answers  # ...and none reached the provider late
        await asyncio.sleep(0.4)
        assert len(token_polls(sim, "google")) == polls  # nothing more once it has ended
        assert flows.status(view.flow_id, BIND).expires_in == 0
    finally:
        await flows.close()
        await sim.stop()


async def test_github_slow_down_uses_the_interval_github_names():
    sim = IdentitySim(interval=0.05, expires_in=10, slow_down_step=0.3)
    await sim.start()
    flows = make_flows(sim)  # the box's own step is 0.05: GitHub's number must win
    try:
        view = await flows.start("github", BIND)
        sim.force_slow_down(1)
        status = await wait_for(lambda: (v := flows.status(view.flow_id, BIND)).interval > 0.05
                                and v)
        assert status.interval == pytest.approx(0.35)
    finally:
        await flows.close()
        await sim.stop()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_provider_errors_while_polling_back_off_and_recover(sim, flows, status):
    view = await flows.start("google", BIND)
    sim.fail_next(status, count=3)
    await wait_for(lambda: "not answering" in flows.status(view.flow_id, BIND).message)
    assert flows.status(view.flow_id, BIND).state == "pending"
    await wait_for(lambda: not sim._failures.get("token"))
    sim.approve(view.user_code)
    done = await wait_done(flows, view.flow_id)
    assert done.state == "approved"


async def test_network_error_while_polling_is_not_fatal(sim):
    flows = make_flows(sim)
    try:
        view = await flows.start("microsoft", BIND)
        await sim.stop()  # the provider disappears for a moment
        await asyncio.sleep(0.2)
        assert flows.status(view.flow_id, BIND).state == "pending"
        await sim.start(port=sim.port)
        sim.approve(view.user_code)
        assert (await wait_done(flows, view.flow_id)).state == "approved"
    finally:
        await flows.close()


async def test_unreachable_provider_on_start_says_what_to_do(sim):
    flows = make_flows(sim)
    await sim.stop()
    try:
        with pytest.raises(FlowStartError, match="could not be reached"):
            await flows.start("google", BIND)
    finally:
        await flows.close()
        await sim.start(port=sim.port)


async def test_other_provider_error_stops_the_flow(sim, flows):
    view = await flows.start("github", BIND)
    sim.grants[next(iter(sim.grants))].client_id = "another-app"  # incorrect_client_credentials
    done = await wait_done(flows, view.flow_id)
    assert done.state == "error" and "incorrect_client_credentials" in done.message


async def test_flow_is_visible_only_to_the_browser_that_started_it(sim, flows):
    view = await flows.start("google", BIND)
    with pytest.raises(FlowNotFound):
        flows.status(view.flow_id, "another-browser")
    with pytest.raises(FlowNotFound):
        flows.claim(view.flow_id, "another-browser")
    with pytest.raises(FlowNotFound):
        flows.cancel(view.flow_id, "another-browser")
    assert flows.status(view.flow_id, BIND).state == "pending"


async def test_approved_identity_is_claimed_exactly_once(sim, flows):
    view = await flows.start("github", BIND)
    with pytest.raises(FlowNotApproved):
        flows.claim(view.flow_id, BIND)
    sim.approve(view.user_code, email="kim@example.com")
    await wait_done(flows, view.flow_id)
    ident = flows.claim(view.flow_id, BIND)
    assert ident.provider == "github" and ident.subject.isdigit()
    assert ident.email == "kim@example.com"
    with pytest.raises(FlowNotApproved):
        flows.claim(view.flow_id, BIND)
    after = flows.status(view.flow_id, BIND)
    assert after.state == "approved" and after.claimed and after.identity is None


async def test_cancel_stops_polling_and_forgets_the_flow(sim, flows):
    view = await flows.start("google", BIND)
    await wait_for(lambda: token_polls(sim, "google"))
    flows.cancel(view.flow_id, BIND)
    with pytest.raises(FlowNotFound):
        flows.status(view.flow_id, BIND)
    polls = len(token_polls(sim, "google"))
    await asyncio.sleep(0.2)
    assert len(token_polls(sim, "google")) == polls


async def test_concurrent_flows_are_limited_per_browser_and_per_box(sim):
    flows = make_flows(sim, max_per_bind=2, max_flows=3)
    try:
        a = await flows.start("google", "b1")
        await flows.start("github", "b1")
        with pytest.raises(TooManyFlows, match="this browser"):
            await flows.start("microsoft", "b1")
        await flows.start("google", "b2")
        with pytest.raises(TooManyFlows, match="busy"):
            await flows.start("google", "b3")
        assert flows.snapshot()["waiting"] == 3
        flows.cancel(a.flow_id, "b1")  # a new code on request: cancel, then start
        assert (await flows.start("microsoft", "b1")).state == "pending"
    finally:
        await flows.close()


async def test_unconfigured_and_unknown_providers_are_refused(sim):
    cfg = from_dict(IdentityConfig, {"github": {"client_id": ""}})
    flows = DeviceFlows(build_providers(cfg))
    try:
        with pytest.raises(ProviderNotConfigured, match="Enable Device Flow"):
            await flows.start("github", BIND)
        with pytest.raises(UnknownProvider):
            await flows.start("facebook", BIND)
    finally:
        await flows.close()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_provider_refusing_the_client_id_names_the_config_key(provider):
    sim = IdentitySim(interval=0.05, clients={"the-registered-one"})
    await sim.start()
    flows = make_flows(sim)
    try:
        with pytest.raises(FlowStartError, match=rf"refused.*identity\.{provider}\] client_id"):
            await flows.start(provider, BIND)
    finally:
        await flows.close()
        await sim.stop()


async def test_provider_answering_html_error_on_start_is_refusal(sim, flows):
    sim.fail_next(400, endpoint="device")
    with pytest.raises(FlowStartError, match="http_400"):
        await flows.start("google", BIND)


async def test_google_quota_error_is_waited_out_not_fatal(sim, flows):
    view = await flows.start("google", BIND)
    sim.fail_next(403, count=2, error="rate_limit_exceeded")
    await wait_for(lambda: "not answering" in flows.status(view.flow_id, BIND).message)
    await wait_for(lambda: not sim._failures.get("token"))
    sim.approve(view.user_code)
    assert (await wait_done(flows, view.flow_id)).state == "approved"


async def test_github_without_email_scope_still_signs_in_without_email(sim, flows):
    flows.providers["github"] = replace(
        flows.providers["github"], spec=replace(flows.providers["github"].spec,
                                                scopes="read:user"))
    view = await flows.start("github", BIND)
    sim.approve(view.user_code, subject="77", email="hidden@example.com")
    done = await wait_done(flows, view.flow_id)
    assert done.state == "approved" and done.identity.subject == "77"
    assert done.identity.email == ""


async def test_non_ascii_bind_is_just_another_browser(sim, flows):
    view = await flows.start("google", "näive-bind")
    assert flows.status(view.flow_id, "näive-bind").state == "pending"
    with pytest.raises(FlowNotFound):
        flows.status(view.flow_id, "naive-bind")


async def test_a_client_set_up_wrong_says_what_to_change_in_the_console(sim, flows):
    sim.misconfigured["sim-microsoft-app"] = "public_flows_off"
    view = await flows.start("microsoft", BIND)
    done = await wait_for(lambda: flows.status(view.flow_id, BIND).state in DONE and
                          flows.status(view.flow_id, BIND))
    assert done.state == "error" and "invalid_client" in done.message
    assert "Allow public client flows" in done.message
    sim.misconfigured["Iv1.simgithub"] = "device_flow_disabled"
    with pytest.raises(FlowStartError, match=r"Enable Device Flow.*Sign-in setup page"):
        await flows.start("github", BIND)
