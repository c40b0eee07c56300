"""A stand-in for `systemctl` with systemd's Type=notify semantics, for one unit (tests only).

systemd (systemd.service(5), Type=notify): `systemctl start` returns once the main process
sent READY=1 on $NOTIFY_SOCKET (0), or failed when it exited first or TimeoutStartSec ran
out (1; systemd then kills it); `stop` sends SIGTERM, waits TimeoutStopSec, then SIGKILL;
`is-active` exits 0 for an active unit, 3 otherwise. Here the unit's ExecStart is
$SHIM_EXEC (run through sh, with $SHIM_ENV_CONFIG as MOODDJ_CONFIG), its state is in
$SHIM_DIR (pid file, calls.log, one log per start), and every call is recorded.
Other units (mooddj-update.path, ...) and verbs (enable, daemon-reload) are only recorded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ["SHIM_DIR"])
PIDFILE = STATE / "mooddj.pid"
START_TIMEOUT = float(os.environ.get("SHIM_START_TIMEOUT", "60"))
STOP_TIMEOUT = 20.0


def alive() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    # A zombie counts as dead: the shim that started it has exited, so init reaps it.
    try:
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return None
    except OSError:
        return None
    return pid


def stop() -> None:
    pid = alive()
    if pid is None:
        return
    with_group = os.getpgid(pid) == pid
    os.killpg(pid, signal.SIGTERM) if with_group else os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive():
        os.killpg(pid, signal.SIGKILL) if with_group else os.kill(pid, signal.SIGKILL)
    PIDFILE.unlink(missing_ok=True)


def start() -> int:
    if alive():
        return 0
    n = len(list(STATE.glob("start-*.log"))) + 1
    sock_path = STATE / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path),
           "MOODDJ_CONFIG": os.environ["SHIM_ENV_CONFIG"]}
    with (STATE / f"start-{n}.log").open("w") as log:
        proc = subprocess.Popen(["sh", "-c", os.environ["SHIM_EXEC"]], stdout=log, stderr=log,
                                env=env, start_new_session=True, stdin=subprocess.DEVNULL)
    PIDFILE.write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if b"READY=1" in sock.recv(4096):
                return 0
        except TimeoutError:
            pass
        if proc.poll() is not None:
            PIDFILE.unlink(missing_ok=True)
            return 1
    stop()
    return 1


def main(argv: list[str]) -> int:
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "calls.log").open("a") as fh:
        fh.write(" ".join(argv) + "\n")
    args = [a for a in argv if not a.startswith("-")]
    verb, units = (args[0], args[1:]) if args else ("", [])
    ours = any(u in ("mooddj", "mooddj.service") for u in units)
    if verb == "is-active":
        return 0 if ours and alive() else 3
    if not ours:
        return 0
    if verb == "start" or (verb == "enable" and "--now" in argv):
        return start()
    if verb in ("stop", "disable"):
        stop()
        return 0
    if verb in ("restart", "try-restart"):
        was = alive()
        stop()
        return start() if was or verb == "restart" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
