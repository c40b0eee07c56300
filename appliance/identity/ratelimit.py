"""Sliding-window attempt counters with backoff, kept in memory (they reset on restart)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10000  # keys remembered before old ones are forgotten (memory bound)


class SlidingLimiter:
    """At most `limit` failures per `window` seconds per key; the lock doubles while abused."""

    def __init__(self, limit: int, window: float, *, max_lock: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_lock = max_lock
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again (0 if it may try now)."""
        return max(0.0, self._locked_until.get(key, 0.0) - self.clock())

    def failure(self, key: str) -> None:
        """Count a failed attempt; locks `key` once it reaches the limit."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        hits.append(now)
        if len(hits) >= self.limit:
            strikes = self._strikes.get(key, 0) + 1
            self._strikes[key] = strikes
            self._locked_until[key] = now + min(self.window * 2 ** (strikes - 1), self.max_lock)
            hits.clear()
        if len(self._hits) > MAX_KEYS:  # a flood of keys: forget the oldest
            for k in list(self._hits)[:MAX_KEYS // 2]:
                self._hits.pop(k, None)
        if len(self._locked_until) > MAX_KEYS:  # and locks that have ended
            for k, until in list(self._locked_until.items()):
                if until <= now:
                    del self._locked_until[k]
                    self._strikes.pop(k, None)

    def clean(self, key: str) -> bool:
        """True if `key` has no failures in the window and has never been locked."""
        now = self.clock()
        hits = self._hits.get(key, ())
        return not any(t > now - self.window for t in hits) and key not in self._strikes

    def success(self, key: str) -> None:
        """Forget `key`'s failures."""
        self._hits.pop(key, None)
        self._strikes.pop(key, None)
        self._locked_until.pop(key, None)
