"""Frame sources behind one interface, chosen by name (camera.source) from an explicit table."""

from __future__ import annotations

from collections.abc import Callable

from appliance.core.config import CameraConfig
from appliance.vision.sources.base import (
    MAIN_MAX_SIDE,
    CameraError,
    Frame,
    FrameError,
    FrameSource,
    SourceEnded,
    parse_main,
    to_rgb,
)


def _picamera2(cam: CameraConfig) -> FrameSource:
    from appliance.vision.sources.picamera2 import Picamera2Source

    return Picamera2Source(cam.width, cam.height, cam.fps, main=parse_main(cam.main))


def _webcam(cam: CameraConfig) -> FrameSource:
    from appliance.vision.sources.webcam import WebcamSource

    return WebcamSource(cam.device, cam.width, cam.height, cam.fps, main=parse_main(cam.main))


def main_side(cam: CameraConfig) -> int:
    """Largest side of the main frames a replay or webcam passes on (0: no main frames)."""
    main = parse_main(cam.main)
    if isinstance(main, tuple):
        return max(main)
    return 0 if main == "off" else MAIN_MAX_SIDE


def _replay(cam: CameraConfig) -> FrameSource:
    from appliance.vision.sources.replay import ReplaySource

    if not cam.replay_path:
        raise CameraError("camera.source is replay but camera.replay_path is empty; set it")
    # Views come at most at the camera's configured size, as the Pi's low-res stream; a
    # larger recording also comes whole, as the Pi's high-resolution main stream.
    return ReplaySource(cam.replay_path, loop=cam.replay_loop, realtime=cam.replay_realtime,
                        image_fps=cam.fps, max_side=max(cam.width, cam.height),
                        main_side=main_side(cam))


# camera.source -> factory building the (not yet opened) source from the camera config.
SOURCES: dict[str, Callable[[CameraConfig], FrameSource]] = {
    "picamera2": _picamera2,
    "webcam": _webcam,
    "replay": _replay,
}


def create_source(cam: CameraConfig) -> FrameSource:
    """The frame source named by `cam.source` (not yet opened)."""
    try:
        factory = SOURCES[cam.source]
    except KeyError:
        raise CameraError(f"unknown camera.source {cam.source!r}; "
                          f"use one of {', '.join(SOURCES)}") from None
    return factory(cam)


__all__ = ["SOURCES", "CameraError", "Frame", "FrameError", "FrameSource", "SourceEnded",
           "create_source", "main_side", "parse_main", "to_rgb"]
