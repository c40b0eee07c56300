"""`mooddj doctor`'s runtime-dir check: the box's lock and status snapshot live there."""

from __future__ import annotations

from pathlib import Path

from appliance.core.config import Config, PathsConfig
from appliance.maintenance.doctor import CORE_CHECKS, check_runtime_dir


def _cfg(run: Path) -> Config:
    return Config(paths=PathsConfig(state_dir=str(run.parent / "state"), runtime_dir=str(run)))


def test_missing_runtime_dir_warns_with_the_command_to_create_it(tmp_path: Path) -> None:
    [c] = check_runtime_dir(_cfg(tmp_path / "run"))
    assert c.status == "warn" and "does not exist" in c.message
    assert "RuntimeDirectory=mooddj" in c.hint and "install -d -m 0750" in c.hint


def test_world_writable_runtime_dir_fails(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    [c] = check_runtime_dir(_cfg(run))
    assert c.status == "fail" and "0777" in c.message and "chmod 0750" in c.hint


def test_a_file_in_its_place_fails(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("")
    [c] = check_runtime_dir(_cfg(tmp_path / "run"))
    assert c.status == "fail" and "not a directory" in c.message


def test_the_systemd_mode_passes_and_the_check_runs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o750)
    [c] = check_runtime_dir(_cfg(run))
    assert c.status == "pass" and "0750" in c.message
    assert check_runtime_dir in CORE_CHECKS
