"""A phone-sized chromium opens the virtual panel, holds Mood and sees the mood LED go dark."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from appliance.core.bus import Bus, MoodReading, PrivacyChanged, ServiceState, SetupProgress
from appliance.core.config import Config, from_dict
from appliance.core.settings import Settings
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.routes import panel as panel_http
from appliance.web.service import WebService

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def panel_box(tmp_path):
    config = from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False},
        "panel": {"pin_factory": "mock", "hold_seconds": 0.4, "pair_hold_seconds": 0.8},
    })
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    panel = PanelService(config.panel, bus, settings=Settings(store), factory=make_factory("mock"))
    await panel.start()
    runner = asyncio.create_task(panel.run())
    bus.publish(ServiceState(name="web", state="running"))
    bus.publish(SetupProgress(step="done"))
    web = WebService(WebDeps(config=config, bus=bus, store=store, panel=panel,
                             route_setups=[panel_http.add_routes]), port=0)
    await web.start()
    yield web, panel, bus
    await web.stop()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    await panel.stop()
    store.close()


async def hold(page, selector: str, seconds: float) -> None:
    """Press the on-page button with the pointer for `seconds`, then let go."""
    box = await page.locator(selector).bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await asyncio.sleep(seconds)
    await page.mouse.up()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
async def test_phone_holds_mood_on_the_virtual_panel_and_the_mood_led_goes_dark(panel_box):
    from playwright.async_api import async_playwright, expect

    web, panel, bus = panel_box
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = await browser.new_context(viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        await page.goto(web.base_url + "/panel")  # not paired: the panel stands in for the box
        await expect(page.get_by_role("heading", name="Virtual panel")).to_be_visible()
        status = page.locator('[data-led="status"]')
        mood = page.locator('[data-led="mood"]')
        await expect(page.locator('[data-led-pattern="status"]')).to_have_text("ready")
        await expect(status).to_have_attribute("data-lit", "1")

        bus.publish(MoodReading(faces=2, valence=0.7, arousal=0.5, mood="happy",
                                confidence=1.0))
        await expect(mood).to_have_attribute("data-lit", "1")
        await expect(mood).to_have_attribute("data-color", "1,0.7,0")
        await expect(page.locator('[data-led-pattern="mood"]')).to_have_text("room:happy")
        await page.screenshot(path=str(SHOTS / "panel-01-happy.png"), full_page=True)

        await hold(page, '[data-button="mood"]', 0.8)  # a hold: privacy on
        await expect(page.locator('[data-led-pattern="mood"]')).to_have_text("privacy")
        await expect(mood).to_have_attribute("data-lit", "0")
        await expect(page.locator("[data-gestures] li").first).to_have_text("mood_hold")
        assert isinstance(bus.latest(PrivacyChanged), PrivacyChanged)
        assert bus.latest(PrivacyChanged).enabled is True
        assert [panel.factory.pin(n).state for n in (12, 16, 20)] == [0, 0, 0]
        await page.screenshot(path=str(SHOTS / "panel-02-privacy.png"), full_page=True)

        await hold(page, '[data-button="next"]', 0.1)  # a short press
        await expect(page.locator("[data-gestures] li").first).to_have_text("next_press")
        await page.screenshot(path=str(SHOTS / "panel-03-next.png"), full_page=True)
        assert errors == []
        await browser.close()
