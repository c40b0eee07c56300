"""Mood history (15-minute aggregates, retention, summary) and mood targets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from appliance.core.bus import Bus, MoodReading, PrivacyChanged
from appliance.core.settings import Settings
from appliance.core.settings import stored as text_of
from appliance.core.store import Store
from appliance.music import history
from appliance.music.history import BUCKET_SECONDS, MoodHistory, MoodHistoryService, bucket_of
from appliance.music.moods import (
    DEFAULT_TARGETS,
    MOOD_TARGETS,
    MoodTarget,
    load_targets,
    parse_targets,
    save_targets,
    target_for_reading,
    validate_targets,
)
from appliance.schema import open_store

DAY = 86400.0
NOW = 1_800_000_000.0


def _reading(mood: str, t: float, faces: int = 2, valence: float = 0.5) -> MoodReading:
    return MoodReading(faces=faces, valence=valence, arousal=0.2, mood=mood, confidence=0.8, t=t)


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "m.db")
    yield s
    s.close()


async def test_readings_become_15_minute_aggregates_only(store: Store) -> None:
    h = MoodHistory(retention_days=90)
    start = bucket_of(NOW)
    for i in range(30):  # 30 readings in one bucket
        h.add(_reading("happy", start + i, faces=1 + i % 3))
    h.add(_reading("sad", start + 5))
    h.add(_reading("happy", start + BUCKET_SECONDS + 1))  # next bucket
    h.add(_reading("happy", start + 2, faces=0))  # an empty room is not a mood
    assert not h.due(start + 10)
    assert h.due(start + BUCKET_SECONDS + 5)
    await h.flush(store, now=NOW)
    rows = store.read_sync(lambda db: list(db.query(
        "SELECT * FROM mood_history ORDER BY bucket, mood")))
    assert [(r["bucket"], r["mood"], r["samples"]) for r in rows] == [
        (start, "happy", 30), (start, "sad", 1), (start + BUCKET_SECONDS, "happy", 1)]
    assert rows[0]["people_max"] == 3
    assert rows[0]["valence_sum"] == pytest.approx(15.0)
    # a second flush adds to the same bucket
    h.add(_reading("happy", start + 100))
    await h.flush(store, now=NOW)
    n = store.read_sync(lambda db: next(iter(db.query(
        "SELECT samples FROM mood_history WHERE bucket = ? AND mood = 'happy'", [start]))))
    assert n["samples"] == 31


async def test_retention_deletes_old_buckets(store: Store) -> None:
    h = MoodHistory(retention_days=10)
    h.add(_reading("sad", NOW - 11 * DAY))
    h.add(_reading("happy", NOW - 9 * DAY))
    await h.flush(store, now=NOW)
    moods = store.read_sync(lambda db: [r["mood"] for r in db.query(
        "SELECT mood FROM mood_history")])
    assert moods == ["happy"]


async def test_summary_shares_dominant_and_per_day(store: Store) -> None:
    h = MoodHistory()
    for i in range(6):
        h.add(_reading("happy", NOW - 2 * DAY + i))
    for i in range(2):
        h.add(_reading("sad", NOW - 1 * DAY + i))
    h.add(_reading("angry", NOW - 30 * DAY))  # outside the 7-day window
    await h.flush(store, now=NOW)
    s = store.read_sync(lambda db: history.summary(db, days=7, now=NOW))
    assert s["samples"] == 8
    assert s["dominant"] == "happy"
    assert s["share"]["happy"] == pytest.approx(0.75)
    assert s["share"]["angry"] == 0
    assert [d["dominant"] for d in s["per_day"]] == ["happy", "sad"]
    empty = store.read_sync(lambda db: history.summary(db, days=7, now=NOW - 100 * DAY))
    assert empty["samples"] == 0 and empty["dominant"] is None


async def test_mood_targets_are_editable_and_stored_as_json(store: Store) -> None:
    settings = Settings(store)
    assert await load_targets(settings) == DEFAULT_TARGETS
    await save_targets(settings, {"sad": MoodTarget(0.1, 0.2, 70.0)})
    stored = json.loads(store.read_sync(lambda db: text_of(db, [MOOD_TARGETS]))[MOOD_TARGETS.name])
    assert stored["sad"] == {"valence": 0.1, "energy": 0.2, "tempo": 70.0}
    targets = await load_targets(settings)
    assert targets["sad"] == MoodTarget(0.1, 0.2, 70.0)
    assert targets["happy"] == DEFAULT_TARGETS["happy"]


def test_invalid_targets_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown mood"):
        validate_targets({"bored": {"valence": 0.1, "energy": 0.1, "tempo": 90}})
    with pytest.raises(ValueError, match=r"sad\.valence must be between"):
        validate_targets({"sad": {"valence": 1.5, "energy": 0.1, "tempo": 90}})
    with pytest.raises(ValueError, match=r"sad\.tempo must be a number"):
        validate_targets({"sad": {"valence": 0.5, "energy": 0.1, "tempo": "slow"}})
    assert parse_targets("{broken") == DEFAULT_TARGETS


def test_room_reading_nudges_the_label_target() -> None:
    base = DEFAULT_TARGETS["happy"]
    mild = target_for_reading(MoodReading(faces=1, valence=0.1, arousal=-0.5, mood="happy",
                                          confidence=1.0), DEFAULT_TARGETS)
    wild = target_for_reading(MoodReading(faces=1, valence=1.0, arousal=1.0, mood="happy",
                                          confidence=1.0), DEFAULT_TARGETS)
    assert mild.valence < base.valence and mild.energy < base.energy
    assert wild.energy > base.energy
    assert mild.tempo < wild.tempo
    unsure = target_for_reading(MoodReading(faces=1, valence=-1, arousal=-1, mood="happy",
                                            confidence=0.0), DEFAULT_TARGETS)
    assert unsure == base


async def test_the_history_service_counts_the_bus_readings_except_in_privacy(tmp_path: Path):
    store = open_store(tmp_path / "h.db")
    bus = Bus(asyncio.get_running_loop())
    svc = MoodHistoryService(store, bus, 90, clock=lambda: NOW + 60)
    await svc.start()
    for _ in range(3):
        bus.publish(_reading("happy", NOW))
    bus.publish(PrivacyChanged(enabled=True))
    bus.publish(_reading("sad", NOW))  # privacy: the mood is not recorded
    bus.publish(PrivacyChanged(enabled=False))
    bus.publish(_reading("sad", NOW))
    while (ev := svc._sub.get_nowait()) is not None:
        svc.take(ev)
    summary = await svc.summary(7)  # what the page asks: includes what is not written yet
    assert summary["samples"] == 4 and summary["dominant"] == "happy"
    assert summary["share"]["sad"] == 0.25
    await svc.stop()
    store.close()
