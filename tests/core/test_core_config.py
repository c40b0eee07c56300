"""Config: defaults, validation messages, file errors, path precedence."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from appliance.cli.locations import load_config
from appliance.core import config as config_mod
from appliance.core.config import Config, ConfigError, load, reference


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(("toml", "parts"), [
    ('[log]\nlevel = "LOUD"\n', ["log.level", "'LOUD'", "'DEBUG'", "'ERROR'"]),
    ("[web]\nport = 70000\n", ["web.port", "70000", "between 0 and 65535"]),
    ('[web]\nport = "eighty"\n', ["web.port", "'eighty'", "an integer"]),
    ("[supervisor]\nstop_timeout = 0.1\n", ["supervisor.stop_timeout", "0.1", "between 0.5"]),
    ("[web]\nmdns = 1\n", ["web.mdns", "1", "true or false"]),
    ('[panel]\nstatus_led = [5, "six", 13]\n', ["panel.status_led[1]", "'six'", "integer"]),
    ('[camera]\nsource = "usb"\n', ["camera.source", "'usb'", "'picamera2'", "'replay'"]),
])
def test_invalid_value_names_key_value_and_what_is_allowed(
        tmp_path: Path, toml: str, parts: list[str]) -> None:
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path / "c.toml", toml))
    for part in parts:
        assert part in str(exc.value)


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config key supervisor\.max_crash; "
                                          r"did you mean supervisor\.max_crashes\?"):
        load(write(tmp_path / "c.toml", "[supervisor]\nmax_crash = 3\n"))
    with pytest.raises(ConfigError, match="unknown config key wbe; did you mean web"):
        load(write(tmp_path / "c.toml", "[wbe]\nport = 8080\n"))


def test_valid_file_overrides_defaults_and_int_widens_to_float(tmp_path: Path) -> None:
    cfg = load(write(tmp_path / "c.toml", "[supervisor]\nstop_timeout = 5\n[web]\nport = 8080\n"))
    assert cfg.supervisor.stop_timeout == 5.0 and isinstance(cfg.supervisor.stop_timeout, float)
    assert cfg.web.port == 8080
    assert cfg.supervisor.max_crashes == 5  # untouched keys keep their defaults


def test_missing_default_file_means_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MOODDJ_CONFIG", str(tmp_path / "absent.toml"))
    assert load() == Config()


def test_missing_explicit_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml not found"):
        load(tmp_path / "absent.toml")


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "config.toml"
    folder.mkdir()  # root reads anything, but not a directory as a file
    with pytest.raises(ConfigError, match=r"config.toml is a directory"):
        load(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a mode-000 file")
def test_mode_000_file_is_a_permission_error(tmp_path: Path) -> None:
    p = write(tmp_path / "c.toml", "[web]\nport = 8080\n")
    p.chmod(0)
    with pytest.raises(ConfigError, match="not readable by this user"):
        load(p)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c\.toml is not valid TOML"):
        load(write(tmp_path / "c.toml", "[web\nport = \n"))


def test_cli_config_beats_environment_which_beats_default(tmp_path: Path, monkeypatch) -> None:
    env_file = write(tmp_path / "env.toml", '[log]\nlevel = "DEBUG"\n')
    cli_file = write(tmp_path / "cli.toml", '[log]\nlevel = "WARNING"\n')
    monkeypatch.setenv("MOODDJ_CONFIG", str(env_file))
    assert load().log.level == "DEBUG"
    assert load(cli_file).log.level == "WARNING"
    assert config_mod.resolve_path(None) == env_file
    monkeypatch.delenv("MOODDJ_CONFIG")
    assert config_mod.resolve_path(None) == Path("/etc/mooddj/config.toml")


def test_cli_helper_exits_2_with_the_message(tmp_path: Path, capsys) -> None:
    bad = write(tmp_path / "c.toml", "[web]\nport = -1\n")
    with pytest.raises(SystemExit) as exc:
        load_config(argparse.Namespace(config=str(bad)))
    assert exc.value.code == 2
    assert "web.port = -1 is invalid" in capsys.readouterr().err


def test_every_key_has_a_default_and_a_doc() -> None:
    rows = reference()
    assert len(rows) > 50
    assert all(doc for _, _, doc in rows), [k for k, _, d in rows if not d]
    keys = {k for k, _, _ in rows}
    assert {"supervisor.max_crashes", "paths.runtime_dir", "identity.google.client_id"} <= keys


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.web.port = 1  # type: ignore[misc]
