"""The locks: scripts/constraints.txt (CI, the venv under test) and scripts/constraints-pi.txt.

constraints.txt pins every dependency and the venv under test is the pinned one; the Pi's
lock (scripts/lock-pi, resolved for aarch64 bookworm) pins every runtime dependency at
CI's version except the few it cannot share, and leaves OpenCV out.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "scripts" / "constraints.txt"
PI_LOCK = ROOT / "scripts" / "constraints-pi.txt"
# What the Pi cannot share with CI, and why (scripts/lock-pi's DIFFERS_FROM_CI).
PI_DIFFERS = {"numpy": "Debian bookworm's python3-numpy", "ml-dtypes": "0.7 needs numpy 2"}


def pins(lock: Path = LOCK) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"{lock.name}: {line!r} is not an exact pin"
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
    missing = sorted(installed_closure({"dev", "opencv"}) - set(pins()))
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
    assert 'extras="[dev,opencv]"' in setup and 'extras="[opencv]"' in setup
    assert "scripts/constraints.txt" in setup.split("want=", 1)[1].splitlines()[0]


def test_the_pi_lock_pins_every_runtime_dependency_without_opencv():
    # The runtime closure (no dev tools, no OpenCV) as installed here: every name is in the
    # Pi's lock, except what this machine installs and a Pi does not.
    runtime = installed_closure({"pi"})
    pi = pins(PI_LOCK)
    missing = sorted(n for n in runtime - set(pi)
                     if _installed(n) and n not in ("pip", "setuptools"))
    assert not missing, f"run scripts/lock-pi: {missing} are not in constraints-pi.txt"
    assert "opencv-python-headless" not in pi
    assert "lgpio" in pi  # the pi extra


def test_the_pi_lock_shares_ci_versions_except_the_debian_numpy():
    ci, pi = pins(), pins(PI_LOCK)
    differ = {n: (ci[n], pi[n]) for n in set(ci) & set(pi) if ci[n] != pi[n]}
    assert set(differ) == set(PI_DIFFERS), differ
    # Debian bookworm's numpy, which picamera2 and simplejpeg are built against.
    assert pi["numpy"] == "1.24.2"
    assert "DEBIAN_NUMPY = \"1.24.2\"" in (ROOT / "scripts" / "lock-pi").read_text()


def test_the_installer_uses_the_pi_lock_and_no_opencv():
    installer = (ROOT / "scripts" / "install-pi.sh").read_text()
    assert '"$SRC/scripts/constraints-pi.txt"' in installer
    assert '--constraint "$VENV/constraints.txt"' in installer
    assert "opencv" not in installer.lower()
    deps = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    assert "opencv" not in deps  # an extra, not a dependency of the box


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
