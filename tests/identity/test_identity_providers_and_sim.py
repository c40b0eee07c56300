"""Provider data from config, and the stand-in's wire dialects and approval page."""

from __future__ import annotations

import aiohttp
import pytest

from appliance.core.config import IdentityConfig, from_dict
from appliance.identity.providers import PROVIDERS, build_providers
from appliance.standins.identity import IdentitySim


def test_real_endpoints_are_the_defaults():
    p = build_providers(IdentityConfig())
    assert p["google"].device_code_url == "https://oauth2.googleapis.com/device/code"
    assert p["google"].token_url == "https://oauth2.googleapis.com/token"
    assert p["google"].jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert p["microsoft"].device_code_url == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode")
    assert p["microsoft"].jwks_url == (
        "https://login.microsoftonline.com/common/discovery/v2.0/keys")
    assert p["github"].token_url == "https://github.com/login/oauth/access_token"
    assert p["github"].user_api_url == "https://api.github.com"
    assert PROVIDERS["google"].verification_field == "verification_url"
    assert PROVIDERS["microsoft"].verification_field == "verification_uri"
    assert set(PROVIDERS["google"].issuers) == {"accounts.google.com",
                                               "https://accounts.google.com"}
    assert not PROVIDERS["github"].has_id_token and 200 in PROVIDERS["github"].error_statuses


def test_unconfigured_providers_say_how_to_configure():
    p = build_providers(IdentityConfig())
    assert not any(x.configured for x in p.values())
    assert "TVs and Limited Input devices" in p["google"].how_to_configure
    assert '[identity.google] client_id = "..." and client_secret' in p["google"].how_to_configure
    assert "public client flows" in p["microsoft"].how_to_configure
    assert "Enable Device Flow" in p["github"].how_to_configure
    assert "\n" not in p["github"].how_to_configure
    google_without_secret = build_providers(from_dict(IdentityConfig, {
        "google": {"client_id": "x.apps.googleusercontent.com"}}))["google"]
    assert not google_without_secret.configured


def test_overrides_keep_paths_and_tenant():
    cfg = from_dict(IdentityConfig, {
        "google": {"client_id": "g", "client_secret": "s", "base_url": "http://127.0.0.1:9/google"},
        "microsoft": {"client_id": "m", "tenant": "consumers",
                      "base_url": "http://127.0.0.1:9/microsoft/"},
        "github": {"client_id": "h", "base_url": "http://127.0.0.1:9/github",
                   "api_url": "http://127.0.0.1:9/github-api"}})
    p = build_providers(cfg)
    assert all(x.configured for x in p.values())
    assert p["google"].jwks_url == "http://127.0.0.1:9/google/oauth2/v3/certs"
    assert p["microsoft"].token_url == "http://127.0.0.1:9/microsoft/consumers/oauth2/v2.0/token"
    assert p["github"].device_code_url == "http://127.0.0.1:9/github/login/device/code"
    assert p["github"].user_api_url == "http://127.0.0.1:9/github-api"
    assert p["google"].as_dict() == {"name": "google", "label": "Google", "configured": True,
                                     "howToConfigure": ""}


@pytest.fixture
async def sim():
    s = IdentitySim(interval=1, expires_in=60)
    await s.start()
    yield s
    await s.stop()


async def test_github_answers_form_encoded_unless_json_is_asked(sim):
    async with aiohttp.ClientSession() as http:
        url = sim.base_url + "/github/login/device/code"
        async with http.post(url, data={"client_id": "c", "scope": "user:email"}) as resp:
            assert resp.content_type == "application/x-www-form-urlencoded"
            assert "user_code=" in await resp.text()
        async with http.post(url, data={"client_id": "c"},
                             headers={"Accept": "application/json"}) as resp:
            body = await resp.json()
        tok = sim.base_url + "/github/login/oauth/access_token"
        async with http.post(tok, data={"client_id": "c", "device_code": body["device_code"],
                                        "grant_type": "urn:ietf:params:oauth:grant-type:"
                                                      "device_code"},
                             headers={"Accept": "application/json"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["error"] == "authorization_pending"


async def test_google_dialect_status_codes_and_case_sensitive_codes(sim):
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.base_url + "/google/device/code",
                             data={"client_id": "c", "scope": "openid email"}) as resp:
            body = await resp.json()
        assert "verification_url" in body and "verification_uri" not in body
        form = {"client_id": "c", "client_secret": "s", "device_code": body["device_code"],
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        async with http.post(sim.base_url + "/google/token", data=form) as resp:
            assert resp.status == 428 and (await resp.json())["error"] == "authorization_pending"
        async with http.post(sim.base_url + "/google/token", data=form) as resp:
            assert resp.status == 403 and (await resp.json())["error"] == "slow_down"  # too fast
        with pytest.raises(LookupError):
            sim.approve(body["user_code"].lower())
        sim.deny(body["user_code"])
        sim.grant(body["user_code"]).last_poll = None
        async with http.post(sim.base_url + "/google/token", data=form) as resp:
            assert resp.status == 403 and (await resp.json())["error"] == "access_denied"


async def test_microsoft_errors_are_400_and_message_names_the_code(sim):
    async with aiohttp.ClientSession() as http:
        base = sim.base_url + "/microsoft/common/oauth2/v2.0"
        async with http.post(base + "/devicecode", data={"client_id": "c",
                                                         "scope": "openid"}) as resp:
            body = await resp.json()
        assert body["user_code"] in body["message"] and "verification_uri" in body
        form = {"client_id": "c", "device_code": "nope",
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        async with http.post(base + "/token", data=form) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "bad_verification_code"


async def test_approval_page_approves_and_escapes(sim):
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.base_url + "/microsoft/common/oauth2/v2.0/devicecode",
                             data={"client_id": "c", "scope": "openid"}) as resp:
            code = (await resp.json())["user_code"]
        page = sim.base_url + "/microsoft/devicelogin"
        async with http.get(page, params={"user_code": '"><script>x</script>'}) as resp:
            text = await resp.text()
            assert resp.status == 200 and "<script>x" not in text and "&lt;script&gt;" in text
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        async with http.post(page, data={"user_code": "<b>WRONG</b>", "action": "approve"}) as resp:
            text = await resp.text()
            assert resp.status == 400 and "<b>WRONG" not in text and 'id="error"' in text
        async with http.post(page, data={"user_code": code.lower(), "action": "approve",
                                         "name": "<i>Mo</i>", "email": "mo@example.com",
                                         "subject": ""}) as resp:
            assert resp.status == 200 and 'id="result"' in await resp.text()
    grant = sim.grant(code)
    assert grant.state == "approved" and grant.user["name"] == "<i>Mo</i>"
    assert grant.user["subject"]  # derived from the email


async def test_generic_device_page_denies_any_providers_code(sim):
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.base_url + "/github/login/device/code", data={"client_id": "c"},
                             headers={"Accept": "application/json"}) as resp:
            code = (await resp.json())["user_code"]
        async with http.post(sim.base_url + "/device",
                             data={"user_code": code, "action": "deny"}) as resp:
            assert resp.status == 200
    assert sim.grant(code).state == "denied"


def test_every_identity_error_names_its_http_answer():
    from appliance.identity import models

    errors = [c for c in vars(models).values()
              if isinstance(c, type) and issubclass(c, models.IdentityError)]
    leaves = [c for c in errors if not any(o is not c and issubclass(o, c) for o in errors)]
    assert len(leaves) >= 14
    assert len({c.code for c in leaves}) == len(leaves)
    assert all(400 <= c.status < 600 for c in leaves)
    assert models.LastIdentity.status == 409 and models.FlowNotFound.status == 404
    assert models.TooManyFlows.status == 429 and models.NotAllowed.status == 403


@pytest.mark.parametrize("provider", ["google", "microsoft", "github"])
async def test_stand_in_pending_status_matches_the_provider_spec(sim, provider):
    p = build_providers(from_dict(IdentityConfig, sim.identity_config()))[provider]
    headers = {"Accept": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(p.device_code_url, data={"client_id": p.client_id,
                                                      "scope": p.spec.scopes},
                             headers=headers) as resp:
            body = await resp.json()
        assert p.spec.verification_field in body
        form = {"client_id": p.client_id, "client_secret": p.client_secret,
                "device_code": body["device_code"],
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        async with http.post(p.token_url, data=form, headers=headers) as resp:
            assert resp.status == p.spec.pending_status
            assert (await resp.json())["error"] in p.spec.pending_errors
