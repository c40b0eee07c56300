"""The About page's "Update now": owner only; it asks mooddj-update.path for the update."""

from __future__ import annotations

import json

import pytest

from appliance.maintenance.update import REQUEST_NAME, Layout
from appliance.web.routes import update as update_routes


async def _signed_in(browser, provider: str, name: str):
    b = browser()
    await b.pair_with_button()
    await b.sign_in(provider, name=name, email=f"{name}@example.com")
    return b


@pytest.fixture
def installed_box(tmp_path, monkeypatch):
    """The page as on an installed box (/opt/mooddj with update.json) instead of a checkout."""
    prefix = tmp_path / "opt"
    prefix.mkdir()
    (prefix / "update.json").write_text(json.dumps({
        "status": "rolled-back", "finished": "2026-12-06T21:00:00Z",
        "message": "v2 (abc1234) failed (the box did not report ready); rolled back to v1"}))
    monkeypatch.setattr(update_routes.Layout, "of_running_code", lambda: Layout(prefix))
    return prefix


async def test_only_the_owner_can_ask_for_an_update(box, browser, installed_box) -> None:
    owner = await _signed_in(browser, "google", "Alex")
    member = await _signed_in(browser, "github", "Sam")
    request_file = box.config.paths.state / REQUEST_NAME
    r = await member.send("POST", "/api/update")
    assert r.status == 403 and not request_file.exists()
    page = await (await member.get("/about", html=True)).text()
    assert "Update now" not in page
    r = await owner.send("POST", "/api/update")
    assert r.status == 202 and (await r.json())["data"] == {"requested": True}
    assert json.loads(request_file.read_text())["by"]
    page = await (await owner.get("/about", html=True)).text()
    assert "Update requested" in page and "Update now" not in page


async def test_the_about_page_shows_the_version_and_the_last_update(box, browser,
                                                                    installed_box) -> None:
    owner = await _signed_in(browser, "google", "Alex")
    page = await (await owner.get("/about", html=True)).text()
    assert "Update now" in page and 'action="/about/update"' in page
    assert "rolled back to v1" in page
    # The form posts with the page's CSRF token and lands back on /about.
    r = await owner.send("POST", "/about/update", allow_redirects=False,
                         headers={"Accept": "text/html"})
    assert r.status == 303 and r.headers["Location"] == "/about"
    assert (box.config.paths.state / REQUEST_NAME).exists()
