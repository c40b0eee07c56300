"""The Raspberry Pi camera module through picamera2 (the only module that imports picamera2).

libcamera names formats by their register order: "BGR888" delivers R, G, B
bytes in memory, i.e. an RGB array, which is what the pipeline wants. Frames
are fresh: the configuration does not queue frames and every capture flushes,
so a frame is never older than the call. The camera is released on close,
at exit and on SIGTERM (a camera left open stays "in use" until reboot).

Two streams of one picture: the high-resolution `main` stream runs at the sensor
mode's own size (`choose_mode`: the smallest mode that sees the whole sensor and is
at least MIN_MAIN_WIDTH wide, i.e. the 2x2-binned one: Camera Module 3 and 3 Wide
2304x1296, Module 2 1640x1232, HQ 2028x1520, Module 1 1296x972), and the ISP shrinks
the same picture into the `lores` view (camera.width wide, the mode's aspect).
The Pi 4's ISP gives lores only as YUV420, converted here (it is small).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import weakref
from typing import Any

from appliance.vision.imageops import yuv420_to_rgb
from appliance.vision.sources.base import CameraError, Frame, FrameError, FrameSource, now, to_rgb

logger = logging.getLogger(__name__)

RGB_FORMAT = "BGR888"  # libcamera's name for R,G,B byte order in memory
LORES_FORMAT = "YUV420"  # the only lores format the Pi 4's ISP has
MIN_MAIN_WIDTH = 1280  # a face 24 px wide in a 640-px view is >= 48 px here


def choose_mode(sensor_modes: list[dict[str, Any]], pixel_array: tuple[int, int],
                ) -> dict[str, Any] | None:
    """The sensor mode for the main stream: the smallest that sees the whole pixel array
    and is at least MIN_MAIN_WIDTH wide (the binned mode), else the largest full-view one."""
    aw, ah = pixel_array

    def full_view(m: dict[str, Any]) -> bool:
        x, y, w, h = m.get("crop_limits", (0, 0, 0, 0))
        return x == 0 and y == 0 and w >= aw and h >= ah

    full = [m for m in sensor_modes if full_view(m)]
    if not full:
        return None
    wide = [m for m in full if m["size"][0] >= MIN_MAIN_WIDTH]
    pick = min if wide else max
    return pick(wide or full, key=lambda m: m["size"][0] * m["size"][1])


def view_size(width: int, main_size: tuple[int, int]) -> tuple[int, int]:
    """The lores view: `width` wide (even), the main stream's aspect."""
    w = width - width % 2
    h = round(w * main_size[1] / main_size[0])
    return w, h - h % 2

_open_cameras: weakref.WeakSet[Picamera2Source] = weakref.WeakSet()
_handler_lock = threading.Lock()
_handler_installed = False


def _release_all() -> None:
    for src in list(_open_cameras):
        with contextlib.suppress(Exception):
            src.close()


def _on_sigterm(signum: int, frame: Any) -> None:
    _release_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_release_hooks() -> None:
    """Release cameras at exit and on SIGTERM when nobody else handles SIGTERM."""
    global _handler_installed
    with _handler_lock:
        if _handler_installed:
            return
        _handler_installed = True
        atexit.register(_release_all)
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            # With a supervisor (asyncio signal handler) stop() releases the camera instead.
            signal.signal(signal.SIGTERM, _on_sigterm)


class Picamera2Source(FrameSource):
    """The camera module: a low-resolution RGB view and (unless main is off) the main stream."""

    name = "picamera2"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0,
                 camera_num: int = 0, main: str | tuple[int, int] = "auto") -> None:
        super().__init__()
        self.width, self.height, self._fps, self.camera_num = width, height, fps, camera_num
        self.main = main
        self._cam: Any = None
        self._count = 0
        self._view: tuple[int, int] | None = None  # lores size when there is a main stream
        self.mode: str = ""  # what was configured, for the log and doctor

    @property
    def fps(self) -> float:
        return self._fps

    def open(self) -> None:
        self._stopping.clear()
        try:
            from picamera2 import Picamera2
        except ImportError as err:
            raise CameraError("picamera2 is not available; install python3-picamera2 (apt) and "
                              "create the venv with --system-site-packages") from err
        _install_release_hooks()
        try:
            cam = Picamera2(self.camera_num)
        except (RuntimeError, IndexError, OSError) as err:
            raise CameraError(f"camera {self.camera_num} cannot be opened ({_first_line(err)}); "
                              f"check the ribbon cable, or reboot if it is still in use") from err
        try:
            cam.configure(self._configuration(cam))
            cam.start()
        except Exception as err:
            with contextlib.suppress(Exception):
                cam.close()
            raise CameraError(f"camera {self.camera_num} cannot start ({_first_line(err)}); "
                              f"check camera.width/height/fps and the cable") from err
        self._cam = cam
        _open_cameras.add(self)
        logger.info("camera %d: %s", self.camera_num, self.mode)

    def _configuration(self, cam: Any) -> Any:
        """Main + lores from the chosen sensor mode, or the single view stream (main off)."""
        controls = {"FrameRate": float(self._fps)}
        mode = None
        if self.main != "off":
            props = getattr(cam, "camera_properties", {}) or {}
            mode = choose_mode(list(getattr(cam, "sensor_modes", []) or []),
                               tuple(props.get("PixelArraySize", (0, 0))))
        if mode is None:
            self._view = None
            self.mode = f"view {self.width}x{self.height} only"
            return cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": RGB_FORMAT},
                controls=controls, buffer_count=2, queue=False)
        main = self.main if isinstance(self.main, tuple) else tuple(mode["size"])
        self._view = view_size(self.width, main)
        self.mode = (f"sensor mode {mode['size'][0]}x{mode['size'][1]}, main {main[0]}x"
                     f"{main[1]} RGB, view {self._view[0]}x{self._view[1]}")
        return cam.create_video_configuration(
            main={"size": main, "format": RGB_FORMAT},
            lores={"size": self._view, "format": LORES_FORMAT},
            sensor={"output_size": tuple(mode["size"]), "bit_depth": mode.get("bit_depth", 10)},
            controls=controls, buffer_count=2, queue=False)

    def read(self) -> Frame:
        cam = self._cam
        if cam is None:
            raise CameraError("camera is not open")
        try:
            with cam.captured_request(flush=True) as request:
                arr = request.make_array("main")
                lores = request.make_array("lores") if self._view is not None else None
        except Exception as err:
            raise CameraError(f"camera stopped delivering frames ({_first_line(err)}); "
                              f"retrying") from err
        try:
            view = self._view
            if lores is None or view is None:
                rgb, main = to_rgb(arr, order="rgb"), None
            else:
                rgb = yuv420_to_rgb(lores, view[0], view[1])
                main = to_rgb(arr, order="rgb", max_side=1 << 30)
        except (FrameError, ValueError) as err:
            raise FrameError(f"camera frame unusable: {err}") from None
        self._count += 1
        return Frame(rgb=rgb, t=now(), index=self._count - 1, main=main)

    def close(self) -> None:
        self._stopping.set()
        cam, self._cam = self._cam, None
        _open_cameras.discard(self)
        if cam is None:
            return
        with contextlib.suppress(Exception):
            cam.stop()
        with contextlib.suppress(Exception):
            cam.close()
        logger.info("camera released")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
