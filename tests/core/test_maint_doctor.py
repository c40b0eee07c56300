"""doctor: each core check passes on a healthy box and fails with a hint on a broken one;
plug-ins are run, skipped when absent and shown as failures when they raise."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.core.config import Config, from_dict
from appliance.core.secrets_store import load_sealer
from appliance.maintenance import doctor, doctor_net
from appliance.maintenance.doctor import Check, run_checks, run_plugin
from appliance.schema import open_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _settings(tmp_path: Path, port: int) -> dict:
    return {
        "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
        "panel": {"pin_factory": "mock"},
        "features": {"provider": "none"},
        "spotify": {"accounts_url": f"http://127.0.0.1:{port}",
                    "api_url": f"http://127.0.0.1:{port}/v1/"},
    }


def _toml(d: dict) -> str:
    lines = []
    for section, values in d.items():
        lines.append(f"[{section}]")
        lines += [f'{k} = "{v}"' for k, v in values.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def healthy(tmp_path: Path, listener: int):
    settings = _settings(tmp_path, listener)
    cfg = from_dict(Config, settings)
    cfg.paths.state.mkdir(mode=0o700)
    store = open_store(cfg.paths.database_path)
    sealer = load_sealer(store, cfg.paths.key_path)
    store.write_sync(lambda db: (
        db["users"].insert({"id": "mmp_1", "display_name": "A", "role": "owner"}),
        db["connections"].insert({"user_id": "mmp_1", "platform": "spotify",
                                  "refresh_token": sealer.seal("r", user_id="mmp_1",
                                                               platform="spotify",
                                                               field="refresh_token")})))
    store.close()
    return cfg, settings


def _by_name(checks: list[Check]) -> dict[str, Check]:
    out: dict[str, Check] = {}
    for c in checks:
        out.setdefault(c.name, c)
    return out


async def test_healthy_box_passes_every_core_check(healthy) -> None:
    cfg, _ = healthy
    checks = _by_name(await run_checks(cfg, plugins=[]))
    assert "gpio" not in checks  # one GPIO check, the panel plug-in's
    for name in ("config", "state dir", "key file", "database", "disk space",
                 "network spotify accounts"):
        assert checks[name].status == "pass", checks[name]
    assert "opens 1 sealed value" in checks["key file"].message
    assert checks["box"].status == "warn"  # not running


def test_doctor_json_cli_prints_the_contract_and_exits_zero(healthy, tmp_path: Path) -> None:
    _cfg, settings = healthy
    conf = tmp_path / "config.toml"
    conf.write_text(_toml(settings))
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--config", str(conf),
                           "doctor", "--json"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    data = json.loads(proc.stdout)
    assert set(data) == {"ok", "checks"}
    assert all(set(c) == {"name", "status", "message", "hint"} for c in data["checks"])
    failed = [c for c in data["checks"] if c["status"] == "fail"]
    assert data["ok"] is (not failed)
    assert proc.returncode == (1 if failed else 0), failed


def test_doctor_exits_nonzero_with_a_hint_when_the_key_is_world_readable(
        healthy, tmp_path: Path) -> None:
    cfg, settings = healthy
    cfg.paths.key_path.chmod(0o644)
    conf = tmp_path / "config.toml"
    conf.write_text(_toml(settings))
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--config", str(conf),
                           "doctor"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1
    assert "FAIL  key file permissions" in proc.stdout
    assert f"fix: chmod 0600 {cfg.paths.key_path}" in proc.stdout


async def test_wrong_key_fails_and_names_the_fix(healthy) -> None:
    cfg, _ = healthy
    cfg.paths.key_path.write_bytes(b"x" * 32)
    check = _by_name(await run_checks(cfg, plugins=[]))["key file"]
    assert check.status == "fail" and "does not open 1 of 1" in check.message
    assert "mooddj restore" in check.hint


async def test_missing_key_with_sealed_tokens_fails(healthy) -> None:
    cfg, _ = healthy
    cfg.paths.key_path.unlink()
    check = _by_name(await run_checks(cfg, plugins=[]))["key file"]
    assert check.status == "fail" and "missing" in check.message


async def test_damaged_database_fails_and_is_left_in_place(healthy) -> None:
    cfg, _ = healthy
    cfg.paths.database_path.write_bytes(b"garbage" * 1000)
    checks = _by_name(await run_checks(cfg, plugins=[]))
    assert checks["database"].status == "fail" and "damaged" in checks["database"].message
    assert cfg.paths.database_path.read_bytes() == b"garbage" * 1000
    assert not list(cfg.paths.state.glob("*.corrupt-*"))


async def test_pending_migration_is_a_warning(healthy, monkeypatch) -> None:
    cfg, _ = healthy
    import dataclasses

    from appliance import schema

    # This mooddj knows one music migration more than the database has.
    newer = tuple(dataclasses.replace(t, names=(*t.names, "m999_future_test"))
                  if t.name == "music" else t for t in schema.TABLES)
    monkeypatch.setattr(schema, "TABLES", newer)
    check = _by_name(await run_checks(cfg, plugins=[]))["database"]
    assert check.status == "warn" and "m999_future_test" in check.message


@pytest.mark.parametrize(("mode", "status"), [(0o750, "pass"), (0o755, "warn"),
                                              (0o777, "fail")])
async def test_state_dir_permissions(healthy, mode: int, status: str) -> None:
    cfg, _ = healthy
    cfg.paths.state.chmod(mode)
    checks = [c for c in await run_checks(cfg, plugins=[]) if c.name.startswith("state dir")]
    statuses = {c.status for c in checks}
    if status == "pass":
        assert statuses == {"pass"}
    else:
        assert status in statuses


async def test_invalid_config_is_a_failing_check_not_a_crash(tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text('[panel]\npin_factory = "pigpio"\n')
    checks = await run_checks(config_path=str(conf), plugins=[])
    assert checks[0].name == "config" and checks[0].status == "fail"
    assert "pin_factory" in checks[0].message


async def test_network_checks_warn_on_a_closed_port_and_an_unknown_name(tmp_path: Path) -> None:
    port = _closed_port()
    cfg = from_dict(Config, {**_settings(tmp_path, port), "features": {
        "provider": "reccobeats", "reccobeats_url": "https://no-such-host.invalid/v1/"}})
    checks = _by_name(await doctor_net.check_network(cfg))
    assert checks["network spotify accounts"].status == "warn"
    assert checks["network features"].status == "warn"
    assert "no-such-host.invalid" in checks["network features"].message


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch) -> str:
    pkg = tmp_path / "plugpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text(textwrap.dedent("""
        from appliance.maintenance.doctor import Check
        async def checks(config):
            return [Check("camera", "warn", "no camera", "plug it in")]
        def sync_checks(config):
            return [Check("models", "pass", "all present")]
    """))
    (pkg / "broken.py").write_text("def checks(config):\n    raise RuntimeError('kaput')\n")
    (pkg / "baddep.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "plugpkg"


async def test_plugins_run_sync_and_async_and_missing_ones_are_skipped(healthy, plugins) -> None:
    cfg, _ = healthy
    checks = await run_checks(cfg, plugins=[
        f"{plugins}.good:checks", f"{plugins}.good:sync_checks",
        "appliance.nonexistent_pkg.doctor:checks", f"{plugins}.absent:checks"])
    names = [c.name for c in checks]
    assert "camera" in names and "models" in names
    assert not any("nonexistent" in n or "absent" in n for n in names)


async def test_a_plugin_that_raises_is_a_failure(healthy, plugins) -> None:
    cfg, _ = healthy
    [check] = await run_plugin(f"{plugins}.broken:checks", cfg)
    assert check.status == "fail" and "kaput" in check.message
    [dep] = await run_plugin(f"{plugins}.baddep:checks", cfg)
    assert dep.status == "fail" and "no_such_dependency_xyz" in dep.message


def test_the_plugin_table_names_the_three_packages() -> None:
    assert doctor.PLUGIN_CHECKS == ["appliance.vision.doctor:checks",
                                    "appliance.music.doctor:checks",
                                    "appliance.panel.doctor:checks"]


def test_render_shows_hints_only_for_problems() -> None:
    text = doctor.render([Check("a", "pass", "fine", "never shown"),
                          Check("b", "fail", "broken", "do this")])
    assert "never shown" not in text and "fix: do this" in text
    assert text.splitlines()[-1] == "1 passed, 0 warning(s), 1 failed"


async def test_a_state_dir_that_does_not_exist_yet_is_a_warning(tmp_path: Path) -> None:
    cfg = from_dict(Config, _settings(tmp_path, _closed_port()))
    checks = _by_name(await run_checks(cfg, plugins=[]))
    assert checks["state dir"].status == "warn" and "first start" in checks["state dir"].hint
    assert checks["database"].status == "warn" and checks["key file"].status == "warn"
    assert not cfg.paths.state.exists()  # doctor never creates anything


async def test_simulator_box_is_not_checked_against_the_real_hosts(healthy) -> None:
    cfg, _ = healthy
    checks = _by_name(await run_checks(cfg, plugins=[], sim=True))
    assert not any(name.startswith("network ") for name in checks)
    assert checks["network"].status == "pass"
    assert "stand-ins on 127.0.0.1" in checks["network"].message
