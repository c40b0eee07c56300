"""`mooddj pair` names the address the setup page really answers at."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from appliance.cli import main as cli


def _write_status(runtime: Path, port: int) -> None:
    runtime.mkdir(parents=True)
    (runtime / "status.json").write_text(json.dumps({
        "format": 1, "running": True, "pid": os.getpid(), "written_at": time.time(),
        "interval": 2.0, "services": [{"name": "web", "snapshot": {"port": port}}]}))


def test_loopback_box_without_mdns_gets_its_real_port(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_status(tmp_path / "run", 43210)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path / "run"}"\n'
                   '[web]\nhost = "127.0.0.1"\nmdns = false\nport = 8080\n')
    assert cli.main(["pair", "--config", str(cfg)]) == 0
    assert "Open http://127.0.0.1:43210 in the new browser" in capsys.readouterr().out


def test_box_on_the_lan_is_named_by_its_mdns_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path / "run"}"\n'
                   '[web]\nhostname = "den"\n')
    assert cli.main(["pair", "--config", str(cfg)]) == 0
    assert "Open http://den.local in the new browser" in capsys.readouterr().out
