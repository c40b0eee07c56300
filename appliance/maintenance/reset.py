"""`mooddj factory-reset`: erase everything personal and start over with a new key.

Erased: every table except the ones in KEEP_TABLES (users, identities,
sessions, connections, settings, feedback, mood history, plays, and any table a
later migration adds). Kept: the track features cache (facts about songs, not
people) and the migration record. Deleted rows are zeroed (secure_delete) and
the WAL is checkpointed, then the key is replaced by a new one.

Inside the running box the panel's reset gesture calls `factory_reset(store,
key_path, sealer)`; the box's Sealer switches to the new key in place.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `mooddj --help` stays fast
    from sqlite_utils import Database

    from appliance.core.crypto import Sealer
    from appliance.core.store import Store

logger = logging.getLogger(__name__)

KEEP_TABLES = frozenset({"track_features", "_sqlite_migrations"})


@dataclass(frozen=True)
class ResetResult:
    """Rows erased per table and the new key's public id."""

    erased: dict[str, int]
    key_fingerprint: str


def erase_personal_data(db: Database) -> dict[str, int]:
    """Delete every row of every table not in KEEP_TABLES (call inside a transaction)."""
    db.execute("PRAGMA defer_foreign_keys = ON")
    rows = list(db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    virtual = [r["name"] for r in rows if (r["sql"] or "").upper().startswith("CREATE VIRTUAL")]
    erased: dict[str, int] = {}
    for r in rows:
        name = r["name"]
        if name in KEEP_TABLES or name.startswith("sqlite_"):
            continue
        if any(name.startswith(v + "_") for v in virtual):
            continue  # shadow table of a virtual table: emptied through the table itself
        erased[name] = db.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0]  # noqa: S608
        db.execute(f"DELETE FROM [{name}]")  # noqa: S608 (names from sqlite_master)
    return erased


def factory_reset_sync(store: Store, key_path: Path, sealer: Sealer | None = None
                       ) -> ResetResult:
    """Erase personal data durably, then replace the key (works with a lost key too)."""
    from appliance.core.crypto import KEY_BYTES, Sealer, write_key
    from appliance.core.secrets_store import install_pending_key, pending_key_path

    erased = store.write_sync(erase_personal_data, durable=True)
    store.checkpoint_sync()
    new_key = os.urandom(KEY_BYTES)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    # Through secret.key.new like a rotation: with no sealed values left, a crash
    # here is finished at the next start.
    write_key(pending_key_path(key_path), new_key)
    install_pending_key(key_path)
    new = Sealer(new_key)
    if sealer is not None:
        sealer.rekey(new_key)
    logger.warning("factory reset: erased %d rows in %d tables, new key id %s",
                   sum(erased.values()), len(erased), new.version)
    return ResetResult(erased, new.version)


async def factory_reset(store: Store, key_path: Path, sealer: Sealer | None = None
                        ) -> ResetResult:
    """Erase accounts, links, sessions, settings and history; new key (for the panel)."""
    return await asyncio.to_thread(factory_reset_sync, store, key_path, sealer)
