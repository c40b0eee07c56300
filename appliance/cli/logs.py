"""`mooddj logs [-f] [-n N]`: the box's log, from the journal or from its log file.

On the Pi the box logs to the journal (unit `mooddj`). When the config names a
`paths.log_file` (simulator mode always does), or with `--sim` / `--file`, the
file is shown instead, and `-f` follows it across rotation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from appliance.cli.locations import load_box_config

UNIT = "mooddj"
POLL_SECONDS = 0.25


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj logs`."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("-n", "--lines", type=int, default=100, metavar="N",
                        help="how many recent lines to show (default 100)")
    parser.add_argument("--sim", action="store_true",
                        help="the simulator's log file (mooddj run --sim)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="the box started with `mooddj run [--sim] --state-dir DIR` "
                             "(its DIR/mooddj.log when there is one)")
    parser.add_argument("--file", metavar="PATH", help="show this log file")


def tail_lines(path: Path, n: int) -> list[str]:
    """The last `n` lines of a file (read from the end, cheap on big files)."""
    if n <= 0:
        return []
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block, data = 8192, b""
        while end > 0 and data.count(b"\n") <= n:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    return [line.decode("utf-8", "replace") for line in data.splitlines()[-n:]]


def follow(path: Path, out: TextIO, *, stop_after: float | None = None) -> None:
    """Print lines appended to `path` until interrupted (reopens after rotation)."""
    deadline = None if stop_after is None else time.monotonic() + stop_after
    fh = path.open("rb")
    fh.seek(0, os.SEEK_END)
    ino = os.fstat(fh.fileno()).st_ino
    partial = b""
    try:
        while deadline is None or time.monotonic() < deadline:
            chunk = fh.read()
            if chunk:
                partial += chunk
                *done, partial = partial.split(b"\n")
                for line in done:
                    out.write(line.decode("utf-8", "replace") + "\n")
                out.flush()
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                st = None
            if st is not None and (st.st_ino != ino or st.st_size < fh.tell()):
                fh.close()
                fh = path.open("rb")  # rotated or truncated: read the new file from its start
                ino = os.fstat(fh.fileno()).st_ino
            time.sleep(POLL_SECONDS)
    finally:
        fh.close()


def log_file_for(args: argparse.Namespace) -> Path | None:
    """The file to show, or None for the journal."""
    if args.file:
        return Path(args.file).expanduser()

    config = load_box_config(args)
    if config.paths.log_file:
        return Path(config.paths.log_file).expanduser()
    in_state = config.paths.state / "mooddj.log"  # `mooddj run --sim --state-dir DIR` writes it
    if getattr(args, "state_dir", None) and in_state.exists():
        return in_state
    return None


def run(args: argparse.Namespace) -> int:
    """`mooddj logs`."""
    from appliance.cli.locations import fail

    path = log_file_for(args)
    if path is None:
        journalctl = shutil.which("journalctl")
        if journalctl is None:
            return fail("journalctl is not available here; use `mooddj logs --sim` or "
                        "`--file PATH` for a log file")
        cmd = [journalctl, "-u", UNIT, "-n", str(args.lines), "--no-pager"]
        if args.follow:
            cmd.append("-f")
        return subprocess.call(cmd)
    if not path.exists():
        return fail(f"log file {path} does not exist yet; start the box first "
                    f"(`mooddj run --sim` writes it)")
    try:
        for line in tail_lines(path, args.lines):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if args.follow:
            follow(path, sys.stdout)
    except PermissionError:
        return fail(f"log file {path} is not readable by this user; try with sudo")
    except KeyboardInterrupt:
        return 0
    return 0
