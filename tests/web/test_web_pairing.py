"""Pairing by physical presence: a code on the buttons, one-time codes, rate limits, the claim."""

from __future__ import annotations

import re
import time

from polling import eventually

from appliance.core.bus import (
    ButtonGesture,
    PairingChecked,
    PairingEntered,
    PairingWindow,
    SetupProgress,
)
from appliance.identity.pairing import (
    BUTTON_CODES,
    CODE_ALPHABET,
    code_hash,
    new_code,
    store_code,
)


async def test_unpaired_browser_reaches_only_the_pair_page(box, browser):
    b = browser()
    r = await b.get("/", html=True)
    assert r.status == 200 and r.url.path == "/pair"  # redirected
    assert "Claim this box" in await r.text()
    for path in ("/user/profile", "/api/members", "/api/status", "/user/platforms"):
        r = await b.get(path)
        assert r.status == 403, path
        assert (await r.json())["error"]["code"] == "not_paired"
    r = await b.post("/auth/google/login")
    assert r.status == 403
    r = await b.get("/static/app.css")
    assert r.status == 200
    r = await b.get("/api/csrf")
    assert r.status == 200


async def test_the_code_on_the_buttons_pairs_the_browser_and_publishes_the_window(box, browser):
    windows = box.bus.subscribe(PairingWindow)
    checked = box.bus.subscribe(PairingChecked)
    b = browser()
    await b.refresh_csrf()
    before = b.cookie()
    data = await b.ask_to_pair()
    assert data["state"] == "pending" and tuple(data["challenge"]) in BUTTON_CODES
    assert data["holdFirst"] is False  # an unclaimed box takes the code without a hold
    assert b.cookie() != before  # asking gave a new anonymous cookie
    opened = windows.get_nowait()
    assert opened.open and opened.until > time.time() and opened.length == 4
    # Nothing happens until the code is pressed.
    r = await b.post("/pair/complete")
    assert r.status == 409
    assert await b.enter_code(data["challenge"])
    assert not windows.get_nowait().open  # closed again
    assert checked.get_nowait().approved
    r = await b.get("/pair/status")
    assert (await r.json())["data"]["state"] == "approved"
    asked = b.cookie()
    r = await b.post("/pair/complete")
    assert r.status == 200
    assert b.cookie() and b.cookie() != asked  # a new session id (no fixation)
    r = await b.get("/api/status")
    assert r.status == 200


async def test_only_the_browser_whose_code_was_entered_is_paired(box, browser):
    a, c = browser(), browser()
    codes = []
    for x in (a, c):
        await x.refresh_csrf()
        codes.append(tuple((await x.ask_to_pair())["challenge"]))
    assert codes[0] != codes[1]  # waiting browsers never share a code
    assert await c.enter_code(codes[1])
    assert (await a.post("/pair/complete")).status == 409
    assert (await c.post("/pair/complete")).status == 200
    r = await a.get("/pair/status")
    assert (await r.json())["data"]["state"] == "pending"  # still waiting for its own code
    assert (await a.get("/api/status")).status == 403


async def test_a_wrong_code_pairs_nobody_and_says_so(box, browser):
    checked = box.bus.subscribe(PairingChecked)
    b = browser()
    await b.refresh_csrf()
    code = tuple((await b.ask_to_pair())["challenge"])
    # One wrong press (any position, any button) never matches another code.
    wrong = next(c for c in BUTTON_CODES if sum(x != y for x, y in zip(c, code, strict=True)) == 2)
    box.bus.publish(PairingEntered(presses=wrong))
    await eventually(lambda: len(checked), what="the wrong code checked")
    assert not checked.get_nowait().approved
    assert (await b.post("/pair/complete")).status == 409


def test_button_codes_differ_in_at_least_two_presses():
    assert len(BUTTON_CODES) == 27
    for i, x in enumerate(BUTTON_CODES):
        for y in BUTTON_CODES[i + 1:]:
            assert sum(p != q for p, q in zip(x, y, strict=True)) >= 2


async def test_play_presses_and_holds_without_a_code_pair_nobody(box, browser):
    b = browser()
    await b.refresh_csrf()
    box.bus.publish(ButtonGesture(gesture="play_hold"))  # no armed window any more
    box.bus.publish(ButtonGesture(gesture="play_press"))
    challenge = tuple((await b.ask_to_pair())["challenge"])
    box.bus.publish(ButtonGesture(gesture="play_hold"))
    box.bus.publish(ButtonGesture(gesture="play_press"))
    # A code nobody has, checked after the presses: the bus is in order, so once it is
    # checked everything published before it has been handled.
    assert not await b.enter_code(next(c for c in BUTTON_CODES if c != challenge))
    assert (await b.post("/pair/complete")).status == 409


async def test_second_browser_needs_its_own_proof(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google")
    other = browser()
    r = await other.get("/", html=True)
    assert r.url.path == "/pair"
    assert "Pair this phone" in await r.text()  # claimed: the page says pair, not claim
    assert (await other.get("/user/profile")).status == 403


async def test_one_time_code_pairs_once(box, browser):
    code = new_code()
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    await box.store.write(lambda db: store_code(db, code, created_by="cli"))
    b = browser()
    await b.refresh_csrf()
    r = await b.post("/pair/code", json={"code": f"{code[:4]}-{code[4:]}".lower()})
    assert r.status == 200, await r.text()
    assert (await b.get("/api/status")).status == 200
    rows = await box.store.read(lambda db: list(db["pairing_codes"].rows))
    assert rows[0]["code_hash"] == code_hash(code) and code not in str(rows)
    c = browser()
    await c.refresh_csrf()
    r = await c.post("/pair/code", json={"code": code})
    assert r.status == 400 and (await r.json())["error"]["code"] == "wrong_code"


async def test_expired_code_is_refused(box, browser):
    code = new_code()
    await box.store.write(lambda db: store_code(db, code, created_by="cli", ttl=-1))
    b = browser()
    await b.refresh_csrf()
    r = await b.post("/pair/code", json={"code": code})
    assert r.status == 400


async def test_wrong_codes_are_rate_limited_but_the_button_still_works(box, browser):
    b = browser()
    await b.refresh_csrf()
    statuses = []
    for _ in range(7):
        r = await b.post("/pair/code", json={"code": "AAAAAAAA"})
        statuses.append(r.status)
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429, 429]
    assert int(r.headers["Retry-After"]) > 0
    # Even a right code waits out the lock...
    code = new_code()
    await box.store.write(lambda db: store_code(db, code, created_by="cli"))
    assert (await b.post("/pair/code", json={"code": code})).status == 429
    # ...but the owner pressing Play is never locked out by a stranger's guesses.
    await b.pair_with_button()
    assert (await b.get("/api/status")).status == 200


async def test_owner_invite_code_pairs_a_new_phone(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google")
    r = await owner.post("/api/pair/codes")
    assert r.status == 201
    code = (await r.json())["data"]["code"]
    phone = browser()
    await phone.refresh_csrf()
    r = await phone.post("/pair/code", json={"code": code})
    assert r.status == 200
    await phone.refresh_csrf()
    await phone.sign_in("google", email="sam@example.com", name="Sam")
    r = await phone.get("/user/profile")
    assert (await r.json())["data"]["role"] == "member"
    # A member cannot make invite codes.
    assert (await phone.post("/api/pair/codes")).status == 403


async def test_new_cookies_do_not_reset_the_per_client_limit(box, browser):
    for _ in range(5):
        stranger = browser()  # a fresh session every time, same address
        await stranger.refresh_csrf()
        assert (await stranger.post("/pair/code", json={"code": "CCCCCCCC"})).status == 400
    fresh = browser()
    await fresh.refresh_csrf()
    r = await fresh.post("/pair/code", json={"code": "CCCCCCCC"})
    assert r.status == 429 and (await r.json())["error"]["code"] == "rate_limited"


async def test_pairing_works_without_javascript(box, browser):
    b = browser()
    await b.get("/pair", html=True)
    await b.refresh_csrf()
    form = {"csrf_token": b.csrf}
    r = await b.http.post(box.base + "/pair/request", data=form, headers={"Accept": "text/html"})
    page = await r.text()
    assert r.url.path == "/pair" and "Press these buttons on the box" in page
    assert 'http-equiv="refresh"' in page
    challenge = re.search(r'data-challenge="([a-z ]+)"', page).group(1).split()
    assert len(challenge) == 4 and 'data-hold-first="0"' in page
    assert await b.enter_code(challenge)
    page = await (await b.get("/pair", html=True)).text()
    assert 'action="/pair/complete"' in page
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}
    r = await b.http.post(box.base + "/pair/complete", data=form,
                          headers={"Accept": "text/html"})
    assert r.url.path == "/signin"
    assert "What's your name?" in await r.text()


async def test_once_claimed_the_page_asks_for_a_play_hold_first(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google")  # the box now has an owner
    phone = browser()
    await phone.refresh_csrf()
    data = await phone.ask_to_pair()
    assert data["holdFirst"] is True
    page = await (await phone.get("/pair", html=True)).text()
    assert "Hold <strong>Play</strong>" in page and 'data-hold-first="1"' in page
    windows = [ev for ev in [box.bus.latest(PairingWindow)] if ev is not None]
    assert windows and windows[0].open and windows[0].hold


async def test_claiming_while_a_browser_waits_makes_the_panel_ask_for_a_hold(box, browser):
    windows = box.bus.subscribe(PairingWindow)
    waiting = browser()
    await waiting.refresh_csrf()
    assert (await waiting.ask_to_pair())["holdFirst"] is False
    assert windows.get_nowait().hold is False
    box.bus.publish(SetupProgress(step="no_spotify"))  # someone else just claimed the box
    await eventually(lambda: len(windows), what="the window announced again")
    assert windows.get_nowait().hold is True  # Next and Mood are the music's again
