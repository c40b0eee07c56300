"""scripts/install-pi.sh for real, as root, into a throwaway root: install, again, uninstall, purge.

Only systemctl and apt-get are stand-ins (no systemd here; the Pi archive's packages do not
exist on Debian): each records its calls. Everything else runs: the user and group, the
release, the venv from scripts/constraints-pi.txt, the kernel, the models, the .pyc files.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi.sh"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the installer creates a user: needs root"),
    pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync missing (scripts/setup --dev)"),
]

# What a bare Raspberry Pi OS has before the installer runs (in the throwaway root).
BARE = ["opt", "usr/local/bin", "etc/systemd/system", "var/lib", "boot/firmware"]
BOOT_TEXT = "# stock config\ndtoverlay=vc4-kms-v3d\n[all]\n"


@pytest.fixture
def box(tmp_path: Path):
    root = tmp_path / "root"
    for d in BARE:
        (root / d).mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text(BOOT_TEXT)
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "calls.log"
    for name in ("systemctl", "apt-get"):
        (shims / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
                                  f'[ "$1" = is-active ] && exit 3\nexit 0\n')
        (shims / name).chmod(0o755)
    user = f"mooddjt{os.getpid() % 100000}"
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}",
           "MOODDJ_PREFIX": str(root / "opt/mooddj"),
           "MOODDJ_CONF_DIR": str(root / "etc/mooddj"),
           "MOODDJ_UNIT_DIR": str(root / "etc/systemd/system"),
           "MOODDJ_BOOT_CONFIG": str(root / "boot/firmware/config.txt"),
           "MOODDJ_BIN_DIR": str(root / "usr/local/bin"),
           "MOODDJ_STATE_DIR": str(root / "var/lib/mooddj"),
           "MOODDJ_USER": user,
           # A group of its own: the suites of other checkouts may install at the same time.
           "MOODDJ_GROUPS": f"video {user}g"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    yield root, env, log, user
    # Whatever happened: no user or group of this test stays on the machine.
    run(env, "--purge", check=False)
    subprocess.run(["userdel", user], capture_output=True)
    subprocess.run(["groupdel", f"{user}g"], capture_output=True)


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=600, cwd="/")
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def listing(root: Path) -> dict[str, str]:
    """Every path under root with its type and permission bits (sizes of files too)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
        size = f" {st.st_size}" if kind == "f" else ""
        out[str(p.relative_to(root))] = f"{kind} {stat.S_IMODE(st.st_mode):o}{size}"
    return out


def test_install_twice_then_uninstall_and_purge_leave_nothing_behind(box) -> None:
    root, env, log, user = box
    before = listing(root)
    prefix = root / "opt/mooddj"

    first = run(env)
    assert "Then open http://mooddj.local/ on a phone" in first.stdout
    current = prefix / "current"
    release = current.resolve()
    assert release.parent == prefix / "releases"
    assert (release / "VERSION").read_text().startswith('version = "')
    # The kernel and the bytecode are in the installed tree, not in the checkout.
    assert (release / "appliance/vision/native/_warp.so").is_file()
    assert list((release / "appliance/core/__pycache__").glob("config.cpython-*.pyc"))
    # Root-owned code the service cannot change.
    for p in (release, release / "appliance/core/config.py", release / "bin/mooddj"):
        st = p.stat()
        assert st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), p
    # mooddj is on PATH (through current/) and runs the installed release.
    on_path = root / "usr/local/bin/mooddj"
    assert os.readlink(on_path) == str(current / "bin/mooddj")
    proc = subprocess.run([str(on_path), "--help"], capture_output=True, text=True,
                          timeout=120, cwd="/")
    assert proc.returncode == 0 and "usage: mooddj" in proc.stdout, proc.stderr
    # The venv got the Pi's lock: numpy is the lock's (no system numpy here), no OpenCV.
    venv_py = next((prefix / "venvs").glob("*/bin/python"))
    pins = (REPO / "scripts/constraints-pi.txt").read_text()
    got = subprocess.run([str(venv_py), "-c", "import numpy; print(numpy.__version__)"],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    assert f"numpy=={got}\n" in pins
    assert subprocess.run([str(venv_py), "-c", "import cv2"], capture_output=True,
                          timeout=60).returncode != 0
    conf = root / "etc/mooddj/config.toml"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    boot = (root / "boot/firmware/config.txt").read_text()
    assert boot.startswith(BOOT_TEXT) and "# >>> mooddj" in boot
    assert "systemctl enable --now mooddj.service mooddj-update.path" in log.read_text()
    assert user in subprocess.run(["id", "-nu", user], capture_output=True, text=True).stdout

    # Again: nothing new, nothing rebuilt; the address follows the config's mDNS name.
    installed = listing(root)
    conf.write_text('[web]\nhostname = "kitchen"\n')
    second = run(env)
    assert "pip install" not in second.stdout and "+ write" not in second.stdout
    assert "Then open http://kitchen.local/ on a phone" in second.stdout
    again = listing(root)
    again["etc/mooddj/config.toml"] = installed["etc/mooddj/config.toml"]
    assert again == installed
    assert second.stdout.count("# >>> mooddj") == 0
    assert (root / "boot/firmware/config.txt").read_text().count("# >>> mooddj") == 1

    # --uninstall: everything but the owner's config (and data) is gone.
    run(env, "--uninstall")
    kept = {"etc/mooddj", "etc/mooddj/config.toml", "etc/mooddj/installed"}
    after = listing(root)
    assert set(after) == set(before) | kept, sorted(set(after) ^ (set(before) | kept))
    assert (root / "boot/firmware/config.txt").read_text() == BOOT_TEXT
    assert "systemctl disable --now mooddj.service" in log.read_text()

    # --purge: back to the bare listing, and the user is gone.
    run(env, "--purge")
    assert listing(root) == before
    assert subprocess.run(["id", user], capture_output=True).returncode != 0
    assert subprocess.run(["getent", "group", f"{user}g"], capture_output=True).returncode != 0

