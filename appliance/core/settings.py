"""Typed settings: the only code that reads or writes the `settings` table.

A `Key` names one setting, its value while unset and its text form. Keys that
several packages read are declared here; a package's own keys sit beside the
code that owns them (e.g. `music.moods.MOOD_TARGETS`).

`Settings` reads on the store's reader thread, never on the event loop. Made
with the bus, it caches what it read: every write publishes `SettingChanged`,
which drops that key from every cache on the bus, so a value is never served
stale. Without a bus it cannot hear other writers, so it does not cache. Code that
must change a setting and other tables in one transaction passes a function to
`Settings.change`; it gets a `SettingsTx` whose `db` reaches the other tables.

Privacy has one writer: a `Settings` made with the bus stores every
`PrivacyChanged` (the panel and the page only publish the event). Make one per
bus (the box's context does).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlite_utils import Database

from appliance.core.bus import Bus, Event, PrivacyChanged, SettingChanged
from appliance.core.store import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

TABLE = "settings"


@dataclass(frozen=True)
class Key(Generic[T]):
    """One setting: its name in the table, its value while unset, and its text form."""

    name: str
    default: T
    decode: Callable[[str], T]
    encode: Callable[[T], str]

    def value(self, raw: str | None) -> T:
        """The typed value of the stored text (a copy of `default` when unset).

        Always a fresh object: a caller may change what it got (a dict of playlists)
        without changing what the next caller reads.
        """
        return copy.deepcopy(self.default) if raw is None else self.decode(raw)


def text_key(name: str, default: str = "") -> Key[str]:
    """A setting holding plain text."""
    return Key(name, default, str, str)


def flag_key(name: str, default: bool = False) -> Key[bool]:
    """A setting stored as "1" or "0"."""
    return Key(name, default, lambda raw: raw == "1", lambda on: "1" if on else "0")


def count_key(name: str, default: int) -> Key[int]:
    """A setting holding a whole number >= 0 (anything else reads as `default`)."""
    return Key(name, default, lambda raw: int(raw) if raw.isdigit() else default, str)


# The keys more than one package reads.
PRIVACY = flag_key("privacy")  # camera off, music paused
ACTIVE_LISTENER = text_key("active_listener")  # user id whose Spotify account plays
SPEAKER_ID = text_key("speaker.id")  # the chosen Connect device...
SPEAKER_NAME = text_key("speaker.name")  # ...found again by name when its id changes
SPEAKER_VOLUME = count_key("speaker.volume", 40)  # percent the music starts at


def _raw(db: Database, name: str) -> str | None:
    rows = list(db.query(f"SELECT value FROM {TABLE} WHERE key = ?", [name]))  # noqa: S608
    return rows[0]["value"] if rows else None


def stored(db: Database, keys: Iterable[Key[Any]]) -> dict[str, str]:
    """The stored text of those of `keys` that are set (for inspection: `mooddj status`)."""
    names = [k.name for k in keys]
    if not names or not db.table(TABLE).exists():
        return {}
    marks = ",".join("?" * len(names))
    return {r["key"]: r["value"] for r in db.query(
        f"SELECT key, value FROM {TABLE} WHERE key IN ({marks})", names)}  # noqa: S608


class SettingsTx:
    """Settings inside one store transaction; `db` reaches the other tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.changed: list[str] = []

    def get(self, key: Key[T]) -> T:
        """The setting's value (its default while unset)."""
        return key.value(_raw(self.db, key.name))

    def set(self, key: Key[T], value: T) -> None:
        """Store `value` for `key`."""
        self.db.table(TABLE).upsert({"key": key.name, "value": key.encode(value),
                               "updated_at": time.time()}, pk="key")
        self.changed.append(key.name)

    def delete(self, key: Key[T], *, holding: T | None = None) -> None:
        """Unset `key` (only while it holds `holding`, when that is given)."""
        if holding is None:
            self.db.execute(f"DELETE FROM {TABLE} WHERE key = ?", [key.name])  # noqa: S608
        else:
            self.db.execute(f"DELETE FROM {TABLE} WHERE key = ? AND value = ?",  # noqa: S608
                            [key.name, key.encode(holding)])
        self.changed.append(key.name)


class Settings:
    """The box's settings over its store: async, cached, invalidated by `SettingChanged`."""

    def __init__(self, store: Store, bus: Bus | None = None) -> None:
        self.store = store
        self.bus = bus
        self._cache: dict[str, str | None] = {}  # name -> stored text (None: unset)
        self._generation = 0  # bumped by every invalidation: late reads are not cached
        self._tasks: set[asyncio.Task[None]] = set()
        self.reads = 0  # reads that went to the database (the rest came from the cache)
        if bus is not None:
            bus.observe(self._on_event, SettingChanged, PrivacyChanged)

    async def get(self, key: Key[T]) -> T:
        """The setting's value: from the cache, else read on the store's reader thread."""
        if key.name in self._cache:
            return key.value(self._cache[key.name])
        generation = self._generation
        raw = await self.store.read(lambda db: _raw(db, key.name))
        self.reads += 1
        if self.bus is not None and generation == self._generation:
            self._cache[key.name] = raw
        return key.value(raw)

    def get_sync(self, key: Key[T]) -> T:
        """`get` for code outside the event loop (commands, worker threads); no cache."""
        return key.value(self.store.read_sync(lambda db: _raw(db, key.name)))

    async def set(self, key: Key[T], value: T) -> None:
        """Store `value` for `key`."""
        await self.change(lambda tx: tx.set(key, value))

    async def delete(self, key: Key[T]) -> None:
        """Unset `key` (it reads as its default again)."""
        await self.change(lambda tx: tx.delete(key))

    async def view(self, fn: Callable[[SettingsTx], R]) -> R:
        """Run `fn(tx)` on the reader thread (settings and other tables seen together)."""
        return await self.store.read(lambda db: fn(SettingsTx(db)))

    async def change(self, fn: Callable[[SettingsTx], R], *, durable: bool = False) -> R:
        """Run `fn(tx)` in one write transaction; then announce every key it changed."""
        def run(db: Database) -> tuple[R, list[str]]:
            tx = SettingsTx(db)
            return fn(tx), tx.changed
        result, changed = await self.store.write(run, durable=durable)
        for name in dict.fromkeys(changed):
            self.announce(name)
        return result

    def announce(self, name: str = "") -> None:
        """Say that setting `name` ("": any) changed in the database: caches drop it."""
        if self.bus is not None:
            self.bus.publish(SettingChanged(key=name))  # reaches this cache too
        else:
            self._forget(name)

    def _forget(self, name: str) -> None:
        self._generation += 1
        if name:
            self._cache.pop(name, None)
        else:
            self._cache.clear()

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, SettingChanged):
            self._forget(ev.key)
        elif isinstance(ev, PrivacyChanged):
            self._forget(PRIVACY.name)
            self._cache[PRIVACY.name] = PRIVACY.encode(ev.enabled)  # stored just below
            task = asyncio.get_running_loop().create_task(
                self._store_privacy(ev.enabled), name="settings-privacy")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _store_privacy(self, enabled: bool) -> None:
        try:
            # No SettingChanged: PrivacyChanged already updated every cache on the bus.
            await self.store.write(lambda db: SettingsTx(db).set(PRIVACY, enabled))
        except Exception as err:
            logger.error("privacy %s could not be stored: %s", "on" if enabled else "off", err)

    async def flush(self) -> None:
        """Wait for privacy changes still being stored (before the store closes)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
