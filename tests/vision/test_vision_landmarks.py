"""Face mesh on real photos: 468 landmarks in frame pixels, presence, rotated faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from appliance.vision.detector import FaceDetector
from appliance.vision.landmarks import FaceMesh
from appliance.vision.roi import Roi, roi_from_detection


@pytest.fixture(scope="module")
def mesh(models_dir):
    return FaceMesh.load(models_dir)


@pytest.fixture(scope="module")
def detector(models_dir):
    return FaceDetector.load(models_dir, "full_range")


def _landmarks(detector, mesh, frame):
    d = detector.detect(frame)[0]
    return d, *mesh.run(frame, roi_from_detection(d.box, d.keypoints))


def test_single_face_landmarks_lie_on_the_face_with_high_presence(detector, mesh,
                                                                  single_face_jpg):
    d, lm, presence = _landmarks(detector, mesh, single_face_jpg)
    assert lm.shape == (468, 3) and lm.dtype == np.float32
    assert presence > 0.9
    x, y, w, h = d.box
    inside = ((lm[:, 0] > x - 0.15 * w) & (lm[:, 0] < x + 1.15 * w)
              & (lm[:, 1] > y - 0.3 * h) & (lm[:, 1] < y + 1.15 * h))
    assert inside.mean() > 0.98
    # Eye outer corners: 33 is the subject's right (image left), 263 the left.
    assert lm[33, 0] < lm[1, 0] < lm[263, 0]  # 1 = nose tip
    assert abs(lm[33, 1] - lm[263, 1]) < 0.2 * w
    assert lm[1, 1] < lm[13, 1] < lm[152, 1]  # nose above the lip above the chin
    iod = float(np.hypot(*(lm[263, :2] - lm[33, :2])))
    assert 0.35 * w < iod < 0.75 * w
    # The eyes of the mesh agree with the detector's eye keypoints.
    eye_r = lm[[33, 133], :2].mean(axis=0)
    assert np.hypot(*(eye_r - d.keypoints[0])) < 0.15 * iod


def test_rotated_face_is_found_with_the_matching_roi_rotation(detector, mesh, single_face_jpg):
    _, upright, _ = _landmarks(detector, mesh, single_face_jpg)
    h, w = single_face_jpg.shape[:2]
    # Rotate the photo 30 degrees counter-clockwise about its centre (on screen).
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
    turned = cv2.warpAffine(single_face_jpg, rot, (w, h), borderMode=cv2.BORDER_REFLECT)
    d = detector.detect(turned)[0]
    roi = roi_from_detection(d.box, d.keypoints)
    lm, presence = mesh.run(turned, roi)
    assert presence > 0.9
    expected = np.hstack([upright[:, :2], np.ones((468, 1))]) @ rot.T
    iod = float(np.hypot(*(upright[263, :2] - upright[33, :2])))
    err = np.hypot(*(lm[:, :2] - expected).T)
    assert np.median(err) < 0.08 * iod
    # The eye line now rises 30 degrees more, so the ROI rotation is 30 degrees lower.
    d0 = detector.detect(single_face_jpg)[0]
    upright_roi = roi_from_detection(d0.box, d0.keypoints)
    assert math.degrees(roi.rotation - upright_roi.rotation) == pytest.approx(-30, abs=8)


def test_a_roi_without_a_face_has_low_presence(mesh, single_face_jpg):
    sky = np.full((480, 640, 3), (120, 160, 210), np.uint8)
    _, presence = mesh.run(sky, Roi(320.0, 240.0, 200.0, 0.0))
    assert presence < 0.5


def test_a_roi_outside_the_frame_gives_zero_presence(mesh, single_face_jpg):
    lm, presence = mesh.run(single_face_jpg, Roi(-500.0, -500.0, 100.0, 0.0))
    assert presence == 0.0 and lm.shape == (468, 3)


def test_small_faces_are_enlarged_into_the_crop_and_still_found(detector, mesh,
                                                               single_face_jpg):
    small = cv2.resize(single_face_jpg, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    d, lm, presence = _landmarks(detector, mesh, small)
    assert roi_from_detection(d.box, d.keypoints).size < 192  # the bilinear path
    assert presence > 0.9
    _, big, _ = _landmarks(detector, mesh, single_face_jpg)
    iod = float(np.hypot(*(big[263, :2] - big[33, :2])))
    assert np.median(np.hypot(*(lm[:, :2] / 0.4 - big[:, :2]).T)) < 0.08 * iod
