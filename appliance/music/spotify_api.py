"""Spotify Web API client: spotipy on one worker thread, with our own error handling.

spotipy is created with `retries=0, status_retries=0`, a plain requests session
(no urllib3 Retry, which would turn a 502 into a fake 429), an explicit timeout
and `auth=` the current access token. Everything else is ours:

- 401: refresh the token once and repeat (the request was refused, not run).
- 429: remember `Retry-After` (seconds or HTTP date) per user and endpoint class
  and refuse further calls of that class for that user until it passes, without
  sleeping anywhere; other users and other classes go on.
- 5xx and timeouts: only requests that are safe to repeat are retried, with a
  small jittered backoff. Safe: every GET, `PUT volume` (sets an absolute value)
  and `PUT pause` (sets a state; a repeat answers "Restriction violated", which
  is `Restricted`). Never repeated: `POST next/previous/queue` (each press moves
  or adds one more track), `PUT play` (restarts the track or context from its
  start) and `PUT /me/player` (transfer with play can resume twice). Those raise
  `SpotifyUnavailable` after one attempt.
- 404 NO_ACTIVE_DEVICE on a command that names a device: transfer to it, retry once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.exceptions import SpotifyException

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised, LinkState
from appliance.core.config import SpotifyConfig
from appliance.music.errors import (
    DeviceNotControllable,
    NoActiveDevice,
    NotRegistered,
    PlaybackRefused,
    PlaylistUnavailable,
    PremiumRequired,
    RateLimited,
    Restricted,
    SpotifyError,
    SpotifyUnavailable,
    map_error,
    parse_retry_after,
)
from appliance.music.spotify_models import Device, Playback, Track, track_of_item
from appliance.music.tokens import TokenManager

__all__ = ["Device", "Playback", "SpotifyApi", "Track", "map_error", "parse_retry_after"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

SEARCH_PAGE = 10  # Development Mode refuses limit > 10 with 400 "Invalid limit"
GET_ATTEMPTS = 3  # one try and two retries for requests that are safe to repeat
BACKOFF_BASE = 0.25
BACKOFF_MAX = 2.0
RATE_KEY = "spotify.rate_limited"
_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+")



def _search_page(query: str, offset: int, n: int, sp: spotipy.Spotify) -> Any:
    """One page of a track search (bound before it runs on the worker)."""
    return sp.search(q=query, limit=n, offset=offset, type="track")


def _page_at(page: Callable[[spotipy.Spotify, int, int], Any], offset: int, n: int,
             sp: spotipy.Spotify) -> Any:
    """One page of a listing (bound to its offset before it runs on the worker)."""
    return page(sp, offset, n)

class _RedactBearer(logging.Filter):
    """spotipy logs request headers at DEBUG: never let an Authorization value through."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "Bearer" in msg:
            record.msg = _BEARER.sub("Bearer [redacted]", msg)
            record.args = ()
        return True


logging.getLogger("spotipy.client").addFilter(_RedactBearer())
# spotipy logs every HTTP error itself ("HTTP Error for PUT ..."); this module maps and
# reports them (with the device and what happens next), so its own lines are noise.
logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)


def _endpoint_class(path: str) -> str:
    if path.startswith("me/player"):
        return "player"
    if path.startswith("search"):
        return "search"
    if path == "me":
        return "profile"
    return "library"


class SpotifyApi:
    """Async Spotify Web API for several users; all spotipy calls on one worker thread."""

    def __init__(self, config: SpotifyConfig, tokens: TokenManager,
                 executor: Executor | None = None, *, bus: Bus | None = None) -> None:
        self.config = config
        self.tokens = tokens
        self.bus = bus
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(max_workers=1,
                                                       thread_name_prefix="spotify")
        self._clients: dict[str, spotipy.Spotify] = {}  # touched only on the worker thread
        self._blocked: dict[tuple[str, str], tuple[float, bool]] = {}
        self._raised: set[str] = set()
        self.transfer_settle = 0.3  # seconds Spotify needs after a transfer before a command
        self.clock: Callable[[], float] = time.time  # rate-limit windows (simulated in tests)
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.calls = 0

    # -- worker thread ---------------------------------------------------------

    def _client(self, user_id: str, token: str) -> spotipy.Spotify:
        sp = self._clients.get(user_id)
        if sp is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            sp = spotipy.Spotify(auth=token, requests_session=session, retries=0,
                                 status_retries=0, requests_timeout=self.config.timeout)
            sp.prefix = self.config.api_url if self.config.api_url.endswith(
                "/") else self.config.api_url + "/"
            self._clients[user_id] = sp
        sp.set_auth(token)
        return sp

    def _invoke(self, user_id: str, token: str, fn: Callable[[spotipy.Spotify], T]) -> T:
        return fn(self._client(user_id, token))

    async def _run(self, user_id: str, token: str, fn: Callable[[spotipy.Spotify], T]) -> T:
        loop = asyncio.get_running_loop()
        self.calls += 1
        return await loop.run_in_executor(self.executor, self._invoke, user_id, token, fn)

    # -- the one door every call goes through -------------------------------------

    async def _call(self, user_id: str, path: str, fn: Callable[[spotipy.Spotify], T], *,
                    repeatable: bool, device_id: str | None = None,
                    transfer_on_no_device: bool = True) -> T:
        klass = _endpoint_class(path)
        self._check_blocked(user_id, klass)
        token = await self.tokens.access_token(user_id)
        refreshed = transferred = False
        attempt = 1
        while True:
            try:
                result = await self._run(user_id, token, fn)
            except SpotifyException as err:
                status = int(err.http_status or 0)
                if status == 401 and not refreshed:
                    refreshed = True
                    token, _ = await self.tokens.refresh(user_id, stale_token=token)
                    continue
                if status >= 500 and repeatable and attempt < GET_ATTEMPTS:
                    await self._backoff(attempt, path, status)
                    attempt += 1
                    continue
                mapped = map_error(err, device_id=device_id)
                if (isinstance(mapped, NoActiveDevice) and device_id and transfer_on_no_device
                        and not transferred):
                    transferred = True
                    try:
                        await self.ensure_and_retry_transfer(user_id, token, device_id)
                    except SpotifyError as transfer_err:
                        self._on_error(user_id, klass, transfer_err)
                        raise
                    continue
                self._on_error(user_id, klass, mapped)
                raise mapped from err
            except requests.exceptions.RequestException as err:
                if repeatable and attempt < GET_ATTEMPTS:
                    await self._backoff(attempt, path, 0)
                    attempt += 1
                    continue
                mapped = SpotifyUnavailable(status=0, reason=type(err).__name__)
                logger.warning("spotify: %s %s got no answer (%s); not repeated",
                               "GET" if repeatable else "command", path, type(err).__name__)
                raise mapped from err
            self._on_success(user_id, klass)
            return result

    async def ensure_and_retry_transfer(self, user_id: str, token: str, device_id: str) -> None:
        """After NO_ACTIVE_DEVICE: make `device_id` active (no play) before the one retry."""
        logger.info("spotify: no active device for %s; transferring to the chosen speaker",
                    user_id)
        try:
            await self._run(user_id, token,
                            lambda sp: sp.transfer_playback(device_id, force_play=False))
        except SpotifyException as err:
            raise map_error(err, device_id=device_id) from err
        except requests.exceptions.RequestException as err:
            raise SpotifyUnavailable(reason=type(err).__name__) from err
        if self.transfer_settle:
            await self.sleep(self.transfer_settle)

    async def _backoff(self, attempt: int, path: str, status: int) -> None:
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        logger.info("spotify: GET %s answered %s; retrying in %.2f s", path,
                    status or "no answer", delay)
        await self.sleep(delay)

    # -- rate limits and visible states ------------------------------------------

    def blocked_for(self, user_id: str, klass: str = "player") -> float:
        """Seconds this user's calls of `klass` still wait for a 429 (0: not blocked)."""
        until, _ = self._blocked.get((user_id, klass), (0.0, False))
        return max(0.0, until - self.clock())

    def _check_blocked(self, user_id: str, klass: str) -> None:
        until, quota = self._blocked.get((user_id, klass), (0.0, False))
        if until and until > self.clock():
            raise RateLimited(until - self.clock(), quota)

    def _on_error(self, user_id: str, klass: str, err: SpotifyError) -> None:
        if isinstance(err, RateLimited):
            until = self.clock() + err.retry_after
            self._blocked[(user_id, klass)] = (until, err.quota_exceeded)
            logger.warning("spotify: rate limited (%s) for %s; waiting %.0f s", klass, user_id,
                           err.retry_after)
            self._raise(RATE_KEY, err.message, "Nothing to do: it resumes by itself.")
            self._publish(LinkState(platform="spotify", user_id=user_id, state="rate_limited",
                                    detail=f"{err.retry_after:.0f} s"))
        elif isinstance(err, PremiumRequired):
            self._raise(f"spotify.premium_required.{user_id}", err.message,
                        "Choose another listener on the page, or use a Premium account.")
            self._publish(LinkState(platform="spotify", user_id=user_id,
                                    state="premium_required"))
        elif isinstance(err, NotRegistered):
            self._raise(f"spotify.not_registered.{user_id}", err.message,
                        "Add the account under User Management in your app on the Spotify "
                        "Developer Dashboard (at most 5 users), then link again.")
            self._publish(LinkState(platform="spotify", user_id=user_id,
                                    state="not_registered"))
        elif isinstance(err, DeviceNotControllable) and err.reason != "VOLUME_CONTROL_DISALLOW":
            self._raise("spotify.device_not_controllable", err.message,
                        "Choose another speaker on the Spotify page.")

    def _on_success(self, user_id: str, klass: str) -> None:
        if (user_id, klass) in self._blocked and self.blocked_for(user_id, klass) <= 0:
            del self._blocked[(user_id, klass)]
        if RATE_KEY in self._raised and not any(
                until > self.clock() for until, _ in self._blocked.values()):
            self._clear(RATE_KEY)
        if klass == "player":
            self._clear(f"spotify.premium_required.{user_id}")
        self._clear(f"spotify.not_registered.{user_id}")

    def clear_device_error(self) -> None:
        """Withdraw the "speaker not controllable" error (another speaker was chosen)."""
        self._clear("spotify.device_not_controllable")

    def _raise(self, key: str, message: str, hint: str) -> None:
        self._raised.add(key)
        self._publish(ErrorRaised(key=key, source="spotify", message=message, hint=hint))

    def _clear(self, key: str) -> None:
        if key in self._raised:
            self._raised.discard(key)
            self._publish(ErrorCleared(key=key))

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    # -- reads ----------------------------------------------------------------------

    async def me(self, user_id: str) -> dict[str, Any]:
        """The account's profile (`id`, `display_name`, ...)."""
        return await self._call(user_id, "me", lambda sp: sp.me(), repeatable=True) or {}

    async def devices(self, user_id: str) -> list[Device]:
        """The Connect devices Spotify lists for this account now."""
        data = await self._call(user_id, "me/player/devices", lambda sp: sp.devices(),
                                repeatable=True) or {}
        return [Device.from_json(d) for d in data.get("devices") or [] if isinstance(d, dict)]

    async def playback(self, user_id: str) -> Playback:
        """The player's state; `kind` tells a track from a podcast, an ad or nothing."""
        data = await self._call(user_id, "me/player", lambda sp: sp.current_playback(
            additional_types="episode"), repeatable=True)
        return Playback.from_json(data)

    async def _paged(self, user_id: str, path: str, page: Callable[[spotipy.Spotify, int, int],
                     Any], limit: int, page_size: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while len(items) < limit:
            n = min(page_size, limit - len(items))
            data = await self._call(user_id, path, functools.partial(_page_at, page, offset, n),
                                    repeatable=True) or {}
            batch = [i for i in data.get("items") or [] if isinstance(i, dict)]
            items.extend(batch)
            offset += len(batch)
            if not batch or not data.get("next"):
                break
        return items[:limit]

    async def saved_tracks(self, user_id: str, limit: int = 200) -> list[Track]:
        """The account's saved tracks (newest first), at most `limit`."""
        items = await self._paged(user_id, "me/tracks", lambda sp, o, n: (
            sp.current_user_saved_tracks(limit=n, offset=o)), limit, 50)
        return [t for t in map(track_of_item, items) if t is not None]

    async def playlists(self, user_id: str) -> list[dict[str, Any]]:
        """The account's playlists: `id`, `name`, `tracks` (count), `owner`, `collaborative`.

        Entries can be `null` and the count sits under `items` since February 2026.
        """
        items = await self._paged(user_id, "me/playlists", lambda sp, o, n: (
            sp.current_user_playlists(limit=n, offset=o)), 500, 50)
        out = []
        for p in items:
            counts = p.get("items") if isinstance(p.get("items"), dict) else p.get("tracks")
            total = counts.get("total", 0) if isinstance(counts, dict) else 0
            owner: dict[str, Any] = p["owner"] if isinstance(p.get("owner"), dict) else {}
            out.append({"id": str(p.get("id") or ""), "name": str(p.get("name") or ""),
                        "tracks": int(total or 0), "owner": str(owner.get("id") or ""),
                        "collaborative": bool(p.get("collaborative"))})
        return out

    async def playlist_tracks(self, user_id: str, playlist_id: str,
                              limit: int = 200) -> list[Track]:
        """The tracks of a playlist (episodes and local files skipped), at most `limit`.

        `PlaylistUnavailable` when Spotify refuses its items (403: Development Mode reads
        only playlists the account owns or collaborates on) or does not know it (404).
        """
        try:
            items = await self._paged(user_id, "playlists", lambda sp, o, n: sp.playlist_items(
                playlist_id, limit=n, offset=o, additional_types=("track",)), limit, 100)
        except (NotRegistered, RateLimited, SpotifyUnavailable):
            raise
        except SpotifyError as err:
            if err.status == 403:
                raise PlaylistUnavailable(playlist_id=playlist_id, status=403,
                                          reason=err.reason) from err
            if err.status == 404:
                raise PlaylistUnavailable("Spotify does not know this playlist any more "
                                          "(deleted, or the link is wrong).",
                                          playlist_id=playlist_id, status=404) from err
            raise
        return [t for t in map(track_of_item, items) if t is not None]

    async def search_tracks(self, user_id: str, query: str, limit: int = 20) -> list[Track]:
        """Tracks matching `query`, at most `limit` (50), in pages of 10."""
        want = max(1, min(limit, 50))
        found: dict[str, Track] = {}
        offset = 0
        while len(found) < want:
            n = min(SEARCH_PAGE, want - len(found))
            data = await self._call(user_id, "search", functools.partial(
                _search_page, query, offset, n), repeatable=True) or {}
            page: dict[str, Any] = data["tracks"] if isinstance(data.get("tracks"), dict) else {}
            items = [t for t in page.get("items") or [] if isinstance(t, dict)]
            before = len(found)
            for t in items:
                if t.get("id") and not t.get("is_local"):
                    found.setdefault(str(t["id"]), Track.from_json(t))
            offset += n
            if len(found) == before or not page.get("next"):
                break
        return list(found.values())[:want]

    # -- commands ---------------------------------------------------------------------

    async def play(self, user_id: str, *, device_id: str, uris: list[str] | None = None,
                   context_uri: str | None = None, position_ms: int | None = None) -> None:
        """Start `uris` or `context_uri` (or resume when both are None) on `device_id`.

        "Restriction violated" here means nothing started: `PlaybackRefused`, not the
        harmless `Restricted` of a pause that was already paused.
        """
        try:
            await self._call(user_id, "me/player/play", lambda sp: sp.start_playback(
                device_id=device_id, uris=list(uris) if uris is not None else None,
                context_uri=context_uri, position_ms=position_ms),
                repeatable=False, device_id=device_id)
        except Restricted as err:
            if uris is None and context_uri is None:
                raise  # resuming what already plays
            raise PlaybackRefused(status=err.status, reason=err.reason) from err

    async def resume(self, user_id: str, *, device_id: str) -> None:
        """Resume the paused track on `device_id`."""
        await self._call(user_id, "me/player/play", lambda sp: sp.start_playback(
            device_id=device_id), repeatable=False, device_id=device_id)

    async def pause(self, user_id: str, *, device_id: str) -> None:
        """Pause; raises `Restricted` when already paused."""
        await self._call(user_id, "me/player/pause", lambda sp: sp.pause_playback(
            device_id=device_id), repeatable=True, device_id=device_id)

    async def next(self, user_id: str, *, device_id: str) -> None:
        """Skip exactly one track (never repeated, even after a 502)."""
        await self._call(user_id, "me/player/next", lambda sp: sp.next_track(
            device_id=device_id), repeatable=False, device_id=device_id)

    async def previous(self, user_id: str, *, device_id: str) -> None:
        """Go back one track (never repeated)."""
        await self._call(user_id, "me/player/previous", lambda sp: sp.previous_track(
            device_id=device_id), repeatable=False, device_id=device_id)

    async def queue(self, user_id: str, uri: str, *, device_id: str) -> None:
        """Add `uri` to the end of the queue (never repeated)."""
        await self._call(user_id, "me/player/queue", lambda sp: sp.add_to_queue(
            uri, device_id=device_id), repeatable=False, device_id=device_id)

    async def set_volume(self, user_id: str, percent: float, *, device_id: str) -> None:
        """Set the speaker's volume (0-100)."""
        pct = max(0, min(100, round(percent)))
        await self._call(user_id, "me/player/volume", lambda sp: sp.volume(
            pct, device_id=device_id), repeatable=True, device_id=device_id)

    async def transfer(self, user_id: str, device_id: str, *, play: bool = False) -> None:
        """Make `device_id` the active device (and play on it when `play`)."""
        await self._call(user_id, "me/player", lambda sp: sp.transfer_playback(
            device_id, force_play=play), repeatable=False, device_id=device_id,
            transfer_on_no_device=False)

    async def close(self) -> None:
        """Stop the worker thread if this client created it."""
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
