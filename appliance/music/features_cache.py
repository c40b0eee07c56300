"""The local track features cache (`track_features`): reads, writes and CSV import.

A damaged row (NULL, NaN, out of range, text where a number belongs) is
skipped and logged, never fatal: one bad import must not stop the music.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from appliance.music.features import TrackFeatures, valid_features

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("track_id", "name", "artists", "valence", "energy", "tempo")
_SQL_CHUNK = 500
_warned: set[str] = set()  # damaged rows already logged (once per process is enough)


@dataclass
class FeatureMatrix:
    """Features of many tracks as one float32 array (n, 3): valence, energy, tempo."""

    ids: list[str]
    values: np.ndarray
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> FeatureMatrix:
        return cls([], np.zeros((0, 3), dtype=np.float32))


@dataclass
class ImportReport:
    """What `import_csv` did: rows imported and rows skipped with reasons."""

    imported: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


def upsert_features(db: Database, rows: Iterable[TrackFeatures], now: float | None = None) -> int:
    """Store features (replacing older values for the same track); returns rows written."""
    stamp = time.time() if now is None else now
    records = [{"track_id": r.track_id, "name": r.name, "artists": r.artists,
                "valence": float(r.valence), "energy": float(r.energy), "tempo": float(r.tempo),
                "source": r.source, "fetched_at": stamp} for r in rows]
    if records:
        db.table("track_features").upsert_all(records, pk="track_id")
    return len(records)


def _rows(db: Database, ids: Sequence[str] | None) -> Iterable[dict[str, Any]]:
    sql = "SELECT track_id, valence, energy, tempo FROM track_features"
    if ids is None:
        yield from db.query(sql)
        return
    for start in range(0, len(ids), _SQL_CHUNK):
        chunk = list(ids[start:start + _SQL_CHUNK])
        marks = ",".join("?" * len(chunk))
        yield from db.query(f"{sql} WHERE track_id IN ({marks})", chunk)


def load_matrix(db: Database, ids: Sequence[str] | None = None) -> FeatureMatrix:
    """Usable features of `ids` (all cached tracks when None); damaged rows are skipped."""
    out_ids: list[str] = []
    values: list[tuple[float, float, float]] = []
    skipped = 0
    for row in _rows(db, ids):
        v, e, t = row["valence"], row["energy"], row["tempo"]
        reason = valid_features(v, e, t)
        if reason or not isinstance(row["track_id"], str):
            skipped += 1
            key = str(row["track_id"])[:40]
            if key not in _warned:
                _warned.add(key)
                logger.warning("features cache row for %r ignored: %s", key,
                               reason or "bad track id")
            continue
        out_ids.append(row["track_id"])
        values.append((v, e, t))
    arr = np.asarray(values, dtype=np.float32).reshape(-1, 3)
    return FeatureMatrix(out_ids, arr, skipped)


def get_features(db: Database, track_id: str) -> TrackFeatures | None:
    """One track's usable cached features, or None."""
    m = load_matrix(db, [track_id])
    if not len(m):
        return None
    v, e, t = (float(x) for x in m.values[0])
    return TrackFeatures(track_id, v, e, t)


def missing_ids(db: Database, ids: Sequence[str]) -> list[str]:
    """Ids with no usable cached features (damaged rows count as missing)."""
    have = set(load_matrix(db, list(ids)).ids)
    return [i for i in dict.fromkeys(ids) if i not in have]


def import_csv(db: Database, path: Path | str, now: float | None = None) -> ImportReport:
    """Import track_id,name,artists,valence,energy,tempo rows; bad rows are reported."""
    report = ImportReport()
    good: list[TrackFeatures] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        absent = [c for c in CSV_COLUMNS if c not in header]
        if absent:
            raise ValueError(f"{path}: missing column(s) {', '.join(absent)}; the header must be "
                             f"{','.join(CSV_COLUMNS)}")
        reader.fieldnames = header
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            reason, item = _parse_row(row)
            if item is not None and item.track_id in seen:
                reason, item = "duplicate track_id (first row kept)", None
            if item is None:
                report.skipped.append((line, reason))
                continue
            seen.add(item.track_id)
            good.append(item)
    report.imported = upsert_features(db, good, now)
    return report


def _parse_row(row: dict[str, Any]) -> tuple[str, TrackFeatures | None]:
    tid = (row.get("track_id") or "").strip()
    if tid.startswith("spotify:track:"):
        tid = tid.rsplit(":", 1)[1]
    if len(tid) != 22 or not tid.isalnum():
        return f"track_id {tid[:30]!r} is not a Spotify track id", None
    nums: list[float] = []
    for col in ("valence", "energy", "tempo"):
        raw = (row.get(col) or "").strip()
        try:
            nums.append(float(raw))
        except ValueError:
            return f"{col} {raw[:20]!r} is not a number", None
    reason = valid_features(*nums)
    if reason:
        return reason, None
    return "", TrackFeatures(tid, nums[0], nums[1], nums[2],
                             name=(row.get("name") or "").strip()[:200],
                             artists=(row.get("artists") or "").strip()[:200], source="csv")


def stats(db: Database) -> dict[str, Any]:
    """Counts for `mooddj features stats` and the page: by source, and damaged rows."""
    by_source = {r["source"] or "unknown": r["n"] for r in db.query(
        "SELECT source, COUNT(*) AS n FROM track_features GROUP BY source ORDER BY source")}
    m = load_matrix(db)
    newest = next(iter(db.query("SELECT MAX(fetched_at) AS t FROM track_features")))["t"]
    return {"total": sum(by_source.values()), "usable": len(m), "damaged": m.skipped,
            "by_source": by_source, "newest": newest}
