"""Replay a video file, a single image or a folder of images as if it were a camera."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from appliance.vision.sources.base import (
    MAX_SIDE,
    CameraError,
    Frame,
    FrameError,
    FrameSource,
    SourceEnded,
    to_rgb,
)
from appliance.vision.sources.decoder import Decoder

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path: Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode an image file to RGB (alpha, gray and 16-bit handled; huge ones downscaled)."""
    import cv2  # here, not in the box: ReplaySource decodes in its child process

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise CameraError(f"image {path} cannot be read ({err.strerror}); check the path") from None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise CameraError(f"image {path} is empty or not a decodable image; use a JPEG or PNG")
    try:
        return to_rgb(img, order="bgr", max_side=max_side)
    except FrameError as err:
        raise CameraError(f"image {path} cannot be used: {err}") from None


def is_image(path: Path) -> bool:
    """Whether the file name looks like an image."""
    return path.suffix.lower() in IMAGE_SUFFIXES


class ReplaySource(FrameSource):
    """Frames from a file or folder; real-time pacing (fresh frames only) or as fast as possible.

    Files are decoded by a child process (sources.decoder), so OpenCV and FFmpeg stay
    out of the box's own process, as they are on a Pi with the camera module.

    Frame times advance with the media's own clock and keep increasing across
    loops and `set_path` switches, so time-based smoothing sees a steady clock.
    """

    name = "replay"

    def __init__(self, path: str | Path, *, loop: bool = True, realtime: bool = True,
                 image_fps: float = 15.0, max_side: int = MAX_SIDE, main_side: int = 0) -> None:
        super().__init__()
        self.path = Path(path)
        self.max_side = max_side  # like a camera: views no larger than its configured size
        # Like the camera's main stream: frames larger than the view also come whole.
        self.main_side = main_side
        self.loop = loop
        self.realtime = realtime
        self.image_fps = image_fps
        self._lock = threading.Lock()
        self._pending: Path | None = None
        self._decoder = Decoder()
        self._video = False  # the decoder has a video open for the current pass
        self._images: list[Path] = []
        self._fps = image_fps
        self._pos = 0  # index of the next frame in the current pass
        self._t_base = 0.0  # media time at the start of the current pass
        self._wall_start = 0.0
        self._count = 0
        self._opened = False
        self._still: tuple[np.ndarray, np.ndarray | None] | None = None

    @property
    def fps(self) -> float:
        return self._fps

    def set_path(self, path: str | Path) -> None:
        """Switch to another recording at the next read (thread-safe)."""
        with self._lock:
            self._pending = Path(path)

    def open(self) -> None:
        self._stopping.clear()
        self._open_path(self.path)
        self._t_base = 0.0
        self._opened = True

    def _open_path(self, path: Path) -> None:
        self._release()
        self._still = None
        if not path.exists():
            raise CameraError(f"replay path {path} does not exist; set camera.replay_path")
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
            if not images:
                raise CameraError(f"folder {path} holds no images (.jpg, .png, ...)")
            self._images, self._fps = images, self.image_fps
        elif is_image(path):
            self._still = self._decoder.image(path, self.max_side, self.main_side)
            self._images, self._fps = [path], self.image_fps
        else:
            self._fps = self._decoder.open(path, self.max_side, self.main_side)
            self._video, self._images = True, []
        self.path = path
        self._pos = 0
        self._wall_start = time.monotonic()

    def _release(self) -> None:
        self._video = False  # the decoder drops its video at the next open

    def close(self) -> None:
        self._stopping.set()
        self._release()
        self._decoder.close()
        self._opened = False

    def _restart_pass(self) -> None:
        """Begin the next pass (loop or switch) with media time continuing forward."""
        self._t_base += self._pos / self._fps
        self._pos = 0
        self._wall_start = time.monotonic()

    def read(self) -> Frame:
        if not self._opened:
            raise CameraError("replay source is not open")
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._t_base += self._pos / self._fps
            self.path = pending  # a failing new path keeps failing on retry, visibly
            self._open_path(pending)
        if self.realtime:
            self._pace()
        got = self._next()
        if got is None:
            if not self.loop:
                raise SourceEnded(f"end of {self.path}")
            self._restart_pass()
            if self._video:
                self._open_path(self.path)
            got = self._next()
            if got is None:
                raise CameraError(f"video {self.path} stopped yielding frames")
        t = self._t_base + (self._pos - 1) / self._fps
        self._count += 1
        return Frame(rgb=got[0], t=t, index=self._count - 1, main=got[1])

    def _pace(self) -> None:
        """Wait for the next frame's time, or skip frames that are already stale."""
        due = (time.monotonic() - self._wall_start) * self._fps
        if due < self._pos:
            self._sleep((self._pos - due) / self._fps)
            return
        skip = int(due) - self._pos
        if self._video:
            for _ in range(skip):
                if not self._decoder.grab():
                    break
                self._pos += 1
        elif len(self._images) > 1:
            self._pos = min(self._pos + skip, len(self._images))

    def _next(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The next (view, main) of the current pass, or None at its end."""
        if self._video:
            got = self._decoder.read_pair()
            if got is None:
                return None
            self._pos += 1
            return got
        if self._pos >= len(self._images):
            return None
        path = self._images[self._pos]
        self._pos += 1
        if self._still is not None:
            return self._still
        try:
            return self._decoder.image(path, self.max_side, self.main_side)
        except CameraError:
            if len(self._images) == 1:
                raise
            logger.warning("skipping %s: not a decodable image", path.name)
            return self._next()
