"""Typed settings over a real SQLite store: cache, invalidation, transactions, privacy."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from appliance.core.bus import Bus, PrivacyChanged, SettingChanged
from appliance.core.settings import (
    ACTIVE_LISTENER,
    PRIVACY,
    SPEAKER_VOLUME,
    Key,
    Settings,
    count_key,
    stored,
    text_key,
)
from appliance.core.store import Store


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


async def until(pred, what: str, timeout: float = 5.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, f"{what} did not happen"
        await asyncio.sleep(0.01)


async def test_typed_values_round_trip_and_unset_keys_read_as_their_default(store) -> None:
    settings = Settings(store)
    assert await settings.get(PRIVACY) is False
    assert await settings.get(ACTIVE_LISTENER) == ""
    assert await settings.get(SPEAKER_VOLUME) == 40
    await settings.set(PRIVACY, True)
    await settings.set(ACTIVE_LISTENER, "mmp_a")
    await settings.set(SPEAKER_VOLUME, 35)
    fresh = Settings(store)  # nothing cached: straight from the table
    assert (await fresh.get(PRIVACY), await fresh.get(ACTIVE_LISTENER),
            await fresh.get(SPEAKER_VOLUME)) == (True, "mmp_a", 35)
    assert store.read_sync(lambda db: stored(db, [PRIVACY, SPEAKER_VOLUME])) == {
        "privacy": "1", "speaker.volume": "35"}
    await store.write(lambda db: db["settings"].upsert(
        {"key": "speaker.volume", "value": "loud", "updated_at": 0.0}, pk="key"))
    assert Settings(store).get_sync(SPEAKER_VOLUME) == 40  # damaged text: the default
    await fresh.delete(ACTIVE_LISTENER)
    assert Settings(store).get_sync(ACTIVE_LISTENER) == ""


async def test_a_value_read_is_the_readers_own_to_change(store) -> None:
    bus = Bus()
    settings = Settings(store, bus)
    lists = Key("test.lists", {}, json.loads, json.dumps)
    mine = await settings.get(lists)  # unset: the default
    mine["sad"] = ["p1"]
    assert await settings.get(lists) == {}  # the default itself did not change
    await settings.set(lists, {"happy": ["p2"]})
    (await settings.get(lists))["happy"].append("p3")
    assert await settings.get(lists) == {"happy": ["p2"]}  # nor did the cached text


async def test_reads_are_cached_until_a_write_anywhere_on_the_bus_announces_a_change(store):
    bus = Bus()
    page, player = Settings(store, bus), Settings(store, bus)
    key = text_key("test.word")
    changes = bus.subscribe(SettingChanged)
    assert await player.get(key) == ""
    assert await player.get(key) == ""
    assert player.reads == 1  # the second came from the cache
    await page.set(key, "hello")
    assert changes.get_nowait().key == "test.word"
    assert await player.get(key) == "hello"  # its cache was dropped by the event
    assert player.reads == 2


async def test_a_read_that_races_a_write_is_not_cached_stale(store) -> None:
    bus = Bus()
    settings = Settings(store, bus)
    key = text_key("test.word")
    gate = threading.Event()
    valve = threading.Timer(5.0, gate.set)  # never hangs, even if the test is wrong
    valve.start()
    try:
        blocker = asyncio.ensure_future(store.read(lambda db: gate.wait()))
        old = asyncio.ensure_future(settings.get(key))  # queued behind the blocker
        await asyncio.sleep(0)
        await settings.set(key, "new")  # the writer thread is free
        gate.set()
        await blocker
        await old  # read before or after the write: either way it must not stick
        assert await settings.get(key) == "new"
    finally:
        valve.cancel()


async def test_change_is_one_transaction_and_announces_only_after_commit(store) -> None:
    bus = Bus()
    settings = Settings(store, bus)
    changes = bus.subscribe(SettingChanged)
    volume = count_key("test.volume", 10)

    def half_done(tx) -> None:
        tx.set(volume, 99)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await settings.change(half_done)
    assert await settings.get(volume) == 10 and len(changes) == 0

    def both(tx) -> str:
        tx.set(volume, 20)
        tx.set(ACTIVE_LISTENER, "mmp_b")
        return tx.get(ACTIVE_LISTENER)

    assert await settings.change(both) == "mmp_b"
    assert {changes.get_nowait().key, changes.get_nowait().key} == {"test.volume",
                                                                    "active_listener"}
    await settings.change(lambda tx: tx.delete(ACTIVE_LISTENER, holding="someone_else"))
    assert await settings.get(ACTIVE_LISTENER) == "mmp_b"
    await settings.change(lambda tx: tx.delete(ACTIVE_LISTENER, holding="mmp_b"))
    assert await settings.get(ACTIVE_LISTENER) == ""


async def test_privacy_is_stored_from_the_event_alone(store) -> None:
    bus = Bus()
    settings = Settings(store, bus)
    assert await settings.get(PRIVACY) is False
    bus.publish(PrivacyChanged(enabled=True))  # what the panel and the page do
    assert await settings.get(PRIVACY) is True  # at once, before the write lands
    await settings.flush()
    assert Settings(store).get_sync(PRIVACY) is True  # a restarted box reads it
    bus.publish(PrivacyChanged(enabled=False))
    bus.publish(PrivacyChanged(enabled=True))
    bus.publish(PrivacyChanged(enabled=False))
    await settings.flush()
    assert Settings(store).get_sync(PRIVACY) is False  # the last one wins


async def test_a_read_never_blocks_the_event_loop(store) -> None:
    """While the reader thread is busy, `get` waits off the loop: other tasks still run."""
    settings = Settings(store)
    gate = threading.Event()
    valve = threading.Timer(3.0, gate.set)  # a blocking get would hold the loop until then
    valve.start()
    try:
        busy = asyncio.ensure_future(store.read(lambda db: gate.wait()))
        await asyncio.sleep(0)
        pending = asyncio.ensure_future(settings.get(PRIVACY))
        seen: list[bool] = []

        async def other() -> None:
            seen.append(gate.is_set())

        await asyncio.ensure_future(other())
        assert seen == [False]  # the loop ran another task while the read was queued
        gate.set()
        await busy
        assert await pending is False
    finally:
        valve.cancel()
