"""The fast expression paths give what the straightforward ones give."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from vision_helpers import models_dir, synthetic_face

from appliance.vision import expression, geometry, native
from appliance.vision.expression import EmotionClassifier, face_crop, gray_crop


def _textured(h: int = 480, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(7)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (7, 7), 2)


def _reference(frame: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Warp the whole colour frame, then convert to gray (the plain way)."""
    patch = cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize(("side", "angle", "centre"), [
    (60.0, 0.0, (320.0, 240.0)),  # small face
    (150.0, 0.4, (320.0, 240.0)),
    (400.0, -0.3, (320.0, 240.0)),  # large face
    (150.0, 0.2, (10.0, 470.0)),  # straddling the frame's corner
    (120.0, 0.0, (-300.0, 100.0)),  # entirely left of the frame
])
def test_gray_crop_matches_warping_the_whole_colour_frame(side, angle, centre):
    frame = _textured()
    step = side / 64
    ux, uy = math.cos(angle), math.sin(angle)
    x0, y0 = centre[0] - side / 2, centre[1] - side / 2
    m = np.array([[ux * step, -uy * step, x0], [uy * step, ux * step, y0]])
    got = gray_crop(frame, m, 64)
    assert got.shape == (64, 64) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - _reference(frame, m, 64)).max() <= 1  # rounding only
    out = np.zeros((64, 64), np.uint8)
    assert gray_crop(frame, m.tolist(), 64, out) is out


def test_the_compiled_kernel_and_the_numpy_fallback_agree(monkeypatch):
    frame = _textured()
    lm = synthetic_face(scale=60, angle_deg=20)
    compiled = face_crop(frame, lm)
    monkeypatch.setattr(native, "load", lambda: None)
    fallback = face_crop(frame, lm)
    assert np.abs(compiled - fallback).max() <= 2.0 / 255 + 1e-6


def test_reading_a_face_equals_classifying_its_crop():
    clf = EmotionClassifier.load(models_dir())
    frame = _textured()
    lm = synthetic_face(scale=70, angle_deg=-15, smile=0.05)
    f = geometry.measure(lm)
    direct = clf.read(frame, f)
    via_crop = clf.classify(face_crop(frame, f, clf.size))
    assert len(direct) == 7 and sum(direct) == pytest.approx(1.0)
    assert np.allclose(direct, via_crop, atol=1e-6)
    assert np.allclose(clf(frame, lm), via_crop, atol=1e-6)


def test_face_frame_points_read_like_a_mapping():
    lm = synthetic_face(scale=90, angle_deg=10)
    f = geometry.measure(lm)
    assert set(f.points) >= {geometry.MOUTH_R, geometry.NOSE_TIP, *geometry.FACE_OVAL}
    x, y = f.points[geometry.MOUTH_L]
    assert (x, y) == pytest.approx(tuple(lm[geometry.MOUTH_L, :2]))
    assert f.face(geometry.R_EYE_OUTER)[0] < 0 < f.face(geometry.L_EYE_OUTER)[0]
    hand_built = geometry.FaceFrame(f.ox, f.oy, f.ux, f.uy, f.iod, dict(f.points),
                                    dict(f.coords))
    assert geometry.frame_cues(hand_built).values() == pytest.approx(
        geometry.frame_cues(f).values())
    assert geometry.frame_frontality(hand_built) == geometry.frame_frontality(f)
    assert np.allclose(expression.crop_matrix(hand_built), expression.crop_matrix(f))


def test_landmarks_that_are_not_numbers_are_not_a_face():
    lm = synthetic_face()
    lm[geometry.L_EYE_OUTER] = np.nan
    with pytest.raises(ValueError):
        geometry.measure(lm)


def test_a_gray_frame_reads_like_its_colour_version():
    clf = EmotionClassifier.load(models_dir())
    frame = _textured()
    f = geometry.measure(synthetic_face(scale=70, angle_deg=5))
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    # Gray-then-sample against sample-then-gray: rounding only, on a noisy texture.
    assert np.allclose(clf.read(gray, f), clf.read(frame, f), atol=0.05)
