"""The 7-class emotion CNN (fer's quantized model) on a landmark-aligned face crop."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from appliance.vision import geometry
from appliance.vision.fusion import EMOTIONS
from appliance.vision.models import ModelError, model_path
from appliance.vision.runtime import Model

logger = logging.getLogger(__name__)

# Face oval of the mesh: its extent is the face's extent (cheaper than all 468 points).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
CROP_SIZE = 64
CROP_MARGIN = 0.10  # like fer's 10-pixel offsets around a ~100-pixel face box
INPUT_NAME = "x"
OUTPUT_NAME = "Identity"


def crop_transform(landmarks: np.ndarray, size: int = CROP_SIZE,
                   margin: float = CROP_MARGIN) -> np.ndarray:
    """2x3 affine matrix mapping crop pixels to frame pixels: eye line level, face square."""
    lm = np.asarray(landmarks)
    try:
        origin, proj, iod = geometry.face_axes(lm)
    except ValueError:  # degenerate: an axis-aligned box around the points
        origin, proj, iod = lm[:, :2].mean(axis=0), np.eye(2), 1.0
    oval = lm[list(FACE_OVAL), :2] if len(lm) > max(FACE_OVAL) else lm[:, :2]
    q = (oval - origin) @ proj  # face units
    lo, hi = q.min(axis=0), q.max(axis=0)
    side_units = max(float(hi[0] - lo[0]), float(hi[1] - lo[1])) * (1.0 + 2 * margin)
    side = max(side_units * iod, 1.0)  # pixels
    ux = proj[:, 0] * iod  # unit vectors in frame pixels
    uy = proj[:, 1] * iod
    centre = origin + ((lo[0] + hi[0]) / 2 * ux + (lo[1] + hi[1]) / 2 * uy) * iod
    step = side / size
    start = centre + (0.5 - size / 2) * step * (ux + uy)
    return np.array([[ux[0] * step, uy[0] * step, start[0]],
                     [ux[1] * step, uy[1] * step, start[1]]])


def face_crop(frame_rgb: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The aligned grayscale face crop, size x size, float32 in [-1, 1]."""
    m = crop_transform(landmarks, size)
    patch = cv2.warpAffine(frame_rgb, m, (size, size),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    gray = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch
    return gray.astype(np.float32) * (2.0 / 255.0) - 1.0


class EmotionClassifier:
    """fer's emotion CNN: 64x64 gray in [-1, 1] -> 7 probabilities in EMOTIONS order."""

    def __init__(self, model: Model) -> None:
        if INPUT_NAME not in model.input_names or OUTPUT_NAME not in model.output_names:
            raise ModelError(f"model file {model.path} is not the emotion model "
                             f"(tensors {model.input_names} -> {model.output_names}); "
                             f"run scripts/fetch-models")
        self.model = model
        shape = model.input_shape(INPUT_NAME)
        self.size = int(shape[1])

    @classmethod
    def load(cls, models_dir: Path, num_threads: int = 1) -> EmotionClassifier:
        """Load the verified emotion model from `models_dir`."""
        return cls(Model.load(model_path(Path(models_dir), "emotion"), num_threads))

    def classify(self, crop: np.ndarray) -> np.ndarray:
        """7 emotion probabilities for one prepared crop."""
        x = crop.reshape(1, self.size, self.size, 1).astype(np.float32, copy=False)
        out = self.model.run({INPUT_NAME: x}, (OUTPUT_NAME,))[OUTPUT_NAME]
        p = np.clip(out.reshape(len(EMOTIONS)).astype(np.float64), 0.0, None)
        s = p.sum()
        return p / s if s > 0 else np.full(len(EMOTIONS), 1.0 / len(EMOTIONS))

    def __call__(self, frame_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """7 emotion probabilities of the face with these landmarks."""
        return self.classify(face_crop(frame_rgb, landmarks, self.size))
