"""Maintenance commands find the simulator's files; its state dir problems are one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.cli.locations import load_box_config
from appliance.simmode import launcher


def test_logs_with_state_dir_but_no_sim_shows_the_sim_log_in_it(tmp_path: Path,
                                                                  capsys) -> None:
    (tmp_path / "mooddj.log").write_text("".join(f"entry {i}\n" for i in range(5)))
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    assert cli.main(["logs", "--config", str(cfg), "--state-dir", str(tmp_path), "-n", "2"]) == 0
    assert capsys.readouterr().out == "entry 3\nentry 4\n"


def test_sim_config_names_the_recording_the_box_replays(tmp_path: Path) -> None:
    args = argparse.Namespace(sim=True, state_dir=str(tmp_path), config=str(tmp_path / "no"))
    (tmp_path / "no").write_text("")
    cfg = load_box_config(args)
    assert cfg.camera.source == "replay"
    assert Path(cfg.camera.replay_path) == launcher.DEFAULT_RECORDING


def test_sim_state_dir_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("x")
    with pytest.raises(launcher.SimError, match="it is a file; pass --state-dir"):
        launcher.start(path)


def test_doctor_on_a_sim_state_dir_without_sim_says_to_add_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "stand-ins.state").write_text("{}")
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    cli.main(["doctor", "--config", str(cfg), "--state-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"`mooddj doctor --sim --state-dir {tmp_path}`" in out.splitlines()[-1]
