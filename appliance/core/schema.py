"""Core's tables of mooddj.db (`settings`), and how a package declares its own.

Each package owns its tables: a `Tables` in `<package>/schema.py` holds its
sqlite-utils `Migrations` set (named after the package), the sealed columns of
those tables, and what its migrations were called in the single "mooddj" set
every database was made with before the tables had owners. `Store.open` applies
the sets it is given in the order given; `appliance.schema.TABLES` is the box's.

Never edit a migration that has shipped: add the next number.
Times are UTC epoch seconds (REAL). Sealed values are text from `core.crypto`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from appliance.core.crypto import SealedColumn

LEGACY_SET = "mooddj"  # the one set of every database made before the tables had owners


@dataclass(frozen=True)
class Tables:
    """One package's tables: its migrations, sealed columns and former migration names."""

    migrations: Migrations
    names: tuple[str, ...]  # every migration of the set, in order (sqlite-utils keeps it private)
    sealed: tuple[SealedColumn, ...] = ()
    # migration name -> the name of the LEGACY_SET migration that made the same tables
    formerly: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.migrations.name


def declare(migrations: Migrations, *, sealed: Sequence[SealedColumn] = (),
            formerly: Mapping[str, str] | None = None) -> Tables:
    """The `Tables` of a set whose migrations are all registered by now."""
    return Tables(migrations, tuple(m.name for m in migrations.pending(Database(memory=True))),
                  tuple(sealed), dict(formerly or {}))


def _applied(db: Database, set_name: str) -> list[str]:
    return [m.name for m in Migrations(set_name).applied(db)]


def adopt_legacy(db: Database, tables: Sequence[Tables]) -> None:
    """Record as applied each migration whose tables the old single set already made.

    A database made before the tables had owners then opens without running
    anything again; its old records stay as they are.
    """
    done = set(_applied(db, LEGACY_SET))
    if not done:
        return
    for t in tables:
        have = set(_applied(db, t.name))
        adopt = [n for n in t.names if t.formerly.get(n) in done and n not in have]
        if adopt:
            t.migrations.ensure_migrations_table(db)
            db.table(Migrations.migrations_table).insert_all(
                {"migration_set": t.name, "name": n, "applied_at": "adopted"} for n in adopt)


def apply(db: Database, tables: Sequence[Tables]) -> None:
    """Bring the database up to date with `tables`, in their order."""
    adopt_legacy(db, tables)
    for t in tables:
        t.migrations.apply(db)


def migration_state(db: Database, tables: Sequence[Tables]) -> tuple[list[str], list[str]]:
    """(pending, unknown) migration names as "set/name": pending ones run at the next start;
    unknown ones were applied by a newer mooddj than this one."""
    pending: list[str] = []
    formerly = {old for t in tables for old in t.formerly.values()}
    unknown = [f"{LEGACY_SET}/{n}" for n in _applied(db, LEGACY_SET) if n not in formerly]
    for t in tables:
        applied = _applied(db, t.name)
        pending += [f"{t.name}/{n}" for n in t.names if n not in applied]
        unknown += [f"{t.name}/{n}" for n in applied if n not in t.names]
    return pending, unknown


def applied_names(db: Database, tables: Sequence[Tables]) -> list[str]:
    """Every applied migration of `tables` as "set/name" (a backup's manifest)."""
    return [f"{t.name}/{n}" for t in tables for n in _applied(db, t.name)]


migrations = Migrations("core")


@migrations()
def m001_settings(db: Database) -> None:
    db.table("settings").create({"key": str, "value": str, "updated_at": float}, pk="key")


TABLES = declare(migrations, formerly={"m001_settings": "m001_accounts"})
