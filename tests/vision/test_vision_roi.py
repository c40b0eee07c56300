"""ROI geometry: eye-line rotation, squares, crops and the letterbox, on synthetic input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from appliance.vision.landmarks import CROP, project
from appliance.vision.roi import (
    Letterbox,
    Roi,
    crop_to_frame,
    iou,
    normalize_radians,
    roi_from_box,
    roi_from_detection,
    roi_from_landmarks,
    rotation_from_points,
    warp_matrix,
)


def _eyes(tilt_deg: float, cx: float = 300.0, cy: float = 200.0, d: float = 100.0):
    """Subject's right eye (image left) and left eye with the eye line rising by tilt_deg."""
    t = math.radians(tilt_deg)
    right = (cx - d / 2 * math.cos(t), cy + d / 2 * math.sin(t))
    left = (cx + d / 2 * math.cos(t), cy - d / 2 * math.sin(t))
    return right, left


def test_level_eyes_give_no_rotation():
    right, left = _eyes(0.0)
    assert rotation_from_points(right, left) == pytest.approx(0.0)


@pytest.mark.parametrize("tilt", [20.0, -35.0, 60.0])
def test_tilted_face_gives_rotation_opposite_to_the_eye_line_angle(tilt):
    right, left = _eyes(tilt)
    # MediaPipe: rotation = target(0) - atan2(-(y_left - y_right), x_left - x_right).
    assert rotation_from_points(right, left) == pytest.approx(-math.radians(tilt))


def test_upside_down_face_rotation_is_wrapped_to_minus_pi_pi():
    right, left = _eyes(180.0)
    rot = rotation_from_points(right, left)
    assert -math.pi <= rot < math.pi
    assert abs(abs(rot) - math.pi) < 1e-9
    assert normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)


def test_crop_of_a_tilted_roi_has_the_eyes_level():
    right, left = _eyes(25.0)
    kp = np.array([right, left, (300, 240), (300, 270), (230, 200), (370, 200)])
    roi = roi_from_detection((240.0, 150.0, 120.0, 120.0), kp)
    m = crop_to_frame(roi, CROP)
    inv = cv2.invertAffineTransform(m)
    r = inv @ np.array([*right, 1.0])
    left_c = inv @ np.array([*left, 1.0])
    assert r[1] == pytest.approx(left_c[1], abs=1e-6)  # same crop row
    assert r[0] < left_c[0]  # subject's right eye stays on the crop's left


def test_detection_roi_is_the_box_centre_scaled_1_5_and_square():
    kp = np.array([[110, 120], [150, 120], [130, 140], [130, 160], [100, 125], [160, 125]], float)
    roi = roi_from_detection((100.0, 100.0, 60.0, 80.0), kp)
    assert (roi.cx, roi.cy) == (130.0, 140.0)
    assert roi.size == pytest.approx(1.5 * 80.0)
    assert roi.rotation == pytest.approx(0.0)


def test_landmark_roi_uses_all_landmarks_box_and_eye_corners_33_263():
    lm = np.zeros((468, 3), np.float32)
    lm[:, 0] = np.linspace(100, 200, 468)
    lm[:, 1] = np.linspace(50, 250, 468)
    lm[33, :2] = (120, 160)
    lm[263, :2] = (180, 100)  # eye line rising 45 degrees
    roi = roi_from_landmarks(lm)
    assert (roi.cx, roi.cy) == pytest.approx((150.0, 150.0))
    assert roi.size == pytest.approx(1.5 * 200.0)
    assert roi.rotation == pytest.approx(-math.pi / 4)


def test_roi_corners_are_rotated_about_the_centre():
    c = Roi(10.0, 20.0, 4.0, math.pi / 2).corners()
    np.testing.assert_allclose(c.mean(axis=0), [10.0, 20.0])
    np.testing.assert_allclose(c[0], [12.0, 18.0], atol=1e-9)  # top-left after 90 degrees


def test_crop_warp_and_projection_agree_on_a_marked_pixel():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[100:103, 200:203] = 255  # a 3x3 dot centred at pixel (201, 101)
    roi = Roi(180.0, 120.0, 150.0, math.radians(-30))
    crop = cv2.warpAffine(frame, warp_matrix(roi, CROP), (CROP, CROP),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    ys, xs = np.nonzero(crop[..., 0] > 40)
    wts = crop[ys, xs, 0].astype(float)
    # Pixel centres are at index + 0.5 in continuous crop coordinates.
    u, v = np.average(xs, weights=wts) + 0.5, np.average(ys, weights=wts) + 0.5
    back = project(np.array([[u, v, 0.0]], np.float32), roi)[0]
    assert back[0] == pytest.approx(201.5, abs=0.6)
    assert back[1] == pytest.approx(101.5, abs=0.6)


def test_projection_maps_crop_centre_to_roi_centre_and_scales_z():
    roi = Roi(50.0, 60.0, 96.0, 0.7)
    out = project(np.array([[96.0, 96.0, 10.0]], np.float32), roi)[0]
    np.testing.assert_allclose(out, [50.0, 60.0, 5.0], atol=1e-4)


@pytest.mark.parametrize("w,h", [(640, 480), (480, 640), (1280, 886), (192, 192)])
def test_letterbox_round_trip(w, h):
    lb = Letterbox.fit(w, h, 192)
    assert max(lb.new_w, lb.new_h) == 192
    pts = np.array([[0.0, 0.0], [w, h], [w / 3, h / 5]])
    rel = lb.to_input(pts)
    np.testing.assert_allclose(lb.to_frame(rel), pts, atol=1e-9)
    # The frame's corners land on the padded image's edges, centred.
    np.testing.assert_allclose(rel[0], [lb.left / 192, lb.top / 192])
    np.testing.assert_allclose(rel[1], [(lb.left + lb.new_w) / 192, (lb.top + lb.new_h) / 192])
    assert lb.left in ((192 - lb.new_w) // 2,) and lb.top == (192 - lb.new_h) // 2


def test_iou_and_square_box_roi():
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert roi_from_box(0, 0, 10, 30, 0.0, 2.0).size == 60.0
