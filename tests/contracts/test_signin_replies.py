"""Each sign-in provider's recorded device-flow replies, replayed through DeviceFlows.

The device-code reply's `interval` is shortened to 0.05 s so a poll happens at once;
everything else is the recorded reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from appliance.identity.device_flow import DeviceFlows, FlowStartError
from appliance.identity.providers import PROVIDERS, make_provider
from tests.contracts.corpus import Replay, case

FAST = 0.05


def _fast(c: dict[str, Any]) -> dict[str, Any]:
    return {**c, "json": {**c["json"], "interval": FAST}}


@contextlib.asynccontextmanager
async def flows(name: str) -> AsyncIterator[tuple[DeviceFlows, Replay]]:
    replay = await Replay().start()
    provider = make_provider(PROVIDERS[name], client_id="client-123", client_secret="secret",
                             base_url=replay.url, api_url=replay.url)
    df = DeviceFlows({name: provider}, session_factory=aiohttp.ClientSession,
                     min_interval=0.01, slow_down_step=0.05)
    try:
        yield df, replay
    finally:
        await df.close()
        await replay.stop()


async def _settle(df: DeviceFlows, flow_id: str, polls: int = 2) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        view = df.status(flow_id, "b")
        flow = df._flows[flow_id]
        if view.state != "pending" or flow.polls >= polls:
            return view, flow
        await asyncio.sleep(0.02)
    raise AssertionError("no outcome")


OUTCOMES = [
    ("google", "authorization_pending", "pending"), ("google", "slow_down", "slow"),
    ("google", "access_denied", "denied"), ("google", "expired_token", "expired"),
    ("google", "invalid_client", "error"), ("google", "invalid_grant", "error"),
    ("microsoft", "authorization_pending", "pending"),
    ("microsoft", "authorization_declined", "denied"),
    ("microsoft", "expired_token", "expired"), ("microsoft", "bad_verification_code", "error"),
    ("github", "authorization_pending", "pending"), ("github", "slow_down", "slow"),
    ("github", "expired_token", "expired"), ("github", "access_denied", "denied"),
    ("github", "incorrect_client_credentials", "error"),
    ("github", "device_flow_disabled", "error"),
]


@pytest.mark.parametrize(("provider", "reply", "outcome"), OUTCOMES)
async def test_each_polling_reply_has_its_outcome(provider: str, reply: str,
                                                  outcome: str) -> None:
    async with flows(provider) as (df, replay):
        token = case(f"{provider}-token", reply)
        pending = case(f"{provider}-token", "authorization_pending")
        replay.serve(_fast(case(f"{provider}-device-code", "ok")), token, pending)
        view = await df.start(provider, "b")
        assert view.user_code and view.verification_url.startswith("https://")
        got, flow = await _settle(df, view.flow_id, polls=1 if outcome == "slow" else 3)
        if outcome == "slow":
            assert got.state == "pending" and flow.interval > FAST
            if "interval" in token["json"]:  # GitHub names the new interval
                assert flow.interval == token["json"]["interval"]
        elif outcome == "pending":
            assert got.state == "pending" and flow.interval == FAST
        else:
            assert got.state == outcome, got.message
        assert len(replay.seen) >= 2 and b"device_code=" in replay.seen[1].body


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_a_refused_client_cannot_start_a_sign_in(provider: str) -> None:
    async with flows(provider) as (df, replay):
        replay.serve(case(f"{provider}-device-code", "bad-client"))
        with pytest.raises(FlowStartError) as got:
            await df.start(provider, "b")
        assert "invalid_client" in str(got.value) and "client_id" in str(got.value)


async def test_microsoft_message_and_missing_complete_uri_are_fine() -> None:
    async with flows("microsoft") as (df, replay):
        replay.serve(_fast(case("microsoft-device-code", "ok")),
                     case("microsoft-token", "authorization_pending"))
        view = await df.start("microsoft", "b")
        assert view.verification_url == "https://microsoft.com/devicelogin"
        assert view.verification_url_complete == "" and view.user_code == "FRWQDE7YL"


async def _poll_outcome(df: DeviceFlows, replay: Replay, reply: dict[str, Any]) -> Any:
    replay.serve(_fast(case("google-device-code", "ok")), reply)
    view = await df.start("google", "b")
    got, _ = await _settle(df, view.flow_id, polls=3)
    return got


async def test_google_pending_as_logged_keeps_waiting() -> None:
    async with flows("google") as (df, replay):
        got = await _poll_outcome(df, replay, case("google-token-seen", "authorization_pending"))
        assert got.state == "pending" and got.message.startswith("Open https://")


async def test_google_wrong_client_type_after_approval_says_to_make_a_tv_client() -> None:
    """Google issues the code and refuses only at the poll after approval (401, 'Invalid
    client type.'): the advice must be the client type, not the secret."""
    async with flows("google") as (df, replay):
        got = await _poll_outcome(df, replay, case("google-token-seen", "invalid-client-type"))
        assert got.state == "error"
        assert "TVs and Limited Input devices" in got.message, got.message
        assert "Client secret" not in got.message


async def test_google_unauthorized_at_the_poll_points_at_the_secret() -> None:
    async with flows("google") as (df, replay):
        got = await _poll_outcome(df, replay, case("google-token-seen", "invalid-client-secret"))
        assert got.state == "error" and "Client secret" in got.message, got.message


@pytest.mark.parametrize("reply", ["unknown-client", "wrong-type"])
async def test_google_device_code_refusals_as_logged(reply: str) -> None:
    async with flows("google") as (df, replay):
        replay.serve(case("google-device-code-seen", reply))
        with pytest.raises(FlowStartError) as got:
            await df.start("google", "b")
        wanted = "wrong type" if reply == "wrong-type" else "does not know this Client ID"
        assert wanted in str(got.value), str(got.value)


async def test_github_replies_as_quoted() -> None:
    """A slow_down without a new interval adds the step; pending keeps the interval."""
    async with flows("github") as (df, replay):
        replay.serve(_fast(case("github-device-code", "ok")),
                     case("github-token-seen", "slow_down"),
                     case("github-token-seen", "authorization_pending"))
        view = await df.start("github", "b")
        got, flow = await _settle(df, view.flow_id, polls=2)
        assert got.state == "pending" and flow.interval == pytest.approx(FAST + 0.05)


async def test_microsoft_pending_as_logged_keeps_waiting() -> None:
    async with flows("microsoft") as (df, replay):
        replay.serve(_fast(case("microsoft-device-code", "ok")),
                     case("microsoft-token-seen", "authorization_pending"))
        view = await df.start("microsoft", "b")
        got, flow = await _settle(df, view.flow_id, polls=2)
        assert got.state == "pending" and flow.interval == FAST and flow.polls >= 2
