"""`mooddj logs`: tail and follow the log file (journal mode needs systemd)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

from appliance.cli import main as cli
from appliance.cli.logs import follow, tail_lines


def test_tail_returns_the_last_n_lines_of_a_big_file(tmp_path: Path) -> None:
    log = tmp_path / "mooddj.log"
    log.write_text("".join(f"line {i}\n" for i in range(20000)))
    assert tail_lines(log, 3) == ["line 19997", "line 19998", "line 19999"]
    assert tail_lines(log, 0) == []
    short = tmp_path / "short.log"
    short.write_text("only\n")
    assert tail_lines(short, 10) == ["only"]


def test_logs_command_prints_tail_of_configured_log_file(tmp_path: Path, capsys) -> None:
    log = tmp_path / "box.log"
    log.write_text("".join(f"entry {i}\n" for i in range(50)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nlog_file = "{log}"\n')
    assert cli.main(["--config", str(cfg), "logs", "-n", "2"]) == 0
    assert capsys.readouterr().out == "entry 48\nentry 49\n"


def test_logs_of_a_missing_file_is_one_clear_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["logs", "--file", str(tmp_path / "nope.log")]) == 1
    err = capsys.readouterr().err
    assert "does not exist yet" in err and err.count("\n") == 1


def test_follow_prints_appended_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "box.log"
    log.write_text("old line\n")
    out = io.StringIO()

    def writer() -> None:
        time.sleep(0.3)
        with log.open("a") as fh:
            fh.write("new line 1\n")
        time.sleep(0.4)
        os.replace(log, tmp_path / "box.log.1")  # rotation: a new file takes the name
        log.write_text("after rotation\n")

    t = threading.Thread(target=writer)
    t.start()
    follow(log, out, stop_after=2.0)
    t.join()
    assert out.getvalue() == "new line 1\nafter rotation\n"
