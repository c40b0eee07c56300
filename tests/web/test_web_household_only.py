"""The room is the household's: a paired browser nobody is signed in to cannot turn the
camera back on or watch presence; privacy changes only on a clear request; one browser
cannot take every live slot; /pair/status tells a stranger nothing about others."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from appliance.core.bus import MoodReading, PresenceChanged
from appliance.core.settings import PRIVACY, Settings

pytestmark = pytest.mark.timeout(60)

# -- F-5 and I-7: privacy and the room are the household's --------------------------------------

async def test_a_signed_out_browser_cannot_turn_privacy_off_or_read_the_room(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google")
    paired = browser()
    await paired.pair_with_button()  # paired, nobody signed in
    box.bus.publish(PresenceChanged(people=2, previous=0))
    box.bus.publish(MoodReading(faces=2, valence=0.4, arousal=0.2, mood="happy",
                                confidence=0.8))
    assert (await paired.post("/api/privacy", json={"enabled": True})).status == 200
    r = await paired.post("/api/privacy", json={"enabled": False})
    assert r.status == 401 and (await r.json())["error"]["code"] == "not_signed_in"
    assert Settings(box.store).get_sync(PRIVACY) is True  # still on: the camera stays off
    status = (await (await paired.get("/api/status")).json())["data"]
    assert status["presence"] is None and status["mood"] is None
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await paired.http.ws_connect(box.base + "/ws", origin=box.base)
    assert refused.value.status == 401
    # A member sees the room and may turn the camera back on.
    status = (await (await owner.get("/api/status")).json())["data"]
    assert status["presence"]["people"] == 2 and status["mood"]["mood"] == "happy"
    assert (await owner.post("/api/privacy", json={"enabled": False})).status == 200


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/plain", b""), ("text/plain", b"enabled=0"), ("application/json", b""),
    ("application/json", b"[]"), ("application/x-www-form-urlencoded", b"other=1"),
    ("application/x-www-form-urlencoded", b"enabled=yes"),
])
async def test_privacy_changes_only_for_a_clear_request(box, browser, content_type, body):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google")
    assert (await owner.post("/api/privacy", json={"enabled": True})).status == 200
    r = await owner.post("/api/privacy", data=body, headers={"Content-Type": content_type})
    assert r.status == 400, await r.text()
    assert Settings(box.store).get_sync(PRIVACY) is True  # privacy stays on, the camera off


# -- F-6: one browser cannot take every live-update slot --------------------------------------

async def test_one_browser_cannot_take_every_live_slot(box, browser):
    greedy = browser()
    await greedy.pair_with_button()
    await greedy.sign_in("google")
    sockets = [await greedy.http.ws_connect(box.base + "/ws", origin=box.base)
               for _ in range(25)]
    await asyncio.sleep(0.2)
    open_ = [ws for ws in sockets if not ws.closed]
    for ws in sockets[:-3]:  # its oldest were closed to make room for its newest
        msg = await asyncio.wait_for(ws.receive(), 5)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert len([ws for ws in sockets[-3:] if not ws.closed]) == 3
    other = browser()
    await other.pair_with_button()
    await other.sign_in("github", email="sam@example.com", name="Sam")
    ws = await other.http.ws_connect(box.base + "/ws", origin=box.base)
    first = await asyncio.wait_for(ws.receive_json(), 5)
    assert first["type"]
    await ws.close()
    for ws in open_:
        await ws.close()


# -- I-2: /pair/status tells a stranger nothing about other browsers ---------------------------

async def test_pair_status_tells_a_stranger_nothing_about_others(box, browser):
    waiting = browser()
    await waiting.refresh_csrf()
    await waiting.ask_to_pair()
    stranger = browser()
    data = (await (await stranger.get("/pair/status")).json())["data"]
    assert data == {"state": "none", "expiresIn": 0}
    page = await (await stranger.get("/pair", html=True)).text()
    assert "Another browser" not in page and "data-challenge" not in page
