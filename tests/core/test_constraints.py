"""scripts/constraints.txt pins every dependency, and the venv under test is the pinned one."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "scripts" / "constraints.txt"


def pins() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"constraints.txt: {line!r} is not an exact pin"
        out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def installed_closure(extras: set[str]) -> set[str]:
    """mooddj's requirements (with extras) and theirs, as installed here."""
    seen: set[str] = set()
    todo = [("mooddj", extras)]
    while todo:
        name, want = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a marker left it out on this machine (e.g. lgpio, tflite-runtime)
        for raw in dist.requires or []:
            req = Requirement(raw)
            env_ok = any(req.marker is None or req.marker.evaluate({"extra": e})
                         for e in (want or {""}))
            key = canonicalize_name(req.name)
            if env_ok and key not in seen:
                seen.add(key)
                todo.append((req.name, set(req.extras)))
    return seen


def test_every_dependency_of_mooddj_and_its_dev_tools_is_pinned():
    missing = sorted(installed_closure({"dev"}) - set(pins()))
    # Optional runtimes of other platforms are not installed here and need no pin;
    # pip and setuptools are the installer's own (scripts/setup upgrades pip first).
    missing = [m for m in missing if _installed(m) and m not in ("pip", "setuptools")]
    assert not missing, f"add to scripts/constraints.txt: {missing}"


def test_the_venv_under_test_has_the_pinned_versions():
    wrong = {name: (_installed(name), want) for name, want in pins().items()
             if _installed(name) and _installed(name) != want}
    assert not wrong, f"installed != pinned (rerun scripts/setup --dev): {wrong}"


def test_opencv_stays_below_5_for_the_memory_budget():
    major = int(pins()["opencv-python-headless"].split(".")[0])
    assert major < 5
    assert '"opencv-python-headless>=4.8,<5"' in (ROOT / "pyproject.toml").read_text()


def test_setup_installs_with_the_constraints():
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "-c scripts/constraints.txt" in setup
    assert "scripts/constraints.txt" in setup.split("want=", 1)[1].splitlines()[0]


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
