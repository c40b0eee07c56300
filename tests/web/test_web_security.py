"""Host allow-list, CSRF and Origin, security headers, escaping, JSON errors, body limits."""

from __future__ import annotations

import aiohttp

from appliance.core.config import WebConfig
from appliance.web.kit.security import HostAllowList, origin_matches


async def test_foreign_host_is_refused(box, browser):
    b = browser()
    r = await b.get("/pair", headers={"Host": "evil.example"})
    assert r.status == 421
    body = await r.json()
    assert body["error"]["code"] == "wrong_host"
    assert "mooddj.local" in body["error"]["message"]
    assert "mooddj_session" not in r.cookies  # refused before any session work
    for host in ("mooddj.local", f"mooddj.local:{box.port}", f"127.0.0.1:{box.port}",
                 "localhost"):
        assert (await b.get("/pair", headers={"Host": host})).status == 200, host


def test_host_allow_list_names_addresses_and_config():
    hosts = HostAllowList(WebConfig(hostname="kitchen", allowed_hosts=("dj.home.arpa",)),
                          addresses=["192.168.1.20", "fe80::1"])
    for ok in ("kitchen.local", "KITCHEN.local:80", "192.168.1.20:8080", "[::1]:80",
               "127.0.0.1", "127.0.0.2", "dj.home.arpa", "[fe80::1]:80"):
        assert hosts.allows(ok), ok
    for bad in ("mooddj.local.evil.com", "192.168.1.21", "attacker.example", "", None):
        assert not hosts.allows(bad), bad


def test_origin_must_be_this_host():
    assert origin_matches("http://mooddj.local", "mooddj.local")
    assert origin_matches("http://192.168.1.2:8080", "192.168.1.2:8080")
    assert not origin_matches("http://evil.example", "mooddj.local")
    assert not origin_matches("null", "mooddj.local")
    assert not origin_matches("http://mooddj.local:81", "mooddj.local")


async def test_post_without_csrf_or_with_foreign_origin_is_refused(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.post("/api/privacy", csrf=False, json={"enabled": True})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_missing"
    r = await b.post("/api/privacy", json={"enabled": True},
                     headers={"X-CSRF-Token": "forged"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_invalid"
    r = await b.post("/api/privacy", json={"enabled": True},
                     headers={"Origin": "http://evil.example"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "bad_origin"
    # `Origin: null` (form posts under no-referrer) still needs the token.
    r = await b.post("/api/privacy", csrf=False, json={"enabled": True},
                     headers={"Origin": "null"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_missing"
    # A plain form without the token is refused too; with it, accepted.
    r = await b.http.post(box.base + "/privacy", data={"enabled": "1"})
    assert r.status == 403
    r = await b.http.post(box.base + "/privacy", data={"enabled": "1", "csrf_token": b.csrf},
                          headers={"Origin": "null", "Accept": "text/html"},
                          allow_redirects=False)
    assert r.status == 303
    privacy = await box.store.read(lambda db: db["settings"].get("privacy")["value"])
    assert privacy == "1"


async def test_security_headers_on_pages_api_static_and_errors(box, browser):
    b = browser()
    for path, kw in (("/pair", {"html": True}), ("/api/csrf", {}), ("/static/app.css", {}),
                     ("/nope", {}), ("/user/profile", {})):
        r = await b.get(path, **kw)
        h = r.headers
        assert "default-src 'self'" in h["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert "object-src 'none'" in h["Content-Security-Policy"]
        assert h["Referrer-Policy"] == "no-referrer"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["X-Frame-Options"] == "DENY"
        if not path.startswith("/static/"):
            assert h["Cache-Control"] == "no-store", path
    r = await b.get("/pair", headers={"Host": "evil.example"})
    assert r.headers["X-Frame-Options"] == "DENY"


async def test_session_cookie_flags(box, browser):
    b = browser()
    r = await b.get("/pair", html=True)
    raw = r.headers["Set-Cookie"]
    assert raw.startswith("mooddj_session=")
    assert "HttpOnly" in raw and "SameSite=Strict" in raw and "Path=/" in raw
    assert "Secure" not in raw


async def test_display_name_with_script_is_shown_as_text(box, browser):
    b = browser()
    await b.pair_with_button()
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    await b.sign_in("google", name=evil)
    for path in ("/", "/members", "/profile"):
        page = await (await b.get(path, html=True)).text()
        assert "<script>alert" not in page and "<img src=x" not in page, path
    page = await (await b.get("/members", html=True)).text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


async def test_json_errors_have_the_envelope_and_no_trace(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.get("/api/does-not-exist")
    body = await r.json()
    assert r.status == 404 and set(body["error"]) == {"code", "message"}
    r = await b.send("PUT", "/api/privacy", json={"enabled": True})
    assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"
    r = await b.post("/api/privacy", data=b"{not json", headers={
        "Content-Type": "application/json", "X-CSRF-Token": b.csrf})
    body = await r.json()
    assert r.status == 400 and body["error"]["code"] == "bad_json"
    assert "Traceback" not in await r.text()


async def test_body_too_large_is_a_413_json(box, browser):
    b = browser()
    await b.pair_with_button()
    r = await b.post("/api/privacy", data=b"x" * 10000,
                     headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert (await r.json())["error"]["code"] == "body_too_large"


async def test_body_too_large_without_length_is_a_413_json(box, browser):
    b = browser()
    await b.refresh_csrf()

    async def chunks():
        for _ in range(10):
            yield b"x" * 1000

    r = await b.http.post(box.base + "/pair/code", data=chunks(),
                          headers={"X-CSRF-Token": b.csrf,
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413
    assert (await r.json())["error"]["code"] == "body_too_large"


async def test_websocket_from_a_foreign_origin_is_refused(box, browser):
    b = browser()
    await b.pair_with_button()
    try:
        await b.http.ws_connect(box.base + "/ws", origin="http://evil.example")
        raise AssertionError("connected")
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 403
