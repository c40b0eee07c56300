"""The identity stand-in refuses a badly set-up OAuth client the way each provider does
(status and body as in `appliance.standins.identity.SOURCES`)."""

from __future__ import annotations

import aiohttp
import pytest

from appliance.standins.identity import DEVICE_GRANT, SOURCES, IdentitySim

KNOWN = {"good-google", "wrong-type", "1a2b3c4d-1234-5678-9abc-1234567890ab", "no-public",
         "Ov23liGoodGoodGood00", "Ov23liNoDeviceFlow00"}


@pytest.fixture
async def sim():
    s = IdentitySim(interval=0.05, clients=KNOWN)
    s.misconfigured.update({"wrong-type": "wrong_type", "no-public": "public_flows_off",
                            "Ov23liNoDeviceFlow00": "device_flow_disabled"})
    s.client_secrets["good-google"] = "the-secret"
    await s.start()
    yield s
    await s.stop()


async def post(sim, path, form, accept_json=True):
    headers = {"Accept": "application/json"} if accept_json else {}
    async with aiohttp.ClientSession() as http, http.post(sim.base_url + path, data=form,
                                                          headers=headers) as r:
        return r.status, await r.json(content_type=None)


def test_every_refusal_names_its_evidence():
    assert len(SOURCES) >= 9 and all(SOURCES.values())


async def test_google_refusals(sim):
    scope = "openid email profile"
    assert await post(sim, "/google/device/code", {"client_id": "nobody", "scope": scope}) == (
        401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
    assert await post(sim, "/google/device/code", {"client_id": "wrong-type", "scope": scope}) == (
        401, {"error": "invalid_client", "error_description": "Invalid client type."})
    status, body = await post(sim, "/google/device/code", {"client_id": "good-google",
                                                           "scope": "openid drive"})
    assert (status, body["error"]) == (400, "invalid_scope")
    _, code = await post(sim, "/google/device/code", {"client_id": "good-google", "scope": scope})
    poll = {"grant_type": DEVICE_GRANT, "device_code": code["device_code"],
            "client_id": "good-google"}
    assert await post(sim, "/google/token", {**poll, "client_secret": "not-it"}) == (
        401, {"error": "invalid_client", "error_description": "Unauthorized"})
    status, body = await post(sim, "/google/token", {**poll, "client_secret": "the-secret"})
    assert (status, body["error"]) == (428, "authorization_pending")


async def test_microsoft_refusals(sim):
    status, body = await post(sim, "/microsoft/common/oauth2/v2.0/devicecode",
                              {"client_id": "00000000-0000-0000-0000-000000000000",
                               "scope": "openid"})
    assert (status, body["error"], body["error_codes"]) == (400, "unauthorized_client", [700016])
    assert body["error_description"].startswith("AADSTS700016: Application with identifier")
    status, body = await post(sim, "/microsoft/no_such_tenant/oauth2/v2.0/devicecode",
                              {"client_id": "no-public", "scope": "openid"})
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_request", [90002])
    status, code = await post(sim, "/microsoft/common/oauth2/v2.0/devicecode",
                              {"client_id": "no-public", "scope": "openid"})
    assert status == 200  # the code is given; the token endpoint wants a secret
    status, body = await post(sim, "/microsoft/common/oauth2/v2.0/token", {
        "grant_type": DEVICE_GRANT, "device_code": code["device_code"], "client_id": "no-public"})
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_client", [7000218])


async def test_github_refusals(sim):
    assert await post(sim, "/github/login/device/code", {"client_id": "Ov23liWhoIsThis000"}) == (
        404, {"error": "Not Found"})
    assert await post(sim, "/github/login/device/code", {"client_id": "Ov23liNoDeviceFlow00"}) == (
        400, {"error": "device_flow_disabled",
              "error_description": "Device Flow must be explicitly enabled for this App",
              "error_uri": "https://docs.github.com"})
    status, body = await post(sim, "/github/login/device/code",
                              {"client_id": "Ov23liGoodGoodGood00"})
    assert status == 200 and body["verification_uri"]
