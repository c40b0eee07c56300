"""Device-flow sign-in through the HTTP API against the identity stand-in."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.parametrize("provider", ["google", "microsoft", "github"])
async def test_full_sign_in_claims_the_box(box, browser, provider):
    b = browser()
    await b.pair_with_button()
    before = b.cookie()
    r = await b.post(f"/auth/{provider}/login")
    start = (await r.json())["data"]
    assert set(start) >= {"userCode", "verificationUrl", "expiresIn", "interval", "flowId"}
    assert start["verificationUrl"].startswith(box.sim.base_url)
    r = await b.get(f"/auth/{provider}/status?flowId={start['flowId']}")
    assert (await r.json())["data"]["state"] == "pending"
    assert (await b.get("/user/profile")).status == 401
    box.sim.approve(start["userCode"], email="alex@example.com", name="Alex", provider=provider)
    data = await b.wait_flow(provider, start["flowId"])
    assert data["state"] == "approved" and data["created"] is True
    assert b.cookie() != before  # new session id at sign-in
    r = await b.get("/user/profile")
    profile = (await r.json())["data"]
    assert profile["role"] == "owner" and profile["id"].startswith("mmp_")
    assert [p["provider"] for p in profile["authProviders"]] == [provider]


async def test_same_subject_signs_into_the_same_account(box, browser):
    a = browser()
    await a.pair_with_button()
    await a.sign_in("google", subject="g-1")
    first = (await (await a.get("/user/profile")).json())["data"]["id"]
    c = browser()
    await c.pair_with_button()
    await c.sign_in("google", subject="g-1", email="other@example.com")
    again = (await (await c.get("/user/profile")).json())["data"]
    assert again["id"] == first and again["role"] == "owner"
    members = (await (await c.get("/api/members")).json())["data"]
    assert len(members) == 1


async def test_second_sign_in_is_a_member_and_linking_adds_a_provider(box, browser):
    owner = browser()
    await owner.pair_with_button()
    await owner.sign_in("google", subject="owner-g")
    await owner.sign_in("github", subject="4242")  # signed in: links to the same account
    prof = (await (await owner.get("/user/profile")).json())["data"]
    assert sorted(p["provider"] for p in prof["authProviders"]) == ["github", "google"]
    r = await owner.get("/user/auth-providers")
    assert len((await r.json())["data"]) == 2
    # Unlink one; the last one is refused.
    assert (await owner.delete("/user/auth-providers/github")).status == 200
    r = await owner.delete("/user/auth-providers/google")
    assert r.status == 409 and (await r.json())["error"]["code"] == "last_identity"
    r = await owner.delete("/user/auth-providers/microsoft")
    assert r.status == 404

    m = browser()
    await m.pair_with_button()
    await m.sign_in("microsoft", email="sam@example.com", name="Sam")
    assert (await (await m.get("/user/profile")).json())["data"]["role"] == "member"


async def test_linking_an_identity_of_another_account_is_refused(box, browser):
    a = browser()
    await a.pair_with_button()
    await a.sign_in("google", subject="shared-g")
    b = browser()
    await b.pair_with_button()
    await b.sign_in("github", subject="777")
    r = await b.post("/auth/google/login")
    start = (await r.json())["data"]
    box.sim.approve(start["userCode"], subject="shared-g", provider="google")
    for _ in range(200):
        r = await b.get(f"/auth/google/status?flowId={start['flowId']}")
        if r.status != 200 or (await r.json())["data"]["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert r.status == 409
    assert (await r.json())["error"]["code"] == "identity_in_use"


async def test_denied_sign_in_reports_denied(box, browser):
    b = browser()
    await b.pair_with_button()
    start = (await (await b.post("/auth/google/login")).json())["data"]
    box.sim.deny(start["userCode"], provider="google")
    data = await b.wait_flow("google", start["flowId"])
    assert data["state"] == "denied"
    assert (await b.get("/user/profile")).status == 401
    # The page offers a new code.
    r = await b.get(f"/signin/flow/{start['flowId']}", html=True)
    assert "Get a new code" in await r.text()


async def test_flow_of_another_browser_is_not_visible(box, browser):
    a, c = browser(), browser()
    await a.pair_with_button()
    await c.pair_with_button()
    start = (await (await a.post("/auth/google/login")).json())["data"]
    r = await c.get(f"/auth/google/status?flowId={start['flowId']}")
    assert r.status == 404 and (await r.json())["error"]["code"] == "flow_not_found"


async def test_unknown_provider_is_a_json_404(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.post("/auth/myspace/login")
    assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_provider"


async def test_sign_in_pages_show_code_qr_and_sign_in_without_js(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.get("/signin", html=True)
    page = await r.text()
    assert "Continue with Google" in page and "Continue with GitHub" in page
    r = await b.http.post(box.base + "/signin/google", data={"csrf_token": b.csrf},
                          headers={"Accept": "text/html"})
    page = await r.text()
    assert r.url.path.startswith("/signin/flow/")
    code = box.sim.pending_codes("google")[0]
    assert code in page
    assert 'src="data:image/svg+xml' in page  # QR code inline, no external request
    assert 'http-equiv="refresh"' in page  # no-JS fallback
    box.sim.approve(code, provider="google", name="Alex")
    for _ in range(200):
        r = await b.get(r.url.path, html=True)
        if r.url.path == "/":
            break
        await asyncio.sleep(0.05)
    assert r.url.path == "/"
    assert (await b.get("/user/profile")).status == 200


async def test_unconfigured_provider_says_how_to_configure(box, browser, tmp_path):
    from web_box import Browser

    from appliance.core.config import Config, from_dict
    from appliance.web.kit.deps import WebDeps
    from appliance.web.service import WebService

    ident = box.sim.identity_config()
    ident["github"] = {}
    config = from_dict(Config, {"paths": {"state_dir": str(tmp_path)}, "identity": ident,
                                "web": {"max_body_bytes": 4096}})
    svc = WebService(WebDeps(config=config, bus=box.bus, store=box.store), host="127.0.0.1",
                     port=0)
    await svc.start()
    try:
        other = Browser(box)
        other.box = type(box)(svc.base_url, svc.port, box.bus, box.store, box.sim, svc, config)
        await other.pair_with_button()
        page = await (await other.get("/signin", html=True)).text()
        assert "Continue with Google" in page and "Continue with GitHub" not in page
        assert "not configured" in page and "[identity.github] client_id" in page
        r = await other.post("/auth/github/login")
        assert r.status == 409
        assert (await r.json())["error"]["code"] == "provider_not_configured"
        await other.close()
    finally:
        await svc.stop()
