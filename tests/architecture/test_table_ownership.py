"""Each package owns its tables: no package reads or writes another's with raw SQL or
`db.table(...)`; it calls the owner's query functions (read from the source, ast)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlite_utils import Database

from appliance.core import schema as core
from appliance.identity import schema as identity
from appliance.music import schema as music

ROOT = Path(__file__).resolve().parents[2] / "appliance"
SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+\[?([a-z_]+)\]?")
# Generic tools over every table by design: the database viewer and the factory reset.
GENERIC = {"appliance/maintenance/inspect.py", "appliance/maintenance/reset.py"}
# None left; a new entry here would be a design decision, not a way to pass.
KNOWN: set[tuple[str, str]] = set()


def _owners() -> dict[str, str]:
    owners: dict[str, str] = {}
    db = Database(memory=True)
    for package, tables in (("core", core.TABLES), ("identity", identity.TABLES),
                            ("music", music.TABLES)):
        before = set(db.table_names())
        tables.migrations.apply(db)
        owners.update({name: package for name in set(db.table_names()) - before})
    return owners


def _tables_named(path: Path, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {m.lower() for m in SQL_TABLE.findall(node.value)} & known
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "table" and node.args
              and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str) and isinstance(node.value, ast.Name) \
                and node.value.id == "db":
            found.add(node.slice.value)
    return found & known


def test_every_table_has_an_owner() -> None:
    owners = _owners()
    assert {"settings", "users", "sessions", "connections", "feedback"} <= set(owners)


def test_no_package_touches_another_packages_tables() -> None:
    owners = _owners()
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        package = rel.split("/")[1]
        if rel in GENERIC or package in ("standins",) or rel.endswith("/schema.py"):
            continue
        for table in _tables_named(path, set(owners)):
            if owners[table] != package and (rel, table) not in KNOWN:
                bad.append(f"{rel} uses {owners[table]}'s table {table}")
    assert bad == []
