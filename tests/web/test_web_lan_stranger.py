"""What a LAN stranger or a hostile page can try, each refused by the real page (real sockets).

Attacker models: a stranger on the same Wi-Fi (any IP, any headers, no cookies of
the household) and a malicious web page a household member visits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import aiohttp
import psutil
import pytest

from appliance.core.bus import Bus
from appliance.core.config import Config, from_dict
from appliance.core.settings import Settings
from appliance.identity.pairing import new_code, store_code
from appliance.identity.ratelimit import SlidingLimiter
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.routes import panel as panel_http
from appliance.web.service import WebService

pytestmark = pytest.mark.timeout(60)


def _lan_address() -> str | None:
    """A non-loopback IPv4 address of this machine (the box's 'LAN' side), if any."""
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return a.address
    return None


# -- removing a member must stick ----------------------------------------------------

async def _owner(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google", email="owner@example.com", name="Owner")
    return owner


async def test_removed_member_cannot_come_back_through_a_signed_out_paired_browser(box, browser):
    """A member who signed out (the browser stays paired) is removed by the owner: that
    browser must not be able to sign in again as a fresh member without a new proof."""
    owner = await _owner(box, browser)
    m = browser()
    await m.pair_with_button()
    await m.sign_in("github", email="sam@example.com", name="Sam")
    member_id = (await (await m.get("/user/profile")).json())["data"]["id"]
    r = await m.post("/auth/logout")  # signed out, still paired
    assert r.status == 200
    await m.refresh_csrf()
    r = await owner.delete(f"/api/members/{member_id}")
    assert r.status == 200
    # The removed member's browser is no longer paired: no new sign-in from it.
    r = await m.post("/auth/github/login")
    assert r.status == 403, await r.text()
    assert (await r.json())["error"]["code"] in ("not_paired", "csrf_invalid")
    await m.refresh_csrf()
    r = await m.post("/auth/github/login")
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_paired"
    # The owner is unaffected.
    assert (await owner.get("/user/profile")).status == 200


async def test_sign_out_everywhere_also_unpairs_signed_out_browsers_of_the_household(box, browser):
    """'Sign out everywhere' (lost phone): a phone that was only paired (signed out) must
    pair again too, or whoever finds it joins the household with their own sign-in."""
    owner = await _owner(box, browser)
    lost = browser()
    await lost.pair_with_button()
    await lost.sign_in("google", email="owner@example.com", name="Owner")  # same account
    r = await lost.post("/auth/logout")
    assert r.status == 200
    await lost.refresh_csrf()
    r = await owner.post("/auth/logout-everywhere")
    assert r.status == 200
    await owner.refresh_csrf()
    await lost.refresh_csrf()
    r = await lost.post("/auth/google/login")
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_paired"
    # This browser stays paired and can sign in again.
    assert (await owner.get("/api/status")).status == 200


# -- malformed bodies are a 400, not a crash ----------------------------------------

@pytest.mark.parametrize("content_type", ["multipart/form-data",
                                          "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("token_in_header", [False, True])
async def test_malformed_form_body_is_a_400_json_not_a_500(box, browser, content_type,
                                                           token_in_header, caplog):
    b = browser()
    headers = {"Content-Type": content_type}
    if token_in_header:
        headers["X-CSRF-Token"] = await b.refresh_csrf()
    async with b.http.post(box.base + "/pair/code", data=b"--x\r\n", headers=headers) as r:
        body = await r.json()
        assert r.status == 400, body
        assert body["error"]["code"] == "bad_request"
    assert "Traceback" not in caplog.text


# -- the virtual panel is not a remote control for strangers on the LAN -------------

def _panel_config(tmp_path) -> Config:
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False},
        "panel": {"pin_factory": "mock", "bounce_seconds": 0.02, "hold_seconds": 0.3,
                  "pair_hold_seconds": 0.6, "reset_hold_seconds": 2.0,
                  "reset_confirm_seconds": 1.0},
    })


async def test_virtual_panel_refuses_unpaired_strangers_on_the_lan(tmp_path):
    """With mock pins on a box that listens on the LAN (doctor suggests mock pins off the
    Pi), an unpaired stranger must not press the virtual Play (approving their own pairing
    request) nor reach the factory-reset gesture; loopback (the simulator) still works."""
    lan = _lan_address()
    if lan is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    config = _panel_config(tmp_path)
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    panel = PanelService(config.panel, bus, settings=Settings(store), factory=make_factory("mock"))
    await panel.start()
    runner = asyncio.create_task(panel.run())
    web = WebService(WebDeps(config=config, bus=bus, store=store, panel=panel,
                             route_setups=[panel_http.add_routes]), host=lan, port=0)
    await web.start()
    base = f"http://{lan}:{web.port}"
    stranger = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with stranger.get(base + "/api/csrf") as r:
            csrf = (await r.json())["data"]["csrfToken"]
        async with stranger.post(base + "/pair/request", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
            csrf = (await r.json())["data"]["csrfToken"]  # asking rotates the cookie
        async with stranger.get(base + "/api/panel") as r:
            assert r.status == 403, await r.text()
            assert (await r.json())["error"]["code"] == "not_paired"
        async with stranger.post(base + "/api/panel/buttons/play", json={"action": "press"},
                                 headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 403, await r.text()
            assert (await r.json())["error"]["code"] == "not_paired"
        async with stranger.get(base + "/panel", headers={"Accept": "text/html"},
                                allow_redirects=False) as r:
            assert r.status in (303, 403)
        assert panel.gestures_published == 0
        async with stranger.post(base + "/pair/complete", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 409  # not approved: nobody pressed Play
    finally:
        await stranger.close()
        await web.stop()
        runner.cancel()
        await panel.stop()
        store.close()


# -- odd bytes from a stranger are refused, not crashes (and log floods) ----------------

async def test_cookie_with_a_non_ascii_signature_is_just_no_session(box, browser, caplog):
    b = browser()
    cookie = "mooddj_session=a." + "A" * 43 + ".\u00e9"
    r = await b.http.get(box.base + "/pair", headers={"Cookie": cookie, "Accept": "text/html"})
    assert r.status == 200
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "http://a]b"])
async def test_malformed_origin_is_a_403_not_a_500(box, browser, origin, caplog):
    b = browser()
    r = await b.post("/pair/request", headers={"Origin": origin})
    assert r.status == 403, await r.text()
    assert (await r.json())["error"]["code"] == "bad_origin"
    r = await b.get("/ws", headers={"Origin": origin})
    assert r.status == 403
    assert "Traceback" not in caplog.text


# -- rate limits: per address (never X-Forwarded-For), and no owner lockout -------------

async def _from(browser, box, address: str):
    """A browser whose connections come from `address` (another 127.x.y.z)."""
    b = browser()
    await b.http.close()
    b.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                   connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    return b


async def test_x_forwarded_for_does_not_reset_the_per_client_limit(box, browser):
    b = await _from(browser, box, "127.0.0.2")
    await b.refresh_csrf()
    for i in range(5):
        r = await b.post("/pair/code", json={"code": "DDDDDDDD"},
                         headers={"X-Forwarded-For": f"10.0.0.{i}", "Forwarded": f"for=10.1.0.{i}",
                                  "X-Real-IP": f"10.2.0.{i}"})
        assert r.status == 400
    r = await b.post("/pair/code", json={"code": "DDDDDDDD"},
                     headers={"X-Forwarded-For": "10.9.9.9"})
    assert r.status == 429


async def test_a_stranger_flooding_wrong_codes_cannot_block_a_valid_code(box, browser):
    """Wrong codes from many addresses trip the box-wide limit; a phone that has not
    failed itself still pairs with the owner's valid code (the issue: rate limits must
    not let a stranger lock the owner out)."""
    for n in range(2, 9):  # 7 addresses x 5 wrong codes > the box-wide 30 a minute
        s = await _from(browser, box, f"127.0.0.{n}")
        await s.refresh_csrf()
        for _ in range(5):
            await s.post("/pair/code", json={"code": "EEEEEEEE"})
    late = await _from(browser, box, "127.0.0.20")
    await late.refresh_csrf()
    r = await late.post("/pair/code", json={"code": "EEEEEEEE"})
    assert r.status in (400, 429)
    code = new_code()
    await box.store.write(lambda db: store_code(db, code, created_by="cli"))
    phone = await _from(browser, box, "127.0.0.30")
    await phone.refresh_csrf()
    r = await phone.post("/pair/code", json={"code": code})
    assert r.status == 200, await r.text()
    # A stranger's fresh address gets one guess at most while the box-wide limit holds.
    fresh = await _from(browser, box, "127.0.0.31")
    await fresh.refresh_csrf()
    assert (await fresh.post("/pair/code", json={"code": "FFFFFFFF"})).status == 400
    assert (await fresh.post("/pair/code", json={"code": "FFFFFFFF"})).status == 429


async def test_deeply_nested_json_from_a_stranger_is_a_400_not_a_500(box, browser, caplog):
    """Any stranger has an anonymous session and its CSRF token, so JSON they send reaches
    handlers; nesting that overflows the parser must be a refusal, not a logged crash."""
    b = browser()
    await b.refresh_csrf()
    body = "[" * 2000 + "]" * 2000  # within the test box's 4096-byte limit
    r = await b.post("/pair/code", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 400, await r.text()
    assert (await r.json())["error"]["code"] == "bad_json"
    assert "Traceback" not in caplog.text


def test_rate_limiter_memory_stays_bounded_under_a_flood_of_addresses():
    """IPv6 lets a stranger use endless addresses; locks that ended are forgotten."""
    now = [0.0]
    limiter = SlidingLimiter(1, 10.0, clock=lambda: now[0])
    for i in range(12000):
        limiter.failure(f"2001:db8::{i:x}")
    now[0] += 30.0  # every lock has ended
    limiter.failure("2001:db8::ffff:1")
    assert len(limiter._locked_until) + len(limiter._strikes) < 100
    assert limiter.retry_after("2001:db8::ffff:1") > 0  # the newest lock still holds


# -- every route of the whole page (other packages' included) needs pairing --------------

OPEN_TO_UNPAIRED = ("/pair", "/static/", "/api/csrf", "/platforms/spotify/callback")


async def test_an_unpaired_browser_reaches_nothing_but_the_open_paths(tmp_path, idsim):
    """Every route registered by any package answers an unpaired browser with the pair
    page (303) or a JSON 403 `not_paired`, whatever the method, except the open paths."""
    from appliance.web.routes import music as http_player
    from appliance.web.routes import sim as box_routes
    from appliance.web.routes import spotify as spotify_http

    config = from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False}, "identity": idsim.identity_config()})
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    from appliance.simmode.camera import SimCamera

    sim_cam = SimCamera(tmp_path / "none.mp4")
    web = WebService(WebDeps(config=config, bus=bus, store=store,
                             sim_camera=sim_cam,
                             route_setups=[spotify_http.add_routes, http_player.add_routes,
                                           box_routes.add_routes]), port=0)
    await web.start()
    stranger = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    checked = 0
    try:
        async with stranger.get(web.base_url + "/api/csrf") as r:
            csrf = (await r.json())["data"]["csrfToken"]
        for route in web.app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
            path = path.replace("{provider}", "google").replace("{name}", "play")
            path = re.sub(r"\{[^}]+\}", "x", path)
            if not path or path.startswith(OPEN_TO_UNPAIRED) or route.method == "HEAD":
                continue
            for accept in ("text/html", "application/json"):
                async with stranger.request(route.method if route.method != "*" else "GET",
                                            web.base_url + path, allow_redirects=False,
                                            headers={"Accept": accept, "X-CSRF-Token": csrf},
                                            json={} if route.method != "GET" else None) as r:
                    if r.status == 303:
                        assert r.headers["Location"] == "/pair", (route.method, path)
                    else:
                        assert r.status == 403, (route.method, path, r.status)
                        if r.content_type == "application/json":  # /ws: no Origin first
                            code = (await r.json())["error"]["code"]
                            assert code in ("not_paired", "bad_origin"), (path, code)
                    checked += 1
        assert checked > 40
    finally:
        await stranger.close()
        await web.stop()
        store.close()
