"""Mood -> tracks: candidates from the listener's library, ranked by distance to a target.

Candidates (saved tracks, playlists, the per-mood playlists picked on the page)
are collected once per listener and refreshed every `refresh_seconds`, not per
pick. Their cached features sit in one numpy array, so ranking 10,000 tracks is
a few vector operations. Recently played tracks are excluded; a skip soon after
a track started counts against it for that mood and listener, a like for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sqlite_utils import Database

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised
from appliance.core.config import PlayerConfig
from appliance.core.settings import Key, Settings
from appliance.music import features_cache
from appliance.music.errors import NotRegistered, RateLimited, SpotifyError
from appliance.music.features import FeatureProvider, TrackFeatures
from appliance.music.features_cache import FeatureMatrix
from appliance.music.moods import MOOD_WORDS, MoodTarget
from appliance.music.spotify_models import Track

logger = logging.getLogger(__name__)

WEIGHTS = np.array([1.0, 1.0, 0.5], dtype=np.float32)  # valence, energy, tempo
TEMPO_SCALE = 100.0  # BPM difference that weighs like a full valence step
SKIP_PENALTY = 0.25
LIKE_BONUS = 0.15
MOOD_PLAYLIST_BONUS = 0.05
INLINE_FEATURES = 400  # features fetched before the first pick; the rest in the background
MISS_RETRY_SECONDS = 24 * 3600.0  # a track the provider does not know is asked again after this
NOTHING_KEY = "music.nothing_playable"
_PLAYLIST_ID = re.compile(r"(?:playlist[:/])?([A-Za-z0-9]{22})")


class LibraryApi(Protocol):
    """The Spotify calls the selector uses (satisfied by `SpotifyApi`)."""

    async def saved_tracks(self, user_id: str) -> list[Track]: ...

    async def playlists(self, user_id: str) -> list[Any]: ...

    async def playlist_tracks(self, user_id: str, playlist_id: str) -> list[Track]: ...

    async def search_tracks(self, user_id: str, query: str) -> list[Track]: ...


def rank_scores(values: np.ndarray, target: np.ndarray, bias: np.ndarray | None = None,
                excluded: np.ndarray | None = None,
                weights: np.ndarray = WEIGHTS) -> np.ndarray:
    """Weighted distance of every row (valence, energy, tempo) to `target`; lower is better."""
    diff = values - target
    diff[:, 2] /= TEMPO_SCALE
    scores = np.sqrt((diff * diff) @ weights)
    if bias is not None:
        scores += bias
    if excluded is not None:
        scores[excluded] = np.inf
    return scores


def parse_playlist_id(value: str) -> str:
    """A playlist id from an id, `spotify:playlist:ID` or an open.spotify.com link."""
    m = _PLAYLIST_ID.search(value.strip())
    return m.group(1) if m else ""


def parse_mood_playlists(raw: str | None) -> dict[str, list[str]]:
    """The `mood_playlists` setting: mood -> playlist ids (damaged JSON: none)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("setting mood_playlists is not valid JSON; ignoring it")
        return {}
    out: dict[str, list[str]] = {}
    for mood, value in (data.items() if isinstance(data, dict) else []):
        values = value if isinstance(value, list) else [value]
        ids = [parse_playlist_id(v) for v in values if isinstance(v, str)]
        if ids := [i for i in ids if i]:
            out[str(mood)] = ids
    return out


def dump_mood_playlists(lists: dict[str, list[str]]) -> str:
    """JSON for the `mood_playlists` setting."""
    return json.dumps(lists, sort_keys=True)


# mood -> the playlists the household picked for it on the music page
MOOD_PLAYLISTS: Key[dict[str, list[str]]] = Key(
    "mood_playlists", {}, parse_mood_playlists, dump_mood_playlists)


@dataclass(frozen=True)
class Skipped:
    """A playlist the last collection could not read, and why (shown on the music page)."""

    playlist_id: str
    name: str
    why: str


@dataclass
class Pool:
    """One listener's candidates and their features."""

    user_id: str
    tracks: dict[str, Track]
    mood_tracks: dict[str, list[Track]]
    matrix: FeatureMatrix
    loaded_at: float
    index: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, dict[str, float]] = field(default_factory=dict)  # mood -> id -> bias
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index = {tid: i for i, tid in enumerate(self.matrix.ids)}


def _id_of(playlist: Any) -> str:
    if isinstance(playlist, dict):
        return str(playlist.get("id") or "")
    return str(getattr(playlist, "id", "") or "")


def _name_of(playlist: Any) -> str:
    if isinstance(playlist, dict):
        return str(playlist.get("name") or "")
    return str(getattr(playlist, "name", "") or "")


def recent_track_ids(db: Database, since: float) -> set[str]:
    """Tracks started after `since` (by anyone: the room heard them)."""
    return {r["track_id"] for r in db.query(
        "SELECT DISTINCT track_id FROM plays WHERE started_at >= ?", [since])}


def feedback_bias(db: Database, user_id: str) -> dict[str, dict[str, float]]:
    """mood -> track id -> score shift from this listener's skips and likes."""
    out: dict[str, dict[str, float]] = {}
    for r in db.query("SELECT mood, track_id, kind, COUNT(*) AS n FROM feedback WHERE user_id = ?"
                      " GROUP BY mood, track_id, kind", [user_id]):
        shift = SKIP_PENALTY if r["kind"] == "skip" else -LIKE_BONUS if r["kind"] == "like" else 0
        per = out.setdefault(r["mood"], {})
        per[r["track_id"]] = per.get(r["track_id"], 0.0) + shift * int(r["n"])
    return out


def record_play(db: Database, user_id: str, track_id: str, mood: str, started_at: float) -> None:
    """One row in `plays` (feeds the recently-played exclusion)."""
    db.table("plays").insert({"user_id": user_id, "track_id": track_id, "mood": mood,
                        "started_at": started_at})


class Selector:
    """Picks tracks for a mood from the active listener's library."""

    def __init__(self, api: LibraryApi, store: Any, provider: FeatureProvider | None,
                 config: PlayerConfig, *, refresh_seconds: float = 1800.0,
                 max_playlists: int = 20, clock: Callable[[], float] = time.time,
                 bus: Bus | None = None, settings: Settings | None = None) -> None:
        self.api = api
        self.store = store
        self.settings = settings or Settings(store)
        self.provider = provider
        self.config = config
        self.refresh_seconds = refresh_seconds
        self.max_playlists = max_playlists
        self._clock = clock
        self._pools: dict[str, Pool] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._recent: set[str] | None = None
        self._recent_at = 0.0
        self._topup: asyncio.Task[None] | None = None
        self._asked: dict[str, float] = {}  # id -> when the provider last did not know it
        # The problem bus: given, else the Spotify client's own (the same box-wide bus).
        self.bus = bus if bus is not None else getattr(api, "bus", None)
        self._nothing_shown = False

    # -- candidates ----------------------------------------------------------

    async def pool(self, user_id: str, *, force: bool = False) -> Pool:
        """The listener's candidates, collected again when older than `refresh_seconds`."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            pool = self._pools.get(user_id)
            if pool is not None and not force and \
                    self._clock() - pool.loaded_at < self.refresh_seconds:
                return pool
            try:
                pool = await self._collect(user_id)
            except Exception:
                if pool is None:
                    raise
                logger.warning("could not refresh the track candidates; using the old list",
                               exc_info=True)
                pool.loaded_at = self._clock() - self.refresh_seconds / 2
                return pool
            self._pools[user_id] = pool
            return pool

    def invalidate(self, user_id: str | None = None) -> None:
        """Collect candidates again at the next pick (playlists changed on the page)."""
        if user_id is None:
            self._pools.clear()
        else:
            self._pools.pop(user_id, None)

    async def _collect(self, user_id: str) -> Pool:
        """Saved tracks and playlists; a playlist that fails is skipped and named, not fatal."""
        tracks: dict[str, Track] = {}
        skipped: list[Skipped] = []
        for t in await self.api.saved_tracks(user_id):
            tracks.setdefault(t.id, t)
        mood_lists = await self.settings.get(MOOD_PLAYLISTS)
        mood_tracks: dict[str, list[Track]] = {}
        fetched: dict[str, list[Track]] = {}
        own = [p for p in await self.api.playlists(user_id) if _id_of(p)]
        names = {_id_of(p): _name_of(p) for p in own}
        for mood, ids in mood_lists.items():
            for pid in ids:
                if pid not in fetched:
                    fetched[pid] = await self._playlist(user_id, pid, names.get(pid, ""), skipped)
                mood_tracks.setdefault(mood, []).extend(fetched[pid])
        for p in [p for p in own if _id_of(p) not in fetched][:self.max_playlists]:
            fetched[_id_of(p)] = await self._playlist(user_id, _id_of(p), _name_of(p), skipped)
        for items in fetched.values():
            for t in items:
                tracks.setdefault(t.id, t)
        # The first few hundred inline (music can start); the rest in the background.
        await self._fetch_features(list(tracks.values()), limit=INLINE_FEATURES)
        ids = list(tracks)
        matrix = await self.store.read(lambda db: features_cache.load_matrix(db, ids))
        bias = await self.store.read(lambda db: feedback_bias(db, user_id))
        logger.info("track candidates: %d (%d with features) from %d playlists (%d skipped)",
                    len(tracks), len(matrix), len(fetched) - len(skipped), len(skipped))
        return Pool(user_id, tracks, mood_tracks, matrix, self._clock(), feedback=bias,
                    skipped=skipped)

    async def _playlist(self, user_id: str, pid: str, name: str,
                        skipped: list[Skipped]) -> list[Track]:
        """One playlist's tracks; [] (and a `Skipped` entry) when Spotify refuses it.

        Errors about the whole account (rate limit, not registered) still stop the pool.
        """
        try:
            return await self.api.playlist_tracks(user_id, pid)
        except (RateLimited, NotRegistered):
            raise
        except SpotifyError as err:
            logger.info("playlist %s skipped: %s", pid, err.message)
            skipped.append(Skipped(pid, name, err.message))
            return []

    def skipped(self, user_id: str) -> list[Skipped]:
        """The playlists the last collection for this listener could not read."""
        pool = self._pools.get(user_id)
        return list(pool.skipped) if pool else []

    def why_nothing(self, user_id: str, mood: str) -> str:
        """What to tell a person when no track fits `mood` (names refused playlists)."""
        pool = self._pools.get(user_id)
        parts = [f"No {mood} track can be played from this listener's library."]
        if pool is not None and pool.skipped:
            names = ", ".join(repr(s.name or s.playlist_id) for s in pool.skipped[:3])
            more = f" and {len(pool.skipped) - 3} more" if len(pool.skipped) > 3 else ""
            parts.append(f"Spotify refused {names}{more}: {pool.skipped[0].why}")
        parts.append("Save some songs in Spotify or pick playlists you own for the moods on "
                     "the music page; the box tries again in a few minutes.")
        return " ".join(parts)

    async def _fetch_features(self, tracks: Sequence[Track], limit: int | None = None) -> int:
        """Ask the provider for missing features (ids it did not know are not asked again
        for `MISS_RETRY_SECONDS`); returns how many were stored."""
        if self.provider is None or not tracks:
            return 0
        ids = [t.id for t in tracks]
        missing = await self.store.read(lambda db: features_cache.missing_ids(db, ids))
        now = self._clock()
        missing = [i for i in missing if now - self._asked.get(i, -1e18) > MISS_RETRY_SECONDS]
        cap = getattr(self.provider, "max_per_fetch", None)
        for bound in (limit, cap):
            if bound is not None:
                missing = missing[:bound]
        if not missing or self.provider.blocked_for() > 0:
            return 0
        found = await self.provider.fetch(missing)
        if self.provider.blocked_for() <= 0:  # the whole list was asked: remember the misses
            self._asked.update(dict.fromkeys((i for i in missing if i not in found), now))
        by_id = {t.id: t for t in tracks}
        rows = [TrackFeatures(f.track_id, f.valence, f.energy, f.tempo,
                              name=by_id[f.track_id].name if f.track_id in by_id else "",
                              artists=by_id[f.track_id].artists if f.track_id in by_id else "",
                              source=f.source) for f in found.values()]
        if rows:
            await self.store.write(lambda db: features_cache.upsert_features(db, rows))
        return len(rows)

    async def _top_up(self, user_id: str) -> None:
        """Fetch features still missing (beyond the first batch, or after a 429)."""
        pool = self._pools.get(user_id)
        if pool is None or len(pool.matrix) >= len(pool.tracks):
            return
        missing = [t for tid, t in pool.tracks.items() if tid not in pool.index]
        if await self._fetch_features(missing):
            ids = list(pool.tracks)
            matrix = await self.store.read(lambda db: features_cache.load_matrix(db, ids))
            pool.matrix, pool.index = matrix, {tid: i for i, tid in enumerate(matrix.ids)}

    # -- picking -------------------------------------------------------------

    async def recent(self) -> set[str]:
        """Ids played within `recent_exclude_hours` (re-read at most every minute)."""
        now = self._clock()
        if self._recent is None or now - self._recent_at > 60:
            since = now - self.config.recent_exclude_hours * 3600.0
            self._recent = await self.store.read(lambda db: recent_track_ids(db, since))
            self._recent_at = now
        return self._recent

    def scores(self, pool: Pool, mood: str, target: MoodTarget,
               recent: set[str]) -> np.ndarray:
        """Score of every candidate with features (lower is better; excluded: inf)."""
        m = pool.matrix
        n = len(m)
        bias = np.zeros(n, dtype=np.float32)
        for tid, shift in pool.feedback.get(mood, {}).items():
            if (i := pool.index.get(tid)) is not None:
                bias[i] += shift
        for t in pool.mood_tracks.get(mood, []):
            if (i := pool.index.get(t.id)) is not None:
                bias[i] -= MOOD_PLAYLIST_BONUS
        excluded = np.zeros(n, dtype=bool)
        for tid in recent:
            if (i := pool.index.get(tid)) is not None:
                excluded[i] = True
        target_arr = np.asarray(target.as_list(), dtype=np.float32)
        return rank_scores(m.values.copy(), target_arr, bias, excluded)

    async def pick(self, user_id: str, mood: str, target: MoodTarget, count: int = 1,
                   avoid: Sequence[str] = ()) -> list[Track]:
        """Up to `count` tracks for `mood`, best first; fallbacks where features are missing."""
        pool = await self.pool(user_id)
        recent = set(await self.recent()) | set(avoid)
        out: list[Track] = []
        if len(pool.matrix):
            scores = self.scores(pool, mood, target, recent)
            order = np.argsort(scores, kind="stable")
            for i in order[:count]:
                if np.isfinite(scores[i]):
                    out.append(pool.tracks[pool.matrix.ids[i]])
        if len(out) < count:
            out.extend(self._fallback(pool, mood, recent | {t.id for t in out}, count - len(out)))
        if len(out) < count:
            out.extend(await self._search(user_id, mood, recent | {t.id for t in out},
                                          count - len(out)))
        self._maybe_top_up(user_id, pool)
        self._show_nothing(user_id, mood, not out)
        return out

    def _show_nothing(self, user_id: str, mood: str, nothing: bool) -> None:
        """Raise (page and LED) or clear the "nothing playable" problem."""
        if self.bus is None or nothing == self._nothing_shown:
            return
        self._nothing_shown = nothing
        if nothing:
            self.bus.publish(ErrorRaised(key=NOTHING_KEY, source="spotify",
                                         message=self.why_nothing(user_id, mood),
                                         hint="Pick playlists you own on the music page."))
        else:
            self.bus.publish(ErrorCleared(key=NOTHING_KEY))

    def _fallback(self, pool: Pool, mood: str, skip: set[str], count: int) -> list[Track]:
        return [t for t in pool.mood_tracks.get(mood, []) if t.id not in skip][:count]

    async def _search(self, user_id: str, mood: str, skip: set[str], count: int) -> list[Track]:
        words = MOOD_WORDS.get(mood, mood)
        try:
            found = await self.api.search_tracks(user_id, words)
        except Exception as err:  # a search is a nicety; the caller handles an empty pick
            logger.warning("search for %s music failed: %s", mood, err)
            return []
        return [t for t in found if t.id not in skip][:count]

    def _maybe_top_up(self, user_id: str, pool: Pool) -> None:
        if self.provider is None or len(pool.matrix) >= len(pool.tracks):
            return
        if self.provider.blocked_for() > 0 or (self._topup and not self._topup.done()):
            return
        self._topup = asyncio.get_running_loop().create_task(self._top_up(user_id))

    # -- feedback and plays --------------------------------------------------

    async def feedback(self, user_id: str, track_id: str, mood: str, kind: str) -> None:
        """Record a skip or like; the next pick for this mood and listener sees it."""
        if kind not in ("skip", "like"):
            raise ValueError(f"unknown feedback kind {kind!r}")
        now = self._clock()
        await self.store.write(lambda db: db.table("feedback").insert(
            {"user_id": user_id, "track_id": track_id, "mood": mood, "kind": kind, "at": now}))
        pool = self._pools.get(user_id)
        if pool is not None:
            per = pool.feedback.setdefault(mood, {})
            per[track_id] = per.get(track_id, 0.0) + (SKIP_PENALTY if kind == "skip"
                                                      else -LIKE_BONUS)

    async def played(self, user_id: str, track_id: str, mood: str, started_at: float) -> None:
        """Record a play (excluded from picks for `recent_exclude_hours`)."""
        await self.store.write(lambda db: record_play(db, user_id, track_id, mood, started_at))
        if self._recent is not None:
            self._recent.add(track_id)

    async def close(self) -> None:
        """Stop a background features fetch and close the provider's HTTP session."""
        if self._topup is not None and not self._topup.done():
            self._topup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._topup
        if self.provider is not None:
            await self.provider.close()
