"""Offline analysis (`mooddj analyze`): the same pipeline and smoothing as the box, on files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from appliance.vision.fusion import EMOTIONS, LABELS, MOOD_AROUSAL, MOOD_VALENCE
from appliance.vision.pipeline import FaceResult, FrameResult, Pipeline
from appliance.vision.room import RoomState
from appliance.vision.sources import CameraError, SourceEnded
from appliance.vision.sources.base import MAIN_MAX_SIDE
from appliance.vision.sources.replay import ReplaySource, is_image, read_image

logger = logging.getLogger(__name__)

MOOD_COLORS = {  # BGR, for drawing
    "happy": (0, 200, 255), "sad": (255, 120, 0), "angry": (0, 0, 230),
    "neutral": (200, 200, 200), "surprised": (255, 0, 200),
}


def room_summary(room: RoomState) -> dict[str, Any]:
    """The room part of the JSON output."""
    return {"people": room.people, "valence": round(room.valence, 3),
            "arousal": round(room.arousal, 3), "mood": room.mood}


def analyze(pipe: Pipeline, path: Path, *, every: int = 1,
            annotate: Path | None = None) -> dict[str, Any]:
    """Analyze an image, a folder of images or a video; optionally write an annotated copy."""
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
        if annotate is not None:
            annotate.mkdir(parents=True, exist_ok=True)
        out = []
        for p in images:
            try:
                out.append(analyze_image(pipe, p, annotate / p.name if annotate else None))
            except CameraError as err:
                out.append({"source": str(p), "error": str(err)})
        return {"source": str(path), "images": out}
    if is_image(path):
        return analyze_image(pipe, path, annotate)
    return analyze_video(pipe, path, every=every, annotate=annotate)


def analyze_image(pipe: Pipeline, path: Path, annotate: Path | None = None) -> dict[str, Any]:
    """One photo: every face and an unsmoothed room reading."""
    rgb = read_image(path, max_side=1 << 30)
    result = pipe.still(rgb)
    if annotate is not None:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if result.scale != 1.0:  # draw on the image the pipeline saw
            bgr = cv2.resize(bgr, (round(rgb.shape[1] / result.scale),
                                   round(rgb.shape[0] / result.scale)),
                             interpolation=cv2.INTER_AREA)
        draw(bgr, result)
        if not cv2.imwrite(str(annotate), bgr):
            raise CameraError(f"cannot write {annotate}; use a .jpg or .png name in a "
                              f"writable folder")
    scale = result.scale
    return {"source": str(path), "size": [rgb.shape[1], rgb.shape[0]],
            "faces": [f.summary(scale) for f in result.faces],
            "room": room_summary(result.room)}


def analyze_video(pipe: Pipeline, path: Path, *, every: int = 1,
                  annotate: Path | None = None) -> dict[str, Any]:
    """A recording: per-track summary, final room reading and a timeline of the smoothed room."""
    pipe.reset()
    src = ReplaySource(path, loop=False, realtime=False, main_side=MAIN_MAX_SIDE)
    src.open()
    writer: cv2.VideoWriter | None = None
    timeline: list[dict[str, Any]] = []
    tracks: dict[int, dict[str, Any]] = {}
    last: FrameResult | None = None
    try:
        while True:
            try:
                frame = src.read()
            except SourceEnded:
                break
            if frame.index % every:
                continue
            result = pipe.process(frame.rgb, frame.t, frame.main)
            last = result
            timeline.append({"t": round(frame.t, 3), **room_summary(result.room),
                             "faces": result.room.faces})
            for f in result.faces:
                _accumulate(tracks, f, result.scale)
            if annotate is not None:
                bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
                draw(bgr, result)
                if writer is None:
                    writer = _writer(annotate, src.fps / every, bgr.shape)
                writer.write(bgr)
    finally:
        src.close()
        if writer is not None:
            writer.release()
    if last is None:
        raise CameraError(f"video {path} has no readable frames (truncated or empty)")
    return {"source": str(path), "frames": len(timeline), "fps": round(src.fps, 3),
            "detector_runs": pipe.detector_runs,
            "faces": [_track_summary(t) for t in tracks.values()],
            "room": room_summary(last.room), "timeline": timeline}


def _writer(path: Path, fps: float, shape: tuple[int, ...]) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    w = cv2.VideoWriter(str(path), fourcc, max(1.0, fps), (shape[1], shape[0]))
    if not w.isOpened():
        raise CameraError(f"cannot write video {path}; use a .mp4 name in a writable folder")
    return w


def _accumulate(tracks: dict[int, dict[str, Any]], f: FaceResult, scale: float) -> None:
    t = tracks.setdefault(f.track_id, {"track_id": f.track_id, "frames": 0, "score": 0.0,
                                       "emotions": np.zeros(len(EMOTIONS)),
                                       "probs": np.zeros(len(LABELS))})
    t["frames"] += 1
    t["box"] = [round(v * scale) for v in f.box]
    t["score"] = max(t["score"], f.score)
    t["emotions"] += [f.emotions[e] for e in EMOTIONS]
    t["probs"] += f.probs
    t["valence"] = t.get("valence", 0.0) + f.valence
    t["arousal"] = t.get("arousal", 0.0) + f.arousal


def _track_summary(t: dict[str, Any]) -> dict[str, Any]:
    n = t["frames"]
    probs = t["probs"] / n
    best = int(np.argmax(probs))
    return {"track_id": t["track_id"], "frames": n, "box": t["box"],
            "score": round(t["score"], 3), "valence": round(t["valence"] / n, 3),
            "arousal": round(t["arousal"] / n, 3), "mood": LABELS[best],
            "confidence": round(float(probs[best]), 3),
            "emotions": {e: round(float(v / n), 3) for e, v in zip(EMOTIONS, t["emotions"],
                                                                   strict=True)}}


def draw(bgr: np.ndarray, result: FrameResult) -> None:
    """Draw boxes, landmarks and moods (in place) for a person to look at."""
    scale = max(1, round(max(bgr.shape[:2]) / 640))
    for f in result.faces:
        color = MOOD_COLORS.get(f.mood, (255, 255, 255))
        x, y, w, h = f.box
        cv2.rectangle(bgr, (x, y), (x + w, y + h), color, scale)
        for px, py in f.landmarks[:, :2].astype(int):
            cv2.circle(bgr, (int(px), int(py)), 1, (0, 255, 0), -1)
        label = f"{f.mood} {f.confidence:.2f} v{f.valence:+.2f} a{f.arousal:+.2f}"
        cv2.putText(bgr, label, (x, max(12 * scale, y - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45 * scale, color, scale, cv2.LINE_AA)
    r = result.room
    cv2.putText(bgr, f"room: {r.people} people, {r.mood} v{r.valence:+.2f} a{r.arousal:+.2f}",
                (8, bgr.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                MOOD_COLORS.get(r.mood, (255, 255, 255)), scale, cv2.LINE_AA)


__all__ = ["MOOD_AROUSAL", "MOOD_VALENCE", "analyze", "analyze_image", "analyze_video", "draw"]
