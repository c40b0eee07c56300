"""The box's tables: every package's set, in the order `Store.open` applies them.

Identity comes before music: `connections.user_id` refers to `users`. The web has no
tables of its own: a browser's session (who it is, that it was paired) is identity's.
"""

from __future__ import annotations

from pathlib import Path

from appliance.core import schema as core
from appliance.core.crypto import SealedColumn
from appliance.core.schema import Tables
from appliance.core.store import Store
from appliance.identity import schema as identity
from appliance.music import schema as music

TABLES: tuple[Tables, ...] = (core.TABLES, identity.TABLES, music.TABLES)
SEALED: tuple[SealedColumn, ...] = tuple(c for t in TABLES for c in t.sealed)


def open_store(path: Path | str | None) -> Store:
    """The box's database at `path` (None: in memory), every table up to date."""
    return Store.open(path, TABLES)
