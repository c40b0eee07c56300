"""A Spotify stand-in on loopback: accounts service, Web API and virtual Connect speakers.

    sim = SpotifySim()
    await sim.start()                      # 127.0.0.1, a free port
    config: accounts_url=sim.accounts_url, api_url=sim.api_url, client_id=sim.client_id
    sim.inject("POST", r"/me/player/next$", 502, applied=True)   # the skip happens, then 502
    sim.requests                           # [(method, path, query, json, status, t), ...]

State lives in this object, so `stop()` then `start(port=same)` is a Spotify
outage that the box must ride out. `GET /sim/state` returns `state()` as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession, web

from appliance.standins import spotify_accounts, spotify_webapi
from appliance.standins.catalog import CatalogTrack, catalog
from appliance.standins.serving import Served
from appliance.standins.spotify_json import SIM_KEY, error
from appliance.standins.spotify_player import SimPlayer, SimSpeaker
from appliance.standins.spotify_rules import Rules, not_registered, registered, reshape

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "5f1c0ffee0ddba11ab1e5eed0123cafe"
MOOD_PLAYLISTS = {  # name -> (valence range, energy range)
    "Happy Vibes": ((0.6, 1.0), (0.5, 1.0)),
    "Sad Songs": ((0.0, 0.4), (0.0, 0.5)),
    "Angry Energy": ((0.0, 0.4), (0.6, 1.0)),
    "Neutral Focus": ((0.35, 0.65), (0.3, 0.6)),
    "Surprise Mix": ((0.5, 1.0), (0.7, 1.0)),
}


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    reason: str | None
    retry_after: str | None
    times: int
    applied: bool
    message: str
    delay: float = 0.0


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SpotifySim:
    """The whole stand-in; tests drive it through its attributes and helpers."""

    def __init__(self, *, clock: Callable[[], float] | None = None, speed: float = 1.0,
                 kitchen_sleeps_after: float | None = 2700.0,
                 tracks: tuple[CatalogTrack, ...] | None = None) -> None:
        self.client_id = DEFAULT_CLIENT_ID
        self.clients: dict[str, set[str] | None] = {DEFAULT_CLIENT_ID: None}
        self.wall: Callable[[], float] = time.time
        self.access_ttl = 3600.0
        self.refresh_max_age: float | None = None  # Spotify: 6 months since authorization
        self.rotate_refresh = True
        self.retire_rotated = True
        self.granted_scopes: str | None = None  # grant fewer scopes than asked (tests)
        self.login_as = "alice"
        self.codes: dict[str, spotify_accounts.PendingCode] = {}
        self.access_tokens: dict[str, tuple[spotify_accounts.Grant, float]] = {}
        self.refresh_tokens: dict[str, spotify_accounts.Grant] = {}
        self.token_refreshes = 0
        all_tracks = tracks or catalog()
        self.player = SimPlayer({t.id: t for t in all_tracks}, clock=clock, speed=speed)
        self.player.add_speaker(SimSpeaker("Living Room", volume=30))
        self.player.add_speaker(SimSpeaker("Kitchen", sleeps_after=kitchen_sleeps_after))
        self.player.add_speaker(SimSpeaker("Neighbour's TV", type="TV", is_restricted=True))
        self.playlists = self._mood_playlists(all_tracks)
        saved = [t.id for t in all_tracks[::3]]
        self.accounts: dict[str, dict[str, Any]] = {
            name: {"display_name": display, "premium": premium, "saved": list(saved),
                   "playlists": self.playlists}
            for name, display, premium in (("alice", "Alice", True), ("bob", "Bob", True),
                                           ("carol", "Carol (Free)", False))}
        # Household members beyond the five a Development Mode app may have (five_users rule).
        for name, display in (("dave", "Dave"), ("erin", "Erin"), ("frank", "Frank")):
            self.accounts[name] = {"display_name": display, "premium": True,
                                   "saved": list(saved), "playlists": self.playlists}
        self.rules = Rules()
        self.foreign: str | None = None  # "episode" or "ad": someone else's audio is on
        self.requests: list[tuple[str, str, dict[str, str], Any, int, float]] = []
        self.injections: list[Injection] = []
        self.removed_calls = 0
        self._served = Served()
        self._ticker: asyncio.Task[None] | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # -- catalogue ------------------------------------------------------------------

    @staticmethod
    def _mood_playlists(tracks: tuple[CatalogTrack, ...]) -> list[dict[str, Any]]:
        out = []
        for i, (name, ((v0, v1), (e0, e1))) in enumerate(MOOD_PLAYLISTS.items()):
            ids = [t.id for t in tracks if v0 <= t.valence <= v1 and e0 <= t.energy <= e1]
            out.append({"id": f"{i:02d}simMoodPlaylist{i:06d}"[:22], "name": name,
                        "tracks": ids[:40]})
        # An editorial list the accounts follow: Spotify owns it (dev_mode refuses its items).
        out.append({"id": "99simEverything0000000", "name": "Everything", "owner": "spotify",
                    "tracks": [t.id for t in tracks[:150]]})
        return out

    def playlist(self, playlist_id: str) -> dict[str, Any] | None:
        """The stand-in playlist with this id."""
        return next((p for p in self.playlists if p["id"] == playlist_id), None)

    def context_tracks(self, account: str, context_uri: str) -> list[str]:
        """Track ids of a `spotify:playlist:` context."""
        if context_uri.startswith("spotify:playlist:"):
            pl = self.playlist(context_uri.rsplit(":", 1)[-1])
            return list(pl["tracks"]) if pl else []
        return []

    # -- server -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """http://host:port of the stand-in."""
        return f"http://{self.host}:{self.port}"

    @property
    def accounts_url(self) -> str:
        """Base URL of the accounts part (`/authorize`, `/api/token`)."""
        return self.base_url

    @property
    def api_url(self) -> str:
        """Base URL of the Web API part, ending in `/v1/`."""
        return f"{self.base_url}/v1/"

    def make_app(self) -> web.Application:
        """The aiohttp app of the stand-in."""
        app = web.Application(middlewares=[self._middleware])
        app[SIM_KEY] = self
        spotify_accounts.add_routes(app)
        spotify_webapi.add_routes(app)
        app.router.add_get("/sim/state", self._state_handler)
        app.router.add_post("/sim/wake", self._wake_handler)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on `host:port` (0: a free port; keep `self.port` to restart on it)."""
        self.host = host
        self.port = await self._served.start(self.make_app(), host, port or self.port or 0,
                                             reuse_address=True)
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        """Stop serving (state is kept; `start(port=self.port)` resumes)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._served.stop()

    async def _tick_loop(self) -> None:
        while True:
            self.player.tick()
            await asyncio.sleep(0.05)

    # -- faults and the request log -------------------------------------------------

    def inject(self, method: str, path_pattern: str, status: int, reason: str | None = None,
               retry_after: float | str | None = None, times: int = 1, *,
               applied: bool = False, message: str = "", delay: float = 0.0) -> None:
        """Answer the next `times` matching calls with `status` (after running them if `applied`).

        `path_pattern` is a regular expression searched in the path (e.g. r"/me/player/next$").
        `status=0` keeps the real answer; `delay` holds the answer back that many seconds
        (past the client's timeout: a read timeout, with the command run when `applied`).
        """
        self.injections.append(Injection(
            method.upper(), re.compile(path_pattern), status, reason,
            None if retry_after is None else str(retry_after), times, applied,
            message or _default_message(status), delay))

    def calls(self, method: str, path: str) -> list[tuple[str, str, dict[str, str], Any, int,
                                                          float]]:
        """Logged requests with this method and exact path."""
        return [r for r in self.requests if r[0] == method and r[1] == path]

    def _match(self, method: str, path: str) -> Injection | None:
        for inj in self.injections:
            if inj.times > 0 and inj.method in (method, "*") and inj.pattern.search(path):
                inj.times -= 1
                return inj
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read() if request.can_read_body else b""
        body: Any = None
        if raw and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
        elif raw:
            body = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()
                    if k not in ("code", "refresh_token", "code_verifier")}
        query = dict(request.query)
        try:
            resp = await self._dispatch(request, handler)
        except web.HTTPException as exc:  # redirects of the authorize page
            self.requests.append((request.method, request.path, query, body, exc.status,
                                  self.player.clock()))
            raise
        self.requests.append((request.method, request.path, query, body, resp.status,
                              self.player.clock()))
        return resp

    async def _dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return reshape(request, await self._answer(request, handler), self.rules)

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        members = registered(self.accounts, self.rules)
        if members is not None and request.path.startswith("/v1/"):
            account, _ = spotify_accounts.bearer_account(request)
            if account is not None and account not in members:
                return not_registered()
        removed = spotify_webapi.removed_status(request.path)
        if removed is not None:
            self.removed_calls += 1
            return error(removed, "Forbidden" if removed == 403 else "Service not found")
        inj = self._match(request.method, request.path)
        if inj is None:
            return await handler(request)
        resp = await handler(request) if inj.applied or not inj.status else None
        if inj.delay:
            await asyncio.sleep(inj.delay)
        return resp if resp is not None and not inj.status else self._injected(inj)

    @staticmethod
    def _injected(inj: Injection) -> web.Response:
        headers = {"Retry-After": inj.retry_after} if inj.retry_after is not None else None
        if inj.status >= 500 and inj.status != 503 and not inj.reason:
            return web.Response(status=inj.status, text="<html>Bad gateway</html>",
                                content_type="text/html", headers=headers)
        return error(inj.status, inj.message, inj.reason, headers)

    # -- helpers for tests and the /sim page ---------------------------------------

    def wake(self, name: str) -> None:
        """Bring a sleeping speaker back into the device list."""
        self.player.wake(name)

    def sleep(self, name: str) -> None:
        """Make a speaker leave the device list now."""
        self.player.sleep(name)

    def change_device_id(self, name: str) -> str:
        """Give a speaker a new device id (as happens after a firmware update); the new id."""
        sp = self.player.speaker(name)
        assert sp is not None
        was_active = self.player.active_id == sp.id
        sp.generation += 1
        if was_active:
            self.player.active_id = sp.id
        return sp.id

    def speaker_id(self, name: str) -> str:
        """The current device id of the speaker named `name`."""
        sp = self.player.speaker(name)
        assert sp is not None
        return sp.id

    def play_podcast(self, name: str | None = None) -> None:
        """Someone starts a podcast from the Spotify app (on `name`, else the active speaker)."""
        self._foreign("episode", name)

    def play_ad(self, name: str | None = None) -> None:
        """An advertisement plays on the speaker (a Free account shares it)."""
        self._foreign("ad", name)

    def stop_foreign(self) -> None:
        """The podcast or ad is over; the speaker is back to what the box plays."""
        self.foreign = None

    def _foreign(self, kind: str, name: str | None) -> None:
        sp = self.player.speaker(name) if name else self.player.active()
        sp = sp or next(iter(self.player.visible()), None)
        assert sp is not None, "no speaker to play on"
        self.player.pause()
        self.player.transfer(sp, play=False)
        self.foreign = kind

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired (the next call gets 401)."""
        self.access_tokens = {k: (g, 0.0) for k, (g, _) in self.access_tokens.items()}

    async def approve(self, auth_url: str, *, account: str | None = None,
                      decision: str = "approve") -> str:
        """Act as the user on the authorize page; the address Spotify redirects to."""
        parts = urlsplit(auth_url)
        fields = {k: v[0] for k, v in parse_qs(parts.query).items()}
        async with ClientSession() as http:
            async with http.get(f"{self.base_url}/authorize", params=fields) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"authorize page refused: {await resp.text()}")
            fields.update({"decision": decision, "account": account or self.login_as})
            async with http.post(f"{self.base_url}/authorize", data=fields,
                                 allow_redirects=False) as resp:
                if resp.status != 302:
                    raise RuntimeError(f"authorize decision refused: {await resp.text()}")
                return resp.headers["Location"]

    def state(self) -> dict[str, Any]:
        """Speakers, what plays, the queue and the recent API calls (for the /sim page)."""
        snap = self.player.snapshot()
        snap["recent_calls"] = [{"method": m, "path": p, "status": s, "t": round(t, 3)}
                                for m, p, _q, _b, s, t in self.requests[-30:]]
        snap["volume_log"] = {s.name: [[round(t, 3), v] for t, v in s.volume_log[-40:]]
                              for s in self.player.speakers}  # (clock, percent): fades
        snap["rules"] = self.rules.switches()
        snap["refuse_play"] = sorted(self.rules.refuse_play)
        snap["foreign"] = self.foreign
        snap["injections"] = [{"method": i.method, "pattern": i.pattern.pattern,
                               "status": i.status, "times": i.times}
                              for i in self.injections if i.times > 0]
        return snap

    async def _state_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _wake_handler(self, request: web.Request) -> web.Response:
        self.wake(request.query.get("name", ""))
        return web.json_response(self.state())


def _default_message(status: int) -> str:
    return {429: "API rate limit exceeded", 502: "Bad gateway.", 503: "Service unavailable",
            404: "Player command failed: No active device found",
            403: "Player command failed: Premium required", 401: "The access token expired",
            500: "Server error."}.get(status, "Error")
