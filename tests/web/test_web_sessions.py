"""Sessions: hashed tokens, expiry (absolute and idle), logout, sign out everywhere, tampering."""

from __future__ import annotations

import time

from appliance.identity.sessions import token_hash


async def _signed_in(box, browser):
    b = browser()
    await b.pair_with_button()
    await b.sign_in("google")
    assert (await b.get("/user/profile")).status == 200
    return b


async def test_token_is_stored_only_as_a_hash(box, browser):
    b = await _signed_in(box, browser)
    token = b.cookie()
    assert len(token) >= 43  # 32 random bytes
    rows = await box.store.read(lambda db: list(db["sessions"].rows))
    assert token_hash(token) in {r["id_hash"] for r in rows}
    assert token not in str(rows)


async def test_tampered_cookie_is_no_session(box, browser):
    b = await _signed_in(box, browser)
    token = b.cookie()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    b.set_cookie(forged)
    r = await b.get("/user/profile")
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_paired"
    # A forged anonymous cookie is not accepted either: a fresh one replaces it.
    b.set_cookie("a." + "x" * 43 + ".deadbeef")
    r = await b.get("/api/csrf")
    assert r.cookies["mooddj_session"].value != "a." + "x" * 43 + ".deadbeef"


async def test_expired_session_is_refused(box, browser):
    b = await _signed_in(box, browser)
    key = token_hash(b.cookie())
    await box.store.write(lambda db: db.execute(
        "UPDATE sessions SET expires_at = ? WHERE id_hash = ?", [time.time() - 1, key]))
    assert (await b.get("/user/profile")).status == 403


async def test_idle_session_is_refused(box, browser):
    b = await _signed_in(box, browser)
    key = token_hash(b.cookie())
    idle = box.config.web.session_idle_hours * 3600
    await box.store.write(lambda db: db.execute(
        "UPDATE sessions SET last_seen = ? WHERE id_hash = ?", [time.time() - idle - 5, key]))
    assert (await b.get("/user/profile")).status == 403


async def test_logout_revokes_the_old_token_and_keeps_the_browser_paired(box, browser):
    b = await _signed_in(box, browser)
    old = b.cookie()
    r = await b.post("/auth/logout")
    assert r.status == 200
    assert b.cookie() != old
    assert (await b.get("/user/profile")).status == 401  # signed out
    assert (await b.get("/api/status")).status == 200  # still paired
    # Replaying the old cookie gets nowhere.
    b.set_cookie(old)
    assert (await b.get("/api/status")).status == 403


async def test_sign_out_everywhere_revokes_every_session_of_the_user(box, browser):
    a = await _signed_in(box, browser)
    c = browser()
    await c.pair_with_button()
    await c.sign_in("google")  # same account on a second phone
    assert (await c.get("/user/profile")).status == 200
    r = await a.post("/auth/logout-everywhere")
    assert r.status == 200 and (await r.json())["data"]["sessions"] == 2
    assert (await c.get("/user/profile")).status == 403  # must pair again
    assert (await a.get("/user/profile")).status == 401  # this browser: paired, signed out


async def test_removed_member_loses_their_sessions(box, browser):
    owner = await _signed_in(box, browser)
    m = browser()
    await m.pair_with_button()
    await m.sign_in("github", email="sam@example.com", name="Sam")
    member_id = (await (await m.get("/user/profile")).json())["data"]["id"]
    r = await owner.delete(f"/api/members/{member_id}")
    assert r.status == 200
    assert (await m.get("/user/profile")).status == 403
