"""scripts/install-pi.sh --dry-run lists every key action and changes nothing.

The real run (as root, into a throwaway root) is tests/install/test_install_real.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi.sh"
# Commands that change the system: in a dry run none may run (only queries may).
MUTATORS = ("apt-get", "groupadd", "useradd", "usermod", "rsync", "install", "systemctl",
            "git", "mkdir", "chown", "chmod", "python3", "pip", "tee", "rm", "ln", "mv", "cp",
            "sed", "touch", "userdel", "groupdel")
# Read-only calls a dry run may make (the version from git, the entry point from pyproject).
QUERIES = ("systemctl is-active", "sed -n ", "git -c safe.directory=* -C",
           "python3 -c import numpy",
           f"rm -f {tempfile.gettempdir()}/tmp.")  # put_file's own scratch copy


@pytest.fixture
def shims(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with recording stand-ins for every mutating command."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    for name in MUTATORS:
        shim = bindir / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
                        f'[ "$1" = is-active ] && exit 3\nexit 0\n')
        shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
           "MOODDJ_PREFIX": str(tmp_path / "opt" / "mooddj"),
           "MOODDJ_CONF_DIR": str(tmp_path / "etc" / "mooddj"),
           "MOODDJ_UNIT_DIR": str(tmp_path / "etc" / "systemd" / "system"),
           "MOODDJ_BIN_DIR": str(tmp_path / "usr" / "local" / "bin"),
           "MOODDJ_STATE_DIR": str(tmp_path / "var" / "lib" / "mooddj"),
           "MOODDJ_BOOT_CONFIG": str(tmp_path / "boot" / "config.txt")}
    return env, log


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if "calls.log" not in p.name and "/bin/" not in f"/{p.relative_to(root)}")


def _dry_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_dry_run_lists_the_key_actions(shims, tmp_path: Path) -> None:
    env, _log = shims
    proc = _dry_run(env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    prefix = env["MOODDJ_PREFIX"]
    expected = [
        "would: env DEBIAN_FRONTEND=noninteractive apt-get install",
        "python3-picamera2",
        "python3-lgpio",
        "would: groupadd --system gpio" if "gpio" not in _groups() else "",
        "--groups video,gpio mooddj" if not _user_exists() else "",
        f"-m venv --system-site-packages {prefix}/venvs/",
        "/constraints.txt (scripts/constraints-pi.txt, numpy==",
        "pip install --quiet --disable-pip-version-check --constraint "
        f"{prefix}/venvs/",
        "/bin/python -P -m appliance.vision.native",
        f"/scripts/fetch-models --cache {prefix}/cache/wheels",
        f"-m compileall -q -j 2 {prefix}/releases/",
        f"would: ln -sfn {prefix}/current/bin/mooddj {env['MOODDJ_BIN_DIR']}/mooddj",
        f"would: write {env['MOODDJ_CONF_DIR']}/config.toml",
        f"would: append {REPO}/firmware-config/config.txt to {env['MOODDJ_BOOT_CONFIG']}",
        f"would: write {env['MOODDJ_UNIT_DIR']}/mooddj.service (mode 0644, owner root:root)",
        f"would: write {env['MOODDJ_UNIT_DIR']}/mooddj-update.path (mode 0644",
        "would: systemctl daemon-reload",
        "would: systemctl enable --now mooddj.service mooddj-update.path",
    ]
    for line in filter(None, expected):
        assert line in out, f"missing: {line}\n{out}"
    # Order matters: packages before the venv, the venv before pip, the unit before enabling.
    idx = [out.index(s) for s in ("apt-get install", "-m venv", "pip install",
                                  "-m appliance.vision.native", "fetch-models", "compileall",
                                  "mv -T", "enable --now")]
    assert idx == sorted(idx)


def test_dry_run_changes_nothing(shims, tmp_path: Path) -> None:
    env, log = shims
    before = _tree(tmp_path)
    user_before = _user_exists()
    proc = _dry_run(env)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    assert [c for c in calls if not c.startswith(QUERIES)] == []
    assert _tree(tmp_path) == before
    assert _user_exists() == user_before
    assert not Path(env["MOODDJ_PREFIX"]).exists()


def test_an_unchanged_unit_and_existing_config_are_left_alone(shims, tmp_path: Path) -> None:
    env, _log = shims
    unit_dir = Path(env["MOODDJ_UNIT_DIR"])
    unit_dir.mkdir(parents=True)
    for unit in (REPO / "systemd").iterdir():
        shutil.copy(unit, unit_dir / unit.name)
    conf = Path(env["MOODDJ_CONF_DIR"]) / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text("# mine\n")
    boot = Path(env["MOODDJ_BOOT_CONFIG"])
    boot.parent.mkdir(parents=True)
    boot.write_text("[all]\n# >>> mooddj\ncamera_auto_detect=1\n# <<< mooddj\n")
    proc = _dry_run(env, "--no-start")
    assert proc.returncode == 0, proc.stderr
    assert f"would: write {unit_dir}" not in proc.stdout
    assert "config.toml exists: kept as it is" in proc.stdout
    assert "already present" in proc.stdout
    assert "would: systemctl enable mooddj.service mooddj-update.path" in proc.stdout
    assert "enable --now" not in proc.stdout
    assert conf.read_text() == "# mine\n"


def test_without_root_and_without_dry_run_it_refuses(shims) -> None:
    env, log = shims
    # As root, run it as nobody: the script must refuse before doing anything.
    drop = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60, cwd="/", **drop)
    assert proc.returncode == 1 and "run as root" in proc.stderr
    assert not log.exists()


def test_unknown_option_is_rejected(shims) -> None:
    env, _log = shims
    proc = _dry_run(env, "--frobnicate")
    assert proc.returncode == 2 and "unknown option" in proc.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_installer_passes_shellcheck() -> None:
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout


def _groups() -> str:
    return subprocess.run(["getent", "group", "gpio"], capture_output=True,
                          text=True).stdout


def _user_exists() -> bool:
    return subprocess.run(["id", "mooddj"], capture_output=True).returncode == 0
