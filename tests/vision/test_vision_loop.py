"""VisionService on a real Bus with a replay source: events arrive, the loop stays responsive."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from vision_helpers import media, models_dir

from appliance.core.bus import (
    Bus,
    CameraState,
    ErrorCleared,
    ErrorRaised,
    MoodReading,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.config import CameraConfig, VisionConfig
from appliance.core.settings import PRIVACY, Settings
from appliance.schema import open_store
from appliance.vision.loop import VisionService
from appliance.vision.sources import CameraError, Frame, FrameSource
from appliance.vision.sources.replay import ReplaySource

VISION = VisionConfig(active_fps=10.0, idle_fps=4.0, arrive_seconds=0.3, leave_seconds=0.5,
                      smoothing_seconds=0.5, dwell_seconds=0.5)


async def _lag_probe(stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.005)
        out.append(time.perf_counter() - t0 - 0.005)


async def _collect(sub, until, timeout: float) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ev = await asyncio.wait_for(sub.get(), timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen.append(ev)
        if until(seen):
            break
    return seen


async def test_vision_service_publishes_mood_and_presence_and_keeps_loop_responsive(tmp_path):
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    store = open_store(tmp_path / "db.sqlite")
    replay = ReplaySource(media("single_face.mp4"), loop=True, realtime=True)
    svc = VisionService(CameraConfig(source="replay"), VISION, bus, store,
                        models_dir=models_dir(), source_factory=lambda cam: replay)
    sub = bus.subscribe(MoodReading, PresenceChanged, CameraState)
    stop = asyncio.Event()
    lags: list[float] = []
    probe = asyncio.create_task(_lag_probe(stop, lags))
    await svc.start()
    task = asyncio.create_task(svc.run())
    try:
        seen = await _collect(sub, lambda s: any(isinstance(e, PresenceChanged) for e in s)
                              and sum(isinstance(e, MoodReading) for e in s) >= 3, 15.0)
        arrivals = [e for e in seen if isinstance(e, PresenceChanged)]
        assert arrivals and arrivals[0].people == 1 and arrivals[0].previous == 0
        readings = [e for e in seen if isinstance(e, MoodReading)]
        assert readings and all(-1 <= r.valence <= 1 and r.faces <= 1 for r in readings)
        assert any(isinstance(e, CameraState) and e.capturing for e in seen)
        snap = svc.snapshot()
        assert snap["capturing"] and snap["frames"] > 0 and snap["people"] == 1

        # The recording switches to an empty room: the person leaves.
        svc.source.set_path(media("no_face.mp4"))
        seen = await _collect(sub, lambda s: any(isinstance(e, PresenceChanged) for e in s), 15.0)
        left = [e for e in seen if isinstance(e, PresenceChanged)]
        assert left and left[0].people == 0 and left[0].previous == 1
    finally:
        await svc.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stop.set()
        await probe
        store.close()
    assert not replay._video and not replay._decoder.running  # camera released on stop
    worst = max(lags) * 1000
    print(f"\nevent loop max lag while the vision loop ran: {worst:.1f} ms over {len(lags)} probes")
    assert worst < 1000  # sanity only; the figure is printed and benchmarked, not timed here


class _FlakyCamera(FrameSource):
    """A camera that is missing at first, then works, then delivers a wrong-shape frame."""

    name = "flaky"
    opens = 0

    def __init__(self, fail_opens: int) -> None:
        super().__init__()
        self.fail_opens = fail_opens
        self.reads = 0
        self.closed = 0

    def open(self) -> None:
        type(self).opens += 1
        if type(self).opens <= self.fail_opens:
            raise CameraError("camera 0 cannot be opened; check the ribbon cable")

    def read(self) -> Frame:
        self.reads += 1
        if self.reads == 2:
            return Frame(rgb=np.zeros((7,), np.uint8), t=time.monotonic())  # wrong shape
        return Frame(rgb=np.full((120, 160, 3), 90, np.uint8), t=time.monotonic())

    def close(self) -> None:
        self.closed += 1


async def test_missing_camera_raises_error_retries_and_clears_when_it_recovers():
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    _FlakyCamera.opens = 0
    cams: list[_FlakyCamera] = []

    def factory(cam):
        cams.append(_FlakyCamera(fail_opens=2))
        return cams[-1]

    svc = VisionService(CameraConfig(source="webcam"), VISION, bus, None,
                        models_dir=models_dir(), source_factory=factory,
                        retry_initial=0.05, retry_max=0.1)
    sub = bus.subscribe(ErrorRaised, ErrorCleared, CameraState)
    await svc.start()
    task = asyncio.create_task(svc.run())
    try:
        seen = await _collect(sub, lambda s: any(isinstance(e, ErrorCleared)
                                                 and e.key == "camera" for e in s), 10.0)
        raised = [e for e in seen if isinstance(e, ErrorRaised)]
        assert raised and raised[0].key == "camera" and raised[0].source == "camera"
        assert "ribbon cable" in raised[0].message
        assert len(raised) == 1  # the same outage is reported once, not on every retry
        assert any(isinstance(e, CameraState) and e.capturing for e in seen)
        for _ in range(100):
            if svc.bad_frames:
                break
            await asyncio.sleep(0.05)
        assert svc.bad_frames >= 1 and "shape" in svc.snapshot()["last_error"]
        frames = svc.frames
        await asyncio.sleep(0.5)
        assert svc.frames > frames  # the loop kept running after the bad frame
        assert not task.done()
    finally:
        await svc.stop()
        await asyncio.gather(task, return_exceptions=True)
    assert cams[-1].closed >= 1


async def test_privacy_mode_stops_the_camera_and_is_persisted(tmp_path):
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    store = open_store(tmp_path / "db.sqlite")
    Settings(store, bus)  # the box's settings: the one writer of privacy
    replay = ReplaySource(media("no_face.mp4"), loop=True, realtime=True)
    svc = VisionService(CameraConfig(source="replay"), VISION, bus, store,
                        models_dir=models_dir(), source_factory=lambda cam: replay)
    sub = bus.subscribe(CameraState)
    await svc.start()
    task = asyncio.create_task(svc.run())
    try:
        ev = await asyncio.wait_for(sub.get(), 10)
        assert ev.capturing
        bus.publish(PrivacyChanged(enabled=True))
        ev = await asyncio.wait_for(sub.get(), 10)
        assert not ev.capturing and not replay._decoder.running
        for _ in range(50):
            if Settings(store).get_sync(PRIVACY):
                break
            await asyncio.sleep(0.02)
        assert Settings(store).get_sync(PRIVACY) is True
        assert svc.snapshot()["privacy"] is True
    finally:
        await svc.stop()
        await asyncio.gather(task, return_exceptions=True)

    # A restart reads the setting: the camera stays off.
    svc2 = VisionService(CameraConfig(source="replay"), VISION, bus, store,
                         models_dir=models_dir(), source_factory=lambda cam: replay)
    await svc2.start()
    task = asyncio.create_task(svc2.run())
    try:
        await asyncio.sleep(0.3)
        assert svc2.privacy and not svc2.snapshot()["capturing"] and not replay._decoder.running
        bus.publish(PrivacyChanged(enabled=False))
        for _ in range(100):
            if svc2.snapshot()["capturing"]:
                break
            await asyncio.sleep(0.05)
        assert svc2.snapshot()["capturing"]
    finally:
        await svc2.stop()
        await asyncio.gather(task, return_exceptions=True)
        store.close()


async def _frames_in(path, seconds: float, vision: VisionConfig) -> int:
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    svc = VisionService(CameraConfig(source="replay"), vision, bus, None, models_dir=models_dir(),
                        source_factory=lambda cam: ReplaySource(path, loop=True, realtime=False))
    await svc.start()
    task = asyncio.create_task(svc.run())
    try:
        await asyncio.sleep(0.5)
        before = svc.frames
        await asyncio.sleep(seconds)
        return svc.frames - before
    finally:
        await svc.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_rate_is_low_while_the_room_is_empty_and_higher_with_faces():
    vision = VisionConfig(active_fps=12.0, idle_fps=2.0, arrive_seconds=0.2)
    idle = await _frames_in(media("no_face.mp4"), 1.5, vision)
    active = await _frames_in(media("single_face.mp4"), 1.5, vision)
    print(f"\nframes in 1.5 s: empty room {idle}, face present {active}")
    assert idle <= 5  # about idle_fps
    assert active > 2 * idle
