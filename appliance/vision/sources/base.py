"""The FrameSource interface, its errors, and frame normalisation shared by every source."""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass

import numpy as np

from appliance.vision.imageops import resize_area, to_three_channels

MAX_SIDE = 1920  # larger frames (photos) are downscaled, never rejected
MAIN_MAX_SIDE = 4608  # the largest sensor mode (Camera Module 3's full resolution)


class CameraError(Exception):
    """The camera is missing, busy or failed; the message says what to do (one line)."""


class SourceEnded(Exception):
    """A non-looping replay has no more frames."""


class FrameError(ValueError):
    """A frame that cannot be used (wrong shape or type)."""


@dataclass(frozen=True)
class Frame:
    """One RGB view (H x W x 3 uint8), its capture time in seconds (monotonic per source),
    and the same picture at high resolution when the source has one (`main`, or None)."""

    rgb: np.ndarray
    t: float
    index: int = 0
    main: np.ndarray | None = None


def parse_main(value: str) -> str | tuple[int, int]:
    """camera.main as "auto", "off" or (width, height); CameraError when it is none of them."""
    v = value.strip().lower()
    if v in ("auto", "off"):
        return v
    try:
        w, h = (int(x) for x in v.split("x"))
    except ValueError:
        raise CameraError(f"camera.main is {value!r}; use auto, off or WxH (e.g. 2304x1296)"
                          ) from None
    if not (64 <= w <= MAIN_MAX_SIDE and 64 <= h <= MAIN_MAX_SIDE):
        raise CameraError(f"camera.main {value!r} is outside 64..{MAIN_MAX_SIDE} pixels a side")
    return w, h


def to_rgb(image: np.ndarray, *, order: str = "rgb", max_side: int = MAX_SIDE) -> np.ndarray:
    """Any decoded image (gray, alpha, 16-bit, huge) as contiguous H x W x 3 uint8 RGB."""
    if not isinstance(image, np.ndarray):
        raise FrameError(f"frame is a {type(image).__name__}, not an image array")
    a = image
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise FrameError(f"frame has shape {a.shape}; expected H x W, H x W x 3 or H x W x 4")
    if a.shape[0] < 16 or a.shape[1] < 16:
        raise FrameError(f"frame of {a.shape[1]}x{a.shape[0]} pixels is too small")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype in (np.float32, np.float64):
        a = np.clip(a * (255.0 if float(np.nanmax(a)) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise FrameError(f"frame has pixel type {a.dtype}; expected 8-bit")
    if a.ndim == 2 or a.shape[2] == 4 or order == "bgr":
        a = to_three_channels(a, order)
    h, w = a.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        a = resize_area(a, (max(1, round(w * s)), max(1, round(h * s))))
    return np.ascontiguousarray(a)


class FrameSource(abc.ABC):
    """Where frames come from: open, read fresh frames, close (idempotent)."""

    name: str = "source"

    def __init__(self) -> None:
        self._stopping = threading.Event()

    @abc.abstractmethod
    def open(self) -> None:
        """Start capturing; raises CameraError when the device cannot be used."""

    @abc.abstractmethod
    def read(self) -> Frame:
        """The next fresh frame; CameraError on failure, SourceEnded at a replay's end."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop capturing and release the device (safe to call twice or after a failed open)."""

    @property
    def fps(self) -> float:
        """The nominal frame rate."""
        return 0.0

    def interrupt(self) -> None:
        """Wake a read that is waiting (called from another thread on stop)."""
        self._stopping.set()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now() -> float:
    """The clock that live sources stamp frames with."""
    return time.monotonic()
