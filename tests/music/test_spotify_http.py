"""The Spotify page and endpoints on the real web app, with the Spotify stand-in behind them."""

from __future__ import annotations

import re
from unittest import mock

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from spotify_kit import spotify_env
from yarl import URL

from appliance.core.settings import SPEAKER_ID, Settings
from appliance.music import connections
from appliance.music.tokens import CLIENT_ID
from appliance.web.kit.deps import WebDeps
from appliance.web.kit.keys import SESSIONS
from appliance.web.kit.responses import ApiError
from appliance.web.kit.security import loopback_peer
from appliance.web.routes.spotify import add_routes, callback
from appliance.web.service import WebService


class Phone:
    """A cookie-keeping client signed in as one box user."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self, web: WebService, user_id: str) -> None:
        token, _key = await web.app[SESSIONS].create(user_id=user_id, paired=True)
        self.http.cookie_jar.update_cookies({"mooddj_session": token},
                                            response_url=URL(self.base))
        async with self.http.get(self.base + "/api/csrf") as r:
            self.csrf = (await r.json())["data"]["csrfToken"]

    async def get(self, path: str, **kw):
        r = await self.http.get(self.base + path, allow_redirects=False, **kw)
        await r.read()
        return r

    async def post_json(self, path: str, body=None):
        r = await self.http.post(self.base + path, json=body or {}, allow_redirects=False,
                                 headers={"X-CSRF-Token": self.csrf})
        await r.read()
        return r

    async def post_form(self, path: str, form: dict):
        r = await self.http.post(self.base + path, data={**form, "csrf_token": self.csrf},
                                 allow_redirects=False)
        await r.read()
        return r


@pytest.fixture
async def box(tmp_path):
    async with spotify_env(tmp_path) as env:
        deps = WebDeps(config=env.config, bus=env.bus, store=env.store, sealer=env.sealer,
                       spotify=env.svc,
                       route_setups=[add_routes])
        web = WebService(deps, host="127.0.0.1", port=0)
        await web.start()
        env.svc.redirect_port = web.port
        phones: list[Phone] = []

        async def phone(user_id: str = "u_alice") -> Phone:
            p = Phone(web.base_url)
            await p.sign_in(web, user_id)
            phones.append(p)
            return p
        env.phone = phone
        env.web = web
        try:
            yield env
        finally:
            for p in phones:
                await p.http.close()
            await web.stop()


async def _linked(box) -> bool:
    return await box.store.read(lambda db: connections.get(db, "u_alice")) is not None


async def test_link_through_the_loopback_callback(box):
    p = await box.phone()
    r = await p.post_json("/platforms/spotify/connect")
    assert r.status == 200, await r.text()
    auth_url = (await r.json())["data"]["authUrl"]
    assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{box.web.port}%2Fplatforms" in auth_url
    back = await box.sim.approve(auth_url)
    assert back.startswith(f"http://127.0.0.1:{box.web.port}/platforms/spotify/callback?")
    r = await p.http.get(back, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/spotify?linked=1"
    assert await _linked(box)
    r = await p.get("/spotify?linked=1")
    assert "Linked to <strong>Alice</strong>" in await r.text()


async def test_link_by_paste_back_form(box):
    p = await box.phone()
    r = await p.post_form("/platforms/spotify/connect", {})
    assert r.status == 303
    back = await box.sim.approve(r.headers["Location"])
    r = await p.post_form("/platforms/spotify/paste", {"url": back})
    assert r.status == 303 and r.headers["Location"] == "/spotify?linked=1"
    assert await _linked(box)


async def test_paste_with_forged_state_shows_the_reason_and_links_nothing(box):
    p = await box.phone()
    r = await p.post_json("/platforms/spotify/connect")
    back = await box.sim.approve((await r.json())["data"]["authUrl"])
    r = await p.post_form("/platforms/spotify/paste", {"url": back.replace("state=", "state=Z")})
    assert r.status == 400
    assert "not from a link started here" in await r.text()
    assert not await _linked(box)


async def test_paste_from_another_browser_session_is_refused(box):
    p1 = await box.phone()
    p2 = await box.phone()  # same user, another browser
    r = await p1.post_json("/platforms/spotify/connect")
    back = await box.sim.approve((await r.json())["data"]["authUrl"])
    r = await p2.post_json("/platforms/spotify/paste", {"url": back})
    assert r.status == 400 and (await r.json())["error"]["code"] == "link_refused"
    assert not await _linked(box)


async def test_callback_without_session_cookie_reloads_itself_and_keeps_the_cookie(box):
    p = await box.phone()
    r = await p.post_json("/platforms/spotify/connect")
    back = await box.sim.approve((await r.json())["data"]["authUrl"])
    # like SameSite=Strict on a cross-site redirect: no cookie sent
    async with aiohttp.ClientSession() as bare, bare.get(back, allow_redirects=False) as resp:
        body = await resp.text()
        assert resp.status == 200 and "Set-Cookie" not in resp.headers
        refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', body)
        assert refresh and "resumed=1" in refresh.group(1)
    # the same-site reload carries the cookie and finishes the link
    r = await p.get(refresh.group(1).replace("&amp;", "&"))
    assert r.status == 303 and await _linked(box)


async def test_callback_is_refused_on_a_lan_host(box):
    p = await box.phone()
    r = await p.http.get(f"{box.web.base_url}/platforms/spotify/callback?code=a&state=b",
                         headers={"Host": f"mooddj.local:{box.web.port}"})
    assert r.status == 400
    assert (await r.json())["error"]["code"] == "not_loopback"


async def test_refresh_endpoint_returns_a_fresh_token_for_the_signed_in_user(box):
    await box.link("u_alice")
    p = await box.phone()
    r = await p.post_json("/platforms/spotify/refresh")
    data = (await r.json())["data"]
    assert set(data) == {"accessToken", "expiresIn"} and data["expiresIn"] == 3600
    assert data["accessToken"] in box.sim.access_tokens
    bob = await box.phone("u_bob")
    r = await bob.post_json("/platforms/spotify/refresh")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_linked"


async def test_client_id_is_set_by_the_owner_only(box):
    member = await box.phone("u_bob")
    r = await member.post_json("/platforms/spotify/client-id", {"clientId": "a" * 32})
    assert r.status == 403
    owner = await box.phone("u_alice")
    r = await owner.post_json("/platforms/spotify/client-id", {"clientId": "not valid!"})
    assert r.status == 400
    r = await owner.post_form("/platforms/spotify/client-id", {"client_id": "b" * 32})
    assert r.status == 303
    assert Settings(box.store).get_sync(CLIENT_ID) == "b" * 32


async def test_save_and_link_goes_straight_to_spotify_in_one_tap(box):
    owner = await box.phone("u_alice")
    r = await owner.post_form("/platforms/spotify/client-id", {"client_id": "c" * 32,
                                                               "link": "1"})
    assert r.status == 303
    assert r.headers["Location"].startswith(box.config.spotify.accounts_url.rstrip("/") +
                                            "/authorize?")
    assert "client_id=" + "c" * 32 in r.headers["Location"]


async def test_speaker_api_lists_and_chooses(box):
    await box.link("u_alice")
    p = await box.phone()
    r = await p.get("/api/speakers?refresh=1")
    speakers = (await r.json())["data"]["speakers"]
    assert {s["name"] for s in speakers} == {"Living Room", "Kitchen", "Neighbour's TV"}
    tv = next(s for s in speakers if s["isRestricted"])
    r = await p.post_json("/api/speakers", {"id": tv["id"], "volume": 30})
    assert r.status == 409
    living = next(s for s in speakers if s["name"] == "Living Room")
    r = await p.post_json("/api/speakers", {"id": living["id"], "volume": 55})
    assert r.status == 200
    assert (await r.json())["data"]["chosen"] == {"id": living["id"], "name": "Living Room",
                                                  "volume": 55}
    bob = await box.phone("u_bob")  # neither owner nor the active listener
    r = await bob.post_json("/api/speakers", {"id": living["id"], "volume": 10})
    assert r.status == 403


async def test_page_escapes_speaker_names_and_never_shows_tokens(box):
    box.sim.player.speaker("Kitchen").name = '<script>alert("x")</script>'
    await box.link("u_alice")
    p = await box.phone()
    r = await p.get("/spotify?refresh=1")
    page = await r.text()
    assert r.status == 200
    assert "&lt;script&gt;alert(" in page and '<script>alert("x")' not in page
    assert "http://127.0.0.1:" in page and "user-library-read" in page
    secrets = [*box.sim.access_tokens, *box.sim.refresh_tokens, *box.sim.codes]
    assert secrets and not [s for s in secrets if s in page]
    conn = await box.store.read(lambda db: connections.get(db, "u_alice"))
    assert conn.access_token not in page and conn.refresh_token not in page


async def test_page_shows_relink_needed(box):
    await box.link("u_alice")
    await box.store.write(lambda db: connections.set_state(db, "u_alice", "relink_needed"))
    p = await box.phone()
    page = await (await p.get("/spotify")).text()
    assert "no longer accepts the link" in page


async def test_speaker_form_with_a_restricted_speaker_shows_the_page_with_the_reason(box):
    await box.link("u_alice")
    p = await box.phone()
    r = await p.post_form("/api/speakers", {"id": box.sim.speaker_id("Neighbour's TV"),
                                            "volume": "30"})
    assert r.status == 409 and "text/html" in r.headers["Content-Type"]
    assert "does not accept remote control" in await r.text()
    assert Settings(box.store).get_sync(SPEAKER_ID) == ""


# -- security review 2026-12 (F-7, I-1) -------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"id": "x", "volume": Infinity}',
                                  b'{"id": "x", "volume": 1e400}',
                                  b'{"id": "x", "volume": NaN}', b'{"id": "x", "volume": true}'])
async def test_a_volume_that_is_not_a_finite_number_is_a_400(box, body):
    p = await box.phone()
    r = await p.http.post(p.base + "/api/speakers", data=body, headers={
        "X-CSRF-Token": p.csrf, "Content-Type": "application/json"})
    assert r.status == 400, await r.text()
    assert (await r.json())["error"]["code"] in ("bad_json", "bad_volume")


@pytest.mark.parametrize(("peer", "host"), [("192.168.1.20", "127.0.0.1"),
                                          ("192.168.1.20", "[::1]"),
                                          ("127.0.0.1", "mooddj.local")])
async def test_the_loopback_callback_checks_the_peer_not_only_the_host_header(peer, host):
    """A LAN client sending `Host: 127.0.0.1` is not on the box (its address says so).

    The peer is given to aiohttp's own request factory: a loopback socket cannot come
    from a LAN address, and this test sends nothing off the machine.
    """
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 50000) if name == "peername" else default)
    request = make_mocked_request("GET", "/platforms/spotify/callback?code=c&state=s",
                                  headers={"Host": host}, transport=transport)
    with pytest.raises(ApiError) as err:
        await callback(request)
    assert (err.value.status, err.value.code) == (400, "not_loopback")


def test_loopback_peer_reads_the_address():
    assert loopback_peer("127.0.0.1") and loopback_peer("::1")
    assert loopback_peer("::ffff:127.0.0.1")
    assert not loopback_peer("192.168.1.20") and not loopback_peer("") and not loopback_peer(None)
