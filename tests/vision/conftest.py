"""Fixtures for the vision tests: the fetched models and recordings, decoded frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
MEDIA_DIR = REPO / "tests" / "media"
MEDIA_FILES = ("single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4",
               "single_face.jpg", "t1.jpg")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The verified models folder; skips when scripts/fetch-models has not been run."""
    from appliance.vision.models import verify_all

    problems = verify_all(MODELS_DIR)
    if problems:
        pytest.skip(f"models not fetched ({problems[0]})")
    return MODELS_DIR


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The test recordings folder; skips when scripts/fetch-test-media has not been run."""
    missing = [n for n in MEDIA_FILES if not (MEDIA_DIR / n).is_file()]
    if missing:
        pytest.skip(f"test media not fetched ({', '.join(missing)}): run "
                    "scripts/fetch-test-media")
    return MEDIA_DIR


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_frames(path: Path, start: int = 0, count: int = 40, step: int = 1) -> list[np.ndarray]:
    """count RGB frames of a video from frame `start`, every `step`-th."""
    cap = cv2.VideoCapture(str(path))
    try:
        frames = []
        i = 0
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            if i >= start and (i - start) % step == 0:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    assert frames, f"no frames decoded from {path}"
    return frames


@pytest.fixture(scope="session")
def single_face_jpg(media_dir: Path) -> np.ndarray:
    """single_face.jpg as RGB."""
    return read_rgb(media_dir / "single_face.jpg")


@pytest.fixture(scope="session")
def group_jpg(media_dir: Path) -> np.ndarray:
    """t1.jpg (the group photo) as RGB."""
    return read_rgb(media_dir / "t1.jpg")


@pytest.fixture(scope="session")
def single_face_frames(media_dir: Path) -> list[np.ndarray]:
    """The first 45 frames of single_face.mp4 as RGB."""
    return video_frames(media_dir / "single_face.mp4", count=45)


@pytest.fixture(scope="session")
def load_video(media_dir: Path):
    """A function (name, start=0, count=40, step=1) -> RGB frames of a fetched recording."""
    def load(name: str, start: int = 0, count: int = 40, step: int = 1) -> list[np.ndarray]:
        return video_frames(media_dir / name, start, count, step)

    return load
