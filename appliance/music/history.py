"""Mood history: 15-minute aggregates only (never images, never single readings).

Readings are summed in memory and written once per bucket (or on `flush`),
so a 5 Hz mood loop costs a handful of writes an hour. Buckets older than
`player.mood_history_days` are deleted. `MoodHistoryService` is the supervised
subscriber that does it; the music page asks it for the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from appliance.core.bus import MOODS, Bus, MoodReading, PrivacyChanged
from appliance.core.service import Service
from appliance.core.settings import PRIVACY, Settings

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 900.0


def bucket_of(t: float) -> float:
    """Start of the 15-minute bucket holding time `t`."""
    return float(int(t // BUCKET_SECONDS) * BUCKET_SECONDS)


@dataclass
class _Agg:
    samples: int = 0
    valence_sum: float = 0.0
    arousal_sum: float = 0.0
    people_max: int = 0


class MoodHistory:
    """Collects readings per (bucket, mood) and writes the sums to `mood_history`."""

    def __init__(self, retention_days: int = 90) -> None:
        self.retention_days = retention_days
        self._pending: dict[tuple[float, str], _Agg] = {}

    def add(self, reading: MoodReading) -> None:
        """Count one reading (only rooms with faces; no per-reading write)."""
        if reading.faces <= 0 or reading.mood not in MOODS:
            return
        agg = self._pending.setdefault((bucket_of(reading.t), reading.mood), _Agg())
        agg.samples += 1
        agg.valence_sum += float(reading.valence)
        agg.arousal_sum += float(reading.arousal)
        agg.people_max = max(agg.people_max, int(reading.faces))

    def due(self, now: float) -> bool:
        """True when a finished bucket is waiting to be written."""
        current = bucket_of(now)
        return any(b < current for b, _ in self._pending)

    def take(self) -> dict[tuple[float, str], _Agg]:
        pending, self._pending = self._pending, {}
        return pending

    async def flush(self, store: Any, now: float | None = None) -> int:
        """Write every pending aggregate and prune old buckets; returns rows touched."""
        pending = self.take()
        if not pending:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_days * 86400.0
        return await store.write(lambda db: write_aggregates(db, pending, cutoff))


class MoodHistoryService(Service):
    """Counts the room's mood readings (not while privacy is on) and writes the buckets."""

    name = "mood_history"
    heartbeat_deadline = 120.0

    def __init__(self, store: Any, bus: Bus, retention_days: int = 90,
                 clock: Callable[[], float] = time.time,
                 settings: Settings | None = None) -> None:
        super().__init__()
        self.store = store
        self.settings = settings or Settings(store)
        self.bus = bus
        self.clock = clock
        self.history = MoodHistory(retention_days)
        self.privacy = False
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = self.bus.subscribe(MoodReading, PrivacyChanged, maxsize=500,
                                       name="mood_history")
        self.privacy = await self.settings.get(PRIVACY)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                self.take(await asyncio.wait_for(self._sub.get(), 30.0))
            if self.history.due(self.clock()):
                await self.history.flush(self.store, self.clock())
            self.beat()

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        with contextlib.suppress(Exception):
            await self.history.flush(self.store, self.clock())

    def take(self, event: Any) -> None:
        """Count one bus event (a reading, or privacy switched)."""
        if isinstance(event, PrivacyChanged):
            self.privacy = event.enabled
        elif isinstance(event, MoodReading) and not self.privacy:
            self.history.add(event)

    async def summary(self, days: float = 7.0) -> dict[str, Any]:
        """The summary of the last `days`, including readings not written yet."""
        await self.history.flush(self.store, self.clock())
        return await self.store.read(lambda db: summary(db, days, self.clock()))


def write_aggregates(db: Database, pending: dict[tuple[float, str], _Agg], cutoff: float) -> int:
    """Add `pending` to the stored buckets and delete buckets before `cutoff`."""
    for (bucket, mood), a in pending.items():
        db.execute(
            "INSERT INTO mood_history (bucket, mood, samples, valence_sum, arousal_sum, people_max)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(bucket, mood) DO UPDATE SET"
            " samples = samples + excluded.samples,"
            " valence_sum = valence_sum + excluded.valence_sum,"
            " arousal_sum = arousal_sum + excluded.arousal_sum,"
            " people_max = MAX(people_max, excluded.people_max)",
            [bucket, mood, a.samples, a.valence_sum, a.arousal_sum, a.people_max])
    prune(db, cutoff)
    return len(pending)


def prune(db: Database, cutoff: float) -> int:
    """Delete buckets that started before `cutoff`."""
    return db.execute("DELETE FROM mood_history WHERE bucket < ?", [cutoff]).rowcount


def summary(db: Database, days: float = 7.0, now: float | None = None) -> dict[str, Any]:
    """Share of each mood, per-day dominant mood and averages over the last `days`."""
    now = time.time() if now is None else now
    since = now - days * 86400.0
    rows = list(db.query(
        "SELECT bucket, mood, samples, valence_sum, arousal_sum, people_max FROM mood_history"
        " WHERE bucket >= ? AND bucket <= ? ORDER BY bucket", [since, now]))
    total = sum(int(r["samples"] or 0) for r in rows)
    by_mood = dict.fromkeys(MOODS, 0)
    per_day: dict[str, dict[str, int]] = {}
    v_sum = a_sum = 0.0
    for r in rows:
        n = int(r["samples"] or 0)
        if r["mood"] in by_mood:
            by_mood[r["mood"]] += n
        day = time.strftime("%Y-%m-%d", time.localtime(r["bucket"]))
        per_day.setdefault(day, dict.fromkeys(MOODS, 0))
        if r["mood"] in per_day[day]:
            per_day[day][r["mood"]] += n
        v_sum += float(r["valence_sum"] or 0.0)
        a_sum += float(r["arousal_sum"] or 0.0)
    return {
        "days": days,
        "samples": total,
        "share": {m: (round(n / total, 3) if total else 0.0) for m, n in by_mood.items()},
        "dominant": max(by_mood, key=lambda m: by_mood[m]) if total else None,
        "valence": round(v_sum / total, 3) if total else None,
        "arousal": round(a_sum / total, 3) if total else None,
        "people_max": max((int(r["people_max"] or 0) for r in rows), default=0),
        "per_day": [{"day": d, "dominant": max(c, key=lambda m: c[m]), "samples": sum(c.values())}
                    for d, c in sorted(per_day.items())],
        "buckets": len({r["bucket"] for r in rows}),
    }
