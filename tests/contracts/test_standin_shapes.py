"""The stand-ins answer the same situations with the recorded shapes.

Same status, same content type, and the same JSON shape: for a captured reply (a fixture
of the live service) the stand-in may neither miss a field nor add one; for a quoted or
documented reply, which is re-typed as its minimal shape, it must have every field shown.
Fields Spotify removed for Development Mode apps (february-2026-migration-guide) are the
one allowed difference from fixtures captured before that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.standins.features import FeaturesSim
from appliance.standins.identity import IdentitySim
from appliance.standins.spotify_rules import Rules
from tests.contracts.corpus import load, shape_differences
from tests.music.spotify_kit import SpotifyEnv, spotify_env

REMOVED_FOR_DEV_MODE = ("popularity", "external_ids", "available_markets", "preview_url",
                        "linked_from")


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in REMOVED_FOR_DEV_MODE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def assert_like(name: str, case_name: str | None, status: int, ctype: str,
                data: Any) -> None:
    """The stand-in's answer has the recorded reply's status, content type and shape."""
    d = load(name)
    c = next(c for c in d["cases"] if case_name in (None, c["name"]))
    assert status == c["status"], (name, status)
    if c["content_type"]:
        assert ctype == c["content_type"].split(";")[0], (name, ctype)
    if "json" in c:
        strict = d["kind"] == "captured"
        diffs = shape_differences(_strip(c["json"]), data, allow_extra=not strict)
        assert diffs == [], f"{name}: {diffs}"
    elif "text" in c:
        assert isinstance(data, str) and data.strip(), name
        assert not data.lstrip().startswith(("{", "[")), name
    else:
        assert data in ("", None), name


@contextlib.asynccontextmanager
async def linked(tmp: Path, account: str = "alice") -> AsyncIterator[tuple[SpotifyEnv, Any]]:
    async with spotify_env(tmp, users=("u_alice", "u_carol", "u_frank")) as env:
        await env.link(f"u_{account}", account)
        token = await env.svc.tokens.access_token(f"u_{account}")

        async def call(method: str, path: str, **kw: Any) -> tuple[int, str, Any]:
            async with aiohttp.ClientSession() as http, http.request(
                    method, env.sim.api_url + path.lstrip("/"),
                    headers={"Authorization": f"Bearer {token}"}, **kw) as resp:
                text = await resp.text()
                data: Any = text
                if resp.content_type == "application/json":
                    data = await resp.json()
                return resp.status, resp.content_type, data
        yield env, call


async def _playing(env: SpotifyEnv, call: Any) -> str:
    dev = env.sim.speaker_id("Living Room")
    context = f"spotify:playlist:{env.sim.playlists[0]['id']}"
    status, _, _ = await call("PUT", f"me/player/play?device_id={dev}",
                              json={"context_uri": context})
    assert status == 204
    return dev


async def test_devices_and_playback_states(tmp_path: Path) -> None:
    async with linked(tmp_path) as (env, call):
        assert_like("spotify-player-nothing", None, *await call("GET", "me/player"))
        status, ctype, data = await call("GET", "me/player/devices")
        assert_like("spotify-devices", None, status, ctype,
                    {"devices": [d for d in data["devices"] if d["supports_volume"]]})
        await _playing(env, call)
        assert_like("spotify-player-track", None, *await call("GET", "me/player"))
        env.sim.play_podcast("Living Room")
        assert_like("spotify-player-episode", None,
                    *await call("GET", "me/player?additional_types=episode"))
        assert_like("spotify-player-episode-no-types", None, *await call("GET", "me/player"))
        env.sim.play_ad()
        assert_like("spotify-player-ad", None, *await call("GET", "me/player"))


async def test_restricted_speakers_list_a_null_id_under_the_rule(tmp_path: Path) -> None:
    async with linked(tmp_path) as (env, call):
        env.sim.rules.null_device_ids = True
        _, _, data = await call("GET", "me/player/devices")
        restricted = [d for d in data["devices"] if d["is_restricted"]]
        assert restricted and all(d["id"] is None for d in restricted)
        real = load("spotify-devices-volume-null")["cases"][0]["json"]["devices"]
        assert shape_differences(real[1], restricted[0], allow_extra=True) == []


async def test_library_pages(tmp_path: Path) -> None:
    async with linked(tmp_path) as (env, call):
        assert_like("spotify-me", None, *await call("GET", "me"))
        assert_like("spotify-saved-tracks", None, *await call("GET", "me/tracks?limit=50"))
        assert_like("spotify-my-playlists", None, *await call("GET", "me/playlists?limit=50"))
        pid = env.sim.playlists[0]["id"]
        assert_like("spotify-playlist-items-old", None,
                    *await call("GET", f"playlists/{pid}/items?limit=100"))
        assert_like("spotify-search-page", None,
                    *await call("GET", "search?q=a&type=track&limit=10"))
        env.sim.rules = Rules.real()
        assert_like("spotify-my-playlists-nulls", None,
                    *await call("GET", "me/playlists?limit=50"))
        assert_like("spotify-playlist-items-renamed", None,
                    *await call("GET", f"playlists/{pid}/items?limit=100"))


async def test_development_mode_refusals(tmp_path: Path) -> None:
    async with linked(tmp_path) as (env, call):
        status, _, _ = await call("GET", "search?q=a&type=track&limit=20")
        assert status == 200  # an app with extended quota may ask 20
        assert (await call("GET", "playlists/99simEverything0000000/items"))[0] == 200
        env.sim.rules = Rules.real()
        assert_like("spotify-devmode-search-limit", None,
                    *await call("GET", "search?q=a&type=track&limit=20"))
        assert (await call("GET", "search?q=a&type=track&limit=10"))[0] == 200
        env.sim.rules.empty_error_bodies = False
        assert_like("spotify-devmode-playlist-forbidden", None,
                    *await call("GET", "playlists/99simEverything0000000/items"))
        pid = env.sim.playlists[0]["id"]
        assert_like("spotify-devmode-old-tracks-path", None,
                    *await call("GET", f"playlists/{pid}/tracks"))
        env.sim.rules.empty_error_bodies = True
        assert_like("spotify-empty-error", "403-empty",
                    *await call("GET", "playlists/99simEverything0000000/items"))


async def test_a_sixth_household_member_gets_the_plain_text_403(tmp_path: Path) -> None:
    async with linked(tmp_path, "frank") as (env, call):
        assert (await call("GET", "me"))[0] == 200
        env.sim.rules.five_users = True
        assert_like("spotify-not-registered", "not-registered", *await call("GET", "me"))
        assert_like("spotify-not-registered", "not-registered",
                    *await call("GET", "me/player/devices"))


async def test_player_command_answers(tmp_path: Path) -> None:
    async with linked(tmp_path) as (env, call):
        assert_like("spotify-player-errors-seen", "no-active-device",
                    *await call("POST", "me/player/next"))
        dev = await _playing(env, call)
        tid = list(env.sim.player.tracks)[3]
        env.sim.rules.refuse_play = {tid}
        assert_like("spotify-player-errors-seen", "restriction-violated",
                    *await call("PUT", f"me/player/play?device_id={dev}",
                                json={"uris": [f"spotify:track:{tid}"]}))
        env.sim.rules.text_200_commands = True
        assert_like("spotify-player-command-text-200", None,
                    *await call("PUT", f"me/player/pause?device_id={dev}"))
        env.sim.inject("GET", r"/me/player$", 429, retry_after=7)
        status, ctype, data = await call("GET", "me/player")
        assert_like("spotify-rate-limited", "429-json", status, ctype, data)


async def test_premium_required_for_a_free_account(tmp_path: Path) -> None:
    async with linked(tmp_path, "carol") as (env, call):
        dev = env.sim.speaker_id("Living Room")
        assert_like("spotify-player-errors-seen", "premium-required",
                    *await call("PUT", f"me/player/play?device_id={dev}", json={}))


async def test_accounts_token_answers(tmp_path: Path) -> None:
    async with spotify_env(tmp_path) as env:
        await env.link("u_alice", "alice")
        rt = next(iter(env.sim.refresh_tokens))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{env.sim.accounts_url}/api/token", data={
                    "grant_type": "refresh_token", "refresh_token": rt,
                    "client_id": env.sim.client_id}) as resp:
                assert_like("spotify-accounts-token", "refresh-rotated", resp.status,
                            resp.content_type, await resp.json())
            async with http.post(f"{env.sim.accounts_url}/api/token", data={
                    "grant_type": "refresh_token", "refresh_token": rt,
                    "client_id": env.sim.client_id}) as resp:  # the retired one
                assert_like("spotify-accounts-errors", "revoked", resp.status,
                            resp.content_type, await resp.json())


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JSON_ACCEPT = {"Accept": "application/json"}
SIGNIN = {
    "google": ("/google/device/code", "/google/token", {"client_secret": "sim-google-secret"}),
    "microsoft": ("/microsoft/common/oauth2/v2.0/devicecode",
                  "/microsoft/common/oauth2/v2.0/token", {}),
    "github": ("/github/login/device/code", "/github/login/oauth/access_token", {}),
}


class SignIn:
    """One provider's device flow on the identity stand-in, spoken to over HTTP."""

    def __init__(self, http: aiohttp.ClientSession, sim: IdentitySim, provider: str) -> None:
        self.http, self.sim, self.provider = http, sim, provider
        self.code_path, self.token_path, self.extra = SIGNIN[provider]
        self.form: dict[str, str] = {}
        self.user_code = ""

    async def code(self) -> tuple[int, str, Any]:
        """Ask for a device code (status, content type, body); `poll` then uses it."""
        async with self.http.post(self.sim.base_url + self.code_path, headers=JSON_ACCEPT,
                                  data={"client_id": "client-123",
                                        "scope": "openid email profile"}) as resp:
            body = await resp.json()
        self.user_code = body["user_code"]
        self.form = {"grant_type": DEVICE_GRANT, "device_code": body["device_code"],
                     "client_id": "client-123", **self.extra}
        return resp.status, resp.content_type, body

    async def poll(self, **change: str) -> tuple[int, str, Any]:
        """One poll of the token endpoint (status, content type, body)."""
        async with self.http.post(self.sim.base_url + self.token_path, headers=JSON_ACCEPT,
                                  data={**self.form, **change}) as resp:
            return resp.status, resp.content_type, await resp.json()


@contextlib.asynccontextmanager
async def signin(provider: str) -> AsyncIterator[SignIn]:
    sim = await IdentitySim(interval=0.01, enforce_interval=False).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield SignIn(http, sim, provider)
    finally:
        await sim.stop()


def recorded(name: str, case_name: str) -> Any:
    return next(c for c in load(name)["cases"] if c["name"] == case_name)["json"]


@pytest.mark.parametrize("provider", sorted(SIGNIN))
async def test_signin_stand_in_replies_like_each_provider(provider: str) -> None:
    async with signin(provider) as flow:
        assert_like(f"{provider}-device-code", "ok", *await flow.code())
        assert_like(f"{provider}-token", "authorization_pending", *await flow.poll())
        flow.sim.expire(flow.user_code, provider)
        assert_like(f"{provider}-token", "expired_token", *await flow.poll())


async def test_features_stand_in_replies_like_reccobeats() -> None:
    async with FeaturesSim() as sim, aiohttp.ClientSession() as http:
        known = next(iter(sim.tracks))
        async with http.get(f"{sim.reccobeats_url}audio-features",
                            params={"ids": f"{known},0000000000000000000000"}) as resp:
            body = await resp.json()
            assert_like("reccobeats-audio-features", "ok", resp.status, resp.content_type, body)
            assert len(body["content"]) == 1 and body["content"][0]["href"].endswith(known)


DENIED = {"google": "access_denied", "microsoft": "authorization_declined",
          "github": "access_denied"}


@pytest.mark.parametrize("provider", sorted(SIGNIN))
async def test_signin_stand_in_slow_down_and_denial_look_real(provider: str) -> None:
    async with signin(provider) as flow:
        await flow.code()
        if provider != "microsoft":  # Entra has no slow_down
            flow.sim.force_slow_down(1)
            assert_like(f"{provider}-token", "slow_down", *await flow.poll())
        flow.sim.deny(flow.user_code, provider)
        assert_like(f"{provider}-token", DENIED[provider], *await flow.poll())


async def test_google_stand_in_says_what_google_says() -> None:
    """Status, code and text of each Google polling reply on record, and the approval's
    fields (a refresh token always: google-token.json)."""
    def same(name: str, case_name: str, got: tuple[int, str, Any]) -> None:
        assert_like(name, case_name, *got)
        assert got[2] == recorded(name, case_name), case_name

    async with signin("google") as flow:
        flow.sim.client_secrets["client-123"] = flow.extra["client_secret"]
        await flow.code()
        same("google-token-seen", "authorization_pending", await flow.poll())
        same("google-token", "authorization_pending", await flow.poll())
        flow.sim.force_slow_down(1)
        same("google-token", "slow_down", await flow.poll())
        same("google-token-seen", "invalid-client-secret",
             await flow.poll(client_secret="not-the-secret"))
        flow.sim.deny(flow.user_code, "google")
        same("google-token", "access_denied", await flow.poll())
        await flow.code()
        flow.sim.expire(flow.user_code, "google")
        same("google-token", "expired_token", await flow.poll())
        await flow.code()
        flow.sim.approve(flow.user_code)
        assert_like("google-token", "ok", *await flow.poll())


async def test_github_stand_in_says_what_github_says() -> None:
    def same(name: str, case_name: str, got: tuple[int, str, Any]) -> None:
        assert_like(name, case_name, *got)
        wanted = recorded(name, case_name)
        assert {k: got[2][k] for k in wanted} == wanted, case_name

    async with signin("github") as flow:
        await flow.code()
        same("github-token-seen", "authorization_pending", await flow.poll())
        flow.sim.force_slow_down(1)
        same("github-token-seen", "slow_down", await flow.poll())
        flow.sim.expire(flow.user_code, "github")
        same("github-token", "expired_token", await flow.poll())


async def test_microsoft_stand_in_says_what_entra_says() -> None:
    async with signin("microsoft") as flow:
        await flow.code()
        for name, case_name, change in (
                ("microsoft-token-seen", "authorization_pending", None),
                ("microsoft-token", "expired_token", flow.sim.expire)):
            if change is not None:
                change(flow.user_code, "microsoft")
            got = await flow.poll()
            assert_like(name, case_name, *got)
            body, wanted = got[2], recorded(name, case_name)
            text = wanted["error_description"].split(" Trace ID:")[0]
            assert body["error_description"].split(" Trace ID:")[0] == text
            assert (body["error"], body["error_codes"]) == (wanted["error"],
                                                            wanted["error_codes"])
            assert "Correlation ID: " + body["correlation_id"] in body["error_description"]
