"""All stand-ins together, as `mooddj run --sim` uses them: identity, Spotify, features.

They run in their own process (`python -m appliance.standins`), so the box's own
process is measured alone and a test can stop, restart or break them while the
box keeps running. A control server serves the `/sim` page (speakers, what
plays, recent API calls) and the JSON the box reads to point itself at them.
Spotify's grants are saved to a state file, so a restarted stand-in still
knows the box's tokens, as the real service would.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import pickle
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.standins.features import FeaturesSim
from appliance.standins.identity import IdentitySim
from appliance.standins.serving import Served
from appliance.standins.spotify_rules import Rules
from appliance.standins.spotify_server import SpotifySim

logger = logging.getLogger(__name__)

SIM_SPOTIFY_CLIENT_ID = "mooddj-sim-client"
_KEPT_REQUESTS = 500  # the request logs are trimmed so a long run does not grow


class SimStack:
    """Start with `await stack.start()`; `stack.info()` is what the box needs."""

    def __init__(self, *, state_file: Path | None = None, identity_interval: float = 2.0,
                 control_port: int = 0, spotify_port: int = 0, speed: float = 1.0) -> None:
        self.state_file = state_file
        self.identity = IdentitySim(interval=identity_interval, expires_in=600,
                                    enforce_interval=False)
        self.spotify = SpotifySim(speed=speed)  # speed > 1: tracks end sooner (soak runs)
        self.spotify.clients[SIM_SPOTIFY_CLIENT_ID] = None
        self.features = FeaturesSim()
        self.control_port = control_port
        self.spotify_port = spotify_port
        self._served = Served()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.plays_trimmed = 0  # play events dropped from the history by housekeeping

    async def start(self) -> dict[str, Any]:
        """Start every stand-in and the control server; returns `info()`."""
        self._load_state()
        await self.identity.start("127.0.0.1", 0)
        await self.spotify.start("127.0.0.1", self.spotify_port)
        await self.features.start()
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/sim", self._page)
        app.router.add_get("/sim/config", self._config)
        app.router.add_get("/sim/state", self._state)
        app.router.add_post("/sim/spotify/outage", self._outage)
        app.router.add_post("/sim/spotify/wake", self._wake)
        app.router.add_post("/sim/spotify/rules", self._rules)
        app.router.add_post("/sim/spotify/foreign", self._foreign)
        app.router.add_post("/sim/identity/fail", self._identity_fail)
        app.router.add_post("/sim/identity/approve", self._identity_approve)
        app.router.add_post("/sim/spotify/apps", self._spotify_app)
        self.control_port = await self._served.start(app, "127.0.0.1", self.control_port)
        self._spawn(self._housekeeping())
        return self.info()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._save_state()
        for part in (self.features, self.spotify, self.identity):
            with contextlib.suppress(Exception):
                await part.stop()
        await self._served.stop()

    def info(self) -> dict[str, Any]:
        """Addresses, and the config values that point the box at the stand-ins."""
        control = f"http://127.0.0.1:{self.control_port}"
        return {
            "sim": f"{control}/sim",
            "control": control,
            "identity": self.identity.base_url,
            "spotify": self.spotify.base_url,
            "features": self.features.base_url,
            "config": {
                "identity": self.identity.identity_config(),
                "spotify": {"client_id": SIM_SPOTIFY_CLIENT_ID,
                            "accounts_url": self.spotify.accounts_url,
                            "api_url": self.spotify.api_url},
                "features": {"provider": "reccobeats",
                             "reccobeats_url": self.features.reccobeats_url},
            },
        }

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(5)
            for log in (self.spotify.requests, self.identity.requests, self.features.requests):
                if len(log) > _KEPT_REQUESTS:
                    del log[: len(log) - _KEPT_REQUESTS]
            self._trim_player()
            self._save_state()

    def _trim_player(self) -> None:
        player = self.spotify.player
        extra = len(player.history) - _KEPT_REQUESTS
        if extra > 0:
            del player.history[:extra]
            self.plays_trimmed += extra
        for speaker in player.speakers:
            if len(speaker.volume_log) > _KEPT_REQUESTS:
                del speaker.volume_log[: len(speaker.volume_log) - _KEPT_REQUESTS]

    # -- Spotify grants survive a restart of the stand-in --------------------------

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        sp = self.spotify
        data = {"refresh_tokens": sp.refresh_tokens, "access_tokens": sp.access_tokens}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_bytes(pickle.dumps(data))
        tmp.replace(self.state_file)

    def _load_state(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            # Our own file, written by _save_state in the user's state dir.
            data = pickle.loads(self.state_file.read_bytes())  # noqa: S301
        except Exception as err:  # a damaged sim state only costs a re-link
            logger.warning("ignoring unreadable stand-in state %s: %s", self.state_file, err)
            return
        self.spotify.refresh_tokens.update(data.get("refresh_tokens", {}))
        self.spotify.access_tokens.update(data.get("access_tokens", {}))

    # -- control endpoints (loopback only: the stand-ins listen on 127.0.0.1) --------

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response(self.info())

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        player = self.spotify.player
        return {"spotify": self.spotify.state(),
                "plays": self.plays_trimmed + len(player.history),  # tracks started so far
                "speed": player.speed,
                "identity": {"pending_codes": len(self.identity.pending_codes()),
                             "requests": len(self.identity.requests)},
                "features": {"requests": len(self.features.requests)},
                "t": time.time()}

    async def _outage(self, request: web.Request) -> web.Response:
        """Stop the Spotify stand-in for `seconds`, then start it again on the same port."""
        seconds = float(request.query.get("seconds", "30"))
        await self.spotify.stop()

        async def back() -> None:
            await asyncio.sleep(seconds)
            await self.spotify.start("127.0.0.1", self.spotify.port)
            logger.info("Spotify stand-in back after %.0f s", seconds)

        self._spawn(back())
        return web.json_response({"down_for": seconds})

    async def _wake(self, request: web.Request) -> web.Response:
        self.spotify.wake(request.query.get("name", "Kitchen"))
        return web.json_response(self.spotify.state())

    async def _rules(self, request: web.Request) -> web.StreamResponse:
        """Switch a real-service rule: `?name=dev_mode&on=1`, or `?preset=real` / `off`."""
        q = {**request.query, **(await request.post())}
        preset = q.get("preset")
        if preset in ("real", "off"):
            keep = self.spotify.rules.refuse_play
            self.spotify.rules = Rules.real() if preset == "real" else Rules()
            self.spotify.rules.refuse_play = keep
        elif "refuse_play" in q:
            self.spotify.rules.refuse_play = {t for t in str(q["refuse_play"]).split(",") if t}
        else:
            try:
                self.spotify.rules.set(str(q.get("name", "")), q.get("on") in ("1", "true", "on"))
            except KeyError:
                return web.json_response({"error": "unknown rule", "rules": list(
                    self.spotify.rules.switches())}, status=400)
        return self._back(request, {"rules": self.spotify.rules.switches()})

    async def _foreign(self, request: web.Request) -> web.StreamResponse:
        """Someone else's audio on the speaker: `?what=episode`, `ad` or `off`."""
        q = {**request.query, **(await request.post())}
        what = q.get("what", "off")
        if what == "episode":
            self.spotify.play_podcast(str(q.get("speaker") or "") or None)
        elif what == "ad":
            self.spotify.play_ad(str(q.get("speaker") or "") or None)
        else:
            self.spotify.stop_foreign()
        return self._back(request, {"foreign": self.spotify.foreign})

    @staticmethod
    def _back(request: web.Request, data: dict[str, Any]) -> web.StreamResponse:
        if request.content_type == "application/x-www-form-urlencoded":
            raise web.HTTPSeeOther("/sim")
        return web.json_response(data)

    async def _identity_fail(self, request: web.Request) -> web.Response:
        status = int(request.query.get("status", "500"))
        count = int(request.query.get("count", "5"))
        endpoint = request.query.get("endpoint", "token")
        if endpoint not in ("device", "token", "jwks", "api"):
            return web.json_response({"error": "endpoint is device, token, jwks or api"},
                                     status=400)
        self.identity.fail_next(status, count, endpoint=endpoint)
        return web.json_response({"failing": count, "status": status, "endpoint": endpoint})

    async def _spotify_app(self, request: web.Request) -> web.Response:
        """The developer dashboard's "Create app": a new 32-hex Client ID for one redirect URI."""
        form = await request.post()
        redirect_uri = str(form.get("redirect_uri") or request.query.get("redirect_uri") or "")
        if not redirect_uri:
            return web.json_response({"error": "redirect_uri is required"}, status=400)
        client_id = secrets.token_hex(16)
        self.spotify.clients[client_id] = {redirect_uri}
        return web.json_response({"client_id": client_id, "redirect_uris": [redirect_uri]})

    async def _identity_approve(self, request: web.Request) -> web.Response:
        code = request.query.get("code", "")
        self.identity.approve(code, subject=request.query.get("subject", "sim-user-1"),
                              email=request.query.get("email", "alex@example.org"),
                              name=request.query.get("name", "Alex"))
        return web.json_response({"approved": code})

    def _rules_html(self) -> str:
        """The switches of the real-service rules, and someone else's audio."""
        rules = self.spotify.rules
        rows = "".join(
            f'<tr><td>{name.replace("_", " ")}</td><td>{"on" if on else "off"}</td><td>'
            f'<form method="post" action="/sim/spotify/rules"><input type="hidden" '
            f'name="name" value="{name}"><input type="hidden" name="on" '
            f'value="{"0" if on else "1"}"><button>{"switch off" if on else "switch on"}'
            f'</button></form></td></tr>' for name, on in rules.switches().items())
        foreign = html.escape(str(self.spotify.foreign or "nothing"))
        buttons = "".join(
            f'<form method="post" action="/sim/spotify/foreign" style="display:inline">'
            f'<input type="hidden" name="what" value="{w}"><button>{label}</button></form> '
            for w, label in (("episode", "someone plays a podcast"), ("ad", "an ad plays"),
                             ("off", "stop it")))
        return (f'<h2>Real Spotify rules</h2><p>As a Development Mode app meets them '
                f'(tests/contracts/SOURCES.md). <form method="post" '
                f'action="/sim/spotify/rules" style="display:inline"><input type="hidden" '
                f'name="preset" value="real"><button>all real</button></form> <form '
                f'method="post" action="/sim/spotify/rules" style="display:inline"><input '
                f'type="hidden" name="preset" value="off"><button>all off</button></form></p>'
                f'<table id="rules">{rows}</table><p id="foreign">Someone else\'s audio: '
                f'{foreign}. {buttons}</p>')

    async def _page(self, request: web.Request) -> web.Response:
        st = self.spotify.state()
        e = html.escape
        track = st.get("track") or {}
        speakers = "".join(
            f"<tr><td>{e(s['name'])}</td><td>{'asleep' if s['asleep'] else 'awake'}"
            f"{' · restricted' if s['restricted'] else ''}</td><td>{s['volume']}%</td></tr>"
            for s in st.get("speakers", []))
        calls = "".join(
            f"<tr><td>{e(c['method'])}</td><td>{e(c['path'])}</td><td>{c['status']}</td>"
            f"<td>{time.monotonic() - c['t']:.0f} s ago</td></tr>"
            for c in reversed(st.get("recent_calls", [])))
        queue = "".join(f"<li>{e(n)}</li>" for n in st.get("queue", [])) or "<li>empty</li>"
        playing = (f"{e(track.get('name', ''))} — {e(track.get('artists', ''))}"
                   if track else "nothing")
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="3"><title>MoodDJ stand-ins</title>
<style>body{{font:15px system-ui,sans-serif;margin:1rem;max-width:46rem;overflow-wrap:anywhere}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left}}h2{{margin-top:1.4rem}}</style></head><body>
<h1>Stand-ins</h1><p>Identity: {e(self.identity.base_url)} · Spotify: {e(self.spotify.base_url)}
· Features: {e(self.features.base_url)}</p>
<h2>Now playing</h2><p id="playing">{playing} on {e(str(st.get('active_device') or '-'))}
({'playing' if st.get('is_playing') else 'paused'})</p>
<h2>Queue</h2><ol>{queue}</ol>
<h2>Speakers</h2><table>{speakers}</table>
{self._rules_html()}
<h2>Recent Spotify API calls</h2><table><tr><th>method</th><th>path</th><th>status</th>
<th>time</th></tr>{calls}</table></body></html>"""
        return web.Response(text=body, content_type="text/html")
