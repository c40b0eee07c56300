"""The recorded-behaviour corpus: load files and cases, and a loopback server that replays them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.standins.serving import Served

CORPUS = Path(__file__).with_name("corpus")


def files() -> dict[str, dict[str, Any]]:
    """Every corpus file by name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))}


def load(name: str) -> dict[str, Any]:
    """One corpus file (`spotify-player-ad` or `spotify-player-ad.json`)."""
    return json.loads((CORPUS / (name if name.endswith(".json") else name + ".json")).read_text())


def case(name: str, case_name: str | None = None) -> dict[str, Any]:
    """One recorded reply of a file (its only one when `case_name` is None)."""
    cases = load(name)["cases"]
    if case_name is None:
        assert len(cases) == 1, f"{name} has {len(cases)} cases; name one"
        return cases[0]
    return next(c for c in cases if c["name"] == case_name)


def body(name: str, case_name: str | None = None) -> Any:
    """The JSON body of one recorded reply."""
    return case(name, case_name)["json"]


@dataclass
class Seen:
    method: str
    path_qs: str
    body: bytes


@dataclass
class Replay:
    """A real aiohttp server on 127.0.0.1 answering with recorded replies, in turn.

    The last queued reply repeats, so one reply answers every later request.
    """

    queue: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _served: Served = field(default_factory=Served)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, *cases: dict[str, Any]) -> None:
        self.queue = list(cases)

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(request.method, request.path_qs, await request.read()))
        c = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        return response_of(c)

    async def start(self) -> Replay:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.port = await self._served.start(app)
        return self

    async def stop(self) -> None:
        await self._served.stop()


def response_of(c: dict[str, Any]) -> web.Response:
    """The aiohttp response that repeats a recorded reply byte for byte in meaning."""
    headers = dict(c.get("headers") or {})
    if "json" in c:
        data = json.dumps(c["json"]).encode()
    elif "text" in c:
        data = c["text"].encode()
    else:
        data = b""
    if c.get("content_type"):
        headers["Content-Type"] = c["content_type"]
    return web.Response(status=c["status"], body=data if c["status"] != 204 else None,
                        headers=headers)


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys with their shapes, list item shapes, types."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def shape_differences(real: Any, ours: Any, path: str = "$",
                      *, allow_extra: bool = False) -> list[str]:
    """Where a stand-in's JSON leaves the real shape (missing keys, other types)."""
    out: list[str] = []
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [f"{path}: real is an object, ours {shape(ours)!r}"]
        for k, v in real.items():
            if k not in ours:
                out.append(f"{path}.{k}: missing")
            else:
                out.extend(shape_differences(v, ours[k], f"{path}.{k}", allow_extra=allow_extra))
        if not allow_extra:
            out.extend(f"{path}.{k}: not in the real reply" for k in ours if k not in real)
        return out
    if isinstance(real, list):
        if not isinstance(ours, list):
            return [f"{path}: real is a list, ours {shape(ours)!r}"]
        if real and ours:
            out.extend(shape_differences(real[0], ours[0], f"{path}[0]",
                                         allow_extra=allow_extra))
        return out
    if real is None or ours is None:  # nullable fields: either side may be null
        return out
    if shape(real) != shape(ours):
        out.append(f"{path}: real {shape(real)}, ours {shape(ours)}")
    return out
