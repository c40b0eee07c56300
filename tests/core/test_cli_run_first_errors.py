"""The first errors a person meets with `mooddj run` are one line and a non-zero exit."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.cli import main as cli


def _config(tmp_path: Path, extra: str = "") -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[web]\nhost = "127.0.0.1"\nmdns = false\n{extra}')
    return str(cfg)


def test_port_in_use_is_one_line_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["run", "--config", _config(tmp_path), "--state-dir",
                         str(tmp_path / "state"), "--port", str(port), "--camera", "replay"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err == (f"mooddj: port {port} on 127.0.0.1 is already in use (another mooddj, or "
                   f"another server); stop it, or pick another port with --port N or web.port")
    assert not (tmp_path / "state" / "mooddj.db").exists()


def test_state_dir_that_is_a_file_says_so(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = cli.main(["run", "--config", _config(tmp_path), "--state-dir", str(blocker),
                     "--port", "0", "--camera", "replay"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "a file is in the way; pass a writable --state-dir" in err


def test_sim_with_a_missing_recording_is_one_line_before_the_stand_ins_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.mp4"
    code = cli.main(["run", "--sim", "--state-dir", str(tmp_path / "state"), "--port", "0",
                     "--recording", str(missing)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err == f"mooddj: recording {missing} not found; pass --recording PATH"
    assert not (tmp_path / "state" / "stand-ins.state").exists()  # nothing was started
