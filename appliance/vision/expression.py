"""The 7-class emotion CNN (fer's quantized model) on a landmark-aligned face crop."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from appliance.vision import geometry
from appliance.vision.fusion import EMOTIONS
from appliance.vision.geometry import FACE_OVAL
from appliance.vision.imageops import rgb_to_gray, warp_affine
from appliance.vision.models import ModelError, model_path
from appliance.vision.runtime import Model

logger = logging.getLogger(__name__)

CROP_SIZE = 64
CROP_MARGIN = 0.10  # like fer's 10-pixel offsets around a ~100-pixel face box
INPUT_NAME = "x"
OUTPUT_NAME = "Identity"


# Above this many ROI pixels per crop pixel, warping the colour frame and converting the
# small crop to gray is cheaper than converting the ROI to gray first (a large face).
GRAY_ROI_MAX_RATIO = 10


def crop_matrix(f: geometry.FaceFrame, size: int = CROP_SIZE,
                margin: float = CROP_MARGIN) -> np.ndarray:
    """2x3 affine matrix mapping crop pixels to frame pixels: eye line level, face square."""
    return np.array(_crop_affine(f, size, margin))


def _crop_affine(f: geometry.FaceFrame, size: int = CROP_SIZE, margin: float = CROP_MARGIN,
                 ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """crop_matrix's rows as floats."""
    if isinstance(f.coords, geometry.Points):
        xs, ys = f.coords.xs[:geometry.N_OVAL], f.coords.ys[:geometry.N_OVAL]
    else:
        xs, ys = zip(*(f.face(i) for i in FACE_OVAL), strict=True)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    side = max(max(x1 - x0, y1 - y0) * (1.0 + 2 * margin) * f.iod, 1.0)  # pixels
    ux, uy = f.ux, f.uy  # face x axis in frame pixels; face y axis is (-uy, ux)
    cx, cy = (x0 + x1) / 2 * f.iod, (y0 + y1) / 2 * f.iod
    centre_x = f.ox + cx * ux - cy * uy
    centre_y = f.oy + cx * uy + cy * ux
    step = side / size
    k = (0.5 - size / 2) * step
    return ((ux * step, -uy * step, centre_x + k * (ux - uy)),
            (uy * step, ux * step, centre_y + k * (uy + ux)))


def crop_transform(landmarks: np.ndarray, size: int = CROP_SIZE,
                   margin: float = CROP_MARGIN) -> np.ndarray:
    """2x3 affine matrix mapping crop pixels to frame pixels for 468 landmarks."""
    return crop_matrix(geometry.measure(landmarks), size, margin)


def gray_crop(frame_rgb: np.ndarray, m: np.ndarray | Sequence[Sequence[float]], size: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """The frame sampled (bilinear) through crop matrix m into a size x size uint8 gray crop.

    Only the crop's bounding box of the frame is read: it is converted to gray and
    warped on one channel, or, for a face much larger than the crop, the colour
    pixels are warped and then converted.
    """
    if out is None:
        out = np.empty((size, size), np.uint8)
    if frame_rgb.ndim == 2:
        return warp_affine(frame_rgb, m, (size, size), out=out)
    (a, b, tx), (c, d, ty) = m.tolist() if isinstance(m, np.ndarray) else m
    span = size - 1
    h, w = frame_rgb.shape[:2]
    try:
        x0 = max(0, math.floor(tx + min(0.0, a * span) + min(0.0, b * span)) - 1)
        x1 = min(w, math.ceil(tx + max(0.0, a * span) + max(0.0, b * span)) + 2)
        y0 = max(0, math.floor(ty + min(0.0, c * span) + min(0.0, d * span)) - 1)
        y1 = min(h, math.ceil(ty + max(0.0, c * span) + max(0.0, d * span)) + 2)
    except (ValueError, OverflowError):  # not a finite matrix: sample it as is
        x0 = x1 = y0 = y1 = 0
    if x1 - x0 < 2 or y1 - y0 < 2 or (x1 - x0) * (y1 - y0) > GRAY_ROI_MAX_RATIO * size * size:
        return rgb_to_gray(warp_affine(frame_rgb, m, (size, size)), out=out)
    # Pixels outside the box are never sampled, except past the frame's own edges, where
    # the box's edge is the frame's edge: BORDER_REPLICATE gives the same result.
    gray = rgb_to_gray(frame_rgb[y0:y1, x0:x1])
    return warp_affine(gray, ((a, b, tx - x0), (c, d, ty - y0)), (size, size), out=out)


def face_crop(frame_rgb: np.ndarray, landmarks: np.ndarray | geometry.FaceFrame,
              size: int = CROP_SIZE) -> np.ndarray:
    """The aligned grayscale face crop, size x size, float32 in [-1, 1]."""
    f = landmarks if isinstance(landmarks, geometry.FaceFrame) else geometry.measure(landmarks)
    gray = gray_crop(frame_rgb, _crop_affine(f, size), size)
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
        self._gray = np.zeros((self.size, self.size), np.uint8)  # reused crop buffer

    @classmethod
    def load(cls, models_dir: Path, num_threads: int = 1) -> EmotionClassifier:
        """Load the verified emotion model from `models_dir`."""
        return cls(Model.load(model_path(Path(models_dir), "emotion"), num_threads))

    def classify(self, crop: np.ndarray) -> np.ndarray:
        """7 emotion probabilities for one prepared crop."""
        x = crop.reshape(1, self.size, self.size, 1).astype(np.float32, copy=False)
        self.model.set_input(INPUT_NAME, x)
        self.model.invoke()
        return np.array(self._probabilities())

    def read(self, frame_rgb: np.ndarray, face: geometry.FaceFrame) -> list[float]:
        """7 emotion probabilities (EMOTIONS order) of the measured face in this frame."""
        gray = gray_crop(frame_rgb, _crop_affine(face, self.size), self.size, self._gray)
        self.model.fill_input(INPUT_NAME, gray, 2.0 / 255.0, -1.0)
        self.model.invoke()
        return self._probabilities()

    def _probabilities(self) -> list[float]:
        out = self.model.output(OUTPUT_NAME).ravel().tolist()
        if len(out) != len(EMOTIONS):
            raise ModelError(f"model file {self.model.path} gave {len(out)} emotion scores, "
                             f"not {len(EMOTIONS)}; run scripts/fetch-models")
        p = [max(v, 0.0) for v in out]
        s = sum(p)
        return [v / s for v in p] if s > 0 else [1.0 / len(EMOTIONS)] * len(EMOTIONS)

    def __call__(self, frame_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """7 emotion probabilities of the face with these landmarks."""
        return np.array(self.read(frame_rgb, geometry.measure(landmarks)))
