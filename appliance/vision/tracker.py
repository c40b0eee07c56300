"""Face tracking: detector when needed, face mesh every frame, ROI from the last landmarks.

Coordinates are the view's pixels throughout. When the frame comes with a main
(high-resolution) image of the same picture, the face mesh reads its crop from that
image (the ROI scaled up), so a face 24 px wide in the view is sampled from its ~70
real pixels rather than upscaled from 24, and the detector's tiles come from it too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.vision.detector import VARIANTS, Detection, FaceDetector
from appliance.vision.faces import Face
from appliance.vision.imageops import to_three_channels
from appliance.vision.landmarks import CROP as MESH_CROP
from appliance.vision.landmarks import MODEL as MESH_MODEL
from appliance.vision.landmarks import PRESENCE_THRESHOLD, FaceMesh
from appliance.vision.roi import Roi, inside, iou, roi_from_detection, roi_from_landmarks
from appliance.vision.runtime import Model
from appliance.vision.tiles import SMALLEST_FACE, TiledDetector

logger = logging.getLogger(__name__)

DEDUPE_IOU = 0.3  # a detection overlapping a tracked face this much is that face
MERGE_IOU = 0.5  # two tracks overlapping this much have converged on one face
# A new detection becomes a tracked face only with a confident mesh: real faces score ~1.0,
# while the detector's false positives (e.g. cartoon letters in no_face.mp4) reach 0.55.
# Once tracked, the face stays until presence drops below PRESENCE_THRESHOLD (0.5).
ACQUIRE_PRESENCE = 0.8
# While faces are tracked, one detector tile is searched every this many frames between
# the detector's runs, so a far face arriving next to a tracked one is found within one
# sweep (28 tiles: 17 s at 5 fps) while two frames in three cost what they did before.
BACKGROUND_TILE_EVERY = 3


def as_rgb_frame(frame: object) -> np.ndarray:
    """An HxWx3 uint8 RGB view or copy of frame; ValueError when it cannot be one."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.size == 0 or frame.ndim not in (2, 3):
        raise ValueError(f"frame must be HxW or HxWxC with pixels, got shape {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame of shape {frame.shape} is too small")
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating):
            hi = float(np.nanmax(frame))
            frame = np.nan_to_num(frame) * (255.0 if hi <= 1.0 else 1.0)
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        elif frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        else:
            raise ValueError(f"frame must be uint8 (or float/uint16 to convert), "
                             f"got {frame.dtype}")
    if frame.ndim == 2 or frame.shape[2] in (1, 4):
        return to_three_channels(frame)
    if frame.shape[2] != 3:
        raise ValueError(f"frame must have 1, 3 or 4 channels, got {frame.shape[2]}")
    return frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)


def main_for(view: np.ndarray, main: np.ndarray | None) -> tuple[np.ndarray | None, float]:
    """The main image to read crops from and its scale over the view (None, 1.0 if unusable).

    Usable: RGB uint8, larger than the view and of the same picture (same aspect within
    a pixel), so view coordinates times the scale are main coordinates.
    """
    if main is None or not isinstance(main, np.ndarray) or main.dtype != np.uint8 \
            or main.ndim != 3 or main.shape[2] != 3:
        return None, 1.0
    vh, vw = view.shape[:2]
    mh, mw = main.shape[:2]
    s = mw / vw
    if s <= 1.0 or abs(mh - vh * s) > max(2.0, s):
        return None, 1.0
    return main, s


@dataclass(slots=True)
class _Track:
    track_id: int
    roi: Roi
    score: float
    face: Face | None = None


def _clip_box(lo: np.ndarray, hi: np.ndarray, w: int, h: int,
              ) -> tuple[float, float, float, float]:
    x0, y0 = max(0.0, float(lo[0])), max(0.0, float(lo[1]))
    x1, y1 = min(float(w), float(hi[0])), min(float(h), float(hi[1]))
    return x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)


class FaceTracker:
    """Finds and follows up to max_faces faces through a stream of RGB frames.

    The face mesh runs on every tracked face each frame, its ROI taken from the previous
    frame's landmarks. The detector runs on the first frame, while nothing is tracked,
    on the frame a tracked face is lost (presence < 0.5, so it can be found again at
    once), and every detect_every frames to pick up new faces; detections overlapping a
    tracked face are that face. Not thread-safe: one worker thread owns a tracker.
    """

    def __init__(self, models_dir: Path, detector: str = "full_range", max_faces: int = 4,
                 num_threads: int = 2, detect_every: int = 15, *,
                 tile_detector: str = "off", tiles_per_pass: int = 3,
                 smallest_face: int = SMALLEST_FACE) -> None:
        for name, allowed in ((detector, tuple(VARIANTS)), (tile_detector, (*VARIANTS, "off"))):
            if name not in allowed:
                raise ValueError(f"unknown detector {name!r}; use one of {', '.join(allowed)}")
        self.detector = FaceDetector.load(models_dir, detector, num_threads)
        self.mesh = FaceMesh.load(models_dir, num_threads)
        self.models: dict[str, Model] = {
            VARIANTS[detector].model: self.detector.model,
            MESH_MODEL: self.mesh.model,
        }
        tiler = None
        if tile_detector != "off":
            # Its own interpreter even for the same variant: tiles are a different input size.
            tiler = FaceDetector.load(models_dir, tile_detector, 1)
            self.models["tiles." + VARIANTS[tile_detector].model] = tiler.model
        self.tiled = TiledDetector(self.detector, tiler, tiles_per_pass=tiles_per_pass,
                                   smallest_face=smallest_face)
        self.max_faces = max(1, int(max_faces))
        self.detect_every = max(1, int(detect_every))
        self.frames = 0
        self.detector_runs = 0
        self.stage_ms: dict[str, float] = {"detect": 0.0, "landmarks": 0.0}
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._since_detect = 0
        self._main: np.ndarray | None = None
        self._scale = 1.0
        self._tiles_due = 0  # tiles left to search at every frame (a sweep after a change)
        self._idle_turn = False  # an empty room's passes alternate: whole view, tiles

    def reset(self) -> None:
        """Forget all tracked faces; the next frame runs the detector."""
        self._tracks = []
        self._since_detect = 0
        self._tiles_due = 0
        self._idle_turn = False

    @property
    def tracked(self) -> int:
        """How many faces are being tracked right now."""
        return len(self._tracks)

    def _mesh(self, frame: np.ndarray, track: _Track,
              threshold: float = PRESENCE_THRESHOLD) -> bool:
        if self._main is None or track.roi.size >= MESH_CROP:
            # A face this large already fills the mesh's input from the view: the main
            # frame adds nothing but the cost of reading a large, cache-cold image.
            landmarks, presence = self.mesh.run(frame, track.roi)
        else:
            s, r = self._scale, track.roi
            landmarks, presence = self.mesh.run(self._main,
                                                Roi(r.cx * s, r.cy * s, r.size * s, r.rotation))
            landmarks = landmarks / np.float32(s)
        if presence < threshold:
            return False
        h, w = frame.shape[:2]
        lo = landmarks.min(axis=0)
        hi = landmarks.max(axis=0)
        track.face = Face(_clip_box(lo, hi, w, h), track.score, landmarks, presence,
                          track.track_id, track.roi)
        track.roi = roi_from_landmarks(landmarks, bounds=(lo, hi))
        return True

    def process(self, frame_rgb: np.ndarray, main: np.ndarray | None = None, *,
                sweep: bool = False) -> list[Face]:
        """Faces in this frame (RGB, HxWx3 uint8; gray and RGBA are converted).

        main: the same picture at a higher resolution (RGB uint8), or None. sweep: search
        every tile at once (a single photo) instead of this pass's few.
        """
        frame = as_rgb_frame(frame_rgb)
        self._main, self._scale = main_for(frame, main)
        self.frames += 1
        self._since_detect += 1
        t_mesh = 0.0
        t0 = time.perf_counter()
        kept: list[_Track] = []
        lost: list[tuple[float, float, float, float]] = []
        lost_ids: list[int] = []
        for track in self._tracks:
            box = track.face.box if track.face else None
            if self._mesh(frame, track):
                kept.append(track)
            else:
                lost_ids.append(track.track_id)
                lost.append(box or (0.0, 0.0, 0.0, 0.0))
        t_mesh += time.perf_counter() - t0

        t_detect = 0.0
        h, w = frame.shape[:2]
        if lost:  # someone left (or turned away): search the whole room again
            self._tiles_due = self.tiled.tile_count(w, h)
        before = len(kept)
        if not kept or lost or self._since_detect >= self.detect_every or self._tiles_due > 0:
            t1 = time.perf_counter()
            whole, count = True, None
            if not kept and not lost and not sweep and self.tiled.tiler is not None:
                # An empty room: the whole view and the tiles take turns, so checking the
                # room costs what the whole view alone did before the tiles.
                self._idle_turn = not self._idle_turn
                whole, count = (True, 0) if self._idle_turn else (False, None)
            detections = self.tiled.detect(frame, self._main, self.max_faces, sweep=sweep,
                                           whole=whole, count=count)
            self.detector_runs += 1
            self._since_detect = 0
            self._tiles_due = max(0, self._tiles_due - self.tiled.last_tiles)
            t_detect = time.perf_counter() - t1
            t2 = time.perf_counter()
            self._adopt(frame, detections, kept, lost, lost_ids)
            t_mesh += time.perf_counter() - t2
        elif self.frames % BACKGROUND_TILE_EVERY == 0 and self.tiled.tiler is not None:
            t1 = time.perf_counter()
            detections = self.tiled.detect(frame, self._main, self.max_faces, whole=False,
                                           count=1)
            t_detect = time.perf_counter() - t1
            t2 = time.perf_counter()
            self._adopt(frame, detections, kept, lost, lost_ids)
            t_mesh += time.perf_counter() - t2
        if len(kept) > before and not sweep:
            # Someone new: people come in company, so finish a sweep of the tiles now.
            self._tiles_due = self.tiled.tile_count(w, h)

        kept = self._merge(kept)
        self._tracks = kept
        self._main = None  # the frame is not kept past this call
        self.stage_ms = {"detect": t_detect * 1000.0, "landmarks": t_mesh * 1000.0}
        return [t.face for t in kept if t.face is not None]

    def _adopt(self, frame: np.ndarray, detections: list[Detection], kept: list[_Track],
               lost: list[tuple[float, float, float, float]], lost_ids: list[int]) -> None:
        """Start tracks for detections that are not already tracked faces."""
        for det in detections:
            # A tile that holds only part of a near face can find a "face" inside it.
            match = next((t for t in kept if t.face and (iou(t.face.box, det.box) > DEDUPE_IOU
                                                         or inside(t.face.box, det.box) > 0.6)),
                         None)
            if match is not None:
                match.score = det.score
                if match.face is not None:
                    match.face.score = det.score
                continue
            if len(kept) >= self.max_faces:
                break
            track_id = next((i for b, i in zip(lost, lost_ids, strict=True)
                             if iou(b, det.box) > DEDUPE_IOU), None)
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
            track = _Track(track_id, roi_from_detection(det.box, det.keypoints), det.score)
            if self._mesh(frame, track, ACQUIRE_PRESENCE):
                kept.append(track)

    @staticmethod
    def _merge(tracks: list[_Track]) -> list[_Track]:
        """Drop tracks that converged onto a face another (older) track follows."""
        out: list[_Track] = []
        for t in tracks:
            if t.face and any(o.face and (iou(o.face.box, t.face.box) > MERGE_IOU
                                          or inside(o.face.box, t.face.box) > 0.8) for o in out):
                continue
            out.append(t)
        return out
