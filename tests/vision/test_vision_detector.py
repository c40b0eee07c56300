"""BlazeFace decoding and weighted NMS on synthetic outputs, and detection on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from appliance.vision.anchors import FULL_RANGE, ssd_anchors
from appliance.vision.detector import VARIANTS, FaceDetector, decode, weighted_nms


def _raw(n: int = 2304) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((1, n, 16), np.float32), np.full((1, n, 1), -10.0, np.float32)


def test_decode_adds_offsets_scaled_by_input_size_to_the_anchor_centre_without_exp():
    anchors = ssd_anchors(FULL_RANGE)
    boxes, logits = _raw()
    i = 1000  # anchor centre (40.5/48, 20.5/48)
    boxes[0, i, :4] = (19.2, -9.6, 38.4, 57.6)  # dx, dy, w, h in input pixels (192)
    boxes[0, i, 4:6] = (9.6, 0.0)  # first keypoint: 0.05 right of the centre
    logits[0, i, 0] = 2.0
    b, s, kp = decode(boxes, logits, anchors, 192, 0.6)
    assert b.shape == (1, 4) and kp.shape == (1, 6, 2)
    xc, yc = anchors[i, 0] + 0.1, anchors[i, 1] - 0.05
    np.testing.assert_allclose(b[0], [xc - 0.1, yc - 0.15, xc + 0.1, yc + 0.15], atol=1e-6)
    np.testing.assert_allclose(kp[0, 0], [anchors[i, 0] + 0.05, anchors[i, 1]], atol=1e-6)
    np.testing.assert_allclose(kp[0, 1], anchors[i, :2], atol=1e-6)
    assert s[0] == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_decode_keeps_only_scores_at_or_above_the_threshold_and_clips_logits():
    anchors = ssd_anchors(FULL_RANGE)
    boxes, logits = _raw()
    logits[0, 5, 0] = math.log(0.6 / 0.4) - 1e-3  # sigmoid just below 0.6
    logits[0, 6, 0] = 1e6  # clipped to 100 before the sigmoid
    _, s, _ = decode(boxes, logits, anchors, 192, 0.6)
    assert len(s) == 1 and s[0] == pytest.approx(1.0) and np.isfinite(s).all()


def test_weighted_nms_merges_overlapping_boxes_with_score_weights():
    boxes = np.array([[0.10, 0.10, 0.30, 0.30],
                      [0.12, 0.12, 0.32, 0.32],
                      [0.60, 0.60, 0.80, 0.80]])
    scores = np.array([0.9, 0.6, 0.7])
    kps = np.zeros((3, 6, 2))
    kps[0], kps[1], kps[2] = 0.2, 0.25, 0.7
    out = weighted_nms(boxes, scores, kps, 0.3)
    assert len(out) == 2
    box, score, kp = out[0]
    assert score == 0.9  # the best score is kept, not averaged
    np.testing.assert_allclose(box, (0.9 * boxes[0] + 0.6 * boxes[1]) / 1.5)
    np.testing.assert_allclose(kp, (0.9 * 0.2 + 0.6 * 0.25) / 1.5)
    np.testing.assert_allclose(out[1][0], boxes[2])
    assert out[1][1] == 0.7


def test_weighted_nms_keeps_boxes_overlapping_at_or_below_the_threshold_apart():
    boxes = np.array([[0.0, 0.0, 0.2, 0.2], [0.1, 0.0, 0.3, 0.2]])  # IoU = 1/3
    out = weighted_nms(boxes, np.array([0.8, 0.7]), np.zeros((2, 6, 2)), 0.34)
    assert len(out) == 2
    assert len(weighted_nms(boxes, np.array([0.8, 0.7]), np.zeros((2, 6, 2)), 0.3)) == 1


def test_weighted_nms_stops_at_max_out():
    boxes = np.array([[i * 0.2, 0, i * 0.2 + 0.1, 0.1] for i in range(5)])
    out = weighted_nms(boxes, np.linspace(0.9, 0.5, 5), np.zeros((5, 6, 2)), 0.3, max_out=2)
    assert [s for _, s, _ in out] == [0.9, 0.8]


@pytest.mark.parametrize("variant", ["full_range", "short_range"])
def test_single_face_photo_gives_one_face_with_keypoints_in_the_box(models_dir,
                                                                   single_face_jpg, variant):
    det = FaceDetector.load(models_dir, variant)
    found = det.detect(single_face_jpg)
    assert len(found) == 1
    d = found[0]
    x, y, w, h = d.box
    assert d.score >= VARIANTS[variant].min_score
    # The face in single_face.jpg (572x562) spans about x 160..385, y 170..400.
    assert 140 < x < 200 and 150 < y < 210 and 180 < w < 260 and 180 < h < 260
    kp = d.keypoints
    assert kp.shape == (6, 2)
    inside = (kp[:, 0] >= x - 0.1 * w) & (kp[:, 0] <= x + 1.1 * w) & (kp[:, 1] >= y) & (
        kp[:, 1] <= y + h)
    assert inside.all()
    assert kp[0, 0] < kp[2, 0] < kp[1, 0]  # right eye (image left), nose, left eye
    assert kp[2, 1] < kp[3, 1]  # nose above mouth


def test_detections_are_mapped_back_through_the_letterbox(models_dir, single_face_jpg):
    det = FaceDetector.load(models_dir, "full_range")
    base = det.detect(single_face_jpg)[0]
    wide = cv2.copyMakeBorder(single_face_jpg, 0, 0, 400, 0, cv2.BORDER_CONSTANT)
    tall = cv2.copyMakeBorder(single_face_jpg, 300, 0, 0, 0, cv2.BORDER_CONSTANT)
    for frame, (dx, dy) in ((wide, (400, 0)), (tall, (0, 300))):
        found = det.detect(frame)
        assert len(found) == 1
        x, y, w, _ = found[0].box
        tol = 0.08 * base.box[2]
        assert abs(x - dx - base.box[0]) < tol and abs(y - dy - base.box[1]) < tol
        assert abs(w - base.box[2]) < 2 * tol


# Centres of the six faces in t1.jpg (1280x886), counted by looking at the photo.
T1_FACES = [(110, 335), (318, 210), (515, 345), (790, 405), (940, 140), (1180, 330)]


def test_group_photo_finds_most_faces_and_nothing_else(models_dir, group_jpg):
    det = FaceDetector.load(models_dir, "full_range")
    found = det.detect(group_jpg, max_faces=16)
    matched = set()
    for d in found:
        x, y, w, h = d.box
        hits = [i for i, (cx, cy) in enumerate(T1_FACES)
                if x <= cx <= x + w and y - 0.2 * h <= cy <= y + 1.2 * h]
        assert hits, f"detection at {d.box} is not one of the faces"
        matched.update(hits)
    print(f"t1.jpg: full-range detector found {len(matched)} of {len(T1_FACES)} faces")
    assert len(matched) >= 5
    assert len(found) == len(matched)  # no face found twice


def test_max_faces_limits_the_detections(models_dir, group_jpg):
    det = FaceDetector.load(models_dir, "full_range")
    found = det.detect(group_jpg, max_faces=2)
    assert len(found) == 2
    assert found[0].score >= found[1].score


def test_unknown_variant_is_rejected(models_dir):
    with pytest.raises(ValueError, match="full_range"):
        FaceDetector.load(models_dir, "long_range")
