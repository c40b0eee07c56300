"""A USB/V4L2 webcam through OpenCV (laptops, or a Pi without the camera module)."""

from __future__ import annotations

import logging

import cv2

from appliance.vision.sources.base import CameraError, Frame, FrameSource, now, to_rgb

logger = logging.getLogger(__name__)

# Frames are read by one worker thread; OpenCV's own pool would only add threads (and
# their memory) competing with LiteRT's for the same cores.
cv2.setNumThreads(1)


class WebcamSource(FrameSource):
    """OpenCV VideoCapture on a device index; one-frame buffer so frames are fresh."""

    name = "webcam"

    def __init__(self, device: int = 0, width: int = 640, height: int = 480,
                 fps: float = 15.0) -> None:
        super().__init__()
        self.device, self.width, self.height, self._fps = device, width, height, fps
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
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
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
        return Frame(rgb=to_rgb(bgr, order="bgr"), t=now(), index=self._count - 1)

    def close(self) -> None:
        self._stopping.set()
        if self._cap is not None:
            self._cap.release()
            self._cap = None
