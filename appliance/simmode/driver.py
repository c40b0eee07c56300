"""A phone's part of the setup, over HTTP, for the simulator: claim, sign in, link, speaker.

`BoxDriver` is what the soak benchmark (and anyone scripting `mooddj run --sim`)
uses to take a fresh box through setup the way a person would: it keeps the
session cookie, sends the CSRF token, plays the user at the identity and
Spotify stand-ins, then switches the simulated camera and the manual mood.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

logger = logging.getLogger(__name__)

PairCode = Callable[[], Awaitable[str]]


class DriverError(Exception):
    """A setup step failed; the message names the step and the box's answer."""


class BoxDriver:
    """One browser session against the box at `base`, with the stand-ins at `control`."""

    def __init__(self, base: str, control: str, *, timeout: float = 20.0) -> None:
        self.base = base.rstrip("/")
        self.control = control.rstrip("/")
        self.timeout = timeout
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=timeout))
        self.csrf = ""
        self.user_id = ""

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()

    async def __aenter__(self) -> BoxDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing -------------------------------------------------------------------

    async def refresh_csrf(self) -> str:
        """Fetch the CSRF token of the current session (it changes when the session does)."""
        data = await self._json("GET", "/api/csrf", step="csrf")
        self.csrf = data["csrfToken"]
        return self.csrf

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one JSON request to the box; (status, parsed body or None)."""
        headers = {"Accept": "application/json", "Origin": self.base}
        if method != "GET":
            headers["X-CSRF-Token"] = self.csrf or await self.refresh_csrf()
        async with self.http.request(method, self.base + path, json=json, params=params,
                                     headers=headers, allow_redirects=False) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    async def _json(self, method: str, path: str, *, step: str, json: Any = None,
                    params: dict[str, str] | None = None) -> Any:
        status, body = await self.request(method, path, json=json, params=params)
        if status >= 400 or not isinstance(body, dict) or "data" not in body:
            raise DriverError(f"{step}: {method} {path} answered {status}: {_error_text(body)}")
        return body["data"]

    # -- setup steps ---------------------------------------------------------------------

    async def pair(self, pair_code: PairCode | None = None) -> str:
        """Claim/pair this browser: ask, press its code on the virtual panel, collect.

        Without a virtual panel (404, or 403 for an unpaired browser), `pair_code()`
        supplies a one-time code (e.g. from `mooddj pair`). Returns "button" or "code".
        """
        await self.refresh_csrf()
        asked = await self._json("POST", "/pair/request", json={}, step="pair request")
        self.csrf = str(asked.get("csrfToken") or self.csrf)  # asking rotates the cookie
        status, body = await self._press_code(asked)
        if status < 400:
            await self._wait_pair_approved()
            await self._json("POST", "/pair/complete", json={}, step="pair complete")
            how = "button"
        elif pair_code is not None and status in (403, 404, 405, 503):
            code = await pair_code()
            await self._json("POST", "/pair/code", json={"code": code}, step="pair code")
            how = "code"
        else:
            raise DriverError(f"pair: the virtual panel answered {status}: "
                              f"{_error_text(body)}")
        await self.refresh_csrf()
        return how

    async def _press_code(self, asked: dict[str, Any]) -> tuple[int, Any]:
        """Press the code the box showed on the virtual panel (a Play hold first once
        claimed); the first refused press answers for all."""
        presses = [("play", "hold")] if asked.get("holdFirst") else []
        presses += [(name, "press") for name in asked.get("challenge") or []]
        status, body = 200, None
        for name, action in presses:
            status, body = await self.request("POST", f"/api/panel/buttons/{name}",
                                              json={"action": action})
            if status >= 400:
                break
        return status, body

    async def _wait_pair_approved(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            data = await self._json("GET", "/pair/status", step="pair status")
            if data.get("state") in ("approved", "paired"):
                return
            await asyncio.sleep(0.2)
        raise DriverError("pair: the code on the buttons did not approve this browser")

    async def sign_in(self, provider: str = "google", *, email: str = "alex@example.org",
                      name: str = "Alex") -> str:
        """Device-flow sign-in, approved at the identity stand-in; returns the user id."""
        flow = await self._json("POST", f"/auth/{provider}/login", json={}, step="sign-in start")
        async with self.http.post(f"{self.control}/sim/identity/approve",
                                  params={"code": flow["userCode"], "email": email,
                                          "name": name, "subject": f"sim-{email}"}) as resp:
            if resp.status != 200:
                raise DriverError(f"sign-in: the identity stand-in refused the approval "
                                  f"({resp.status})")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            data = await self._json("GET", f"/auth/{provider}/status",
                                    params={"flowId": flow["flowId"]}, step="sign-in status")
            if data.get("state") == "approved":
                self.user_id = str(data.get("userId") or "")
                await self.refresh_csrf()
                return self.user_id
            if data.get("state") not in ("pending", "slow_down"):
                raise DriverError(f"sign-in ended as {data.get('state')}: {data.get('message')}")
            await asyncio.sleep(0.3)
        raise DriverError("sign-in: the flow was not approved in time")

    async def link_spotify(self, account: str = "alice") -> None:
        """Link the stand-in's Spotify account through the loopback callback."""
        data = await self._json("POST", "/platforms/spotify/connect", json={},
                                step="spotify connect")
        auth_url = data["authUrl"]
        parts = urlsplit(auth_url)
        fields = {k: v[0] for k, v in parse_qs(parts.query).items()}
        authorize = f"{parts.scheme}://{parts.netloc}{parts.path}"
        async with self.http.get(authorize, params=fields) as resp:
            if resp.status != 200:
                raise DriverError(f"spotify: the authorize page answered {resp.status}")
        fields.update({"decision": "approve", "account": account})
        async with self.http.post(authorize, data=fields, allow_redirects=False) as resp:
            location = resp.headers.get("Location", "")
            if resp.status != 302 or not location:
                raise DriverError(f"spotify: the consent answered {resp.status}")
        async with self.http.get(location, headers={"Accept": "application/json"},
                                 allow_redirects=False) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            if resp.status not in (200, 303) or (body and "error" in body):
                raise DriverError(f"spotify: the callback answered {resp.status}: "
                                  f"{_error_text(body)}")

    async def choose_speaker(self, name: str = "Living Room", volume: int = 40) -> str:
        """Pick the speaker by name; returns its device id."""
        data = await self._json("GET", "/api/speakers", params={"refresh": "1"},
                                step="speaker list")
        device = next((s for s in data["speakers"] if s["name"] == name), None)
        if device is None:
            names = ", ".join(s["name"] for s in data["speakers"]) or "none"
            raise DriverError(f"speaker {name!r} is not in the list ({names})")
        await self._json("POST", "/api/speakers", json={"id": device["id"], "volume": volume},
                         step="speaker choice")
        return str(device["id"])

    async def setup(self, pair_code: PairCode | None = None) -> dict[str, str]:
        """The whole setup journey; what was done."""
        how = await self.pair(pair_code)
        user_id = await self.sign_in()
        await self.link_spotify()
        device = await self.choose_speaker()
        return {"paired_by": how, "user_id": user_id, "speaker": device}

    # -- driving the room ------------------------------------------------------------

    async def set_camera(self, recording: str) -> None:
        """Switch the simulated camera ("face" or "empty")."""
        await self._json("POST", "/api/sim/camera", json={"recording": recording},
                         step="camera switch")

    async def set_mood(self, mood: str | None, minutes: float = 1.0) -> None:
        """Choose a mood by hand for `minutes` (None: back to the camera's mood)."""
        await self._json("POST", "/api/mood", json={"mood": mood, "minutes": minutes},
                         step="manual mood")

    async def sim_state(self) -> dict[str, Any]:
        """The stand-ins' state (what plays, plays so far)."""
        async with self.http.get(f"{self.control}/sim/state") as resp:
            if resp.status != 200:
                raise DriverError(f"the stand-ins' state answered {resp.status}")
            data: dict[str, Any] = await resp.json()
            return data


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"{err.get('code')}: {err.get('message')}"
    return "no JSON error"
