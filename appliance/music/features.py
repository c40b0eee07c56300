"""Track features (valence, energy, tempo) from outside sources, behind one interface.

Spotify closed its audio-features endpoint to new apps, so features come from
ReccoBeats (no key, Spotify ids, at most 40 ids a call) or SoundNet on RapidAPI
(one id a call, 0-100 scales). A 429 never sleeps inside a call: the provider
remembers until when it must wait and returns what it has, so nothing else is
held up; the caller asks again later.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from appliance.core.config import FeaturesConfig
from appliance.music.errors import parse_retry_after

logger = logging.getLogger(__name__)

RECCOBEATS_MAX_IDS = 40
_SPOTIFY_HREF = re.compile(r"/track/([A-Za-z0-9]{22})")
_SPOTIFY_ID = re.compile(r"^[A-Za-z0-9]{22}$")


@dataclass(frozen=True)
class TrackFeatures:
    """What the selector needs of a track: valence and energy in 0..1, tempo in BPM."""

    track_id: str
    valence: float
    energy: float
    tempo: float
    name: str = ""
    artists: str = ""
    source: str = ""


class FeatureProvider(Protocol):
    """A features source; `fetch` returns what it found, never raises for a miss."""

    name: str
    max_per_fetch: int | None  # ids asked per `fetch` at most (None: all)

    async def fetch(self, track_ids: Sequence[str]) -> dict[str, TrackFeatures]:
        """Features of the ids it knows; an id it does not know is simply absent."""
        ...

    def blocked_for(self) -> float:
        """Seconds until the source may be asked again (0 when it may be asked now)."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...


def valid_features(valence: Any, energy: Any, tempo: Any) -> str:
    """'' when the three values are usable, else why not (for logs and import reports)."""
    for label, value, lo, hi in (("valence", valence, 0.0, 1.0), ("energy", energy, 0.0, 1.0),
                                 ("tempo", tempo, 1.0, 400.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{label} is not a number ({value!r})"
        if not math.isfinite(value):
            return f"{label} is not finite"
        if not lo <= value <= hi:
            return f"{label} {value} is outside {lo:g}..{hi:g}"
    return ""


class _HttpProvider:
    """Shared session handling and 429 bookkeeping."""

    name = "http"
    max_per_fetch: int | None = None

    def __init__(self, base_url: str, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._blocked_until = 0.0
        self.requests = 0
        self.rate_limited = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Accept": "application/json", "User-Agent": "mooddj"})
        return self._session

    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - self._clock())

    def _note_429(self, resp: aiohttp.ClientResponse) -> None:
        wait = parse_retry_after(resp.headers.get("Retry-After"), default=60.0)
        self._blocked_until = self._clock() + wait
        self.rate_limited += 1
        logger.warning("%s rate limit reached; asking again in %.0f s", self.name, wait)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class ReccoBeatsProvider(_HttpProvider):
    """`GET {base}audio-features?ids=a,b,...` (Spotify ids, at most 40 a call)."""

    name = "reccobeats"

    async def fetch(self, track_ids: Sequence[str]) -> dict[str, TrackFeatures]:
        ids = list(dict.fromkeys(i for i in track_ids if _SPOTIFY_ID.match(i)))
        found: dict[str, TrackFeatures] = {}
        for start in range(0, len(ids), RECCOBEATS_MAX_IDS):
            if self.blocked_for() > 0:
                break
            batch = ids[start:start + RECCOBEATS_MAX_IDS]
            try:
                found.update(await self._batch(batch))
            except (TimeoutError, aiohttp.ClientError, ValueError) as err:
                logger.warning("reccobeats request failed (%s); will try again later",
                               type(err).__name__)
                break
        return found

    async def _batch(self, batch: list[str]) -> dict[str, TrackFeatures]:
        self.requests += 1
        url = f"{self.base_url}audio-features"
        async with self._http().get(url, params={"ids": ",".join(batch)}) as resp:
            if resp.status == 429:
                self._note_429(resp)
                return {}
            if resp.status != 200:
                logger.warning("reccobeats answered HTTP %s for %d ids", resp.status, len(batch))
                return {}
            body = await resp.json(content_type=None)
        wanted = set(batch)
        out: dict[str, TrackFeatures] = {}
        items = body.get("content") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            # Items are keyed by ReccoBeats' own UUID; the Spotify id is only in `href`.
            match = _SPOTIFY_HREF.search(str(item.get("href") or ""))
            if not match or match.group(1) not in wanted:
                continue
            tid = match.group(1)
            v: Any = item.get("valence")
            e: Any = item.get("energy")
            t: Any = item.get("tempo")
            reason = valid_features(v, e, t)
            if reason:
                logger.info("reccobeats gave unusable features for %s: %s", tid, reason)
                continue
            out[tid] = TrackFeatures(tid, float(v), float(e), float(t), source=self.name)
        return out


class SoundNetProvider(_HttpProvider):
    """`GET {base}pktx/spotify/{id}` with `x-rapidapi-key`; 0-100 scales normalised.

    One call per track and a tiny free tier: at most `max_per_fetch` calls per `fetch`.
    """

    name = "soundnet"

    def __init__(self, base_url: str, key: str, *, max_per_fetch: int = 25,
                 **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._key = key
        self.max_per_fetch = max_per_fetch

    async def fetch(self, track_ids: Sequence[str]) -> dict[str, TrackFeatures]:
        found: dict[str, TrackFeatures] = {}
        if not self._key:
            return found
        wanted = list(dict.fromkeys(i for i in track_ids if _SPOTIFY_ID.match(i)))
        for tid in wanted[:self.max_per_fetch]:
            if self.blocked_for() > 0:
                break
            try:
                item = await self._one(tid)
            except (TimeoutError, aiohttp.ClientError, ValueError) as err:
                logger.warning("soundnet request failed (%s); will try again later",
                               type(err).__name__)
                break
            if item is not None:
                found[tid] = item
        return found

    async def _one(self, tid: str) -> TrackFeatures | None:
        self.requests += 1
        host = self.base_url.split("//", 1)[-1].split("/", 1)[0]
        headers = {"x-rapidapi-key": self._key, "x-rapidapi-host": host}
        async with self._http().get(f"{self.base_url}pktx/spotify/{tid}",
                                    headers=headers) as resp:
            if resp.status == 429:
                self._note_429(resp)
                return None
            if resp.status != 200:
                if resp.status in (401, 403):
                    logger.warning("soundnet refused the RapidAPI key (HTTP %s); check "
                                   "features.soundnet_key", resp.status)
                return None
            body = await resp.json(content_type=None)
        if not isinstance(body, dict):
            return None
        happiness: Any = body.get("happiness")
        energy: Any = body.get("energy")
        tempo: Any = body.get("tempo")
        try:
            v, e, t = float(happiness) / 100, float(energy) / 100, float(tempo)
        except (TypeError, ValueError):
            return None
        reason = valid_features(v, e, t)
        if reason:
            logger.info("soundnet gave unusable features for %s: %s", tid, reason)
            return None
        return TrackFeatures(tid, v, e, t, source=self.name)


class NoProvider:
    """Features only from the cache and CSV imports."""

    name = "none"
    max_per_fetch: int | None = None

    async def fetch(self, track_ids: Sequence[str]) -> dict[str, TrackFeatures]:
        return {}

    def blocked_for(self) -> float:
        return 0.0

    async def close(self) -> None:
        return None


PROVIDERS: dict[str, Callable[[FeaturesConfig], FeatureProvider]] = {
    "reccobeats": lambda cfg: ReccoBeatsProvider(cfg.reccobeats_url),
    "soundnet": lambda cfg: SoundNetProvider(cfg.soundnet_url, cfg.soundnet_key),
    "none": lambda cfg: NoProvider(),
}


def make_provider(cfg: FeaturesConfig) -> FeatureProvider:
    """The provider named by `features.provider`."""
    try:
        factory = PROVIDERS[cfg.provider]
    except KeyError:
        raise ValueError(f"unknown features provider {cfg.provider!r}; choose one of "
                         f"{', '.join(PROVIDERS)}") from None
    return factory(cfg)
