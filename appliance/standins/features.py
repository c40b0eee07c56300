"""A features stand-in on loopback speaking ReccoBeats' and SoundNet's shapes.

`GET /v1/audio-features?ids=a,b` answers `{"content": [...]}` for the catalog
tracks it knows (unknown ids are left out, as ReccoBeats does), items keyed by
a ReccoBeats-style UUID with the Spotify id only in `href`. It answers for at
most 40 ids a call and leaves the rest out (the cap third-party clients report;
no reply to more than 40 ids is recorded anywhere, so nothing else is made up:
see tests/contracts/SOURCES.md); no ids at all is a 400. `GET /pktx/spotify/{id}`
answers SoundNet's 0-100 shape and wants an `x-rapidapi-key`.
`inject_429(n, retry_after)` makes the next n calls 429.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from appliance.standins.catalog import CatalogTrack, catalog
from appliance.standins.serving import Served

MAX_IDS = 40


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int
    ids: list[str] = field(default_factory=list)


class FeaturesSim:
    """Start with `await sim.start()`; `sim.reccobeats_url` / `sim.soundnet_url` are the bases."""

    def __init__(self, tracks: tuple[CatalogTrack, ...] | None = None, *,
                 missing: set[str] | None = None, rapidapi_key: str = "sim-key") -> None:
        self.tracks = {t.id: t for t in (tracks if tracks is not None else catalog())}
        self.missing = set(missing or ())
        self.rapidapi_key = rapidapi_key
        self.requests: list[LoggedRequest] = []
        self._inject: list[tuple[int, str]] = []
        self._served = Served()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def reccobeats_url(self) -> str:
        return f"{self.base_url}v1/"

    @property
    def soundnet_url(self) -> str:
        return self.base_url

    def inject_429(self, count: int = 1, retry_after: str = "1") -> None:
        """The next `count` calls answer 429 with this Retry-After."""
        self._inject.extend([(429, retry_after)] * count)

    async def start(self) -> FeaturesSim:
        app = web.Application()
        app.router.add_get("/v1/audio-features", self._audio_features)
        app.router.add_get("/pktx/spotify/{id}", self._soundnet)
        self.port = await self._served.start(app)
        return self

    async def stop(self) -> None:
        await self._served.stop()

    async def __aenter__(self) -> FeaturesSim:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _log(self, request: web.Request, status: int, ids: list[str]) -> None:
        self.requests.append(LoggedRequest(request.method, request.path, dict(request.query),
                                           status, ids))

    def _injected(self, request: web.Request, ids: list[str]) -> web.Response | None:
        if not self._inject:
            return None
        status, retry_after = self._inject.pop(0)
        self._log(request, status, ids)
        return web.json_response({"status": status, "errors": [{"message": "Too Many Requests"}]},
                                 status=status, headers={"Retry-After": retry_after})

    def _known(self, tid: str) -> CatalogTrack | None:
        return None if tid in self.missing else self.tracks.get(tid)

    async def _audio_features(self, request: web.Request) -> web.Response:
        ids: list[str] = []
        for value in request.query.getall("ids", []):
            ids.extend(i for i in value.split(",") if i)
        injected = self._injected(request, ids)
        if injected is not None:
            return injected
        if not ids:  # documented 400 (request-and-response page); the body is not recorded
            self._log(request, 400, ids)
            return web.json_response({"status": 4001, "errors": [
                {"message": "ids is required"}]}, status=400)
        content: list[dict[str, Any]] = []
        for tid in ids[:MAX_IDS]:
            t = self._known(tid)
            if t is None:
                continue
            content.append({
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, t.id)),
                "href": f"https://open.spotify.com/track/{t.id}",
                "acousticness": 0.2, "danceability": round(0.3 + 0.5 * t.energy, 3),
                "energy": t.energy, "instrumentalness": 0.01, "key": 5, "liveness": 0.1,
                "loudness": round(-20 + 14 * t.energy, 2), "mode": 1, "speechiness": 0.05,
                "tempo": t.tempo, "valence": t.valence,
            })
        self._log(request, 200, ids)
        return web.json_response({"content": content})

    async def _soundnet(self, request: web.Request) -> web.Response:
        tid = request.match_info["id"]
        injected = self._injected(request, [tid])
        if injected is not None:
            return injected
        if request.headers.get("x-rapidapi-key") != self.rapidapi_key:
            self._log(request, 403, [tid])
            return web.json_response(
                {"message": "You are not subscribed to this API."}, status=403)
        t = self._known(tid)
        if t is None:
            self._log(request, 404, [tid])
            return web.json_response({"message": "Track not found"}, status=404)
        self._log(request, 200, [tid])
        return web.json_response({
            "id": t.id, "key": "F", "mode": "major", "camelot": "7B", "tempo": round(t.tempo),
            "duration": f"{t.duration_ms // 60000}:{t.duration_ms // 1000 % 60:02d}",
            "popularity": 50, "energy": round(t.energy * 100),
            "danceability": round((0.3 + 0.5 * t.energy) * 100), "happiness": round(
                t.valence * 100), "acousticness": 20, "instrumentalness": 1, "liveness": 10,
            "speechiness": 5, "loudness": f"{-20 + 14 * t.energy:.0f} dB",
        })
