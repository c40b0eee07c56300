"""Findings of the December 2026 security review (shared/docs/reviews/security-2026-12.md),
each pinned on the real setup page (real sockets, real SQLite, the identity stand-in).

The stranger-wins-pairing finding (F-1) is in test_web_pairing_stranger.py.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from appliance.core.bus import MoodReading, PresenceChanged

pytestmark = pytest.mark.timeout(60)

# -- F-2: malformed bodies from a stranger are a clear 400, not a 500 with a traceback ---------

MULTIPART = "multipart/form-data; boundary=x"
BAD_BODIES = [
    pytest.param(MULTIPART, b"--x\r\nbroken", id="multipart-bad-header-line"),
    pytest.param("application/x-www-form-urlencoded; charset=bogus", b"a=1",
                 id="form-unknown-charset"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="a"\r\n'
                 b"Content-Type: text/plain; charset=bogus\r\n\r\nv\r\n--x--\r\n",
                 id="multipart-part-unknown-charset"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="a"\r\n'
                 b"Content-Transfer-Encoding: x-bogus\r\n\r\nv\r\n--x--\r\n",
                 id="multipart-unknown-transfer-encoding"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n'
                 b'bogus\r\n--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'
                 b"--x--\r\n", id="multipart-charset-field"),
]


@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES)
@pytest.mark.parametrize("path", ["/pair/request", "/pair/code", "/auth/logout"])
async def test_malformed_bodies_before_pairing_are_a_400_without_a_traceback(
        box, browser, caplog, content_type, body, path):
    caplog.set_level(logging.INFO)
    b = browser()
    headers = {"Content-Type": content_type, "X-CSRF-Token": await b.refresh_csrf()}
    async with b.http.post(box.base + path, data=body, headers=headers) as r:
        got = await r.json()
        assert r.status == 400, got
        assert got["error"]["code"] == "bad_request"
    assert "Traceback" not in caplog.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


async def test_json_in_an_unknown_charset_is_a_400(box, browser, caplog):
    b = browser()
    headers = {"Content-Type": "application/json; charset=bogus",
               "X-CSRF-Token": await b.refresh_csrf()}
    async with b.http.post(box.base + "/pair/code", data=b'{"code": "x"}',
                           headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "bad_json"
    assert "Traceback" not in caplog.text


async def test_a_client_that_leaves_mid_body_leaves_no_traceback(box, browser, caplog):
    b = browser()
    await b.refresh_csrf()
    _reader, writer = await asyncio.open_connection("127.0.0.1", box.port)
    writer.write(b"POST /pair/request HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 1000\r\n\r\ncsrf_token=x")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    assert "Traceback" not in caplog.text
    assert "unhandled error" not in caplog.text


# -- F-3: one browser cannot use up the sign-in slots by logging out ------------------------

async def test_logging_out_does_not_give_a_browser_more_sign_in_slots(box, browser):
    greedy = browser()
    await greedy.pair_with_button()
    for _ in range(3):
        assert (await greedy.post("/auth/google/login")).status == 200
    assert (await greedy.post("/auth/google/login")).status == 429
    assert (await greedy.post("/auth/logout")).status == 200
    await greedy.refresh_csrf()
    r = await greedy.post("/auth/google/login")  # still the same browser: still 3
    assert r.status == 429 and (await r.json())["error"]["code"] == "too_many_sign_ins"
    other = browser()
    await other.pair_with_button()
    assert (await other.post("/auth/microsoft/login")).status == 200


async def test_a_flow_started_before_logout_still_belongs_to_the_browser(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.post("/auth/github/login")
    start = (await r.json())["data"]
    assert (await b.post("/auth/logout")).status == 200
    await b.refresh_csrf()
    box.sim.approve(start["userCode"], email="sam@example.com", name="Sam", provider="github")
    data = await b.wait_flow("github", start["flowId"])
    assert data["state"] == "approved"
    await b.refresh_csrf()
    assert (await b.get("/user/profile")).status == 200


# -- F-4: pairing lapses; logout renews nothing and leaves no row ------------------------------

async def _rows(box) -> list[dict]:
    return await box.store.read(lambda db: list(db["sessions"].rows))


async def test_logout_keeps_the_pairing_and_its_lifetime_and_adds_no_rows(box, browser):
    b = browser()
    await b.pair_with_button()
    await b.sign_in("google")
    before = await _rows(box)
    assert len(before) == 1
    for _ in range(20):
        assert (await b.post("/auth/logout")).status == 200
        await b.refresh_csrf()
    await b.sign_in("google")
    after = await _rows(box)
    assert len(after) == 1  # no revoked row per logout
    for key in ("device_id", "paired_at", "expires_at", "paired_via"):
        assert after[0][key] == before[0][key], key  # the same paired browser, not renewed
    assert after[0]["paired_via"] == "button"
    assert after[0]["id_hash"] != before[0]["id_hash"]  # the token still rotated


async def test_pairing_ends_at_its_lifetime_even_across_logouts(box, browser):
    b = browser()
    await b.pair_with_button()
    soon = time.time() + 1.0
    await box.store.write(lambda db: db.execute("UPDATE sessions SET expires_at = ?", [soon]))
    assert (await b.post("/auth/logout")).status == 200  # rotating does not renew it
    await b.refresh_csrf()
    assert (await b.get("/api/status")).status == 200
    await asyncio.sleep(1.2)
    assert (await b.get("/api/status")).status == 403  # must prove presence again


async def test_pairing_lapses_after_session_idle_hours_unused(box, browser):
    b = browser()
    await b.pair_with_button()
    idle = box.config.web.session_idle_hours * 3600
    await box.store.write(lambda db: db.execute(
        "UPDATE sessions SET last_seen = ?", [time.time() - idle - 60]))
    assert (await b.get("/api/status")).status == 403


# -- the owner sees and unpairs paired browsers ---------------------------------------------

async def test_the_owner_lists_every_paired_browser_and_unpairs_one(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google", email="owner@example.com", name="Owner")
    quiet = browser()  # paired, never signs in: it still shows up
    await quiet.pair_with_button()
    member = browser()
    await member.pair_with_button()
    await member.sign_in("github", email="sam@example.com", name="Sam")
    ws = await member.http.ws_connect(box.base + "/ws", origin=box.base)
    r = await owner.get("/api/browsers")
    assert r.status == 200
    rows = (await r.json())["data"]["browsers"]
    assert len(rows) == 3
    names = sorted((row["profile"] or {}).get("displayName", "-") for row in rows)
    assert names == ["-", "Owner", "Sam"]
    assert [row["current"] for row in rows].count(True) == 1
    for row in rows:
        assert row["pairedVia"] == "button" and row["pairedFrom"] == "127.0.0.1"
        assert row["pairedAt"] <= row["lastSeen"] + 1 and row["name"]
    page = await (await owner.get("/members", html=True)).text()
    assert "Paired browsers" in page and "nobody signed in" in page
    # Members do not see the list.
    assert (await member.get("/api/browsers")).status == 403
    # Unpair the member's browser: it must pair again, its live updates stop.
    sam = next(row for row in rows if row["profile"] and row["profile"]["displayName"] == "Sam")
    r = await owner.delete(f"/api/browsers/{sam['id']}")
    assert r.status == 200
    msg = await asyncio.wait_for(ws.receive(), 5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert (await member.get("/api/status")).status == 403
    assert (await owner.delete(f"/api/browsers/{sam['id']}")).status == 404
    rows = (await (await owner.get("/api/browsers")).json())["data"]["browsers"]
    assert len(rows) == 2
    # The form on the Household page works too.
    quiet_row = next(row for row in rows if row["profile"] is None)
    r = await owner.http.post(box.base + f"/browsers/{quiet_row['id']}/revoke",
                              data={"csrf_token": owner.csrf}, allow_redirects=False,
                              headers={"Accept": "text/html"})
    assert r.status == 303 and r.headers["Location"] == "/members#browsers"
    assert (await quiet.get("/api/status")).status == 403


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
    assert box.store.get_setting("privacy") == "1"  # still on: the camera stays off
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
    assert box.store.get_setting("privacy") == "1"  # privacy stays on, the camera off


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
