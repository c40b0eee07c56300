"""A person's whole journey on a phone, against a real `mooddj run --sim`.

Claim the box with the virtual panel's Play button, sign in through the
identity stand-in's approval page, link the Spotify stand-in, choose the Living
Room speaker, and watch the recording's mood start music on it; then empty the
room with the simulator's camera switch and see the music pause, and resume
when the face comes back. Every step
leaves a screenshot in artifacts/screenshots/journey-NN-<step>.png.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from journey_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    Shots,
    SimBox,
    free_port,
    start_sim_box,
    write_config,
)

pytestmark = [
    pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(180),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is missing: run scripts/setup --browser"),
]

MOODS = "(Happy|Sad|Angry|Neutral|Surprised)"
DWELL = 2.0  # vision.dwell_seconds: a mood holds this long before the player follows it
PLAY_WITHIN = DWELL + 25.0  # ms of the box: models, selector, Spotify stand-in, fade in
CONFIG = f"""
[vision]
dwell_seconds = {DWELL}
leave_seconds = 1.0

[player]
empty_room_minutes = 0.05
fade_seconds = 1.0
"""


@pytest.fixture
def sim_box(tmp_path: Path) -> Iterator[SimBox]:
    """`mooddj run --sim` on a free port with its own state dir; stopped in teardown."""
    config = write_config(tmp_path / "journey.toml", CONFIG)
    box = start_sim_box(tmp_path / "state", free_port(), config)
    try:
        yield box
    finally:
        code = box.stop()
        if code not in (0, None):
            print(box.output())


def test_phone_journey_from_claim_to_music(sim_box: SimBox) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = sim_box.base
    shots = Shots("journey")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(**PHONE)
            ctx.set_default_timeout(15_000)
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(f"{m.location.get('url')}: {m.text}")
                    if m.type == "error" and m.location.get("url", "").startswith(base) else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            # 1. A new box: the page asks to claim it.
            page.goto(base + "/")
            expect(page).to_have_url(base + "/pair")
            expect(page.get_by_role("heading", name="Claim this box")).to_be_visible()
            shots.take(page, "open")

            # 2. Ask to pair; the page shows the code to press on the box and where it is.
            page.get_by_role("button", name="Claim with the box's buttons").click()
            expect(page.get_by_text("Press these buttons on the box")).to_be_visible()
            expect(page.locator(".sim-hint")).to_be_visible()
            code = page.locator("[data-challenge]").get_attribute("data-challenge").split()
            shots.take(page, "press-code")

            # 3. Press the code on the virtual panel, opened from the hint in a second tab.
            with ctx.expect_page() as opened:
                page.locator(".sim-hint a").click()
            panel = opened.value
            panel.wait_for_load_state()
            press_code(panel, code)
            shots.take(panel, "panel-play", full_page=False)
            page.bring_to_front()
            page.wait_for_url(base + "/signin")
            expect(page.get_by_role("heading", name="What's your name?")).to_be_visible()
            shots.take(page, "signin")

            # 4. Sign in with Google: the code, then the stand-in's approval page.
            page.get_by_role("button", name="Continue with Google").click()
            page.wait_for_url("**/signin/flow/*")
            code = page.locator("#user-code").inner_text().strip()
            assert re.fullmatch(r"[A-Z0-9-]{6,12}", code), code
            shots.take(page, "signin-code")
            approval = ctx.new_page()
            approval.goto(page.locator("a.url").get_attribute("href") or "")
            approval.fill("#user_code", code)
            shots.take(approval, "signin-approve")
            approval.click("#approve")
            expect(approval.locator("#result")).to_contain_text("Approved")
            approval.close()

            # 5. The waiting page notices, signs in, and shows who is signed in.
            page.wait_for_url(base + "/", timeout=20_000)
            expect(page.locator(".who")).to_have_text("Alex Example")
            expect(page.locator('[data-field="setup"]')).to_have_text("Link Spotify next")
            expect(page.locator("[data-next-step]")).to_contain_text("link a Spotify account")
            shots.take(page, "home-signed-in")
            page.get_by_role("link", name="Profile").click()
            expect(page.get_by_role("heading", name="Alex Example")).to_be_visible()
            expect(page.get_by_text("Owner of")).to_be_visible()
            shots.take(page, "profile")

            # 6. Link Spotify from the home page's next step: the stand-in's authorize page,
            #    then back on the box's loopback callback.
            page.get_by_role("link", name="Home").click()
            page.locator("[data-next-step]").get_by_role("link", name="Link Spotify").click()
            expect(page.get_by_role("heading", name="Spotify", exact=True)).to_be_visible()
            shots.take(page, "spotify")
            page.get_by_role("button", name="Link Spotify").click()
            page.wait_for_url(re.compile(r".*/authorize\?.*"))
            shots.take(page, "spotify-authorize")
            page.get_by_role("button", name="Agree").click()
            page.wait_for_url(base + "/spotify?linked=1")
            expect(page.get_by_text("Spotify is linked.")).to_be_visible()
            shots.take(page, "spotify-linked")

            # 7. Choose the Living Room speaker.
            page.get_by_role("button", name="Play on Living Room").click()
            page.wait_for_url(base + "/")  # the first speaker chosen: on to the music
            shots.take(page, "speaker")

            # 8. Home: the room's mood, then music for it on the Living Room speaker.
            expect(page.locator("[data-live-status]")).to_have_text("Live")
            mood = page.locator('[data-field="mood"]')
            expect(mood).to_have_text(re.compile(f"^{MOODS}$"))
            track = page.locator('[data-field="track"]')
            started = time.monotonic()
            expect(track).not_to_have_text("Nothing", timeout=PLAY_WITHIN * 1000)
            artists = page.locator('[data-field="artists"]')
            expect(artists).to_contain_text("on Living Room")
            expect(artists).to_contain_text(re.compile(MOODS + " music"))
            expect(page.locator('[data-field="setup"]')).to_have_text("Done", timeout=10_000)
            expect(page.locator("[data-next-step]")).to_have_count(0)
            now_playing = track.inner_text().strip()
            print(f"music started {time.monotonic() - started:.1f} s after the home page: "
                  f"{now_playing!r} ({artists.inner_text()!r}), room mood {mood.inner_text()!r}")
            shots.take(page, "home-playing")

            # 9. The virtual panel's lights show that music plays.
            panel.bring_to_front()
            expect_panel_playing(panel)
            shots.take(panel, "panel-playing", full_page=False)

            # 10. The stand-ins' /sim page shows the same track playing on Living Room.
            sim = ctx.new_page()
            sim.goto(sim_box.urls["sim"])
            expect(sim.locator("#playing")).to_contain_text(now_playing)
            expect(sim.locator("#playing")).to_contain_text("Living Room")
            expect(sim.locator("#playing")).to_contain_text("(playing)")
            shots.take(sim, "sim-stand-ins")
            sim.close()

            # 11. Simulator switch on the home page: the room empties, the music pauses.
            page.bring_to_front()
            sim_card = page.locator("#sim")
            expect(sim_card.get_by_role("button", name="A face")).to_have_attribute(
                "aria-pressed", "true")
            sim_card.get_by_role("button", name="Empty room").click()
            expect(page.locator('[data-field="sim-recording"]')).to_have_text("Empty room")
            expect(sim_card.get_by_role("button", name="Empty room")).to_have_attribute(
                "aria-pressed", "true")
            expect(page.locator('[data-field="people"]')).to_have_text("0", timeout=20_000)
            expect(page.locator('[data-field="mood-detail"]')).to_have_text("Nobody in view")
            expect(artists).to_contain_text("paused", timeout=30_000)
            shots.take(page, "home-empty-room")

            # 12. Someone comes back: the music resumes.
            page.locator("#sim").get_by_role("button", name="A face").click()
            expect(page.locator('[data-field="sim-recording"]')).to_have_text("A face")
            expect(page.locator('[data-field="people"]')).to_have_text("1", timeout=20_000)
            expect(artists).not_to_contain_text("paused", timeout=30_000)
            expect(track).not_to_have_text("Nothing")
            shots.take(page, "home-back")
        finally:
            browser.close()
    assert not problems, "errors in the box's pages:\n" + "\n".join(problems)
    assert sim_box.process.poll() is None, "the box exited during the journey:\n" + \
        sim_box.output()


def press_code(panel: Any, code: list[str]) -> None:
    """Tap the pairing code on the virtual panel's buttons, as a person does on a phone."""
    from playwright.sync_api import expect

    expect(panel.locator('[data-led-pattern="status"]')).to_have_text("pairing")
    taken = panel.locator("[data-gestures] li", has_text="pair_")
    for i, press in enumerate(code):
        button = panel.locator(f'[data-button="{press}"]')
        expect(button).to_be_visible()
        button.tap()
        expect(taken).to_have_count(i + 1)  # one press at a time: two down at once is a chord
        expect(taken.first).to_have_text(f"pair_{press}")  # the list is newest first


def expect_panel_playing(panel: Any) -> None:
    """The panel's status light shows the "playing" pattern (green), as the pins do."""
    from playwright.sync_api import expect

    expect(panel.locator('[data-led-pattern="status"]')).to_have_text("playing",
                                                                     timeout=10_000)
    state = panel.request.get(panel.url.replace("/panel", "/api/panel")).json()["data"]
    assert state["leds"]["status"]["pattern"] == "playing", state["leds"]
