"""Security review findings, each pinned by a test on the real setup page (real sockets).

Attacker models: a stranger on the same Wi-Fi (any IP, any headers, no cookies of
the household) and a malicious web page a household member visits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiohttp
import psutil
import pytest

from appliance.core.bus import Bus
from appliance.core.config import Config, from_dict
from appliance.core.store import Store
from appliance.panel import http as panel_http
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService
from appliance.web.deps import WebDeps
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
    store = Store.open(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    panel = PanelService(config.panel, bus, store=store, factory=make_factory("mock"))
    await panel.start()
    runner = asyncio.create_task(panel.run())
    web = WebService(WebDeps(config=config, bus=bus, store=store, services={"panel": panel},
                             route_setups=[panel_http.add_routes]), host=lan, port=0)
    await web.start()
    base = f"http://{lan}:{web.port}"
    stranger = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with stranger.get(base + "/api/csrf") as r:
            csrf = (await r.json())["data"]["csrfToken"]
        async with stranger.post(base + "/pair/request", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
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
