"""A phone-sized chromium claims the box, signs in through the stand-in and sees the profile."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from appliance.core.bus import Bus, MoodReading, PairingEntered, PlayerState, PresenceChanged
from appliance.core.config import Config, from_dict
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.providers import build_providers
from appliance.schema import open_store
from appliance.standins.identity import IdentitySim
from appliance.web.kit.deps import WebDeps
from appliance.web.service import WebService

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def running_box(tmp_path):
    sim = IdentitySim(interval=0.2, expires_in=120, slow_down_step=0.2)
    await sim.start()
    config = from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False},
        "identity": sim.identity_config(),
    })
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    providers = build_providers(config.identity)
    flows = DeviceFlows(providers, min_interval=0.1, slow_down_step=0.2)
    svc = WebService(WebDeps(config=config, bus=bus, store=store,
                             providers=providers, flows=flows), port=0)
    await svc.start()
    yield svc, bus, sim
    await svc.stop()
    await flows.close()
    store.close()
    await sim.stop()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
async def test_phone_claims_signs_in_and_sees_profile(running_box):
    from playwright.async_api import async_playwright, expect

    svc, bus, _sim = running_box
    base = svc.base_url
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = await browser.new_context(viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        await page.goto(base + "/")
        await expect(page).to_have_url(base + "/pair")
        await expect(page.get_by_role("heading", name="Claim this box")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "01-claim.png"), full_page=True)

        await page.get_by_role("button", name="Claim with the box's buttons").click()
        await expect(page.get_by_text("Press these buttons on the box")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "02-press-code.png"), full_page=True)

        code = (await page.locator("[data-challenge]").get_attribute("data-challenge")).split()
        bus.publish(PairingEntered(presses=tuple(code)))  # pressed on the box's buttons
        await page.wait_for_url(base + "/signin", timeout=15000)
        await expect(page.get_by_role("heading", name="What's your name?")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "03-signin.png"), full_page=True)

        await page.get_by_role("button", name="Continue with Google").click()
        await page.wait_for_url("**/signin/flow/*")
        code = (await page.locator("#user-code").inner_text()).strip()
        assert code
        await expect(page.locator("img.qr")).to_be_visible()
        await expect(page.get_by_role("button", name="Copy")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "04-code.png"), full_page=True)

        href = await page.locator("a.url").get_attribute("href")
        approval = await ctx.new_page()
        await approval.goto(href)
        await approval.fill("#user_code", code)
        await approval.fill("#name", "Alex <b>Example</b>")
        await approval.screenshot(path=str(SHOTS / "05-approve.png"), full_page=True)
        await approval.click("#approve")
        await expect(approval.locator("#result")).to_contain_text("Approved")
        await approval.close()

        await page.wait_for_url(base + "/", timeout=20000)
        await expect(page.locator(".who")).to_have_text("Alex <b>Example</b>")
        # Live updates arrive over the WebSocket without a reload.
        await expect(page.locator("[data-live-status]")).to_have_text("Live")
        bus.publish(MoodReading(faces=2, valence=0.7, arousal=0.5, mood="happy",
                                confidence=0.82))
        bus.publish(PresenceChanged(people=2, previous=1))
        bus.publish(PlayerState(state="playing", track_name="Sunny <i>Side</i>",
                                artists="The Examples", speaker="Living Room"))
        await expect(page.locator('[data-field="mood"]')).to_have_text("Happy")
        await expect(page.locator('[data-field="track"]')).to_have_text("Sunny <i>Side</i>")
        await expect(page.locator('[data-field="people"]')).to_have_text("2")
        await page.screenshot(path=str(SHOTS / "06-home.png"), full_page=True)

        await page.get_by_role("link", name="Profile").click()
        await expect(page.get_by_role("heading", name="Alex <b>Example</b>")).to_be_visible()
        await expect(page.get_by_text("Owner of")).to_be_visible()
        await expect(page.locator("text=alex@example.com")).to_be_visible()
        await page.screenshot(path=str(SHOTS / "07-profile.png"), full_page=True)

        await page.get_by_role("link", name="Household").click()
        await page.screenshot(path=str(SHOTS / "08-household.png"), full_page=True)

        assert not [e for e in errors if "Content Security Policy" in e], errors
        await browser.close()
