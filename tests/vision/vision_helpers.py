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


def replay_frames(name: str, **options):
    """Every frame of a fetched recording, once, as fast as it decodes (ReplaySource's
    frames: .rgb view, .main, .t, .index)."""
    from appliance.vision.sources import SourceEnded
    from appliance.vision.sources.replay import ReplaySource

    src = ReplaySource(media(name), loop=False, realtime=False, **options)
    with src:
        while True:
            try:
                yield src.read()
            except SourceEnded:
                return


def models_dir() -> Path:
    """The models folder; skips the test when the models have not been fetched."""
    if not (MODELS / "face_landmark.tflite").exists():
        pytest.skip("models not fetched (scripts/fetch-models)")
    return MODELS


def synthetic_face(*, smile: float = 0.0, widen: float = 0.0, mouth_open: float | None = None,
                   brow_up: float = 0.0, brow_gap: float | None = None,
                   eye_open: float | None = None, turn: float = 0.0, scale: float = 100.0,
                   angle_deg: float = 0.0, center: tuple[float, float] = (320.0, 240.0)):
    """A 468x3 landmark array of a schematic face (inter-ocular distance = `scale` px),
    neutral as the default baseline (the population's neutral face) unless told otherwise.

    `smile` lifts the mouth corners, `widen` widens the mouth, `turn` shifts the nose
    towards one cheek (yaw); the face is rotated by `angle_deg` and placed at `center`.
    """
    import math

    import numpy as np

    from appliance.vision import geometry as g
    from appliance.vision.expression import FACE_OVAL

    base = g.DEFAULT_BASELINE
    mouth_open = base.mouth_open if mouth_open is None else mouth_open
    brow_gap = base.brow_gap if brow_gap is None else brow_gap
    eye_open = base.eye_open if eye_open is None else eye_open
    p = np.zeros((468, 2))
    p[:] = (0.0, 0.4)
    for k, i in enumerate(FACE_OVAL):
        a = 2 * math.pi * k / len(FACE_OVAL)
        p[i] = (0.95 * math.sin(a), 0.4 - 1.25 * math.cos(a))
    p[g.R_EYE_OUTER], p[g.R_EYE_INNER] = (-0.7, 0.0), (-0.3, 0.0)
    p[g.L_EYE_INNER], p[g.L_EYE_OUTER] = (0.3, 0.0), (0.7, 0.0)
    p[g.R_EYE_TOP], p[g.R_EYE_BOTTOM] = (-0.5, -eye_open / 2), (-0.5, eye_open / 2)
    p[g.L_EYE_TOP], p[g.L_EYE_BOTTOM] = (0.5, -eye_open / 2), (0.5, eye_open / 2)
    brow_y = -eye_open / 2 - base.brow_raise - brow_up
    for i in g.R_BROW_MID:
        p[i] = (-0.5, brow_y)
    for i in g.L_BROW_MID:
        p[i] = (0.5, brow_y)
    p[g.R_BROW_INNER], p[g.L_BROW_INNER] = (-brow_gap / 2, brow_y), (brow_gap / 2, brow_y)
    half = base.mouth_width / 2 + widen / 2
    corner = 1.0 - smile - base.mouth_corner_lift
    p[g.MOUTH_R], p[g.MOUTH_L] = (-half, corner), (half, corner)
    p[g.LIP_UPPER_INNER], p[g.LIP_LOWER_INNER] = (0.0, 1.0 - mouth_open / 2), (
        0.0, 1.0 + mouth_open / 2)
    p[g.NOSE_TIP] = (turn, 0.5)
    p[g.CHEEK_R], p[g.CHEEK_L] = (-0.9, 0.4), (0.9, 0.4)
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = (p * scale) @ rot.T + np.asarray(center)
    return np.concatenate([xy, np.zeros((468, 1))], axis=1).astype(np.float32)
