"""Face mesh: 468 landmarks from a rotated square crop, projected back to the frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from appliance.vision.imageops import warp_affine_into
from appliance.vision.models import model_path
from appliance.vision.roi import Roi, warp_matrix
from appliance.vision.runtime import Model

MODEL = "face_landmark"
INPUT = "input_1"
LANDMARKS_OUT = "conv2d_21"
PRESENCE_OUT = "conv2d_31"
CROP = 192
NUM_LANDMARKS = 468
PRESENCE_THRESHOLD = 0.5
# ROIs at least this many pixels wide are shrunk into the crop: nearest neighbour is enough.
NEAREST_MIN_SIZE = CROP


class FaceMesh:
    """Runs face_landmark.tflite on the ROI of a frame."""

    def __init__(self, model: Model) -> None:
        self.model = model
        if model.input_shape(INPUT) != (1, CROP, CROP, 3):
            raise ValueError(f"{model.path.name} input is not 1x{CROP}x{CROP}x3")
        self._empty = np.zeros((NUM_LANDMARKS, 3), np.float32)

    @classmethod
    def load(cls, models_dir: Path, num_threads: int = 2) -> FaceMesh:
        """Verify and load face_landmark.tflite from models_dir."""
        return cls(Model.load(model_path(models_dir, MODEL), num_threads))

    def _sampling(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray] | None:
        """The frame's part under the ROI and the matrix sampling it; None if off-frame."""
        h, w = frame.shape[:2]
        ext = 0.5 * roi.size * (abs(math.cos(roi.rotation)) + abs(math.sin(roi.rotation)))
        x0 = max(0, int(roi.cx - ext) - 2)
        y0 = max(0, int(roi.cy - ext) - 2)
        x1 = min(w, int(roi.cx + ext) + 3)
        y1 = min(h, int(roi.cy + ext) + 3)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        # Only the ROI's bounding square is read; where it meets the frame's edge, the
        # edge is replicated as it would be for the whole frame.
        m = warp_matrix(roi, CROP)
        m[0, 2] -= x0
        m[1, 2] -= y0
        return frame[y0:y1, x0:x1], m

    def run(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """Landmarks (468x3 float32: x, y frame pixels, z in pixel units) and presence."""
        part = self._sampling(frame, roi)
        if part is None:
            return self._empty, 0.0
        m = self.model
        # Sampled straight into the model's input as [0, 1]. Shrinking: nearest neighbour
        # moves landmarks by ~0.2% of the eye distance against bilinear and costs a third.
        m.write_input(INPUT, lambda dst: warp_affine_into(
            dst, part[0], part[1], scale=1.0 / 255.0, nearest=roi.size >= NEAREST_MIN_SIZE))
        m.invoke()
        logit = float(m.output(PRESENCE_OUT).reshape(-1)[0])
        presence = 1.0 / (1.0 + math.exp(-min(100.0, max(-100.0, logit))))
        return project(m.output(LANDMARKS_OUT).reshape(NUM_LANDMARKS, 3), roi), presence


def project(raw: np.ndarray, roi: Roi) -> np.ndarray:
    """Crop-pixel landmarks (468x3) -> frame pixels through the ROI's affine transform."""
    k = roi.size / CROP
    c = math.cos(roi.rotation) * k
    s = math.sin(roi.rotation) * k
    half = CROP / 2.0
    # Row vectors: frame = crop @ rot + shift (x, y rotated and scaled, z scaled).
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, k]], np.float32)
    shift = np.array([roi.cx - (c - s) * half, roi.cy - (s + c) * half, 0.0], np.float32)
    out = np.asarray(raw, dtype=np.float32).reshape(-1, 3) @ rot
    out += shift
    return out
