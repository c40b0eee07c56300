"""Face mesh: 468 landmarks from a rotated square crop, projected back to the frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from appliance.vision.models import model_path
from appliance.vision.roi import Roi, crop_to_frame, warp_matrix
from appliance.vision.runtime import Model

MODEL = "face_landmark"
INPUT = "input_1"
LANDMARKS_OUT = "conv2d_21"
PRESENCE_OUT = "conv2d_31"
CROP = 192
NUM_LANDMARKS = 468
PRESENCE_THRESHOLD = 0.5


class FaceMesh:
    """Runs face_landmark.tflite on the ROI of a frame."""

    def __init__(self, model: Model) -> None:
        self.model = model
        if model.input_shape(INPUT) != (1, CROP, CROP, 3):
            raise ValueError(f"{model.path.name} input is not 1x{CROP}x{CROP}x3")
        self._crop = np.zeros((CROP, CROP, 3), np.uint8)
        self._input = np.zeros((1, CROP, CROP, 3), np.float32)
        self._scale = np.float32(1.0 / 255.0)

    @classmethod
    def load(cls, models_dir: Path, num_threads: int = 2) -> FaceMesh:
        """Verify and load face_landmark.tflite from models_dir."""
        return cls(Model.load(model_path(models_dir, MODEL), num_threads))

    def crop(self, frame: np.ndarray, roi: Roi) -> np.ndarray:
        """The ROI sampled into a 192x192 RGB uint8 crop (reused buffer: copy to keep)."""
        cv2.warpAffine(frame, warp_matrix(roi, CROP), (CROP, CROP), dst=self._crop,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_REPLICATE)
        return self._crop

    def run(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """Landmarks (468x3 float32: x, y frame pixels, z in pixel units) and presence."""
        crop = self.crop(frame, roi)
        np.multiply(crop, self._scale, out=self._input[0])
        m = self.model
        m.set_input(INPUT, self._input)
        m.invoke()
        raw = m.output(LANDMARKS_OUT).reshape(NUM_LANDMARKS, 3)
        logit = float(m.output(PRESENCE_OUT).reshape(-1)[0])
        presence = 1.0 / (1.0 + np.exp(-np.clip(logit, -100.0, 100.0)))
        return project(raw, roi), float(presence)


def project(raw: np.ndarray, roi: Roi) -> np.ndarray:
    """Crop-pixel landmarks (468x3) -> frame pixels through the ROI's affine transform."""
    m = crop_to_frame(roi, CROP).astype(np.float32)
    out = np.empty_like(raw, dtype=np.float32)
    out[:, :2] = raw[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = raw[:, 2] * np.float32(roi.size / CROP)
    return out
