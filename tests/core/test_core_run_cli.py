"""`mooddj run` as a real process: READY/STOPPING on a real NOTIFY_SOCKET, start-up faults."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.core.crypto import Sealer
from appliance.core.status import read_status, status_path
from appliance.schema import open_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


SERVICES = ["status", "setup", "panel", "vision", "spotify", "player", "mood_history", "web"]


def write_config(tmp_path: Path, **extra: str) -> Path:
    """The whole box off the Pi: loopback page on a free port, mock pins, replayed empty room."""
    state = tmp_path / "state"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{tmp_path / "run"}"\n'
                   f'[web]\nhost = "127.0.0.1"\nport = 0\nmdns = false\n'
                   f'[panel]\npin_factory = "mock"\n'
                   f'[camera]\nsource = "replay"\n'
                   f'replay_path = "{REPO / "tests" / "media" / "no_face.mp4"}"\n'
                   f'[supervisor]\nstatus_interval = 0.2\nstop_timeout = 3.0\n'
                   + "".join(f"{k} = {v}\n" for k, v in extra.items()))
    return cfg


class Notify:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.lines: list[str] = []

    def wait_for(self, line: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while line not in self.lines:
            if time.monotonic() > end:
                raise AssertionError(f"{line} not received; got {self.lines}")
            with contextlib.suppress(TimeoutError):
                self.lines.extend(self.sock.recv(4096).decode().split("\n"))


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notify]:
    n = Notify(tmp_path / "notify.sock")
    yield n
    n.sock.close()


def spawn(args: list[str], notify: Notify, tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MOODDJ_CONFIG", "JOURNAL_STREAM")}
    env.update(NOTIFY_SOCKET=str(notify.path), HOME=str(tmp_path / "home"),
               PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "appliance.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def test_run_notifies_ready_writes_status_and_exits_0_on_sigterm(
        tmp_path: Path, notify: Notify) -> None:
    cfg = write_config(tmp_path)
    proc = spawn(["run", "--config", str(cfg)], notify, tmp_path)
    try:
        notify.wait_for("READY=1")
        doc = None
        for _ in range(200):  # the first snapshot may predate READY; wait for a fresh one
            doc = read_status(status_path(tmp_path / "run"))
            if doc and all(s["state"] == "running" for s in doc["services"]):
                break
            time.sleep(0.05)
        assert doc is not None and doc["pid"] == proc.pid
        # The running release's version (git here; the VERSION file in a release),
        # not the package metadata's fixed 0.1.0.
        from appliance.maintenance.version import installed

        assert doc["version"] == installed().name != "0.1.0"
        assert [(s["name"], s["state"]) for s in doc["services"]] == [
            (name, "running") for name in SERVICES]
        assert (tmp_path / "state" / "mooddj.db").exists()
        assert (tmp_path / "state" / "secret.key").stat().st_mode & 0o777 == 0o600
    finally:
        code, err = finish(proc)
    assert code == 0, err
    notify.wait_for("STOPPING=1", timeout=5)
    assert read_status(status_path(tmp_path / "run")) is None  # stopped: no live snapshot
    assert json.loads(status_path(tmp_path / "run").read_text())["running"] is False


def test_corrupt_database_is_moved_aside_and_shown(tmp_path: Path, notify: Notify) -> None:
    cfg = write_config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "mooddj.db").write_bytes(b"this is not a database, just junk " * 200)
    proc = spawn(["run", "--config", str(cfg)], notify, tmp_path)
    try:
        notify.wait_for("READY=1")
        errors: list[dict] = []
        for _ in range(100):
            doc = read_status(status_path(tmp_path / "run"))
            errors = doc["errors"] if doc else []
            if errors:
                break
            time.sleep(0.05)
        assert [e["key"] for e in errors] == ["store.moved_aside"]
        assert "moved aside" in errors[0]["message"]
    finally:
        code, err = finish(proc)
    assert code == 0, err
    assert len(list(state.glob("mooddj.db.corrupt-*"))) == 1


def _seed_tokens(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "state"
    store = open_store(state / "mooddj.db")
    sealer = Sealer.from_file(state / "secret.key", create=True)
    token = sealer.seal("AQDrefresh", user_id="mmp_1", platform="spotify", field="refresh_token")

    def seed(db) -> None:
        db["users"].insert({"id": "mmp_1", "display_name": "Ann", "role": "owner",
                            "created_at": 1.0})
        db["connections"].insert({"user_id": "mmp_1", "platform": "spotify",
                                  "access_token": "", "refresh_token": token,
                                  "linked_at": 1.0, "state": "linked"})
    store.write_sync(seed)
    store.close()
    return state / "mooddj.db", state / "secret.key"


def _token_count(db_path: Path) -> int:
    store = open_store(db_path)
    try:
        return store.read_sync(lambda db: db.execute(
            "SELECT count(*) FROM connections WHERE refresh_token != ''").fetchone()[0])
    finally:
        store.close()


def test_missing_key_with_sealed_tokens_refuses_and_keeps_tokens(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path, key_path = _seed_tokens(tmp_path)
    key_path.unlink()
    code = cli.main(["run", "--config", str(write_config(tmp_path))])
    err = capsys.readouterr().err
    assert code == 1
    assert str(key_path) in err and "missing" in err and "Traceback" not in err
    assert not key_path.exists()  # no new key silently replacing the old one
    assert _token_count(db_path) == 1


def test_wrong_key_with_sealed_tokens_refuses(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db_path, key_path = _seed_tokens(tmp_path)
    key_path.unlink()
    Sealer.from_file(key_path, create=True)  # a different key
    code = cli.main(["run", "--config", str(write_config(tmp_path))])
    err = capsys.readouterr().err
    assert code == 1 and str(key_path) in err and "does not match" in err
    assert _token_count(db_path) == 1


def test_state_dir_that_cannot_be_created_is_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{blocker / "state"}"\n'
                   f'runtime_dir = "{tmp_path / "run"}"\n')
    code = cli.main(["run", "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("mooddj: state directory") and "\n" not in err


def test_invalid_config_exits_2_with_key_value_and_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[log]\nlevel = "LOUD"\n')
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--config", str(cfg)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "log.level" in err and "'LOUD'" in err and "'DEBUG'" in err


def test_second_box_on_the_same_runtime_dir_is_refused(tmp_path: Path, notify: Notify,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    cfg = write_config(tmp_path)
    proc = spawn(["run", "--config", str(cfg)], notify, tmp_path)
    try:
        notify.wait_for("READY=1")
        assert cli.main(["run", "--config", str(cfg)]) == 1
        err = capsys.readouterr().err
        assert f"another mooddj box is running (pid {proc.pid}, lock" in err
    finally:
        code, err = finish(proc)
    assert code == 0, err


def test_sim_mode_really_runs_until_ctrl_c(tmp_path: Path, notify: Notify,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    proc = spawn(["run", "--sim", "--state-dir", str(tmp_path / "sim")], notify, tmp_path)
    try:
        notify.wait_for("READY=1")
        assert proc.poll() is None
        sim_dir = str(tmp_path / "sim")
        doc: dict = {}
        for _ in range(100):  # the maintenance commands find the simulator's box
            capsys.readouterr()
            assert cli.main(["status", "--sim", "--state-dir", sim_dir, "--json"]) == 0
            doc = json.loads(capsys.readouterr().out)
            if doc["live"]:
                break
            time.sleep(0.05)
        assert doc["live"]["pid"] == proc.pid
        assert cli.main(["logs", "--sim", "--state-dir", sim_dir, "-n", "50"]) == 0
        assert "box ready" in capsys.readouterr().out
    finally:
        code, err = finish(proc, signal.SIGINT)
    assert code == 0, err
    assert (tmp_path / "sim" / "mooddj.db").exists()
    assert (tmp_path / "sim" / "mooddj.log").read_text().count("box ready") == 1


def test_top_level_config_option_is_not_lost_by_the_run_subcommand(tmp_path: Path) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["--config", "/x.toml", "run"])
    assert args.config == "/x.toml"
    args = parser.parse_args(["run", "--config", "/y.toml", "--camera", "replay"])
    assert args.config == "/y.toml" and args.camera == "replay"


def test_service_table_builds_enabled_services_in_order(tmp_path: Path) -> None:
    from appliance.app.context import BoxContext, open_context
    from appliance.app.services import SERVICE_FACTORIES, build_services
    from appliance.core import config as config_mod
    from appliance.core.service import Service

    cfg = config_mod.load(write_config(tmp_path))
    ctx = open_context(cfg, version="t")
    try:
        assert isinstance(ctx, BoxContext) and ctx.supervisor_snapshot() == {}
        made = build_services(ctx, {
            **SERVICE_FACTORIES,
            "off": lambda c: None,  # a part the config turns off
            "extra": lambda c: type("Extra", (Service,), {"name": "extra"})(),
        })
        assert [s.name for s in made] == [*SERVICES, "extra"]  # mdns off, "off" off
        parts = ctx.parts  # the parts other services use are typed fields of the context
        assert parts.panel is made[2] and parts.vision is made[3] and parts.web is made[-2]
        assert parts.spotify is not None and parts.player is made[5]
    finally:
        ctx.store.close()
