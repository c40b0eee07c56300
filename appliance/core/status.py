"""The running box's state as a JSON file in the runtime dir, for `mooddj status`.

`StatusWriter` is a small service that keeps the latest events it hears on the
bus (mood, presence, player, links, camera), reads the active errors from the
box's error board and, every
`status_interval`, writes them with the supervisor's snapshot to
`<runtime_dir>/status.json` atomically (temp file + rename). `read_status`
returns that snapshot, or None when it is missing, unreadable or stale.
Nothing secret is ever in it: events carry no tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.core.bus import (
    Bus,
    CameraState,
    Event,
    LinkState,
    ListenerChanged,
    MoodReading,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
    SetupProgress,
    Subscription,
)
from appliance.core.errors import ErrorBoard
from appliance.core.service import Service

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
FORMAT_VERSION = 1
TRIM_SECONDS = 30.0  # how often freed heap is handed back to the system

_WATCHED: tuple[type[Event], ...] = (
    MoodReading, PresenceChanged, PlayerState, LinkState, CameraState, ListenerChanged,
    SetupProgress, PrivacyChanged,
)


def status_path(runtime_dir: Path | str) -> Path:
    """Where the snapshot lives for a runtime dir."""
    return Path(runtime_dir) / STATUS_FILE


def _event_dict(event: Event | None) -> dict[str, Any] | None:
    return None if event is None else dataclasses.asdict(event)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class StatusWriter(Service):
    """Writes the status snapshot every `interval` seconds (and a last one on stop)."""

    name = "status"

    def __init__(self, path: Path, bus: Bus, *, interval: float = 2.0,
                 supervisor_snapshot: Callable[[], dict[str, Any]] | None = None,
                 version: str = "", errors: ErrorBoard | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.bus = bus
        self.errors = errors if errors is not None else ErrorBoard(bus)
        self.interval = interval
        self.heartbeat_deadline = max(10.0, interval * 5)
        self.supervisor_snapshot = supervisor_snapshot or dict
        self.version = version
        self.started_at = time.time()
        self.latest: dict[type[Event], Event] = {}
        self.links: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = 0
        self._sub: Subscription | None = None
        self._writing: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Check the runtime dir is writable and start listening to the bus."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RuntimeError(f"runtime dir {self.path.parent} cannot be created: "
                               f"{err.strerror}; set paths.runtime_dir to a writable folder"
                               ) from None
        if not os.access(self.path.parent, os.W_OK):
            raise RuntimeError(f"runtime dir {self.path.parent} is not writable; "
                               f"set paths.runtime_dir (systemd: RuntimeDirectory=mooddj)")
        for kind in _WATCHED:  # what happened before this service (re)started
            ev = self.bus.latest(kind)
            if ev is not None:
                self._take(ev)
        self._sub = self.bus.subscribe(*_WATCHED, maxsize=1000, name="status")

    async def run(self) -> None:
        """Write a snapshot, then again every interval."""
        from appliance.core.memory import release_free_memory

        last_trim = 0.0
        while True:
            self._drain()
            await self.write()
            self.beat()
            if time.monotonic() - last_trim >= TRIM_SECONDS:  # the box's one periodic chore
                last_trim = time.monotonic()
                release_free_memory()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Write a last snapshot marked not running and stop listening."""
        if self._sub is not None:
            self._drain()
            self._sub.close()
            self._sub = None
            if self._writing is not None:  # a cancelled write's thread may still be writing
                await asyncio.wait([self._writing])
            with contextlib.suppress(OSError):
                write_atomic(self.path, json.dumps(self.snapshot_doc(running=False), default=str))

    def _drain(self) -> None:
        if self._sub is None:
            return
        while (ev := self._sub.get_nowait()) is not None:
            self._take(ev)

    def _take(self, ev: Event) -> None:
        if isinstance(ev, LinkState):
            self.links[(ev.platform, ev.user_id)] = dataclasses.asdict(ev)
        else:
            self.latest[type(ev)] = ev

    def snapshot_doc(self, *, running: bool = True) -> dict[str, Any]:
        """The whole status document."""
        try:
            sup = dict(self.supervisor_snapshot())
        except Exception as err:
            sup = {"error": f"supervisor snapshot failed: {err}"}
        services = sup.pop("services", [])
        privacy = self.latest.get(PrivacyChanged)
        setup = self.latest.get(SetupProgress)
        return {
            "format": FORMAT_VERSION, "running": running, "pid": os.getpid(),
            "version": self.version, "started_at": self.started_at,
            "written_at": time.time(), "interval": self.interval,
            "services": services,
            "errors": self.errors.listing(),
            "mood": _event_dict(self.latest.get(MoodReading)),
            "presence": _event_dict(self.latest.get(PresenceChanged)),
            "player": _event_dict(self.latest.get(PlayerState)),
            "links": list(self.links.values()),
            "camera": _event_dict(self.latest.get(CameraState)),
            "listener": _event_dict(self.latest.get(ListenerChanged)),
            "setup": setup.step if isinstance(setup, SetupProgress) else None,
            "privacy": privacy.enabled if isinstance(privacy, PrivacyChanged) else None,
            "loop_lag_ms": sup.get("loop_lag_ms"),
            "bus": {"dropped": self.bus.dropped, "published": self.bus.published,
                    "subscribers": self.bus.subscribers},
            "supervisor": sup,
        }

    async def write(self) -> None:
        """Write the snapshot now (serialised on the loop, written on a thread)."""
        text = json.dumps(self.snapshot_doc(), default=str, indent=1)
        self._writing = asyncio.ensure_future(asyncio.to_thread(write_atomic, self.path, text))
        await asyncio.shield(self._writing)
        self.writes += 1
        self.detail = f"written every {self.interval:g} s to {self.path}"

    def snapshot(self) -> dict[str, object]:
        return {"path": str(self.path), "writes": self.writes}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user (the mooddj service user)
    return True


def read_status(path: Path | str, *, max_age: float | None = None,
                now: float | None = None) -> dict[str, Any] | None:
    """The running box's snapshot, or None if missing, unreadable, stopped or stale."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not doc.get("running"):
        return None
    written = doc.get("written_at")
    if not isinstance(written, int | float):
        return None
    limit = max_age if max_age is not None else max(10.0, 5 * float(doc.get("interval") or 2))
    if (time.time() if now is None else now) - written > limit:
        return None
    pid = doc.get("pid")
    if isinstance(pid, int) and not _pid_alive(pid):
        return None
    return doc
