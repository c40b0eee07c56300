"""A paired browser is one browser across sign-in and logout: one set of sign-in slots, one
row, one lifetime counted from pairing; it lapses unused; the owner lists and unpairs it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

pytestmark = pytest.mark.timeout(60)

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
