"""BlazeFace face detection decoded like MediaPipe's face_detection graphs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.vision.anchors import BACK, FULL_RANGE, SHORT_RANGE, AnchorOptions, ssd_anchors
from appliance.vision.imageops import resize_area, resize_linear
from appliance.vision.models import model_path
from appliance.vision.roi import Letterbox
from appliance.vision.runtime import Model

# Keypoint order of BlazeFace (the subject's right and left).
SCORE_CLIP = 100.0
NMS_IOU = 0.3


@dataclass(frozen=True)
class DetectorSpec:
    """Model file, tensor names and decoding options of one BlazeFace variant."""

    model: str
    anchors: AnchorOptions
    input_name: str
    boxes_name: str
    scores_name: str
    min_score: float


VARIANTS: dict[str, DetectorSpec] = {
    "full_range": DetectorSpec("face_detection_full_range", FULL_RANGE, "input_1",
                               "Identity", "Identity_1", 0.6),
    "short_range": DetectorSpec("face_detection_short_range", SHORT_RANGE, "input",
                                "regressors", "classificators", 0.5),
    # MediaPipe's older "back camera" model, made for smaller faces at 256x256.
    "back": DetectorSpec("face_detection_back", BACK, "input", "regressors", "classificators",
                         0.5),
}


@dataclass(frozen=True, slots=True)
class Detection:
    """A detected face: box (x, y, w, h) and 6 keypoints (x, y) in frame pixels, score."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray


def decode(raw_boxes: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw SSD outputs of anchors scoring >= min_score.

    Returns (boxes as relative xmin, ymin, xmax, ymax; scores; keypoints as (n, 6, 2)).
    """
    logits = logits.reshape(-1)
    # sigmoid(x) >= t  <=>  x >= log(t / (1 - t)): decode only the candidates.
    keep = np.flatnonzero(logits >= math.log(min_score / (1.0 - min_score)))
    raw = raw_boxes.reshape(-1, raw_boxes.shape[-1])[keep].astype(np.float64)
    a = anchors[keep].astype(np.float64)
    s = float(input_size)
    xc = raw[:, 0] / s * a[:, 2] + a[:, 0]
    yc = raw[:, 1] / s * a[:, 3] + a[:, 1]
    w = raw[:, 2] / s * a[:, 2]
    h = raw[:, 3] / s * a[:, 3]
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    kx = raw[:, 4::2] / s * a[:, 2:3] + a[:, 0:1]
    ky = raw[:, 5::2] / s * a[:, 3:4] + a[:, 1:2]
    keypoints = np.stack([kx, ky], axis=2)
    clipped = np.clip(logits[keep].astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-clipped))
    return boxes, scores, keypoints


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = NMS_IOU, max_out: int = -1,
                 ) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted non-max suppression on xyxy boxes.

    The best remaining box and all boxes overlapping it by more than iou_threshold are
    merged into one, coordinates (and keypoints) averaged with score weights; the merged
    detection keeps the best score.
    """
    order = np.argsort(-scores, kind="stable")
    out: list[tuple[np.ndarray, float, np.ndarray]] = []
    while order.size and (max_out < 0 or len(out) < max_out):
        top = order[0]
        overlap = _iou_one(boxes[top], boxes[order]) > iou_threshold
        overlap[0] = True
        members = order[overlap]
        wts = scores[members]
        total = float(wts.sum())
        box = (boxes[members] * wts[:, None]).sum(axis=0) / total
        kps = (keypoints[members] * wts[:, None, None]).sum(axis=0) / total
        out.append((box, float(scores[top]), kps))
        order = order[~overlap]
    return out


class FaceDetector:
    """Runs one BlazeFace variant on RGB frames and returns detections in frame pixels."""

    def __init__(self, model: Model, variant: str = "full_range") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown detector {variant!r}; use one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.spec = VARIANTS[variant]
        self.model = model
        self.size = self.spec.anchors.input_size
        self.anchors = ssd_anchors(self.spec.anchors)
        n = self.anchors.shape[0]
        if model.output_shape(self.spec.boxes_name)[1] != n:
            raise ValueError(f"{model.path.name} does not match the {variant} anchors ({n})")
        self._canvas = np.zeros((self.size, self.size, 3), np.uint8)
        self._letterbox: Letterbox | None = None

    @classmethod
    def load(cls, models_dir: Path, variant: str = "full_range", num_threads: int = 2,
             ) -> FaceDetector:
        """Verify and load the variant's model from models_dir."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown detector {variant!r}; use one of {', '.join(VARIANTS)}")
        model = Model.load(model_path(models_dir, VARIANTS[variant].model), num_threads)
        return cls(model, variant)

    def _prepare(self, frame: np.ndarray) -> Letterbox:
        h, w = frame.shape[:2]
        lb = self._letterbox
        if lb is None or lb.frame_w != w or lb.frame_h != h:
            lb = self._letterbox = Letterbox.fit(w, h, self.size)
            self._canvas[:] = 0
        size = (lb.new_w, lb.new_h)
        if lb.new_w * 2 < w:
            # Shrinking more than 2x: bilinear to twice the size, then a 2x area average,
            # so small faces do not alias away (a direct area average costs 2x more).
            twice = resize_linear(frame, (lb.new_w * 2, lb.new_h * 2))
            resized = resize_area(twice, size)
        else:
            resized = resize_linear(frame, size)
        self._canvas[lb.top:lb.top + lb.new_h, lb.left:lb.left + lb.new_w] = resized
        # [0, 255] -> [-1, 1]; the black padding becomes -1.
        self.model.fill_input(self.spec.input_name, self._canvas, 2.0 / 255.0, -1.0)
        return lb

    def detect(self, frame: np.ndarray, max_faces: int = 4) -> list[Detection]:
        """Faces in an RGB uint8 frame, best first, at most max_faces."""
        lb = self._prepare(frame)
        m = self.model
        m.invoke()
        boxes, scores, kps = decode(m.output(self.spec.boxes_name),
                                    m.output(self.spec.scores_name),
                                    self.anchors, self.size, self.spec.min_score)
        if not scores.size:
            return []
        merged = weighted_nms(boxes, scores, kps, NMS_IOU, max_faces)
        out = []
        for box, score, kp in merged:
            corners = lb.to_frame(box.reshape(2, 2))
            (x0, y0), (x1, y1) = corners
            out.append(Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                                 score, lb.to_frame(kp).astype(np.float32)))
        return out
