"""The 7-class emotion CNN (fer's quantized model) on a landmark-aligned face crop."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from appliance.vision import geometry
from appliance.vision.fusion import EMOTIONS
from appliance.vision.geometry import FACE_OVAL
from appliance.vision.models import ModelError, model_path
from appliance.vision.runtime import Model

logger = logging.getLogger(__name__)

CROP_SIZE = 64
CROP_MARGIN = 0.10  # like fer's 10-pixel offsets around a ~100-pixel face box
INPUT_NAME = "x"
OUTPUT_NAME = "Identity"


def crop_matrix(f: geometry.FaceFrame, size: int = CROP_SIZE,
                margin: float = CROP_MARGIN) -> np.ndarray:
    """2x3 affine matrix mapping crop pixels to frame pixels: eye line level, face square."""
    xs, ys = zip(*(f.face(i) for i in FACE_OVAL), strict=True)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    side = max(max(x1 - x0, y1 - y0) * (1.0 + 2 * margin) * f.iod, 1.0)  # pixels
    ux, uy = f.ux, f.uy  # face x axis in frame pixels; face y axis is (-uy, ux)
    cx, cy = (x0 + x1) / 2 * f.iod, (y0 + y1) / 2 * f.iod
    centre_x = f.ox + cx * ux - cy * uy
    centre_y = f.oy + cx * uy + cy * ux
    step = side / size
    k = (0.5 - size / 2) * step
    return np.array([[ux * step, -uy * step, centre_x + k * (ux - uy)],
                     [uy * step, ux * step, centre_y + k * (uy + ux)]])


def crop_transform(landmarks: np.ndarray, size: int = CROP_SIZE,
                   margin: float = CROP_MARGIN) -> np.ndarray:
    """2x3 affine matrix mapping crop pixels to frame pixels for 468 landmarks."""
    return crop_matrix(geometry.measure(landmarks), size, margin)


def face_crop(frame_rgb: np.ndarray, landmarks: np.ndarray | geometry.FaceFrame,
              size: int = CROP_SIZE) -> np.ndarray:
    """The aligned grayscale face crop, size x size, float32 in [-1, 1]."""
    f = landmarks if isinstance(landmarks, geometry.FaceFrame) else geometry.measure(landmarks)
    m = crop_matrix(f, size)
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
