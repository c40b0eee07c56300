"""The simulator's camera switch: which recording the replay camera loops.

One mechanism: `SimCamera.path` is what the replay source opens (its factory reads
it at every open, so a restarted camera keeps the choice), and `switch` also tells
the open replay source to change at its next frame.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.simmode.launcher import DEFAULT_RECORDING, EMPTY_ROOM_RECORDING
from appliance.vision.sources import create_source
from appliance.vision.sources.replay import ReplaySource

if TYPE_CHECKING:
    from appliance.core.config import CameraConfig
    from appliance.vision.loop import VisionService
    from appliance.vision.sources.base import FrameSource

logger = logging.getLogger(__name__)

RECORDINGS = {"face": DEFAULT_RECORDING, "empty": EMPTY_ROOM_RECORDING}
LABELS = {"face": "A face", "empty": "Empty room"}


class SimCamera:
    """The recording the replay camera should loop; survives camera restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vision: VisionService | None = None  # set once built

    @property
    def name(self) -> str:
        """"face" or "empty" for the built-in recordings, else the file's name."""
        return next((k for k, p in RECORDINGS.items() if p == self.path), self.path.name)

    @property
    def label(self) -> str:
        """What the camera sees, for people ("A face", "Empty room" or the file name)."""
        return LABELS.get(self.name, self.path.name)

    def source(self, camera: CameraConfig) -> FrameSource:
        """The vision loop's source factory: the replay camera on the current recording."""
        return create_source(dataclasses.replace(camera, replay_path=str(self.path)))

    def switch(self, path: Path) -> None:
        """Loop `path` from the next frame on (and after any camera restart)."""
        if not path.exists():
            raise FileNotFoundError(f"recording {path} not found; run scripts/fetch-test-media")
        self.path = path
        source = self.vision.source if self.vision is not None else None
        if isinstance(source, ReplaySource):
            source.set_path(path)
        logger.info("simulator camera now replays %s", path.name)
