"""systemd/mooddj-update.{path,service}: the owner's page asks, root updates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def test_the_path_unit_starts_the_update_service_on_the_page_s_request() -> None:
    path_unit = (SYSTEMD / "mooddj-update.path").read_text()
    service = (SYSTEMD / "mooddj-update.service").read_text()
    # The file the page writes (appliance.maintenance.update.REQUEST_NAME in the state dir).
    from appliance.maintenance.update import REQUEST_NAME

    assert f"PathExists=/var/lib/mooddj/{REQUEST_NAME}" in path_unit
    assert "Unit=mooddj-update.service" in path_unit
    assert "ExecStart=/opt/mooddj/current/bin/mooddj update --requested" in service
    assert "Type=oneshot" in service and "User=" not in service  # root: it restarts the box


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_accepts_the_update_units(tmp_path: Path) -> None:
    for name in ("mooddj-update.path", "mooddj-update.service"):
        text = (SYSTEMD / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/mooddj/current/bin/mooddj update "
                                                  "--requested", "/bin/true"))
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "mooddj-update.path"),
                           str(tmp_path / "mooddj-update.service")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
