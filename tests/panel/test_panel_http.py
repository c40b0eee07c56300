"""The virtual panel's page and JSON API on the real web app, driving the real gesture code."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from panel_kit import FAST, eventually

from appliance.core.bus import Bus, ButtonGesture, PrivacyChanged, ServiceState, SetupProgress
from appliance.core.config import Config, from_dict
from appliance.core.settings import Settings
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService
from appliance.schema import open_store
from appliance.web.app import create_app
from appliance.web.kit.deps import WebDeps
from appliance.web.routes import panel as panel_http
from appliance.web.service import WebService

pytestmark = pytest.mark.timeout(60)


def make_config(tmp_path, pin_factory: str = "mock") -> Config:
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False},
        "panel": {**FAST, "pin_factory": pin_factory},
    })


class Client:
    """A cookie-keeping browser stand-in that is NOT paired with the box."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str, **kw) -> tuple[int, dict | str]:
        async with self.http.get(self.base + path, allow_redirects=False, **kw) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def post(self, path: str, body: object = None, *, csrf: bool = True
                   ) -> tuple[int, dict]:
        if csrf and not self.csrf:
            _, data = await self.get("/api/csrf")
            self.csrf = data["data"]["csrfToken"]
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.http.post(self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()


@pytest.fixture
async def box(tmp_path):
    config = make_config(tmp_path)
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
    client = Client(web.base_url)
    yield web, panel, bus, client
    await client.http.close()
    await web.stop()
    runner.cancel()
    await panel.stop()
    store.close()


async def test_unpaired_browser_sees_the_panel_page(box):
    _web, _panel, _bus, client = box
    status, html = await client.get("/panel", headers={"Accept": "text/html"})
    assert status == 200
    assert "Virtual panel" in html and 'data-button="play"' in html and "panel.js" in html
    status, _ = await client.get("/", headers={"Accept": "text/html"})
    assert status == 303  # the rest of the page still wants pairing


async def test_api_reads_the_leds_and_buttons_from_the_pins(box):
    _web, panel, _bus, client = box
    status, body = await client.get("/api/panel")
    assert status == 200
    data = body["data"]
    assert data["leds"]["status"]["pattern"] == "ready"
    assert data["leds"]["status"]["color"] == [0.0, 0.35, 0.0]
    assert data["leds"]["mood"]["color"] == [0.0, 0.0, 0.0]
    assert data["leds"]["camera"] == {"on": False}
    assert data["buttons"]["play"] == {"pressed": False, "pin": 17}
    panel.factory.pin(6).state = 0.9  # the API reports the pin, not a cached value
    _, body = await client.get("/api/panel")
    assert body["data"]["leds"]["status"]["color"][1] == 0.9


@pytest.mark.parametrize(("name", "body", "gesture"), [
    ("play", {"action": "press"}, "play_press"),
    ("play", {"action": "hold"}, "play_hold"),
    ("next", {"action": "press", "seconds": 0.05}, "next_press"),
    ("next", {"action": "hold"}, "next_hold"),
    ("mood", None, "mood_press"),
])
async def test_posting_a_button_runs_the_real_gesture_code(box, name, body, gesture):
    _web, _panel, bus, client = box
    sub = bus.subscribe(ButtonGesture)
    status, resp = await client.post(f"/api/panel/buttons/{name}", body)
    assert status == 200, resp
    assert resp["data"]["emitted"] == [gesture]
    assert sub.get_nowait().gesture == gesture
    assert sub.get_nowait() is None


async def test_mood_hold_over_the_api_turns_the_mood_led_off(box):
    _web, panel, bus, client = box
    from appliance.core.bus import MoodReading

    bus.publish(MoodReading(faces=1, valence=0.5, arousal=0.5, mood="happy", confidence=1.0))
    await eventually(lambda: panel.factory.pin(12).state == 1.0)
    _status, resp = await client.post("/api/panel/buttons/mood", {"action": "hold"})
    assert resp["data"]["emitted"] == ["mood_hold"]
    assert bus.latest(PrivacyChanged).enabled is True
    _, body = await client.get("/api/panel")
    assert body["data"]["leds"]["mood"] == {"color": [0.0, 0.0, 0.0], "pattern": "privacy"}


async def test_down_and_up_make_two_button_gestures(box):
    _web, _panel, _bus, client = box
    await client.post("/api/panel/buttons/mood", {"action": "down"})
    _, resp = await client.post("/api/panel/buttons/next", {"action": "press"})
    assert resp["data"]["emitted"] == ["listener_next"]
    assert resp["data"]["buttons"]["mood"]["pressed"] is True
    _, resp = await client.post("/api/panel/buttons/mood", {"action": "up"})
    assert resp["data"]["emitted"] == []


async def test_play_and_next_held_together_arm_the_reset(box):
    _web, _panel, _bus, client = box
    _, resp = await client.post("/api/panel/buttons/play+next", {"action": "hold"})
    assert resp["data"]["emitted"] == ["factory_reset_armed"]
    assert resp["data"]["leds"]["status"]["pattern"] == "reset_armed"


async def test_the_code_pressed_on_the_virtual_panel_pairs_the_waiting_browser(box):
    web, _panel, _bus, client = box
    phone = Client(web.base_url)
    try:
        status, body = await phone.post("/pair/request")
        assert status == 200
        phone.csrf = body["data"]["csrfToken"]
        code = body["data"]["challenge"]
        await eventually(lambda: _panel.leds.read()["status"]["pattern"] == "pairing")
        _, body = await client.get("/api/panel")
        assert body["data"]["leds"]["status"]["pattern"] == "pairing"
        for press in code:  # unclaimed: no Play hold first
            _, resp = await client.post(f"/api/panel/buttons/{press}", {"action": "press"})
            assert resp["data"]["emitted"] == [f"pair_{press}"]
        await eventually(lambda: _panel.leds.read()["status"]["pattern"] == "pair_approved")
        status, _ = await phone.post("/pair/complete")
        assert status == 200
    finally:
        await phone.http.close()


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/api/panel/buttons/stop", {}, 404, "unknown_button"),
    ("/api/panel/buttons/play+play", {}, 404, "unknown_button"),
    ("/api/panel/buttons/play", {"action": "smash"}, 400, "bad_action"),
    ("/api/panel/buttons/play", {"seconds": 3600}, 400, "bad_seconds"),
    ("/api/panel/buttons/play", {"seconds": "long"}, 400, "bad_seconds"),
    ("/api/panel/buttons/play", [1], 400, "bad_json"),
])
async def test_bad_requests_get_json_errors(box, path, body, status, code):
    *_, client = box
    got, resp = await client.post(path, body)
    assert (got, resp["error"]["code"]) == (status, code)


async def test_button_posts_need_the_csrf_token(box):
    _web, panel, _bus, client = box
    status, resp = await client.post("/api/panel/buttons/play", {}, csrf=False)
    assert status == 403 and resp["error"]["code"].startswith("csrf")
    assert panel.gestures_published == 0


async def test_a_stopped_panel_answers_503(box):
    _web, panel, _bus, client = box
    await panel.stop()
    status, resp = await client.get("/api/panel")
    assert (status, resp["error"]["code"]) == (503, "panel_not_running")


async def test_no_virtual_panel_with_real_pins(tmp_path):
    config = make_config(tmp_path, pin_factory="lgpio")
    store = open_store(None)
    try:
        app = create_app(WebDeps(config=config, bus=Bus(), store=store,
                                 route_setups=[panel_http.add_routes]))
        paths = {r.resource.canonical for r in app.router.routes() if r.resource}
        assert "/panel" not in paths and "/api/panel" not in paths
    finally:
        store.close()
