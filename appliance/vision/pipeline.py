"""One frame in, faces with moods and the room's reading out: tracker + expression + room."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from appliance.core.config import VisionConfig
from appliance.vision import geometry
from appliance.vision.expression import EmotionClassifier
from appliance.vision.fusion import EMOTIONS, fuse
from appliance.vision.room import FaceMood, RoomMood, RoomState, face_weight, instant
from appliance.vision.sources.base import MAIN_MAX_SIDE, MAX_SIDE, to_rgb
from appliance.vision.stillness import Stillness
from appliance.vision.tracker import main_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceResult:
    """One face's reading (box in the processed frame's pixels)."""

    box: tuple[int, int, int, int]
    score: float
    track_id: int
    valence: float
    arousal: float
    mood: str
    confidence: float
    emotions: dict[str, float]
    cues: geometry.Cues  # baseline-relative
    frontality: float
    weight: float
    probs: tuple[float, ...]  # fused distribution over fusion.LABELS
    landmarks: np.ndarray = field(repr=False)
    still: bool = False  # has not moved for vision.still_seconds: a picture, not a person

    def summary(self, scale: float = 1.0) -> dict[str, Any]:
        """JSON-ready numbers (box scaled back to the original image by `scale`)."""
        return {
            "box": [round(v * scale) for v in self.box],
            "score": round(self.score, 3),
            "valence": round(self.valence, 3),
            "arousal": round(self.arousal, 3),
            "mood": self.mood,
            "confidence": round(self.confidence, 3),
            "emotions": {k: round(v, 3) for k, v in self.emotions.items()},
            **({"still": True} if self.still else {}),
        }


@dataclass(frozen=True)
class FrameResult:
    """What one frame gave: the faces and the room reading after it."""

    faces: list[FaceResult]
    room: RoomState
    t: float
    scale: float = 1.0  # original pixels per processed pixel (huge images are downscaled)
    ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """The mood pipeline; not thread-safe: one worker thread owns it."""

    def __init__(self, vision: VisionConfig, models_dir: Path, *,
                 baseline: geometry.Cues | None = None,
                 calibration_path: Path | None = None, tracker: Any = None) -> None:
        self.config = vision
        self.models_dir = Path(models_dir)
        self.tracker = tracker or _tracker(vision, self.models_dir)
        self.stillness = Stillness(vision.still_seconds)
        self.emotion = EmotionClassifier.load(self.models_dir, num_threads=1)
        if baseline is None:
            path = calibration_path or (Path(vision.calibration_file)
                                        if vision.calibration_file else None)
            baseline = _load_baseline(path)
        self.baseline = baseline
        self.room = RoomMood.from_config(vision)
        self.frames = 0
        self.stage_ms: dict[str, float] = {}

    @property
    def detector_runs(self) -> int:
        return int(getattr(self.tracker, "detector_runs", 0))

    @property
    def models(self) -> dict[str, Any]:
        """Every loaded model by name (tracker's and the emotion CNN)."""
        out = dict(getattr(self.tracker, "models", {}) or {})
        out["emotion"] = self.emotion.model
        return out

    def reset(self) -> None:
        """Start over (a new recording or image): new tracker state and room."""
        reset = getattr(self.tracker, "reset", None)
        if callable(reset):
            reset()
        else:
            self.tracker = _tracker(self.config, self.models_dir)
        self.room = RoomMood.from_config(self.config)
        self.stillness.reset()

    def faces(self, rgb: np.ndarray, main: np.ndarray | None = None, *,
              sweep: bool = False) -> list[FaceResult]:
        """Track the faces of one RGB frame and read each one's mood (no room update).

        main: the same picture at high resolution (the camera's main stream), or None;
        landmarks and expressions are read from it. sweep: search every detector tile.
        """
        t0 = time.perf_counter()
        tracked = self.tracker.process(rgb, main, sweep=sweep)
        main, scale = main_for(rgb, main)
        t1 = time.perf_counter()
        out = []
        for f in tracked:
            r = self._read_face(rgb, f, main, scale)
            if r is not None:
                out.append(r)
        t2 = time.perf_counter()
        stage = {"track": (t1 - t0) * 1e3, "expression": (t2 - t1) * 1e3}
        for name, ms in (getattr(self.tracker, "stage_ms", None) or {}).items():
            stage["track." + name] = float(ms)
        self.stage_ms = stage
        return out

    def _read_face(self, rgb: np.ndarray, face: Any, main: np.ndarray | None = None,
                   scale: float = 1.0) -> FaceResult | None:
        lm = face.landmarks if isinstance(face.landmarks, np.ndarray) else np.asarray(
            face.landmarks)
        if main is not None and float(face.box[2]) >= 2 * self.emotion.size:
            main = None  # the view already has twice the CNN's pixels across this face
        try:
            frame = geometry.measure(lm if main is None else lm * np.float32(scale))
        except ValueError:  # collapsed landmarks: not a usable face
            return None
        probs = self.emotion.read(rgb if main is None else main, frame)
        c = geometry.frame_cues(frame, self.baseline or geometry.DEFAULT_BASELINE)
        expr = fuse(probs, c)
        front = geometry.frame_frontality(frame)
        x, y, w, h = (float(v) for v in face.box)
        presence = float(getattr(face, "presence", 1.0))
        return FaceResult(
            box=(round(x), round(y), round(w), round(h)), score=float(face.score),
            track_id=int(getattr(face, "track_id", 0)), valence=expr.valence,
            arousal=expr.arousal, mood=expr.mood, confidence=expr.confidence,
            emotions=dict(zip(EMOTIONS, probs, strict=True)),
            cues=c, frontality=front,
            weight=face_weight(w, h, front, presence), probs=expr.probs, landmarks=lm,
        )

    def process(self, frame: np.ndarray, t: float, main: np.ndarray | None = None,
                ) -> FrameResult:
        """Run one frame (any image array; RGB order) at time `t` seconds through everything.

        main: the same picture at high resolution (Frame.main), or None. Faces that have
        not moved for vision.still_seconds are reported `still` and left out of the room.
        """
        start = time.perf_counter()
        rgb, scale = prepare(frame)
        faces = self._mark_still(self.faces(rgb, main if scale == 1.0 else None), t)
        t3 = time.perf_counter()
        room = self.room.update([_mood(f) for f in faces if not f.still], t)
        end = time.perf_counter()
        ms = self.stage_ms  # a new dict each frame (faces() builds it)
        ms["room"] = (end - t3) * 1e3
        ms["frame"] = (end - start) * 1e3
        self.frames += 1
        return FrameResult(faces=faces, room=room, t=t, scale=scale, ms=ms)

    def _mark_still(self, faces: list[FaceResult], t: float) -> list[FaceResult]:
        out = []
        for f in faces:
            cx, cy = f.landmarks[:, :2].mean(axis=0).tolist()  # unrounded, unlike the box
            still = self.stillness.update(f.track_id, t, cx, cy, _iod(f.landmarks))
            out.append(dataclasses.replace(f, still=True) if still else f)
        self.stillness.keep({f.track_id for f in faces})
        return out

    def still(self, frame: np.ndarray, main: np.ndarray | None = None) -> FrameResult:
        """Read a single photo: fresh tracker, every tile searched, unsmoothed room.

        The faces found are read on a second pass from their own landmarks.

        A photo larger than the pipeline's frames is its own main image.
        """
        self.reset()
        rgb, scale = prepare(frame)
        if main is None and scale != 1.0:
            main = to_rgb(frame, max_side=MAIN_MAX_SIDE)
        elif scale != 1.0:
            main = None
        self.faces(rgb, main, sweep=True)
        # Once more from the landmarks just found, as the next frame of a stream would:
        # the mesh's own box fits the face better than the detector's.
        faces = self.faces(rgb, main)
        self.frames += 1
        return FrameResult(faces=faces, room=instant([_mood(f) for f in faces]), t=0.0,
                           scale=scale, ms=dict(self.stage_ms))


def prepare(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """A usable RGB frame (FrameError if it cannot be) and the downscale factor applied."""
    if (type(frame) is np.ndarray and frame.dtype == np.uint8 and frame.ndim == 3
            and frame.shape[2] == 3 and frame.flags.c_contiguous
            and min(frame.shape[:2]) >= 16 and max(frame.shape[:2]) <= MAX_SIDE):
        return frame, 1.0  # a camera frame as it should be: nothing to convert
    rgb = to_rgb(frame, order="rgb", max_side=MAX_SIDE)
    scale = frame.shape[1] / rgb.shape[1] if rgb.shape[1] else 1.0
    return rgb, float(scale)


def _tracker(vision: VisionConfig, models_dir: Path) -> Any:
    from appliance.vision.tracker import FaceTracker

    return FaceTracker(models_dir, detector=vision.detector, max_faces=vision.max_faces,
                       num_threads=vision.num_threads, detect_every=vision.detect_every,
                       tile_detector=vision.tile_detector, tiles_per_pass=vision.tiles_per_pass,
                       smallest_face=vision.smallest_face)


def _iod(lm: np.ndarray) -> float:
    d = lm[geometry.L_EYE_OUTER, :2] - lm[geometry.R_EYE_OUTER, :2]
    return float(np.hypot(d[0], d[1]))


def _mood(f: FaceResult) -> FaceMood:
    return FaceMood(valence=f.valence, arousal=f.arousal, probs=f.probs, weight=f.weight)


def _load_baseline(path: Path | None) -> geometry.Cues | None:
    if path is None or not Path(path).exists():
        return None
    try:
        base = geometry.load_baseline(path)
    except geometry.CalibrationError as err:
        logger.warning("%s; using the default neutral face", err)
        return None
    logger.info("using the neutral-face calibration in %s", path)
    return base
