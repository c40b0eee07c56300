"""Profiles through the real setup page: claim by name, pick with a PIN, members, limits."""

from __future__ import annotations

import re

from web_box import Browser

from appliance.identity import profiles


async def data(r):
    body = await r.json()
    assert "data" in body, body
    return body["data"]


async def claim(b: Browser, name: str = "Ana", pin: str | None = "2468") -> dict:
    await b.pair_with_button()
    r = await b.post("/api/profiles", json={"name": name, **({"pin": pin} if pin else {})})
    assert r.status == 201, await r.text()
    await b.refresh_csrf()
    return await data(r)


async def test_the_first_name_claims_the_box_with_the_seed_shapes(box, browser):
    b = browser()
    made = await claim(b, "  Ana  ")
    assert made["role"] == "owner" and made["signedIn"] and made["id"].startswith("mmp_")
    prof = await data(await b.get("/user/profile"))
    assert set(prof) == {"id", "displayName", "email", "role", "createdAt", "authProviders",
                         "platforms"}
    assert (prof["displayName"], prof["role"], prof["authProviders"], prof["email"]) == (
        "Ana", "owner", [], "")
    assert await data(await b.get("/user/auth-providers")) == []
    assert await data(await b.get("/user/platforms")) == []
    stored = box.store.read_sync(lambda db: profiles.pin_hash_of(db, made["id"]))
    assert stored.startswith("$argon2id$") and "2468" not in stored


async def test_a_second_phone_picks_the_owner_profile_only_with_its_pin(box, browser):
    await claim(browser(), "Ana", "2468")
    phone = browser()
    await phone.pair_with_button()
    listed = await data(await phone.get("/api/profiles"))
    assert [(p["displayName"], p["role"], p["access"]) for p in listed] == [
        ("Ana", "owner", "pin")]
    assert not any("pinHash" in p or "pin_hash" in p for p in listed)
    ana = listed[0]["id"]
    r = await phone.post(f"/api/profiles/{ana}/sign-in", json={"pin": "1111"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "wrong_pin"
    assert (await phone.get("/user/profile")).status == 401
    r = await phone.post(f"/api/profiles/{ana}/sign-in", json={"pin": "2468"})
    assert r.status == 200, await r.text()
    await phone.refresh_csrf()
    assert (await data(await phone.get("/user/profile")))["role"] == "owner"


async def test_wrong_pins_are_limited(box, browser):
    await claim(browser(), "Ana", "2468")
    guesser = browser()
    await guesser.pair_with_button()
    ana = (await data(await guesser.get("/api/profiles")))[0]["id"]
    codes = []
    for pin in ("0000", "0001", "0002", "0003", "0004", "2468"):
        r = await guesser.post(f"/api/profiles/{ana}/sign-in", json={"pin": pin})
        codes.append(r.status)
    assert codes == [403, 403, 403, 403, 403, 429]  # even the right PIN waits now
    assert int(r.headers["Retry-After"]) > 0


async def test_members_by_name_and_by_themselves(box, browser):
    owner = browser()
    await claim(owner, "Ana", None)
    r = await owner.post("/api/profiles", json={"name": "Ben"})
    assert r.status == 201 and (await data(r))["signedIn"] is False
    assert (await data(await owner.get("/user/profile")))["displayName"] == "Ana"
    r = await owner.post("/api/profiles", json={"name": "ben"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "name_taken"
    # Ben's phone: pairs, picks his open profile without a PIN.
    ben = browser()
    await ben.pair_with_button()
    listed = {p["displayName"]: p for p in await data(await ben.get("/api/profiles"))}
    assert listed["Ben"]["access"] == "open" and listed["Ana"]["access"] == "open"
    r = await ben.post(f"/api/profiles/{listed['Ben']['id']}/sign-in", json={})
    assert r.status == 200
    await ben.refresh_csrf()
    r = await ben.post("/api/profiles", json={"name": "Cleo"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "owner_only"
    # Cleo's phone adds herself as a member.
    cleo = browser()
    await cleo.pair_with_button()
    r = await cleo.post("/api/profiles", json={"name": "Cleo", "pin": "13579"})
    assert r.status == 201 and (await data(r))["role"] == "member"
    members = await data(await owner.get("/api/members"))
    assert [(m["displayName"], m["role"]) for m in members] == [
        ("Ana", "owner"), ("Ben", "member"), ("Cleo", "member")]


async def test_unpaired_browsers_get_nothing(box, browser):
    stranger = browser()
    await stranger.refresh_csrf()
    assert (await stranger.get("/api/profiles")).status == 403
    r = await stranger.post("/api/profiles", json={"name": "Mallory"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_paired"


async def test_bad_names_and_pins_are_400(box, browser):
    b = browser()
    await b.pair_with_button()
    for body, code in (({"name": "  "}, "bad_name"), ({"name": "Ana", "pin": "12"}, "bad_pin"),
                       ({"name": "Ana", "pin": "12345678901"}, "bad_pin"),
                       ({"name": ["Ana"]}, "bad_name")):
        r = await b.post("/api/profiles", json=body)
        assert r.status == 400 and (await r.json())["error"]["code"] == code, body


async def test_a_linked_google_sign_in_opens_the_profile_on_a_new_phone(box, browser):
    owner = browser()
    made = await claim(owner, "Ana", None)
    linked = await owner.sign_in("google", email="ana@example.com", name="Ana G",
                                 subject="1234567")
    assert linked["userId"] == made["id"] and linked["linked"] is True
    assert [p["provider"] for p in await data(await owner.get("/user/auth-providers"))] == [
        "google"]
    phone = browser()
    await phone.pair_with_button()
    listed = await data(await phone.get("/api/profiles"))
    assert listed[0]["access"] == "signin" and listed[0]["providers"] == ["google"]
    r = await phone.post(f"/api/profiles/{made['id']}/sign-in", json={})
    assert r.status == 409 and (await r.json())["error"]["code"] == "use_sign_in"
    again = await phone.sign_in("google", email="ana@example.com", name="Ana G",
                                subject="1234567")
    assert again["userId"] == made["id"] and not again["created"]


async def test_pin_can_be_set_and_removed(box, browser):
    owner = browser()
    made = await claim(owner, "Ana", None)
    r = await owner.send("PUT", "/user/pin", json={"pin": "9753"})
    assert r.status == 200 and (await data(r))["hasPin"] is True
    assert box.store.read_sync(lambda db: profiles.pin_hash_of(db, made["id"]))
    r = await owner.send("PUT", "/user/pin", json={"pin": "abc"})
    assert r.status == 400
    r = await owner.delete("/user/pin")
    assert r.status == 200 and (await data(r))["hasPin"] is False
    assert box.store.read_sync(lambda db: profiles.pin_hash_of(db, made["id"])) == ""


async def test_pages_without_javascript_claim_pick_and_show_the_steps(box, browser):
    b = browser()
    await b.pair_with_button()
    page = await (await b.get("/signin", html=True)).text()
    assert "What's your name?" in page
    bar = re.search(r'<ol class="progress".*?</ol>', page, re.S).group(0)
    assert re.search(r'class="done"[^>]*><a href="/pair">Claim', bar)
    assert re.search(r'class="current" aria-current="step"><a href="/signin">Your name', bar)
    r = await b.http.post(box.base + "/profiles/new", data={"csrf_token": b.csrf, "name": "Ana",
                                                           "pin": ""},
                          headers={"Accept": "text/html"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/spotify"
    home = await (await b.get("/", html=True)).text()
    assert '<span class="who" title="Signed in">Ana</span>' in home
    assert re.search(r'class="current" aria-current="step"><a href="/spotify#link">Spotify', home)
    # A second phone picks Ana's open profile from the list.
    other = browser()
    await other.pair_with_button()
    page = await (await other.get("/signin", html=True)).text()
    assert "Who is this?" in page and "I'm new here" in page
    action = re.search(r'action="(/profiles/mmp_[^"]+/pick)"', page).group(1)
    r = await other.http.post(box.base + action, data={"csrf_token": other.csrf},
                              headers={"Accept": "text/html"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/"
    assert (await data(await other.get("/user/profile")))["displayName"] == "Ana"


async def test_owner_adds_someone_and_sets_a_pin_from_the_pages(box, browser):
    owner = browser()
    made = await claim(owner, "Ana", None)
    page = await (await owner.get("/members", html=True)).text()
    assert "Add someone" in page and "name only" in page
    r = await owner.http.post(box.base + "/members/add", data={
        "csrf_token": owner.csrf, "name": "Ben", "pin": "8642"},
        headers={"Accept": "text/html"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/members"
    r = await owner.http.post(box.base + "/members/add", data={
        "csrf_token": owner.csrf, "name": "ben"}, headers={"Accept": "text/html"},
        allow_redirects=False)
    assert r.headers["Location"] == "/members?error=name_taken"
    page = await (await owner.get("/members?error=name_taken", html=True)).text()
    assert "already has that name" in page and "Member · PIN" in page
    r = await owner.http.post(box.base + "/profile/pin", data={
        "csrf_token": owner.csrf, "pin": "1357"}, headers={"Accept": "text/html"},
        allow_redirects=False)
    assert r.headers["Location"] == "/profile"
    assert "Change PIN" in await (await owner.get("/profile", html=True)).text()
    assert box.store.read_sync(lambda db: profiles.pin_hash_of(db, made["id"]))


async def test_an_invite_code_brings_a_new_member_who_names_themself(box, browser):
    owner = browser()
    await claim(owner, "Ana", "2468")
    r = await owner.post("/api/pair/codes")
    assert r.status == 201
    code = (await data(r))["code"]
    newcomer = browser()
    await newcomer.refresh_csrf()
    r = await newcomer.post("/pair/code", json={"code": code},
                            headers={"Accept": "application/json"})
    assert r.status == 200 and (await data(r))["next"] == "/signin", await r.text()
    await newcomer.refresh_csrf()
    page = await (await newcomer.get("/signin", html=True)).text()
    assert "Who is this?" in page and "I'm new here" in page
    r = await newcomer.post("/api/profiles", json={"name": "Dev"})
    assert r.status == 201 and (await data(r))["role"] == "member"
    await newcomer.refresh_csrf()
    assert (await data(await newcomer.get("/user/profile")))["displayName"] == "Dev"


async def test_the_owner_resets_a_forgotten_pin_and_names_can_change(box, browser):
    owner = browser()
    await claim(owner, "Ana", None)
    ben = browser()
    await ben.pair_with_button()
    made = await data(await ben.post("/api/profiles", json={"name": "Ben", "pin": "4444"}))
    await ben.refresh_csrf()
    assert (await ben.delete(f"/api/members/{made['id']}/pin")).status == 403  # not the owner
    r = await owner.delete(f"/api/members/{made['id']}/pin")
    assert r.status == 200 and (await data(r))["hasPin"] is False
    assert box.store.read_sync(lambda db: profiles.pin_hash_of(db, made["id"])) == ""
    r = await ben.send("PUT", "/user/name", json={"name": "ana"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "name_taken"
    r = await ben.send("PUT", "/user/name", json={"name": "  Benji "})
    assert r.status == 200 and (await data(r))["displayName"] == "Benji"
    assert (await data(await ben.get("/user/profile")))["displayName"] == "Benji"


async def test_a_code_made_for_a_profile_opens_it_on_the_new_phone(box, browser):
    import re as _re

    owner = browser()
    await claim(owner, "Ana", "2468")
    r = await owner.post("/api/profiles", json={"name": "Ben", "pin": "1357"})
    ben_id = (await data(r))["id"]
    page = await (await owner.get("/members", html=True)).text()
    assert "Code for their phone" in page
    r = await owner.http.post(box.base + "/members/invite", data={
        "csrf_token": owner.csrf, "for": ben_id}, headers={"Accept": "text/html"})
    page = await r.text()
    assert "code for <strong>Ben</strong>" in page
    code = _re.search(r'id="invite-code">([A-Z0-9-]+)<', page).group(1)
    phone = browser()
    await phone.refresh_csrf()
    r = await phone.post("/pair/code", json={"code": code}, headers={"Accept": "application/json"})
    assert r.status == 200 and (await data(r))["next"] == "/", await r.text()
    await phone.refresh_csrf()
    prof = await data(await phone.get("/user/profile"))
    assert (prof["id"], prof["displayName"], prof["role"]) == (ben_id, "Ben", "member")
    # A code for a profile that does not exist is a plain invite: the browser says who it is.
    r = await owner.http.post(box.base + "/members/invite", data={
        "csrf_token": owner.csrf, "for": prof["id"] + "x"}, headers={"Accept": "text/html"})
    code = _re.search(r'id="invite-code">([A-Z0-9-]+)<', await r.text()).group(1)
    other = browser()
    await other.refresh_csrf()
    r = await other.post("/pair/code", json={"code": code}, headers={"Accept": "application/json"})
    assert (await data(r))["next"] == "/signin"
    await other.refresh_csrf()
    assert (await other.get("/user/profile")).status == 401
