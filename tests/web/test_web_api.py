"""User and household API, pages, privacy, live WebSocket, and other packages' routes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from polling import eventually

from appliance.core.bus import (
    ErrorCleared,
    ErrorRaised,
    LinkState,
    MoodReading,
    PlayerState,
    PrivacyChanged,
)
from appliance.web.kit.deps import WebDeps
from appliance.web.kit.guards import allow_unpaired, require_user
from appliance.web.kit.keys import DEPS
from appliance.web.kit.render import add_nav, render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.service import WebService


async def _owner(box, browser):
    b = browser()
    await b.pair_with_button()
    await b.sign_in("google", name="Alex")
    return b


async def test_platforms_list_and_delete(box, browser):
    b = await _owner(box, browser)
    uid = (await (await b.get("/user/profile")).json())["data"]["id"]
    await box.store.write(lambda db: db["connections"].insert({
        "user_id": uid, "platform": "spotify", "platform_user_id": "alex1",
        "display_name": "Alex", "access_token": "sealed-a", "refresh_token": "sealed-r",
        "scopes": "", "expires_at": time.time() + 3600, "linked_at": time.time(),
        "state": "linked", "updated_at": time.time()}))
    r = await b.get("/user/platforms")
    data = (await r.json())["data"]
    assert [p["platform"] for p in data] == ["spotify"]
    assert "sealed" not in await r.text()
    links = box.bus.subscribe(LinkState)
    r = await b.delete("/user/platforms/spotify")
    assert r.status == 200
    assert await box.store.read(lambda db: db["connections"].count) == 0
    ev = links.get_nowait()
    assert ev.state == "unlinked" and ev.user_id == uid
    r = await b.delete("/user/platforms/spotify")
    assert r.status == 404 and (await r.json())["error"]["code"] == "platform_not_linked"


async def test_household_owner_removes_member_member_leaves(box, browser):
    owner = await _owner(box, browser)
    sam, kim = browser(), browser()
    for who, name in ((sam, "Sam"), (kim, "Kim")):
        await who.pair_with_button()
        await who.sign_in("github", email=f"{name}@example.com", name=name,
                          subject=str(len(name) * 1000 + ord(name[0])))
    members = (await (await owner.get("/api/members")).json())["data"]
    assert [m["role"] for m in members] == ["owner", "member", "member"]
    ids = {m["displayName"]: m["id"] for m in members}
    # A member cannot remove someone else...
    r = await sam.delete(f"/api/members/{ids['Kim']}")
    assert r.status == 403
    # ...but can leave.
    assert (await sam.delete(f"/api/members/{ids['Sam']}")).status == 200
    assert (await sam.get("/user/profile")).status == 401
    # The owner removes Kim; the last owner cannot leave.
    assert (await owner.delete(f"/api/members/{ids['Kim']}")).status == 200
    r = await owner.delete(f"/api/members/{ids['Alex']}")
    assert r.status == 409 and (await r.json())["error"]["code"] == "last_owner"
    names = [m["displayName"] for m in (await (await owner.get("/api/members")).json())["data"]]
    assert names == ["Alex"]


async def _having(page: Any, *texts: str, present: bool = True) -> str:
    """The page if every text is (present=False: none is) on it, else ''."""
    got = await page
    return got if all((t in got) == present for t in texts) else ""


async def test_pages_render_for_a_signed_in_owner(box, browser):
    b = await _owner(box, browser)
    box.bus.publish(PlayerState(state="playing", track_name="Blue Hour", artists="Nova",
                                speaker="Living Room"))
    box.bus.publish(MoodReading(faces=2, valence=0.6, arousal=0.4, mood="happy",
                                confidence=0.8))
    box.bus.publish(ErrorRaised(key="camera", source="camera", message="Camera unplugged",
                                hint="Check the ribbon cable"))
    async def home() -> str:
        return await (await b.get("/", html=True)).text()

    await eventually(lambda: _having(home(), "Blue Hour", "Happy", "Camera unplugged"),
                     what="the track, the mood and the error on the home page")
    box.bus.publish(ErrorCleared(key="camera"))
    await eventually(lambda: _having(home(), "Camera unplugged", present=False),
                     what="the error cleared")
    for path, text in (("/members", "Make an invite code"), ("/profile", "Sign out everywhere"),
                       ("/privacy", "What the box keeps"), ("/about", "Event bus"),
                       ("/signin", "Link another sign-in")):
        r = await b.get(path, html=True)
        assert r.status == 200 and text in await r.text(), path


async def test_invite_form_shows_a_code_once(box, browser):
    b = await _owner(box, browser)
    r = await b.http.post(box.base + "/members/invite", data={"csrf_token": b.csrf},
                          headers={"Accept": "text/html"})
    page = await r.text()
    assert r.status == 200 and 'id="invite-code"' in page
    assert await box.store.read(lambda db: db["pairing_codes"].count) == 1


async def test_privacy_toggle_publishes_and_persists(box, browser):
    b = browser()
    await b.pair_with_button()
    events = box.bus.subscribe(PrivacyChanged)
    r = await b.post("/api/privacy", json={"enabled": True})
    assert (await r.json())["data"] == {"enabled": True}
    assert events.get_nowait().enabled is True
    assert (await (await b.get("/api/status")).json())["data"]["privacyEnabled"] is True
    # GET never changes state.
    assert (await b.get("/privacy?enabled=0", html=True)).status == 200
    assert (await (await b.get("/api/status")).json())["data"]["privacyEnabled"] is True


async def test_websocket_pushes_live_events_and_drops_for_slow_clients(box, browser):
    b = browser()
    await b.pair_with_button()
    await b.sign_in("google")
    ws = await b.http.ws_connect(box.base + "/ws", origin=box.base)
    first = await asyncio.wait_for(ws.receive_json(), 5)  # the current picture first
    assert first["type"] == "PairingWindow" and first["data"]["open"] is False
    box.bus.publish(MoodReading(faces=1, valence=0.2, arousal=0.1, mood="neutral",
                                confidence=0.9))
    msg = await asyncio.wait_for(ws.receive_json(), 5)
    assert msg["type"] == "MoodReading" and msg["data"]["mood"] == "neutral"
    # A burst bigger than the client's queue never blocks the publisher.
    for i in range(500):
        box.bus.publish(PlayerState(state="playing", track_name=f"t{i}"))
    await asyncio.sleep(0.1)
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(ws.receive_json(), 0.5))
        except TimeoutError:
            break
    assert got and got[-1]["data"]["track_name"] == "t499"
    assert len(got) < 500  # oldest dropped
    await ws.close()


async def test_websocket_needs_a_paired_browser(box, browser):
    b = browser()
    await b.refresh_csrf()
    r = await b.get("/ws", headers={"Origin": box.base, "Upgrade": "websocket",
                                     "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status == 403


async def test_other_packages_add_routes_nav_and_open_paths(tmp_path, idsim, box):
    async def page(request: web.Request) -> web.Response:
        return render(request, "error.html", {"status": 200, "message": "spotify here"})

    async def api(request: web.Request) -> web.Response:
        user = require_user(request)
        if request.query.get("fail"):
            raise ApiError(418, "teapot", "No coffee.")
        return json_data({"user": user.user_id})

    async def panel(request: web.Request) -> web.Response:
        return json_data({"panel": True})

    def add_routes(app: web.Application) -> None:
        assert isinstance(app[DEPS], WebDeps)
        app.router.add_get("/spotify", page)
        app.router.add_get("/api/spotify/me", api)
        app.router.add_get("/panel/state", panel)
        add_nav(app, "/spotify", "Spotify", order=40)
        allow_unpaired(app, "/panel")

    deps = WebDeps(config=box.config, bus=box.bus, store=box.store,
                   flows=box.service.deps.flows,
                   route_setups=[add_routes])
    svc = WebService(deps, port=0)
    await svc.start()
    try:
        from web_box import Browser

        other = Browser(box)
        box2 = type(box)(svc.base_url, svc.port, box.bus, box.store, box.sim, svc, box.config)
        other.box = box2
        assert (await other.get("/panel/state")).status == 200  # open before pairing
        assert (await other.get("/api/spotify/me")).status == 403
        await other.pair_with_button()
        r = await other.get("/api/spotify/me")
        assert r.status == 401 and (await r.json())["error"]["code"] == "not_signed_in"
        page_html = await (await other.get("/spotify", html=True)).text()
        assert 'href="/spotify" aria-current="page">Spotify</a>' in page_html
        await other.sign_in("google")
        r = await other.get("/api/spotify/me?fail=1")
        assert r.status == 418 and (await r.json())["error"]["code"] == "teapot"
        await other.close()
    finally:
        await svc.stop()


async def test_about_page_shows_supervisor_services(box, browser):
    class Sup:
        def snapshot(self):
            return {"services": [{"name": "vision", "state": "running", "crashes": 1,
                                  "detail": "5.0 fps"}]}

    box.service.deps.supervisor_snapshot = Sup().snapshot
    b = browser()
    await b.pair_with_button()
    page = await (await b.get("/about", html=True)).text()
    assert "vision" in page and "5.0 fps" in page and "1 crashes" in page
