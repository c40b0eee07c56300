"""First run on a factory-fresh box with the default config, from a phone alone.

Not the simulator: a plain `mooddj run` whose config is the default except what
this machine needs (loopback address and a free port, no mDNS, mock pins for
the virtual panel, the replay camera) and the Spotify and features endpoints
pointed at the stand-ins. No sign-in provider is configured. The phone claims
the box (the challenge is entered on the virtual panel, which stands in for the
box's buttons), types a name, follows the household-app guide (the stand-in's
dashboard makes the Client ID; that part is not timed), links Spotify by the
phone's paste-back path, taps a speaker and gets the mood's music. It prints the
taps, what was typed, and the seconds a person spends.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from journey_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    REPO,
    Shots,
    SimBox,
    free_port,
    start_box,
    write_config,
)

pytestmark = [
    pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(240),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is missing: run scripts/setup --browser"),
]

MOODS = "(Happy|Sad|Angry|Neutral|Surprised)"
SECONDS_PER_TAP = 3.0  # find the control, read its label, tap (a person, not the test)
SECONDS_PER_CHAR = 0.4  # typing on a phone keyboard
TAP_TARGET, SECONDS_TARGET = 12, 120.0


@dataclass
class Person:
    """What the person on the phone does: taps, typed characters, time spent waiting."""

    taps: list[str] = field(default_factory=list)
    typed: int = 0
    box_presses: list[str] = field(default_factory=list)
    untimed: float = 0.0  # Spotify's own dashboard

    def tap(self, what: str, locator: Any) -> None:
        self.taps.append(what)
        locator.tap()

    def type_into(self, what: str, locator: Any, text: str, *, pasted: bool = False) -> None:
        self.taps.append(f"{what} field")
        locator.tap()
        locator.fill(text)
        if not pasted:
            self.typed += len(text)


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from appliance.simmode import launcher

    running = launcher.start(tmp_path / "standins")
    try:
        yield running.info
    finally:
        running.stop()


@pytest.fixture
def fresh_box(tmp_path: Path, stand_ins: dict[str, Any]) -> Iterator[tuple[SimBox, int]]:
    port, closed_port = free_port(), free_port()  # nothing listens on closed_port: a phone's
    spotify = stand_ins["config"]["spotify"]      # failed loopback page
    features = stand_ins["config"]["features"]
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", f"""
# The default config, but for this machine (loopback, no mDNS, no Pi pins or camera) ...
[paths]
state_dir = "{state}"
runtime_dir = "{state / 'run'}"

[web]
host = "127.0.0.1"
port = {port}
mdns = false

[panel]
pin_factory = "mock"

[camera]
source = "replay"
replay_path = "{REPO / 'tests' / 'media' / 'single_face.mp4'}"

# ... and Spotify (and its features source) at the stand-ins. No client id anywhere.
[spotify]
accounts_url = "{spotify['accounts_url']}"
api_url = "{spotify['api_url']}"
redirect_port = {closed_port}

[features]
reccobeats_url = "{features['reccobeats_url']}"
""")
    box = start_box(config, f"http://127.0.0.1:{port}/")
    try:
        yield box, closed_port
    finally:
        code = box.stop()
        if code not in (0, None):
            print(box.output())


def test_first_run_from_a_phone_with_the_default_config(fresh_box, stand_ins) -> None:
    from playwright.sync_api import expect, sync_playwright

    box, closed_port = fresh_box
    base = box.base
    shots = Shots("first-run")
    person = Person()
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            phone_ctx = browser.new_context(**PHONE)
            phone_ctx.set_default_timeout(20_000)
            page = phone_ctx.new_page()
            page.on("console", lambda m: problems.append(f"{m.location.get('url')}: {m.text}")
                    if m.type == "error" and m.location.get("url", "").startswith(base)
                    else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            # The box itself: its buttons (the virtual panel), in a context of its own.
            panel = browser.new_context(**PHONE).new_page()
            panel.goto(base + "/panel")
            started = time.monotonic()

            # 1. Open the box's address: a new box asks to be claimed; no provider needed.
            page.goto(base + "/")
            expect(page).to_have_url(base + "/pair")
            expect(page.get_by_role("heading", name="Claim this box")).to_be_visible()
            shots.take(page, "open")
            person.tap("claim", page.get_by_role("button", name=re.compile("^Claim")))
            page.wait_for_load_state()
            expect(page.locator('[data-pair-state="pending"]')).to_be_visible()
            shots.take(page, "challenge")

            # 2. The challenge, entered on the box's buttons; the phone moves on by itself.
            enter_challenge(page, panel, person)
            shots.take(panel, "panel", full_page=False)
            page.wait_for_url(base + "/signin")

            # 3. Your name: the owner, without any account.
            expect(page.get_by_role("heading", name="What's your name?")).to_be_visible()
            expect(page.locator(".progress [aria-current=step]")).to_have_text(
                re.compile("^Your name"))
            shots.take(page, "name")
            person.type_into("name", page.get_by_label("Your name"), "Ana")
            person.tap("continue", page.get_by_role("button", name="Continue"))
            page.wait_for_url(base + "/spotify")
            expect(page.locator(".who")).to_have_text("Ana")
            shots.take(page, "spotify-guide")

            # Leaving and coming back: the home page says what is missing (not counted).
            resume = phone_ctx.new_page()
            resume.goto(base + "/")
            expect(resume.locator("[data-next-step]")).to_contain_text("link a Spotify account")
            expect(resume.locator(".progress [aria-current=step]")).to_have_text(
                re.compile("^Spotify"))
            shots.take(resume, "home-what-is-missing")
            resume.close()

            # 4. The household app, made in Spotify's dashboard (the stand-in's; not timed):
            #    the person copies the redirect address the guide shows.
            t0 = time.monotonic()
            redirect_uri = page.locator("#app code.url").first.inner_text().strip()
            assert redirect_uri == (f"http://127.0.0.1:{closed_port}/platforms/spotify/"
                                    "callback"), redirect_uri
            client_id = create_spotify_app(stand_ins["control"], redirect_uri)
            person.untimed += time.monotonic() - t0
            person.type_into("client id", page.get_by_label("Client ID"), client_id,
                             pasted=True)
            with page.expect_navigation(url=re.compile(r".*/authorize\?.*")):
                person.tap("save and link", page.get_by_role("button",
                                                             name="Save and link Spotify"))
            shots.take(page, "spotify-authorize")
            # Spotify sends the phone to the box's loopback address, which a phone cannot
            # load: the person copies that address and pastes it on the box's page.
            with page.expect_event("requestfailed", lambda r: r.url.startswith(
                    f"http://127.0.0.1:{closed_port}/")) as failed:
                person.tap("agree", page.get_by_role("button", name="Agree"))
            callback = failed.value.url
            page.wait_for_url(re.compile(r"^chrome-error://"))  # the page that cannot load
            assert "code=" in callback and "state=" in callback
            person.taps.append("copy the address")
            person.taps.append("back to the box's page")
            page.goto(base + "/spotify#link")
            person.type_into("address", page.get_by_label("Address from the phone"), callback,
                             pasted=True)
            person.tap("finish linking", page.get_by_role("button", name="Finish linking"))
            page.wait_for_url(base + "/spotify?linked=1")
            expect(page.get_by_text("Spotify is linked.")).to_be_visible()
            shots.take(page, "spotify-linked")

            # 5. One tap on a speaker, and the box goes on to the music.
            person.tap("speaker", page.get_by_role("button", name="Play on Living Room"))
            page.wait_for_url(base + "/")
            track = page.locator('[data-field="track"]')
            artists = page.locator('[data-field="artists"]')
            expect(track).not_to_have_text("Nothing", timeout=60_000)
            expect(artists).to_contain_text("on Living Room")
            expect(artists).to_contain_text(re.compile(MOODS + " music"))
            expect(page.locator('[data-field="setup"]')).to_have_text("Done", timeout=15_000)
            expect(page.locator(".progress")).to_have_count(0)
            elapsed = time.monotonic() - started
            shots.take(page, "music")
            playing = sim_state(stand_ins["control"])["spotify"]
            assert playing.get("is_playing") and playing.get("active_device") == "Living Room", \
                playing

            # Afterwards (not counted): the owner's Sign-in setup page, and a second phone
            # that pairs and finds Ana's profile to pick.
            page.get_by_role("link", name="Sign-in").click()
            expect(page.get_by_role("heading", name="Sign-in setup")).to_be_visible()
            shots.take(page, "owner-sign-in-setup")
            second = browser.new_context(**PHONE).new_page()
            second.goto(base + "/")
            second.get_by_role("button", name=re.compile("^Pair with")).click()
            second.wait_for_load_state()
            enter_challenge(second, panel, Person())
            second.wait_for_url(base + "/signin")
            expect(second.get_by_role("heading", name="Who is this?")).to_be_visible()
            expect(second.get_by_role("button", name=re.compile("^Ana"))).to_be_visible()
            shots.take(second, "second-phone-picks")
        finally:
            browser.close()

    waited = elapsed - person.untimed  # the box and the test's own work, measured
    spent = waited + SECONDS_PER_TAP * len(person.taps) + SECONDS_PER_CHAR * person.typed
    print(f"\nfirst run: {len(person.taps)} taps on the phone ({', '.join(person.taps)}), "
          f"{person.typed} characters typed, {len(person.box_presses)} presses on the box "
          f"({' '.join(person.box_presses)})")
    print(f"first run: {spent:.0f} s a person spends ({waited:.0f} s measured, plus "
          f"{SECONDS_PER_TAP:g} s a tap and {SECONDS_PER_CHAR:g} s a character; Spotify's "
          f"dashboard, {person.untimed:.1f} s here, not counted)")
    assert not problems, "errors in the box's pages:\n" + "\n".join(problems)
    assert len(person.taps) <= TAP_TARGET, person.taps
    assert spent <= SECONDS_TARGET
    assert box.process.poll() is None, "the box exited:\n" + box.output()


def enter_challenge(page: Any, panel: Any, person: Person) -> None:
    """Press on the box's buttons what the phone's page asks for."""
    from playwright.sync_api import expect

    challenge = page.locator("[data-challenge]")
    if challenge.count():
        presses = (challenge.get_attribute("data-challenge") or "").split()
        hold = page.locator("[data-hold-first]")
        if hold.count() and hold.first.get_attribute("data-hold-first") == "1":
            hold_button(panel, "play", 3.4)
            person.box_presses.append("hold-play")
    elif page.get_by_text("Hold Play on the box").count():  # the older page, claimed box
        hold_button(panel, "play", 3.4)
        person.box_presses.append("hold-play")
        presses = []
    else:  # the older page: one Play press pairs an unclaimed box
        expect(page.get_by_text("Press Play on the box")).to_be_visible()
        presses = ["play"]
    for name in presses:
        panel.locator(f'[data-button="{name}"]').tap()
        person.box_presses.append(name)
        panel.wait_for_timeout(250)


def hold_button(panel: Any, name: str, seconds: float) -> None:
    button = panel.locator(f'[data-button="{name}"]')
    button.hover()
    panel.mouse.down()
    panel.wait_for_timeout(seconds * 1000)
    panel.mouse.up()


def create_spotify_app(control: str, redirect_uri: str) -> str:
    """The stand-in dashboard's "Create app" with this redirect URI; its Client ID."""
    data = urllib.parse.urlencode({"redirect_uri": redirect_uri}).encode()
    with urllib.request.urlopen(control + "/sim/spotify/apps", data=data,
                                timeout=10) as resp:
        return str(json.loads(resp.read())["client_id"])


def sim_state(control: str) -> dict[str, Any]:
    with urllib.request.urlopen(control + "/sim/state", timeout=10) as resp:
        return dict(json.loads(resp.read()))
