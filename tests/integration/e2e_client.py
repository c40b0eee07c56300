"""Helpers of the end-to-end tests: a running box process, a phone-like HTTP client, waits.

`BoxProcess` is one `mooddj run --sim` subprocess (its own process group, stdout and
stderr in files kept under artifacts/integration/, NOTIFY_SOCKET bound to a real
AF_UNIX datagram socket); `StandIns` is a separately started `python -m appliance.standins`;
`BoxClient` is one browser: a cookie jar, the CSRF token on every POST and the
setup steps a person does (claim, sign in, link Spotify, pick the speaker).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
MOODDJ = REPO / ".venv" / "bin" / "mooddj"
ARTIFACTS = REPO / "artifacts" / "integration"
MEDIA = REPO / "tests" / "media"

T = TypeVar("T")

# Short timings so the whole journey takes seconds (see test_e2e_journey's docstring).
FAST_CONFIG = """\
[log]
level = "INFO"

[supervisor]
status_interval = 0.5
stop_timeout = 8

[vision]
dwell_seconds = {dwell}
smoothing_seconds = 1.0
leave_seconds = 1.0

[player]
empty_room_minutes = {empty_minutes}
fade_seconds = {fade}

[spotify]
redirect_port = 0
"""


def need_files() -> None:
    """Skip unless the test recordings and the models were fetched."""
    import pytest

    missing = [p for p in (MEDIA / "single_face.mp4", MEDIA / "no_face.mp4")
               if not p.exists()]
    if missing:
        pytest.skip(f"{missing[0]} missing: run scripts/fetch-test-media")
    if not list((REPO / "models").glob("*.tflite")):
        pytest.skip("models missing: run scripts/fetch-models")


def artifacts_for(node: Any, name: str = "") -> Path:
    """artifacts/integration/<module>.<test or name>/ for a pytest node (emptied first)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{Path(str(node.path)).stem}.{name or node.name}")
    path = ARTIFACTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, fn: Callable[[], T], timeout: float, interval: float = 0.25) -> T:
    """Call `fn` until it returns something truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except (requests.RequestException, OSError, ValueError, KeyError) as err:
            last = err
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} "
                                 f"(last: {last!r})")
        time.sleep(interval)


def write_config(path: Path, *, state_dir: Path | None = None, dwell: float = 2.0,
                 empty_minutes: float = 0.05, fade: float = 1.0, extra: str = "") -> Path:
    """A config file with the short test timings (plus `extra` TOML appended).

    With `state_dir`, it names the box's state and runtime dirs too, so maintenance
    commands (`mooddj --config PATH pair`, `doctor`) look at the same box.
    """
    text = FAST_CONFIG.format(dwell=dwell, empty_minutes=empty_minutes, fade=fade)
    if state_dir is not None:
        text += (f'\n[paths]\nstate_dir = "{state_dir}"\nruntime_dir = "{state_dir / "run"}"\n'
                 f'log_file = "{state_dir / "mooddj.log"}"\n')
    path.write_text(text + extra)
    return path


def mooddj(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the `mooddj` CLI and return the finished process (never raises on failure)."""
    return subprocess.run([str(MOODDJ), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO))


def status_json(state_dir: Path) -> dict[str, Any]:
    """`mooddj status --state-dir DIR --json` as a dict."""
    proc = mooddj("status", "--state-dir", str(state_dir), "--json", timeout=30)
    assert proc.returncode == 0, f"mooddj status failed: {proc.stderr}"
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def live_status(state_dir: Path) -> dict[str, Any] | None:
    """The running box's status snapshot straight from the runtime dir (cheap for polling)."""
    from appliance.core.status import read_status, status_path

    return read_status(status_path(state_dir / "run"))


def service_states(live: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """name -> (state, crashes) of every service in a status snapshot."""
    return {s["name"]: (s["state"], s["crashes"]) for s in live["services"]}


def error_keys(live: dict[str, Any]) -> set[str]:
    """Keys of the errors the box shows now."""
    return {e["key"] for e in live.get("errors", [])}


class NotifyListener:
    """A real AF_UNIX datagram socket for NOTIFY_SOCKET; collects every message sent to it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mdj-n"))  # short: sun_path is 108 bytes
        self.path = self.dir / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="notify", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.extend(data.decode(errors="replace").splitlines())

    def has(self, line: str) -> bool:
        """True once a datagram carried exactly this line (e.g. READY=1)."""
        return line in list(self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group too
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class StandIns:
    """`python -m appliance.standins` started by the test (survives box restarts)."""

    def __init__(self, state_file: Path, artifacts: Path, *, identity_interval: float = 0.5
                 ) -> None:
        artifacts.mkdir(parents=True, exist_ok=True)
        self._err = (artifacts / "stand-ins.stderr.txt").open("w")
        self.proc = subprocess.Popen(
            [str(PYTHON), "-m", "appliance.standins", "--state-file", str(state_file),
             "--identity-interval", str(identity_interval)],
            stdout=subprocess.PIPE, stderr=self._err, text=True, cwd=str(REPO),
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        if not ready:
            self.stop()
            raise AssertionError("the stand-ins did not print their addresses within 30 s")
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.control: str = self.info["control"]

    def state(self) -> dict[str, Any]:
        """The control server's /sim/state."""
        return requests.get(f"{self.control}/sim/state", timeout=5).json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        _kill_group(self.proc, grace=5)
        self._err.close()


class BoxProcess:
    """One `mooddj run --sim` subprocess with its own state dir, port and NOTIFY_SOCKET."""

    def __init__(self, state_dir: Path, artifacts: Path, *, config: Path | None = None,
                 recording: Path | None = None, stand_ins: str | None = None,
                 port: int | None = None, label: str = "box") -> None:
        self.state_dir = state_dir
        self.artifacts = artifacts
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.label = label
        self.config = config
        self.recording = recording
        self.stand_ins = stand_ins
        self.proc: subprocess.Popen[str] | None = None
        self.notify: NotifyListener | None = None
        self.urls: dict[str, str] = {}
        self.runs = 0

    def command(self) -> list[str]:
        cmd = [str(MOODDJ), "run", "--sim", "--state-dir", str(self.state_dir),
               "--port", str(self.port)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        if self.recording is not None:
            cmd += ["--recording", str(self.recording)]
        if self.stand_ins:
            cmd += ["--stand-ins", self.stand_ins]
        return cmd

    def start(self, *, wait_ready: bool = True, timeout: float = 60) -> BoxProcess:
        """Start the process (again, after a stop or kill) and wait for READY=1."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        suffix = "" if self.runs == 1 else f".{self.runs}"
        self.stdout_path = self.artifacts / f"{self.label}{suffix}.stdout.txt"
        self.stderr_path = self.artifacts / f"{self.label}{suffix}.stderr.txt"
        if self.notify is not None:
            self.notify.close()
        self.notify = NotifyListener()
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify.path), "PYTHONUNBUFFERED": "1"}
        env.pop("MOODDJ_CONFIG", None)
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, text=True,
                                         cwd=str(REPO), env=env, start_new_session=True)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait for READY=1 on the notify socket (fails early if the process exits)."""
        assert self.proc is not None and self.notify is not None

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.label} exited with {self.proc.returncode} before "
                                     f"READY=1:\n{self.stderr_tail()}")
            return self.notify is not None and self.notify.has("READY=1")

        wait_for(f"READY=1 from {self.label}", ready, timeout, interval=0.1)
        self.urls = self._banner()

    def _banner(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for line in self.stdout_path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith(("http://", "/")):
                urls[parts[0]] = parts[1]
        return urls

    @property
    def control(self) -> str:
        """The stand-ins' control URL (from the banner's /sim address)."""
        return self.stand_ins or self.urls["sim"].removesuffix("/sim")

    def stderr_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.stderr_path.read_text().splitlines()[-lines:])
        return ""

    def sim_state(self) -> dict[str, Any]:
        """The stand-ins' /sim/state."""
        return requests.get(f"{self.control}/sim/state", timeout=5).json()  # type: ignore[no-any-return]

    def save_json(self, name: str, data: Any) -> None:
        """Keep `data` as an artifact of this test."""
        (self.artifacts / f"{self.label}.{name}").write_text(json.dumps(data, indent=1))

    def status(self) -> dict[str, Any]:
        """`mooddj status --json` of this box."""
        return status_json(self.state_dir)

    def live(self) -> dict[str, Any] | None:
        """The status snapshot the running box writes (None while stale or stopped)."""
        return live_status(self.state_dir)

    def pair_code(self) -> str:
        """A one-time pairing code from `mooddj pair` (needs the config to name the state dir)."""
        assert self.config is not None
        proc = mooddj("--config", str(self.config), "pair", "--minutes", "5")
        assert proc.returncode == 0, proc.stderr
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("Pairing code:"))
        return line.split(":", 1)[1].strip()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill_hard(self) -> None:
        """SIGKILL the box process only (its own stand-ins follow through PDEATHSIG)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Teardown: stop the whole process group and keep the box's files as artifacts."""
        if self.proc is not None:
            _kill_group(self.proc)
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        for name in ("mooddj.log", "run/status.json"):
            src = self.state_dir / name
            if src.exists():
                with contextlib.suppress(OSError):
                    shutil.copy(src, self.artifacts / f"{self.label}.{src.name}")


class ApiFailure(AssertionError):
    """The box answered an API call with an error."""

    def __init__(self, resp: requests.Response) -> None:
        self.status = resp.status_code
        try:
            self.error = resp.json().get("error", {})
        except ValueError:
            self.error = {"message": resp.text[:200]}
        super().__init__(f"{resp.request.method} {urlsplit(resp.url).path} -> {self.status} "
                         f"{self.error}")


class BoxClient:
    """One phone browser: a cookie jar and the CSRF token on every state-changing call."""

    def __init__(self, base: str, control: str) -> None:
        self.base = base.rstrip("/")
        self.control = control.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"

    # -- plumbing --------------------------------------------------------------------------

    def csrf(self) -> str:
        """The CSRF token of this browser's current session (it changes when the session does)."""
        return str(self.get("/api/csrf")["csrfToken"])

    def page(self, path: str = "/") -> requests.Response:
        """GET a page as a browser would (HTML, redirects followed)."""
        return self.http.get(self.base + path, timeout=10, headers={"Accept": "text/html"})

    def raw_get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        resp = self.raw_get(path, **kw)
        if resp.status_code >= 400:
            raise ApiFailure(resp)
        return resp.json()["data"]

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.post(self.base + path, json=body or {}, timeout=15,
                              headers={"X-CSRF-Token": self.csrf(), "Origin": self.base})
        if resp.status_code >= 400:
            raise ApiFailure(resp)
        return resp.json()["data"]

    # -- setup steps -------------------------------------------------------------------------

    def press_code(self, presses: list[str], hold_first: bool) -> None:
        """Enter a pairing code on the virtual panel (after a Play hold once claimed)."""
        if hold_first:
            self.post("/api/panel/buttons/play", {"action": "hold"})
        for press in presses:
            self.post(f"/api/panel/buttons/{press}", {"action": "press"})

    def claim_with_button(self) -> None:
        """Ask to pair, press the page's code on the box's buttons, collect the approval."""
        asked = self.post("/pair/request")
        assert self.get("/pair/status")["state"] == "pending"
        self.press_code(asked["challenge"], asked["holdFirst"])
        wait_for("the code on the buttons to approve pairing",
                 lambda: self.get("/pair/status")["state"] == "approved", 10, 0.1)
        assert self.post("/pair/complete")["state"] == "paired"

    def pair_with_code(self, code: str) -> None:
        """Pair this browser with a one-time code (from the owner or `mooddj pair`)."""
        assert self.post("/pair/code", {"code": code})["state"] == "paired"

    def sign_in(self, provider: str = "google", *, subject: str = "sim-user-1",
                email: str = "alex@example.org", name: str = "Alex",
                timeout: float = 30) -> dict[str, Any]:
        """Device-flow sign-in, approved at the identity stand-in; the final status."""
        flow = self.start_sign_in(provider)
        self.approve_sign_in(flow["userCode"], subject=subject, email=email, name=name)
        return self.finish_sign_in(provider, flow["flowId"], timeout=timeout)

    def start_sign_in(self, provider: str = "google") -> dict[str, Any]:
        return self.post(f"/auth/{provider}/login")  # type: ignore[no-any-return]

    def approve_sign_in(self, user_code: str, *, subject: str = "sim-user-1",
                        email: str = "alex@example.org", name: str = "Alex") -> None:
        resp = requests.post(f"{self.control}/sim/identity/approve", timeout=5, params={
            "code": user_code, "subject": subject, "email": email, "name": name})
        resp.raise_for_status()

    def finish_sign_in(self, provider: str, flow_id: str, timeout: float = 30,
                       seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            st = self.get(f"/auth/{provider}/status", params={"flowId": flow_id})
            if seen is not None:
                seen.append(st)
            if st["state"] in ("denied", "expired", "error"):
                raise AssertionError(f"sign-in ended {st['state']}: {st.get('message')}")
            return st if st["state"] == "approved" else None

        return wait_for("the sign-in to be approved", done, timeout, 0.3)

    def link_spotify(self, account: str = "alice") -> dict[str, Any]:
        """Connect -> the stand-in's authorize page -> the loopback callback on the box."""
        auth_url = self.post("/platforms/spotify/connect")["authUrl"]
        parts = urlsplit(auth_url)
        fields = {k: v[0] for k, v in parse_qs(parts.query).items()}
        authorize = f"{parts.scheme}://{parts.netloc}{parts.path}"
        page = requests.get(authorize, params=fields, timeout=10)
        assert page.status_code == 200, f"authorize page refused: {page.text[:200]}"
        answer = requests.post(authorize, data={**fields, "decision": "approve",
                                                "account": account},
                               allow_redirects=False, timeout=10)
        assert answer.status_code == 302, f"authorize decision refused: {answer.text[:200]}"
        location = answer.headers["Location"]
        cb = urlsplit(location)
        assert f"{cb.scheme}://{cb.netloc}" == self.base, \
            f"redirect {cb.netloc} is not the box's loopback {self.base}"
        resp = self.raw_get(f"{cb.path}?{cb.query}")
        if resp.status_code >= 400:
            raise ApiFailure(resp)
        return resp.json()["data"]  # type: ignore[no-any-return]

    def choose_speaker(self, name: str = "Living Room", volume: int = 40) -> dict[str, Any]:
        speakers = self.get("/api/speakers", params={"refresh": "1"})["speakers"]
        match = [s for s in speakers if s["name"] == name]
        assert match, f"speaker {name!r} not in {[s['name'] for s in speakers]}"
        return self.post("/api/speakers", {"id": match[0]["id"], "volume": volume})["chosen"]  # type: ignore[no-any-return]

    def set_camera(self, recording: str) -> None:
        """Switch the simulated camera: "face" or "empty"."""
        self.post("/api/sim/camera", {"recording": recording})


def integrity_check(db_path: Path) -> str:
    """`PRAGMA integrity_check` of a database file (opened read-write so the WAL replays)."""
    import sqlite3

    conn = sqlite3.connect(str(db_path), timeout=5)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
