"""The Raspberry Pi camera module through picamera2 (the only module that imports picamera2).

libcamera names formats by their register order: "BGR888" delivers R, G, B
bytes in memory, i.e. an RGB array, which is what the pipeline wants. Frames
are fresh: the configuration does not queue frames and every capture flushes,
so a frame is never older than the call. The camera is released on close,
at exit and on SIGTERM (a camera left open stays "in use" until reboot).
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

from appliance.vision.sources.base import CameraError, Frame, FrameError, FrameSource, now, to_rgb

logger = logging.getLogger(__name__)

RGB_FORMAT = "BGR888"  # libcamera's name for R,G,B byte order in memory

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
    """A fixed low-resolution RGB stream from the camera module."""

    name = "picamera2"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0,
                 camera_num: int = 0) -> None:
        super().__init__()
        self.width, self.height, self._fps, self.camera_num = width, height, fps, camera_num
        self._cam: Any = None
        self._count = 0

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
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": RGB_FORMAT},
                controls={"FrameRate": float(self._fps)},
                buffer_count=2, queue=False,
            )
            cam.configure(config)
            cam.start()
        except Exception as err:
            with contextlib.suppress(Exception):
                cam.close()
            raise CameraError(f"camera {self.camera_num} cannot start ({_first_line(err)}); "
                              f"check camera.width/height/fps and the cable") from err
        self._cam = cam
        _open_cameras.add(self)

    def read(self) -> Frame:
        cam = self._cam
        if cam is None:
            raise CameraError("camera is not open")
        try:
            with cam.captured_request(flush=True) as request:
                arr = request.make_array("main")
        except Exception as err:
            raise CameraError(f"camera stopped delivering frames ({_first_line(err)}); "
                              f"retrying") from err
        try:
            rgb = to_rgb(arr, order="rgb")
        except FrameError as err:
            raise FrameError(f"camera frame unusable: {err}") from None
        self._count += 1
        return Frame(rgb=rgb, t=now(), index=self._count - 1)

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
