"""The package's layering, read from its imports (ast): the architecture as a test.

Every `import` counts, including those inside functions and under TYPE_CHECKING:
a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "appliance"
PRODUCT = {"core", "maintenance", "app", "identity", "music", "panel", "vision", "web"}
SIM_SIDE = {"standins", "simmode", "bench"}
NO_AIOHTTP_WEB = {"music", "panel", "identity", "vision"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(p for p in parts if p != "__init__")] = path
    return out


def _imports(path: Path, module: str) -> list[str]:
    """Absolute names of every module imported by `path` (relative imports resolved)."""
    names = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def _package(name: str) -> str | None:
    """`core` for appliance.core.bus; None outside appliance; '' for appliance itself."""
    if name != "appliance" and not name.startswith("appliance."):
        return None
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = _modules()
IMPORTS = {mod: _imports(path, mod) for mod, path in MODULES.items()}


def _target(name: str) -> str | None:
    """The appliance module an imported name lives in (a module, or a name in one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


EDGES: dict[str, set[str]] = defaultdict(set)  # package -> other packages it imports
for _mod, _names in IMPORTS.items():
    for _name in _names:
        _dst = _target(_name)
        if _dst and _package(_dst) and _package(_dst) != _package(_mod) and _package(_mod):
            EDGES[_package(_mod)].add(_package(_dst))


def _offenders(package: str, allowed: set[str]) -> list[str]:
    bad = []
    for mod, names in IMPORTS.items():
        if _package(mod) != package:
            continue
        for name in names:
            dst = _target(name)
            if dst is not None and _package(dst) not in allowed | {package}:
                bad.append(f"{mod} imports {dst}")
    return sorted(set(bad))


def test_core_imports_no_other_appliance_package() -> None:
    assert _offenders("core", {""}) == []  # `appliance.__version__` only


def test_the_stand_ins_import_nothing_of_appliance() -> None:
    assert _offenders("standins", set()) == []


def test_no_product_package_imports_the_stand_ins_the_simulator_or_the_benches() -> None:
    bad = [f"{p} -> {d}" for p in PRODUCT for d in EDGES[p] if d in SIM_SIDE]
    # One door: the app composition builds the simulator's camera switch in simulator mode,
    # and the web routes module for it imports that class.
    allowed = {"app -> simmode", "web -> simmode"}
    assert sorted(set(bad) - allowed) == []


def test_argparse_only_in_cli_and_nothing_imports_cli() -> None:
    argparse_users = sorted(m for m, names in IMPORTS.items()
                            if "argparse" in names and _package(m) not in ("cli", "standins"))
    assert argparse_users == []
    importers = sorted(m for m, names in IMPORTS.items() if _package(m) != "cli"
                       and any(_package(n) == "cli" for n in names))
    assert importers == []


def test_music_panel_identity_and_vision_do_not_import_aiohttp_web() -> None:
    bad = sorted(f"{m}: {n}" for m, names in IMPORTS.items() if _package(m) in NO_AIOHTTP_WEB
                 for n in names if n in ("aiohttp.web", "aiohttp.web_request")
                 or n.startswith("aiohttp.web."))
    assert bad == []


def test_no_import_circle_between_packages() -> None:
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in EDGES[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    circles = sorted(p for p in list(EDGES) if p in reach(p))
    assert circles == [], {p: sorted(EDGES[p]) for p in circles}


def test_the_checks_see_the_whole_tree() -> None:
    """Guards the test itself: it reads every package and finds real edges."""
    assert {"core", "web", "music", "cli", "app", "standins"} <= {_package(m) for m in MODULES}
    assert "core" in EDGES["music"] and "music" in EDGES["web"]
