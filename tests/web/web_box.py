"""The web tests' box and browser: a real setup page and a cookie-keeping HTTP client.

In a module of its own (not conftest) so test files can import them however
pytest is started: two folders' conftest modules would clash on one name.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
from polling import eventually
from yarl import URL

from appliance.core.bus import Bus, PairingChecked, PairingEntered
from appliance.core.config import Config, from_dict
from appliance.core.store import Store
from appliance.standins.identity import IdentitySim
from appliance.web.service import WebService


@dataclass
class Box:
    base: str
    port: int
    bus: Bus
    store: Store
    sim: IdentitySim
    service: WebService
    config: Config


class Browser:
    """A cookie-keeping HTTP client standing in for one phone's browser."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    def cookie(self) -> str:
        for c in self.http.cookie_jar:
            if c.key == "mooddj_session":
                return c.value
        return ""

    def set_cookie(self, value: str) -> None:
        """Replace the session cookie (replaying or forging one)."""
        self.http.cookie_jar.clear()
        self.http.cookie_jar.update_cookies({"mooddj_session": value},
                                            response_url=URL(self.box.base))

    async def refresh_csrf(self) -> str:
        async with self.http.get(self.box.base + "/api/csrf") as r:
            self.csrf = (await r.json())["data"]["csrfToken"]
        return self.csrf

    async def get(self, path: str, *, html: bool = False, **kw: Any) -> aiohttp.ClientResponse:
        headers = kw.pop("headers", {})
        if html:
            headers.setdefault("Accept", "text/html")
        r = await self.http.get(self.box.base + path, headers=headers, **kw)
        await r.read()
        return r

    async def send(self, method: str, path: str, *, csrf: bool = True, json: Any = None,
                   **kw: Any) -> aiohttp.ClientResponse:
        headers = kw.pop("headers", {})
        if csrf:
            if not self.csrf:
                await self.refresh_csrf()
            headers.setdefault("X-CSRF-Token", self.csrf)
        r = await self.http.request(method, self.box.base + path, headers=headers, json=json,
                                    **kw)
        await r.read()
        return r

    async def post(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.send("POST", path, **kw)

    async def delete(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.send("DELETE", path, **kw)

    async def ask_to_pair(self) -> dict[str, Any]:
        """POST /pair/request; keeps the new CSRF token (asking rotates the cookie)."""
        if not self.csrf:
            await self.refresh_csrf()
        r = await self.post("/pair/request")
        assert r.status == 200, await r.text()
        data = (await r.json())["data"]
        self.csrf = data.get("csrfToken") or self.csrf
        return data

    async def enter_code(self, presses: Any) -> bool:
        """What the panel publishes once a whole code was pressed on the buttons; returns
        once a box has checked it (`PairingChecked`): True if it approved a browser."""
        with self.box.bus.subscribe(PairingChecked, name="test-enter-code") as checked:
            self.box.bus.publish(PairingEntered(presses=tuple(presses)))
            event = await asyncio.wait_for(checked.get(), 5.0)
        assert isinstance(event, PairingChecked)
        return event.approved

    async def pair_with_button(self) -> None:
        """Ask, enter this browser's code on the (simulated) buttons, collect the approval."""
        await self.refresh_csrf()
        data = await self.ask_to_pair()
        await self.enter_code(data["challenge"])

        async def approved() -> bool:
            r = await self.get("/pair/status")
            return bool((await r.json())["data"]["state"] == "approved")

        # (a test may run two boxes on one bus: this one's answer is the page's)
        await eventually(approved, what="this browser approved")
        r = await self.post("/pair/complete")
        assert r.status == 200, await r.text()
        await self.refresh_csrf()

    async def sign_in(self, provider: str = "google", *, email: str = "alex@example.com",
                      name: str = "Alex Example", subject: str | None = None) -> dict[str, Any]:
        """The whole device flow through the API, approved on the stand-in."""
        r = await self.post(f"/auth/{provider}/login")
        assert r.status == 200, await r.text()
        start = (await r.json())["data"]
        self.box.sim.approve(start["userCode"], email=email, name=name, subject=subject,
                             provider=provider)
        data = await self.wait_flow(provider, start["flowId"])
        await self.refresh_csrf()
        return data

    async def wait_flow(self, provider: str, flow_id: str, timeout: float = 10.0
                        ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            r = await self.get(f"/auth/{provider}/status?flowId={flow_id}")
            assert r.status == 200, await r.text()
            data = (await r.json())["data"]
            if data["state"] != "pending":
                return data
            assert loop.time() < end, "sign-in did not finish"
            await asyncio.sleep(0.05)


def make_config(tmp_path, sim: IdentitySim, **web: Any) -> Config:
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": 8080, "mdns": False, "max_body_bytes": 4096, **web},
        "identity": sim.identity_config(),
    })
