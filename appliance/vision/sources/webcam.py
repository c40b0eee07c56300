"""A USB/V4L2 webcam through OpenCV (laptops, or a Pi without the camera module)."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from appliance.vision.sources.base import (
    MAIN_MAX_SIDE,
    CameraError,
    Frame,
    FrameSource,
    now,
    to_rgb,
)

logger = logging.getLogger(__name__)

# Frames are read by one worker thread; OpenCV's own pool would only add threads (and
# their memory) competing with LiteRT's for the same cores.
cv2.setNumThreads(1)


class WebcamSource(FrameSource):
    """OpenCV VideoCapture on a device index; one-frame buffer so frames are fresh.

    With camera.main = WxH the webcam is asked for that size and the view is shrunk from
    it; with auto, frames larger than the view (some webcams only give their own sizes)
    are kept as the main frame. Off: the view only, as before.
    """

    name = "webcam"

    def __init__(self, device: int = 0, width: int = 640, height: int = 480,
                 fps: float = 15.0, main: str | tuple[int, int] = "auto") -> None:
        super().__init__()
        self.device, self.width, self.height, self._fps = device, width, height, fps
        self.main = main
        self._cap: cv2.VideoCapture | None = None
        self._count = 0

    @property
    def fps(self) -> float:
        return self._fps

    def open(self) -> None:
        self._stopping.clear()
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"webcam {self.device} cannot be opened; check it is plugged in "
                              f"and not used by another program (ls /dev/video*)")
        w, h = self.main if isinstance(self.main, tuple) else (self.width, self.height)
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        cap.set(cv2.CAP_PROP_FPS, self._fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap

    def read(self) -> Frame:
        if self._cap is None:
            raise CameraError("webcam is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise CameraError(f"webcam {self.device} stopped delivering frames; "
                              f"check the cable (retrying)")
        self._count += 1
        view, main = self._split(bgr)
        return Frame(rgb=view, t=now(), index=self._count - 1, main=main)

    def _split(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(view, main) of one captured frame."""
        side = max(self.width, self.height)
        h, w = bgr.shape[:2]
        if max(h, w) <= side:
            return to_rgb(bgr, order="bgr"), None
        main = to_rgb(bgr, order="bgr", max_side=MAIN_MAX_SIDE) if self.main != "off" else None
        small = cv2.resize(bgr, (max(1, round(w * side / max(h, w))),
                                 max(1, round(h * side / max(h, w)))),
                           interpolation=cv2.INTER_AREA)
        return to_rgb(small, order="bgr"), main

    def close(self) -> None:
        self._stopping.set()
        if self._cap is not None:
            self._cap.release()
            self._cap = None
