"""Regions of interest and the geometry between frames, model inputs and crops."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROI_SCALE = 1.5
# Face mesh indices of the eyes' outer corners (subject's right, then left).
RIGHT_EYE_OUTER = 33
LEFT_EYE_OUTER = 263


@dataclass(frozen=True, slots=True)
class Roi:
    """A rotated square in frame pixels: centre, side length, rotation in radians."""

    cx: float
    cy: float
    size: float
    rotation: float

    def corners(self) -> np.ndarray:
        """The four corners (top-left, top-right, bottom-right, bottom-left) in pixels."""
        half = self.size / 2.0
        unit = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        rot = np.array([[c, -s], [s, c]])
        return unit @ rot.T + (self.cx, self.cy)


def normalize_radians(angle: float) -> float:
    """The angle wrapped into [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def rotation_from_points(start: tuple[float, float], end: tuple[float, float],
                         target_angle: float = 0.0) -> float:
    """Rotation that brings start->end to target_angle (MediaPipe DetectionsToRects)."""
    return normalize_radians(target_angle - math.atan2(-(end[1] - start[1]), end[0] - start[0]))


def roi_from_box(x: float, y: float, w: float, h: float, rotation: float,
                 scale: float = ROI_SCALE) -> Roi:
    """Centre of an axis-aligned box, long side scaled and made square (RectTransformation)."""
    return Roi(x + w / 2.0, y + h / 2.0, max(w, h) * scale, rotation)


def roi_from_detection(box: tuple[float, float, float, float], keypoints: np.ndarray,
                       scale: float = ROI_SCALE) -> Roi:
    """Face mesh ROI from a detection: eye-line rotation (keypoints 0 -> 1), scale, square."""
    rot = rotation_from_points((float(keypoints[0, 0]), float(keypoints[0, 1])),
                               (float(keypoints[1, 0]), float(keypoints[1, 1])))
    return roi_from_box(*box, rot, scale)


def roi_from_landmarks(landmarks: np.ndarray, scale: float = ROI_SCALE,
                       bounds: tuple[np.ndarray, np.ndarray] | None = None) -> Roi:
    """Tracking ROI: bounding box of all landmarks, rotation from landmark 33 -> 263.

    bounds: the landmarks' (min, max) x/y when the caller already has them.
    """
    if bounds is None:
        xy = landmarks[:, :2]
        bounds = (xy.min(axis=0), xy.max(axis=0))
    lo, hi = bounds
    ax, ay = landmarks[RIGHT_EYE_OUTER, :2].tolist()
    bx, by = landmarks[LEFT_EYE_OUTER, :2].tolist()
    x0, y0 = float(lo[0]), float(lo[1])
    return roi_from_box(x0, y0, float(hi[0]) - x0, float(hi[1]) - y0,
                        rotation_from_points((ax, ay), (bx, by)), scale)


def crop_to_frame(roi: Roi, crop_size: int) -> np.ndarray:
    """2x3 affine taking continuous crop coordinates [0, crop_size] to frame pixels."""
    k = roi.size / crop_size
    c, s = math.cos(roi.rotation) * k, math.sin(roi.rotation) * k
    half = crop_size / 2.0
    # The crop centre maps to the ROI centre.
    return np.array([[c, -s, roi.cx - (c - s) * half],
                     [s, c, roi.cy - (s + c) * half]])


def warp_matrix(roi: Roi, crop_size: int) -> np.ndarray:
    """Affine matrix (crop pixel -> frame pixel, as imageops.warp_affine takes) of the ROI."""
    k = roi.size / crop_size
    c, s = math.cos(roi.rotation) * k, math.sin(roi.rotation) * k
    half = crop_size / 2.0
    # Pixel index i has its centre at continuous i + 0.5 in both images.
    return np.array([[c, -s, roi.cx - (c - s) * half + 0.5 * (c - s) - 0.5],
                     [s, c, roi.cy - (s + c) * half + 0.5 * (s + c) - 0.5]])


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def inside(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Share of the smaller of two (x, y, w, h) boxes that lies inside the other."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    small = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / small if small > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was resized and padded into a square model input (aspect ratio kept)."""

    frame_w: int
    frame_h: int
    new_w: int
    new_h: int
    left: int
    top: int
    size: int

    @classmethod
    def fit(cls, frame_w: int, frame_h: int, size: int) -> Letterbox:
        """Fit a frame_w x frame_h frame centred into a size x size input."""
        scale = min(size / frame_w, size / frame_h)
        new_w = max(1, min(size, round(frame_w * scale)))
        new_h = max(1, min(size, round(frame_h * scale)))
        return cls(frame_w, frame_h, new_w, new_h, (size - new_w) // 2, (size - new_h) // 2, size)

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Frame pixels (..., 2) -> relative input coordinates in [0, 1]."""
        sx = self.new_w / self.frame_w / self.size
        sy = self.new_h / self.frame_h / self.size
        return points * (sx, sy) + (self.left / self.size, self.top / self.size)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Relative input coordinates (..., 2) in [0, 1] -> frame pixels (inverse of to_input)."""
        sx = self.new_w / self.frame_w / self.size
        sy = self.new_h / self.frame_h / self.size
        return (points - (self.left / self.size, self.top / self.size)) / (sx, sy)
