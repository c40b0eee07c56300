"""A stranger on the Wi-Fi keeps asking to pair while the household pairs a phone.

Real aiohttp server on loopback, the real PanelService on gpiozero MockFactory pins
(the buttons are pressed on the pins), the real pairing manager and SQLite. The
stranger is a client bound to another loopback address (127.0.9.x) sending
`Host: mooddj.local`, so the box sees another device; it re-asks, polls and tries
to collect the whole time. Only the phone whose code was entered on the buttons
is paired, on a claimed box and on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest
from yarl import URL

from appliance.core.bus import Bus
from appliance.core.config import Config, from_dict
from appliance.core.settings import Settings
from appliance.identity.accounts import owner_exists
from appliance.panel.pins import make_factory
from appliance.panel.service import PanelService
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.service import WebService

pytestmark = pytest.mark.timeout(90)

HOST = {"Host": "mooddj.local"}


class Phone:
    """One device: its own source address and cookie jar."""

    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)))
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        headers = {**HOST, "Accept": "application/json", **kw.pop("headers", {})}
        if method != "GET":
            if not self.csrf:
                await self.refresh_csrf()
            headers["X-CSRF-Token"] = self.csrf
        async with self.http.request(method, self.base + path, headers=headers, **kw) as r:
            body = await r.json()
            return r.status, body

    async def refresh_csrf(self) -> None:
        async with self.http.get(self.base + "/api/csrf", headers=HOST) as r:
            self.csrf = (await r.json())["data"]["csrfToken"]

    async def ask(self) -> tuple[int, dict[str, Any]]:
        status, body = await self.call("POST", "/pair/request")
        token = body.get("data", {}).get("csrfToken")
        if token:
            self.csrf = token  # asking rotates the cookie, and with it the token
        return status, body


async def press(panel: PanelService, name: str, seconds: float) -> None:
    """Press a button on the mock pins for `seconds`."""
    panel.drive(name, True)
    await asyncio.sleep(seconds)
    panel.drive(name, False)
    await panel.settle()


def _config(tmp_path) -> Config:
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "mdns": False, "pairing_window_seconds": 30},
        "panel": {"pin_factory": "mock", "bounce_seconds": 0.02, "hold_seconds": 0.3,
                  "pair_hold_seconds": 0.6, "reset_hold_seconds": 2.0,
                  "reset_confirm_seconds": 1.0, "pair_entry_seconds": 3.0},
    })


@pytest.fixture
async def box(tmp_path):
    """The setup page and the panel on mock pins, as on a box (no virtual-panel routes)."""
    config = _config(tmp_path)
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    panel = PanelService(config.panel, bus, settings=Settings(store), factory=make_factory("mock"))
    await panel.start()
    runner = asyncio.create_task(panel.run())
    web = WebService(WebDeps(config=config, bus=bus, store=store), port=0)
    await web.start()
    yield web.base_url, panel, store
    await web.stop()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    await panel.stop()
    store.close()


class Stranger:
    """Keeps one request pending from 127.0.9.1 and starts fresh ones from 127.0.9.2, polls,
    and tries to collect an approval the whole time."""

    def __init__(self, base: str) -> None:
        self.phones = [Phone(base, "127.0.9.1"), Phone(base, "127.0.9.2")]
        self.base = base
        self.log: list[tuple[str, int, dict[str, Any]]] = []
        self.deadlines: list[int] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        rounds = 0
        while not self.stop.is_set():
            rounds += 1
            keeper = self.phones[0]
            status, body = await keeper.ask()
            self.log.append(("ask", status, body))
            if status == 200:
                self.deadlines.append(body["data"]["expiresIn"])
            if rounds % 3 == 0:  # a fresh browser (new cookie) from another address
                await self.phones[1].close()
                self.phones[1] = Phone(self.base, "127.0.9.2")
                self.log.append(("ask2", *await self.phones[1].ask()))
            for phone in self.phones:
                self.log.append(("status", *await phone.call("GET", "/pair/status")))
                self.log.append(("complete", *await phone.call("POST", "/pair/complete")))
            await asyncio.sleep(0.05)

    def states(self) -> set[str]:
        return {b["data"]["state"] for kind, s, b in self.log if kind == "status" and s == 200}

    def won(self) -> list[Any]:
        return [entry for entry in self.log if entry[0] == "complete" and entry[1] == 200]

    async def close(self) -> None:
        for phone in self.phones:
            await phone.close()


async def _enter(panel: PanelService, challenge: list[str], hold_first: bool) -> None:
    if hold_first:
        await press(panel, "play", 0.8)  # > pair_hold_seconds
    for name in challenge:
        await press(panel, name, 0.08)


async def _owner_pairs_while_the_stranger_asks(base: str, panel: PanelService,
                                               *, hold_first: bool) -> tuple[Phone, Stranger]:
    stranger = Stranger(base)
    task = asyncio.create_task(stranger.run())
    await asyncio.sleep(0.5)  # the stranger is already waiting when the owner asks
    assert panel.snapshot()["status_pattern"] == "pairing"  # the LED shows a waiting request
    # The household's habit of old: hold Play first. It opens nothing now.
    await press(panel, "play", 0.8)
    owner = Phone(base, "127.0.0.1")
    status, body = await owner.ask()
    assert status == 200, body
    data = body["data"]
    assert data["holdFirst"] is hold_first
    await _enter(panel, data["challenge"], hold_first)
    for _ in range(100):
        status, body = await owner.call("GET", "/pair/status")
        if body["data"]["state"] == "approved":
            break
        await asyncio.sleep(0.05)
    status, body = await owner.call("POST", "/pair/complete")
    assert status == 200, body
    await owner.refresh_csrf()
    await asyncio.sleep(1.0)  # the stranger keeps trying after the owner is in
    stranger.stop.set()
    await task
    return owner, stranger


async def _assert_stranger_lost(owner: Phone, stranger: Stranger) -> None:
    assert (await owner.call("GET", "/api/status"))[0] == 200
    assert not stranger.won(), stranger.won()
    assert "approved" not in stranger.states()
    for phone in stranger.phones:
        assert (await phone.call("GET", "/api/status"))[0] == 403
    # Re-asking bought nothing: the first request's deadline only counted down, and
    # the asks ran into the client's limit.
    assert stranger.deadlines == sorted(stranger.deadlines, reverse=True)
    assert any(kind == "ask" and s == 429 for kind, s, _ in stranger.log)


async def test_a_stranger_who_keeps_asking_never_wins_while_the_owner_pairs(box):
    base, panel, store = box
    await store.write(lambda db: db["users"].insert(
        {"id": "mmp_owner", "display_name": "Owner", "role": "owner", "created_at": 0.0}))
    owner, stranger = await _owner_pairs_while_the_stranger_asks(base, panel, hold_first=True)
    try:
        await _assert_stranger_lost(owner, stranger)
    finally:
        await owner.close()
        await stranger.close()


async def test_a_stranger_never_claims_an_unclaimed_box(box):
    base, panel, store = box
    assert not await store.read(owner_exists)
    owner, stranger = await _owner_pairs_while_the_stranger_asks(base, panel, hold_first=False)
    try:
        await _assert_stranger_lost(owner, stranger)
    finally:
        await owner.close()
        await stranger.close()


def _cookie(phone: Phone) -> str:
    return next(c.value for c in phone.http.cookie_jar if c.key == "mooddj_session")


def _plant(phone: Phone, base: str, value: str) -> None:
    phone.http.cookie_jar.clear()
    phone.http.cookie_jar.update_cookies({"mooddj_session": value}, response_url=URL(base))


async def test_an_approval_is_collected_only_by_the_browser_that_asked(box):
    """Review F-8: a stranger who planted its cookie in the victim's browser, or copied the
    victim's cookie, cannot collect the victim's approval from its own address."""
    base, panel, _store = box
    victim, stranger = Phone(base, "127.0.0.1"), Phone(base, "127.0.9.5")
    try:
        await stranger.refresh_csrf()
        planted = _cookie(stranger)
        _plant(victim, base, planted)  # e.g. from another service on the box's name
        status, body = await victim.ask()
        assert status == 200
        assert _cookie(victim) != planted  # asking replaced the planted cookie
        await _enter(panel, body["data"]["challenge"], body["data"]["holdFirst"])
        for _ in range(100):
            if (await victim.call("GET", "/pair/status"))[1]["data"]["state"] == "approved":
                break
            await asyncio.sleep(0.05)
        # The planted (old) cookie collects nothing...
        assert (await stranger.call("POST", "/pair/complete"))[0] == 409
        # ...nor does the victim's new cookie from another address.
        thief = Phone(base, "127.0.9.6")
        _plant(thief, base, _cookie(victim))
        thief.csrf = victim.csrf
        assert (await thief.call("POST", "/pair/complete"))[0] == 409
        await thief.close()
        status, body = await victim.call("POST", "/pair/complete")
        assert status == 200, body
        await victim.refresh_csrf()
        assert (await victim.call("GET", "/api/status"))[0] == 200
    finally:
        await victim.close()
        await stranger.close()


async def test_waiting_requests_are_limited_per_address_and_box_wide(box):
    base, _panel, _store = box
    phones = [Phone(base, f"127.0.8.{1 + i // 2}") for i in range(8)]
    third, fifth = Phone(base, "127.0.8.1"), Phone(base, "127.0.8.5")
    phones += [third, fifth]
    try:
        answers = [await p.ask() for p in phones[:8]]  # 2 from each of 4 addresses
        assert [s for s, _ in answers] == [200] * 8
        codes = {tuple(body["data"]["challenge"]) for _, body in answers}
        assert len(codes) == 8  # every waiting browser has a code of its own
        status, body = await third.ask()  # a third from one address
        assert status == 429 and body["error"]["code"] == "rate_limited"
        status, body = await fifth.ask()  # a fifth address: the box is full
        assert status == 429 and body["error"]["code"] == "pairing_busy"
        assert int(body["error"]["message"].split("again in ")[1].split(" s")[0]) > 0
    finally:
        for p in phones:
            await p.close()
