"""`mooddj bench soak`: run the whole simulated box for N minutes and watch it for leaks.

The stand-ins start in their own process with a fast Spotify clock (`--speed`,
so tracks end every few seconds); `mooddj run --sim` starts as a second process
with a config of short timings (dwell, leave, empty room, fade) in a temp
state dir on a free port. A phone's setup is driven once over HTTP (pair, sign
in, link Spotify, pick the speaker), then the simulated camera alternates
between a face and an empty room, with a manual mood now and then, so the
player starts, changes, fades, pauses and resumes many times. Every few seconds
the box's own process is sampled with psutil (RSS, open files, threads; the
stand-ins and the replay camera's decoder are shown apart) and its status
snapshot is read (asyncio tasks, bus drops, service crashes). It ends with
SIGTERM and prints a table and the verdicts.
Exit code: 0 every target met, 1 a target missed, 3 the soak could not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.bench.soak_report import HEADER, Sample, SoakResult, row
from appliance.core.config import REPO_ROOT

logger = logging.getLogger(__name__)

FACE_SECONDS = 30.0  # a person in the room this long, a manual mood half-way through
EMPTY_SECONDS = (12.0, 25.0)  # short: the player resumes; long: it starts afresh
MOODS = ("happy", "sad", "angry", "neutral", "surprised")
START_TIMEOUT = 120.0  # models load slowly on a busy 2-core machine
STOP_TIMEOUT = 40.0
MIB = 1024 * 1024  # memory figures are in MiB, as top and ps show them

# Short timings so minutes of the soak are hours of a living room.
SCALED_CONFIG = """\
[paths]
state_dir = "{state}"
runtime_dir = "{state}/run"
log_file = "{state}/mooddj.log"

[supervisor]
status_interval = 1.0

[vision]
dwell_seconds = 2.0
arrive_seconds = 0.5
leave_seconds = 1.0

[player]
empty_room_minutes = 0.1
resume_within_minutes = 0.3
fade_seconds = 1.0

[spotify]
devices_refresh_seconds = 30.0
"""


class SoakError(Exception):
    """The soak could not run; the message says what failed and where the logs are."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Soak:
    """One soak run: start, set up, drive and sample the box, stop it."""

    def __init__(self, *, minutes: float, speed: float, interval: float, warmup: float,
                 keep: bool = False, out: Any = sys.stdout) -> None:
        self.minutes = minutes
        self.speed = speed
        self.interval = interval
        self.keep = keep
        self.out = out
        self.result = SoakResult(minutes=minutes, speed=speed, warmup=warmup)
        self.dir = Path(tempfile.mkdtemp(prefix="mooddj-soak-"))
        self.state = self.dir / "state"
        self.config_path = self.dir / "soak.toml"
        self.port = free_port()
        self.camera = "-"
        self._procs: list[asyncio.subprocess.Process] = []

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def run(self) -> SoakResult:
        """The whole run; always stops both processes and removes the temp dir."""
        from appliance.simmode.driver import BoxDriver, DriverError

        self.result.state_dir = str(self.dir)
        self.state.mkdir(parents=True)
        self.config_path.write_text(SCALED_CONFIG.format(state=self.state.as_posix()))
        box: asyncio.subprocess.Process | None = None
        try:
            info = await self._start_stand_ins()
            box = await self._start_box(info["control"])
            self.result.box_pid = box.pid
            await self._wait_ready(box)
            async with BoxDriver(f"http://127.0.0.1:{self.port}", info["control"]) as driver:
                try:
                    self.result.setup = await driver.setup(self._pair_code)
                except (TimeoutError, DriverError, OSError) as err:
                    raise SoakError(f"setup through the page failed: {err}; see "
                                    f"{self._log_hint()}") from None
                self._say(f"box set up ({self.result.setup['paired_by']} pairing); driving it "
                          f"for {self.minutes:g} min, samples every {self.interval:g} s")
                self._say(HEADER)
                await self._soak(box, driver)
            self.result.exit_code = await self._stop(box)
            self.result.crashes = self._final_crashes()
            return self.result
        finally:
            for proc in self._procs:
                await _terminate(proc)
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- processes --------------------------------------------------------------------

    async def _spawn(self, name: str, *cmd: str, stdout: int | None = None
                     ) -> asyncio.subprocess.Process:
        log = (self.dir / f"{name}.log").open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *cmd, stdout=stdout or log, stderr=log, cwd=str(REPO_ROOT),
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._procs.append(proc)
        return proc

    async def _start_stand_ins(self) -> dict[str, Any]:
        proc = await self._spawn("stand-ins", "-m", "appliance.standins",
                                 "--speed", str(self.speed),
                                 "--state-file", str(self.dir / "stand-ins.state"),
                                 stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            info: dict[str, Any] = json.loads(line)
        except (TimeoutError, ValueError):
            raise SoakError(f"the stand-ins did not start; see {self.dir / 'stand-ins.log'} "
                            f"(run with --keep)") from None
        return info

    async def _start_box(self, control: str) -> asyncio.subprocess.Process:
        return await self._spawn("box", "-m", "appliance.cli", "--config", str(self.config_path),
                                 "run", "--sim", "--state-dir", str(self.state),
                                 "--port", str(self.port), "--stand-ins", control)

    def _status(self) -> dict[str, Any] | None:
        try:
            doc = json.loads((self.state / "run" / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # not written yet, or replaced while we read
        return doc if isinstance(doc, dict) else None

    async def _wait_ready(self, box: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if box.returncode is not None:
                raise SoakError(f"the box exited at start (code {box.returncode}); see "
                                f"{self._log_hint()}")
            doc = self._status()
            if doc and doc.get("pid") == box.pid and (doc.get("supervisor") or {}).get("ready"):
                return
            await asyncio.sleep(0.5)
        raise SoakError(f"the box was not ready within {START_TIMEOUT:.0f} s; see "
                        f"{self._log_hint()}")

    async def _pair_code(self) -> str:
        """A one-time code from `mooddj pair`, as over SSH (when there is no virtual panel)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance.cli", "--config", str(self.config_path), "pair",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=str(REPO_ROOT))
        text = (await proc.communicate())[0].decode(errors="replace")
        found = re.search(r"Pairing code: (\S+)", text)
        if proc.returncode != 0 or not found:
            raise SoakError(f"`mooddj pair` failed: {text.strip()[:200]}")
        return found.group(1)

    async def _stop(self, box: asyncio.subprocess.Process) -> int:
        box.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(box.wait(), STOP_TIMEOUT)
        except TimeoutError:
            box.kill()
            await box.wait()
            return -9

    def _final_crashes(self) -> dict[str, int]:
        doc = self._status() or {}
        return {s["name"]: int(s.get("crashes", 0)) for s in doc.get("services", [])}

    def _log_hint(self) -> str:
        return f"{self.dir / 'box.log'} and {self.state / 'mooddj.log'} (run with --keep)"

    # -- driving and sampling -------------------------------------------------------------

    async def _soak(self, box: asyncio.subprocess.Process, driver: Any) -> None:
        import psutil

        proc = psutil.Process(box.pid)
        start = time.monotonic()
        end = start + self.minutes * 60.0
        drive = asyncio.create_task(self._drive(driver), name="soak-drive")
        every = max(self.interval, round(self.minutes * 60.0 / 20 / self.interval)
                    * self.interval)
        last_row = -every
        try:
            while True:
                now = time.monotonic()
                if box.returncode is not None:
                    raise SoakError(f"the box exited during the soak (code {box.returncode}); "
                                    f"see {self._log_hint()}")
                sample = await self._sample(proc, driver, now - start)
                if sample is not None:
                    self.result.samples.append(sample)
                    if sample.t - last_row >= every - 0.01 or now >= end:
                        self._say(row(sample))
                        last_row = sample.t
                if now >= end:
                    return
                await asyncio.sleep(min(self.interval, max(0.0, end - time.monotonic())))
        finally:
            drive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drive

    async def _sample(self, proc: Any, driver: Any, t: float) -> Sample | None:
        import psutil

        try:
            with proc.oneshot():
                mem = proc.memory_info()
                children = _children_rss(proc)
                fds = proc.num_fds()
                threads = proc.num_threads()
        except psutil.NoSuchProcess:
            return None
        doc = self._status() or {}
        sup = doc.get("supervisor") or {}
        plays = 0
        with contextlib.suppress(Exception):  # a busy stand-in only costs this figure
            plays = int((await driver.sim_state()).get("plays", 0))
        return Sample(
            t=round(t, 1), rss_mib=round(mem.rss / MIB, 2), fds=fds, threads=threads,
            tasks=sup.get("tasks"), bus_dropped=int((doc.get("bus") or {}).get("dropped", 0)),
            restarts=sum(int(s.get("crashes", 0)) for s in doc.get("services", [])),
            player=str((doc.get("player") or {}).get("state") or "-"), plays=plays,
            camera=self.camera, anon_mib=round(_anon_bytes(mem) / MIB, 2),
            children_mib=round(children / MIB, 2))

    async def _drive(self, driver: Any) -> None:
        from appliance.simmode.driver import DriverError

        cycle = 0
        while True:
            try:
                await self._switch(driver, "face")
                await asyncio.sleep(FACE_SECONDS / 2)
                await driver.set_mood(MOODS[cycle % len(MOODS)], minutes=FACE_SECONDS / 180)
                self.result.mood_changes += 1
                await asyncio.sleep(FACE_SECONDS / 2)
                await self._switch(driver, "empty")
                await asyncio.sleep(EMPTY_SECONDS[cycle % len(EMPTY_SECONDS)])
            except (TimeoutError, DriverError, OSError) as err:
                logger.warning("soak: driving the box failed (%s); carrying on", err)
                await asyncio.sleep(self.interval)
            cycle += 1

    async def _switch(self, driver: Any, recording: str) -> None:
        await driver.set_camera(recording)
        self.camera = recording
        self.result.camera_switches += 1


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # An interrupted soak must not leave a box or stand-ins behind.
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _anon_bytes(mem: Any) -> int:
    """Anonymous resident memory: RSS less its file-backed and shared part (Linux: statm)."""
    return max(0, int(mem.rss) - int(getattr(mem, "shared", 0)))


def _children_rss(proc: Any) -> int:
    """RSS of the box's child processes (the simulated camera's decoder)."""
    import psutil

    total = 0
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total
