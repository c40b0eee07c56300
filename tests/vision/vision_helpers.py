"""Shared helpers for engineer B's vision tests (paths to the fetched models and recordings)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
MEDIA = REPO / "tests" / "media"

# Where the person leaves / arrives, found by inspecting the frames (a hard cut in each).
FACE_NOFACE_LEAVES_AT = 72 / 26.397925458890526  # frame 72 is the first without the person
NOFACE_FACE_ARRIVES_AT = 96 / 26.494922174023987  # frame 96 is the first with the person


def media(name: str) -> Path:
    """Path of a fetched recording; skips the test when it has not been fetched."""
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"{name} not fetched (scripts/fetch-test-media)")
    return path


def models_dir() -> Path:
    """The models folder; skips the test when the models have not been fetched."""
    if not (MODELS / "face_landmark.tflite").exists():
        pytest.skip("models not fetched (scripts/fetch-models)")
    return MODELS
