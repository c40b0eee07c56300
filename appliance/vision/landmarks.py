"""Face mesh: 468 landmarks from a rotated square crop, projected back to the frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from appliance.vision.imageops import warp_affine
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
        self._crop = np.zeros((CROP, CROP, 3), np.uint8)
        self._empty = np.zeros((NUM_LANDMARKS, 3), np.float32)

    @classmethod
    def load(cls, models_dir: Path, num_threads: int = 2) -> FaceMesh:
        """Verify and load face_landmark.tflite from models_dir."""
        return cls(Model.load(model_path(models_dir, MODEL), num_threads))

    def crop(self, frame: np.ndarray, roi: Roi) -> np.ndarray | None:
        """The ROI sampled into a 192x192 RGB uint8 crop (reused buffer), None if off-frame."""
        h, w = frame.shape[:2]
        ext = 0.5 * roi.size * (abs(math.cos(roi.rotation)) + abs(math.sin(roi.rotation)))
        x0 = max(0, int(roi.cx - ext) - 2)
        y0 = max(0, int(roi.cy - ext) - 2)
        x1 = min(w, int(roi.cx + ext) + 3)
        y1 = min(h, int(roi.cy + ext) + 3)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        m = warp_matrix(roi, CROP)
        # Shrinking: nearest neighbour moves landmarks by ~0.2% of the eye distance against
        # bilinear and costs a fifth. Enlarging a small face: bilinear. Either way only the
        # ROI's bounding square is read (the edge it shares with the frame is replicated).
        m[0, 2] -= x0
        m[1, 2] -= y0
        return warp_affine(frame[y0:y1, x0:x1], m, (CROP, CROP),
                           nearest=roi.size >= NEAREST_MIN_SIZE, out=self._crop)

    def run(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """Landmarks (468x3 float32: x, y frame pixels, z in pixel units) and presence."""
        crop = self.crop(frame, roi)
        if crop is None:
            return self._empty, 0.0
        m = self.model
        m.fill_input(INPUT, crop, 1.0 / 255.0)
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
    m = np.array([[c, -s, 0.0, roi.cx - (c - s) * half],
                  [s, c, 0.0, roi.cy - (s + c) * half],
                  [0.0, 0.0, k, 0.0]])
    pts = np.asarray(raw, dtype=np.float32).reshape(-1, 3)
    return (pts @ m[:, :3].T.astype(np.float32) + m[:, 3].astype(np.float32)).astype(np.float32)
