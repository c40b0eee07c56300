"""The 7-class emotion CNN (fer's quantized model) on a landmark-aligned face crop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from appliance.vision import geometry
from appliance.vision.fusion import EMOTIONS
from appliance.vision.geometry import FACE_OVAL
from appliance.vision.imageops import warp_affine_gray, warp_affine_into
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
    return np.array(_crop_affine(f, size, margin))


def _crop_affine(f: geometry.FaceFrame, size: int = CROP_SIZE, margin: float = CROP_MARGIN,
                 ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """crop_matrix's rows as floats."""
    if isinstance(f.coords, geometry.Points):
        xs, ys = f.coords.xs[:geometry.N_OVAL], f.coords.ys[:geometry.N_OVAL]
    else:
        xs, ys = (list(c) for c in zip(*(f.face(i) for i in FACE_OVAL), strict=True))
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


def gray_crop(frame_rgb: np.ndarray, m: np.ndarray | Sequence[Sequence[float]], size: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """The frame sampled (bilinear) through crop matrix m into a size x size uint8 gray crop.

    The colour pixels are warped, then the small crop is converted: only the
    size x size samples are ever converted, whatever the face's size.
    """
    return warp_affine_gray(frame_rgb, m, (size, size), out=out)


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
        m = _crop_affine(face, self.size)
        # Sampled, made gray (unless it is) and scaled to [-1, 1] straight into the input.
        self.model.write_input(INPUT_NAME, lambda dst: warp_affine_into(
            dst, frame_rgb, m, scale=2.0 / 255.0, offset=-1.0, gray=frame_rgb.ndim == 3))
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
