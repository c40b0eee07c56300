"""Commands run by a user other than the box's: one actionable line, never a traceback.

The state dir is 0700 and belongs to the service user; here root owns it and the commands
run as nobody (uid 65534), as `mooddj status` typed by the `pi` user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.schema import open_store

REPO = Path(__file__).resolve().parents[2]
# nobody may not reach this venv's interpreter (e.g. under /root): Debian's python3 of the
# same version runs this checkout with the venv's packages.
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _system_python_matches() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    out = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    return out == str(sys.version_info[:2])


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody"),
    pytest.mark.skipif(not _system_python_matches(),
                       reason="needs /usr/bin/python3 of this Python version"),
]


@pytest.fixture
def box_dirs() -> Iterator[Path]:
    # Under /tmp with 0755 parents: pytest's tmp_path is 0700 root, unreachable for nobody.
    root = Path(tempfile.mkdtemp(prefix="mooddj-other-user-"))
    try:
        root.chmod(0o755)
        state, run = root / "state", root / "run"
        state.mkdir(mode=0o700)
        run.mkdir(mode=0o750)
        open_store(state / "mooddj.db").close()
        (state / "secret.key").write_bytes(os.urandom(32))
        (state / "secret.key").chmod(0o600)
        (root / "config.toml").write_text(
            f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{run}"\n'
            '[spotify]\naccounts_url = "http://127.0.0.1:9/"\napi_url = "http://127.0.0.1:9/v1/"\n'
            '[features]\nprovider = "none"\n')
        (root / "config.toml").chmod(0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


RUN = ("import site, sys; sys.path.insert(0, sys.argv.pop(1)); site.addsitedir(sys.argv.pop(1)); "
       "from appliance.cli.main import main; sys.argv[0] = 'mooddj'; sys.exit(main())")


def as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "MOODDJ_CONFIG": str(root / "config.toml"),
           "HOME": str(root)}
    return subprocess.run([str(SYSTEM_PYTHON), "-c", RUN, str(REPO),
                           sysconfig.get_paths()["purelib"], *args], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120,
                          user=65534, group=65534, extra_groups=[])


@pytest.mark.parametrize("command", [["status"], ["db"], ["db", "users"]])
def test_status_and_db_say_whom_to_run_as(box_dirs: Path, command: list[str]) -> None:
    proc = as_nobody(box_dirs, *command)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "permission denied" in lines[0]
    assert f"sudo -u mooddj mooddj {' '.join(command)}" in lines[0]


def test_doctor_says_what_to_do_not_report_a_bug(box_dirs: Path) -> None:
    proc = as_nobody(box_dirs, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert "report a bug" not in proc.stdout
    for name in ("key", "database"):
        assert checks[name]["status"] == "fail", checks[name]
        assert "permission denied" in checks[name]["message"]
        assert "sudo -u mooddj mooddj doctor" in checks[name]["hint"]
