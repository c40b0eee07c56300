"""`mooddj update` on an installed box, from a temporary clone that gets new commits.

The box is installed for real (scripts/install-pi.sh --git CLONE, as root, into a throwaway
root, with this checkout's venv as its venv) and runs for real: `mooddj run` under
systemctl_shim.py, which gives systemctl's Type=notify semantics (start returns on READY=1,
fails when the process exits first). Then: a good commit updates; a commit whose box cannot
start is rolled back (the old release serves again, its data intact); asking again reports
that failure instead of trying it again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).with_name("systemctl_shim.py")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the installer creates a user: needs root"),
    pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync missing (scripts/setup --dev)"),
    pytest.mark.skipif(not list((REPO / "models").glob("*.tflite")),
                       reason="models missing (scripts/fetch-models)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=cwd, check=True,
                          capture_output=True, text=True, timeout=120).stdout.strip()


class Box:
    """The installed box in a throwaway root, and its upstream clone."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.upstream = tmp / "upstream"
        self.prefix = self.root / "opt/mooddj"
        self.state = self.root / "var/lib/mooddj"
        self.port = _free_port()
        self.shim_dir = tmp / "shim"
        bindir = tmp / "bin"
        bindir.mkdir()
        (bindir / "systemctl").write_text(f'#!/bin/sh\nexec {sys.executable} {SHIM} "$@"\n')
        (bindir / "apt-get").write_text("#!/bin/sh\nexit 0\n")
        for tool in bindir.iterdir():
            tool.chmod(0o755)
        conf_dir = self.root / "etc/mooddj"
        conf_dir.mkdir(parents=True)
        self.config = conf_dir / "config.toml"
        # Every remote at 127.0.0.1:9 (nothing leaves the machine); the replay camera.
        self.config.write_text(f"""\
[paths]
state_dir = "{self.state}"
runtime_dir = "{tmp / 'run'}"
[web]
port = {self.port}
mdns = false
[camera]
source = "replay"
replay_path = "{REPO / 'tests/media/single_face.jpg'}"
[panel]
pin_factory = "mock"
[spotify]
accounts_url = "http://127.0.0.1:9/"
api_url = "http://127.0.0.1:9/v1/"
[features]
provider = "none"
""")
        self.user = f"mooddju{os.getpid() % 100000}"
        self.env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
                    "MOODDJ_PREFIX": str(self.prefix), "MOODDJ_CONF_DIR": str(conf_dir),
                    "MOODDJ_UNIT_DIR": str(self.root / "etc/systemd/system"),
                    "MOODDJ_BIN_DIR": str(self.root / "usr/local/bin"),
                    "MOODDJ_STATE_DIR": str(self.state), "MOODDJ_USER": self.user,
                    "MOODDJ_GROUPS": f"video {self.user}g",
                    "MOODDJ_VENV": sys.prefix, "MOODDJ_CONFIG": str(self.config),
                    "SHIM_DIR": str(self.shim_dir), "SHIM_ENV_CONFIG": str(self.config),
                    "SHIM_EXEC": f"exec {self.prefix}/current/bin/mooddj run",
                    "SHIM_START_TIMEOUT": "60"}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        _git(tmp, "clone", "--quiet", "--no-hardlinks", str(REPO), str(self.upstream))
        _git(self.upstream, "config", "user.email", "test@mooddj.invalid")
        _git(self.upstream, "config", "user.name", "update test")
        for model in (REPO / "models").glob("*.tflite"):  # fetched files, never committed
            shutil.copy(model, self.upstream / "models")

    def install(self) -> subprocess.CompletedProcess[str]:
        return self._run(["bash", str(REPO / "scripts/install-pi.sh"), "--git",
                          str(self.upstream), "--no-firmware"])

    def mooddj(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.root / "usr/local/bin/mooddj"), *args], check=False)

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900,
                              cwd="/")
        if check:
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    def commit(self, message: str, path: str, text: str) -> str:
        target = self.upstream / path
        target.write_text(target.read_text() + text)
        _git(self.upstream, "commit", "--quiet", "-am", message)
        return _git(self.upstream, "rev-parse", "HEAD")

    def release(self, link: str = "current") -> str:
        return os.readlink(self.prefix / link)

    def serves(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/pair"  # the page a new browser gets
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        except OSError:
            return False

    def starts(self) -> int:
        log = self.shim_dir / "calls.log"
        return sum(1 for line in log.read_text().splitlines()
                   if line.startswith(("start mooddj", "enable --now mooddj")))

    def stop(self) -> None:
        subprocess.run(["systemctl", "stop", "mooddj.service"], env=self.env, timeout=60)


@pytest.fixture
def box(tmp_path: Path):
    b = Box(tmp_path)
    yield b
    b.stop()
    b._run(["bash", str(REPO / "scripts/install-pi.sh"), "--purge"], check=False)
    subprocess.run(["userdel", b.user], capture_output=True)
    subprocess.run(["groupdel", f"{b.user}g"], capture_output=True)


def _wait(what: str, cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _note(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = 'update-test'").fetchone()
    return row[0] if row else ""


def test_update_succeeds_then_a_broken_release_is_rolled_back_once(box: Box) -> None:
    box.install()
    first = box.release()
    _wait("the installed box to serve", box.serves)
    db = box.state / "mooddj.db"
    with sqlite3.connect(db) as conn:  # the owner's data, which no update may lose
        conn.execute("INSERT INTO settings (key, value, updated_at) "
                     "VALUES ('update-test', 'kept', 0)")
    check = box.mooddj("update", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == "up to date"

    # A good commit: --check sees it, update installs it beside the old one and switches.
    good = box.commit("a good change", "README.md", "\nA line from the update test.\n")
    check = box.mooddj("update", "--check")
    assert check.returncode == 0 and f"available: {good[:7]}" in check.stdout, check.stdout
    proc = box.mooddj("update")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"now running {good[:7]}" in proc.stdout
    second = box.release()
    assert second != first and box.release("previous") == first
    assert (box.prefix / second / "VERSION").read_text().count(good) == 1
    assert box.serves() and _note(db) == "kept"
    backups = list((box.state / "backups").glob("mooddj-backup-*.mooddj"))
    assert len(backups) == 1
    assert json.loads((box.prefix / "update.json").read_text())["status"] == "updated"
    assert "mooddj a good" not in box.mooddj("--version").stdout  # a version, not a message
    assert good[:7] in box.mooddj("--version").stdout

    # A commit whose box cannot start: not ready -> rolled back to the second release.
    bad = box.commit("a release that cannot start", "appliance/app/runner.py",
                     '\nraise SystemExit("broken on purpose by the update test")\n')
    starts = box.starts()
    proc = box.mooddj("update")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled back to" in proc.stdout and "serving again" in proc.stdout, proc.stdout
    assert box.release() == second and box.release("previous") == first
    assert not any(bad[:7] in p.name for p in (box.prefix / "releases").iterdir())
    assert box.serves() and _note(db) == "kept"
    result = json.loads((box.prefix / "update.json").read_text())
    assert result["status"] == "rolled-back" and bad in result["failed_commits"]
    assert box.starts() == starts + 2  # the broken one, then the old one again

    # Asked again (the page, a cron job): reported, not retried.
    starts = box.starts()
    proc = box.mooddj("update")
    assert proc.returncode == 1 and "not tried again" in proc.stdout, proc.stdout
    assert box.starts() == starts and box.release() == second and box.serves()

    # A release that starts but whose doctor fails a check the running one passes: rolled
    # back too (the broken start is reverted in it, so only the doctor tells them apart).
    _git(box.upstream, "revert", "--no-edit", bad)
    doctor_bad = box.commit("a release whose doctor fails", "appliance/maintenance/doctor.py", (
        "\n\ndef _check_update_test(cfg: Config) -> list[Check]:\n"
        '    return [bad("update test", "fails in this release only", "roll back")]\n\n\n'
        "CORE_CHECKS.append(_check_update_test)\n"))
    proc = box.mooddj("update")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "doctor fails update test" in proc.stdout and "serving again" in proc.stdout
    assert box.release() == second and box.serves() and _note(db) == "kept"
    assert doctor_bad in json.loads((box.prefix / "update.json").read_text())["failed_commits"]
