"""The vision service: camera -> pipeline on one worker thread -> numbers on the bus.

Only numbers leave: `MoodReading`, `PresenceChanged` and `CameraState` go on
the bus through `publish_threadsafe`; frames and crops stay in this thread's
locals and are never written or logged. The rate adapts: `idle_fps` while
the room is empty (a presence check), `active_fps` while faces are present.
Privacy mode closes the camera entirely; the setting survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.core.bus import (
    Bus,
    CameraState,
    ErrorCleared,
    ErrorRaised,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import CameraConfig, Config, VisionConfig
from appliance.core.service import Service
from appliance.core.settings import PRIVACY, Settings
from appliance.vision.geometry import calibration_path
from appliance.vision.sources import (
    CameraError,
    FrameError,
    FrameSource,
    SourceEnded,
    create_source,
)

logger = logging.getLogger(__name__)

CAMERA_KEY = "camera"
WAIT_SLICE = 1.0  # longest single wait, so the heartbeat keeps beating


class VisionService(Service):
    """Runs the mood pipeline on one worker thread and publishes the room's mood."""

    name = "vision"
    heartbeat_deadline = 30.0

    def __init__(self, camera: CameraConfig, vision: VisionConfig, bus: Bus, store: Any = None,
                 *, models_dir: Path, calibration_file: Path | None = None,
                 source_factory: Callable[[CameraConfig], FrameSource] | None = None,
                 pipeline_factory: Callable[[], Any] | None = None,
                 retry_initial: float = 1.0, retry_max: float = 30.0,
                 settings: Settings | None = None) -> None:
        super().__init__()
        self.camera, self.vision, self.bus, self.store = camera, vision, bus, store
        # Privacy mode at start; the box's Settings stores each PrivacyChanged.
        self.settings = settings or (Settings(store) if store is not None else None)
        self.models_dir = Path(models_dir)
        self.calibration_file = calibration_file
        self.source_factory = source_factory or create_source
        self.pipeline_factory = pipeline_factory
        self.retry_initial, self.retry_max = retry_initial, retry_max
        self.source: FrameSource | None = None
        self.pipeline: Any = None
        self.privacy = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._sub: Any = None
        self._capturing = False
        self._camera_error = ""
        self.last_error = ""
        self.people = 0
        self.faces = 0
        self.mood = "neutral"
        self.frames = 0
        self.bad_frames = 0
        self._intervals: deque[float] = deque(maxlen=30)
        self._last_tick: float | None = None

    @classmethod
    def from_config(cls, config: Config, bus: Bus, store: Any = None, **kwargs: Any
                    ) -> VisionService:
        """The service as `mooddj run` builds it from the whole config."""
        return cls(config.camera, config.vision, bus, store, models_dir=config.paths.models,
                   calibration_file=calibration_path(config.vision.calibration_file,
                                                     config.paths.state), **kwargs)

    # -- lifecycle (event loop) -------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        self.privacy = await self._read_privacy()
        self._sub = self.bus.subscribe(PrivacyChanged, maxsize=10, name="vision.privacy")
        try:
            self.pipeline = await asyncio.to_thread(self._make_pipeline)
        except Exception as err:
            self.bus.publish(ErrorRaised(key="vision.models", source="service",
                                         message=str(err).splitlines()[0],
                                         hint="run scripts/fetch-models, then restart"))
            raise
        self.bus.publish(ErrorCleared(key="vision.models"))
        self.detail = "privacy mode: camera off" if self.privacy else "starting"

    def _make_pipeline(self) -> Any:
        if self.pipeline_factory is not None:
            return self.pipeline_factory()
        from appliance.vision.pipeline import Pipeline

        return Pipeline(self.vision, self.models_dir, calibration_path=self.calibration_file)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        done = self._done

        def finished(exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        def worker() -> None:
            try:
                self._work()
            except BaseException as exc:  # handed to run(): the supervisor restarts us
                logger.exception("vision worker crashed")
                loop.call_soon_threadsafe(finished, exc)
            else:
                loop.call_soon_threadsafe(finished, None)

        self._thread = threading.Thread(target=worker, name="vision-worker", daemon=True)
        self._thread.start()
        privacy_task = asyncio.create_task(self._follow_privacy())
        try:
            await done
        finally:
            privacy_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await privacy_task

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        src = self.source
        if src is not None:
            src.interrupt()
        thread = self._thread
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, 10.0)
        self._thread = None
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    async def _read_privacy(self) -> bool:
        return False if self.settings is None else await self.settings.get(PRIVACY)

    async def _follow_privacy(self) -> None:
        assert self._sub is not None
        async for ev in self._sub:
            assert isinstance(ev, PrivacyChanged)
            if ev.enabled != self.privacy:
                logger.info("privacy mode %s", "on: camera off" if ev.enabled else "off")
            self.privacy = ev.enabled
            self._wake.set()

    # -- the worker thread ----------------------------------------------

    def _publish(self, event: Any) -> None:
        self.bus.publish_threadsafe(event)

    def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early on stop or a privacy change; keeps beating."""
        end = time.monotonic() + seconds
        while not self._stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            if self._wake.wait(min(left, WAIT_SLICE)):
                self._wake.clear()
                return
            self.beat()

    def _set_capturing(self, capturing: bool, error: str = "") -> None:
        fps = self.source.fps if (capturing and self.source is not None) else 0.0
        if capturing != self._capturing or error:
            self._publish(CameraState(capturing=capturing, fps=float(fps), error=error))
        self._capturing = capturing

    def _close_source(self, error: str = "") -> None:
        src, self.source = self.source, None
        if src is not None:
            with contextlib.suppress(Exception):
                src.close()
        if self._capturing or error:
            self._set_capturing(False, error)

    def _camera_failed(self, err: Exception) -> None:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        self.last_error = msg
        new = msg != self._camera_error
        if new:
            logger.warning("camera: %s", msg)
            self._publish(ErrorRaised(key=CAMERA_KEY, source="camera", message=msg,
                                      hint="check the camera; the box keeps retrying"))
        self._camera_error = msg
        self._close_source(error=msg if new else "")

    def _camera_recovered(self) -> None:
        if self._camera_error:
            logger.info("camera recovered")
            self._publish(ErrorCleared(key=CAMERA_KEY))
            self._camera_error = ""

    def _work(self) -> None:
        backoff = self.retry_initial
        privacy_applied = False
        try:
            while not self._stop.is_set():
                self.beat()
                if self.privacy:
                    if not privacy_applied:
                        self._close_source()
                        self._publish(CameraState(capturing=False, error="privacy mode"))
                        logger.info("camera closed (privacy mode)")
                        privacy_applied = True
                    self.detail = "privacy mode: camera off"
                    self._wait(WAIT_SLICE * 5)
                    continue
                privacy_applied = False
                if self.source is None:
                    try:
                        self._open()
                    except CameraError as err:
                        self._camera_failed(err)
                        self.detail = f"camera unavailable, retrying in {backoff:.0f} s"
                        self._wait(backoff)
                        backoff = min(backoff * 2, self.retry_max)
                        continue
                tick = time.monotonic()
                active = self._step()
                if self.source is not None:
                    backoff = self.retry_initial
                rate = self.vision.active_fps if active else self.vision.idle_fps
                self._wait(max(0.0, 1.0 / rate - (time.monotonic() - tick)))
        finally:
            self._close_source()

    def _open(self) -> None:
        camera = self.camera
        src = self.source_factory(camera)
        self.source = src
        try:
            src.open()
        except BaseException:
            self.source = None
            with contextlib.suppress(Exception):
                src.close()
            raise
        self._set_capturing(True)
        self.detail = f"capturing ({src.name})"
        logger.info("camera open (%s)", src.name)

    def _step(self) -> bool:
        """Read and process one frame; True when faces are around (use the active rate)."""
        assert self.source is not None
        try:
            frame = self.source.read()
        except SourceEnded as err:
            self._camera_failed(CameraError(f"{err}; nothing more to replay"))
            return False
        except CameraError as err:
            self._camera_failed(err)
            return False
        except FrameError as err:
            self._bad_frame(str(err))
            return self.people > 0
        self._camera_recovered()
        try:
            result = self.pipeline.process(frame.rgb, frame.t, frame.main)
        except (FrameError, ValueError) as err:
            self._bad_frame(str(err))
            return self.people > 0
        del frame
        self._account(result)
        return result.room.faces > 0 or result.room.people > 0

    def _bad_frame(self, msg: str) -> None:
        self.bad_frames += 1
        self.last_error = msg
        if self.bad_frames in (1, 10, 100) or self.bad_frames % 1000 == 0:
            logger.warning("unusable frame (%d so far): %s", self.bad_frames, msg)

    def _account(self, result: Any) -> None:
        now = time.monotonic()
        if self._last_tick is not None:
            self._intervals.append(now - self._last_tick)
        self._last_tick = now
        self.frames += 1
        room = result.room
        was_active = self.faces > 0 or self.people > 0
        self.faces, self.mood = room.faces, room.mood
        if room.presence_changed is not None:
            people, previous = room.presence_changed
            self.people = people
            self._publish(PresenceChanged(people=people, previous=previous))
        if room.faces > 0 or room.people > 0 or was_active:
            self._publish(room.reading())
        self.detail = (f"{self.people} people, mood {room.mood}" if self.people
                       else "room empty")

    # -- status ------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Frames processed per second, over the last few frames."""
        if not self._intervals:
            return 0.0
        mean = sum(self._intervals) / len(self._intervals)
        return round(1.0 / mean, 2) if mean > 0 else 0.0

    def snapshot(self) -> dict[str, object]:
        return {
            "fps": self.fps,
            "people": self.people,
            "faces": self.faces,
            "mood": self.mood,
            "capturing": self._capturing,
            "privacy": self.privacy,
            "frames": self.frames,
            "bad_frames": self.bad_frames,
            "detector_runs": int(getattr(self.pipeline, "detector_runs", 0) or 0),
            "last_error": self.last_error,
        }
