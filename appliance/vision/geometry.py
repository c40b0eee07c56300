"""Geometric expression cues from the 468 face-mesh landmarks.

Landmarks are first put in a face frame: origin between the eyes, x along the
eye line (towards the subject's left eye), y towards the chin, unit = the
inter-ocular distance. Every cue is therefore independent of the face's size,
position and roll. Cues are reported as differences from a neutral baseline:
the household's own (from `mooddj calibrate`) or a population default.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# MediaPipe face-mesh indices ("right" = the subject's right, the image's left).
R_EYE_OUTER, R_EYE_INNER, R_EYE_TOP, R_EYE_BOTTOM = 33, 133, 159, 145
L_EYE_OUTER, L_EYE_INNER, L_EYE_TOP, L_EYE_BOTTOM = 263, 362, 386, 374
MOUTH_R, MOUTH_L = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
R_BROW_MID, L_BROW_MID = (105, 66), (334, 296)
R_BROW_INNER, L_BROW_INNER = 107, 336
NOSE_TIP, CHEEK_R, CHEEK_L = 1, 234, 454

CALIBRATION_VERSION = 1


class CalibrationError(Exception):
    """A calibration file cannot be read or holds no valid baseline."""


@dataclass(frozen=True)
class Cues:
    """Expression cues in inter-ocular units (raw, or minus a neutral baseline)."""

    mouth_corner_lift: float  # corners above the lip line: smile > 0, frown < 0
    mouth_width: float
    mouth_open: float  # inner-lip gap
    eye_open: float  # eyelid gap, both eyes averaged
    brow_raise: float  # brow above the upper eyelid
    brow_gap: float  # inner brow ends apart (a furrow makes it smaller)

    def minus(self, base: Cues) -> Cues:
        """These cues relative to a neutral baseline."""
        return Cues(*(getattr(self, n) - getattr(base, n) for n in _FIELDS))

    def as_dict(self) -> dict[str, float]:
        return {n: round(getattr(self, n), 4) for n in _FIELDS}


# Neutral faces measured on the reference recordings (single_face.mp4, first 0.5 s).
DEFAULT_BASELINE = Cues(
    mouth_corner_lift=0.0, mouth_width=0.775, mouth_open=0.007,
    eye_open=0.153, brow_raise=0.365, brow_gap=0.48,
)


_CUE_POINTS = (R_EYE_OUTER, R_EYE_INNER, R_EYE_TOP, R_EYE_BOTTOM, L_EYE_OUTER, L_EYE_INNER,
               L_EYE_TOP, L_EYE_BOTTOM, MOUTH_R, MOUTH_L, LIP_UPPER_INNER, LIP_LOWER_INNER,
               *R_BROW_MID, *L_BROW_MID, R_BROW_INNER, L_BROW_INNER)
_FIELDS = ("mouth_corner_lift", "mouth_width", "mouth_open", "eye_open", "brow_raise", "brow_gap")


_ROW = {i: k for k, i in enumerate(_CUE_POINTS)}
_EYES = [R_EYE_OUTER, R_EYE_INNER, L_EYE_OUTER, L_EYE_INNER]


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The face frame: its origin (between the eyes), a 2x2 projection to face units, the IOD.

    `(p - origin) @ proj` puts frame pixels in face units: x along the eye line
    towards the subject's left eye, y towards the chin, 1 = inter-ocular distance.
    """
    (rox, roy), (rix, riy), (lox, loy), (lix, liy) = (
        np.asarray(landmarks)[_EYES, :2].astype(np.float64).tolist())
    rx, ry = (rox + rix) / 2, (roy + riy) / 2
    lx, ly = (lox + lix) / 2, (loy + liy) / 2
    ax, ay = lx - rx, ly - ry
    iod = math.hypot(ax, ay)
    if iod < 1e-6:
        raise ValueError("degenerate landmarks: the eyes coincide")
    ux, uy = ax / iod, ay / iod
    # In image coordinates y points down; the face's "down" is x rotated by +90 degrees.
    proj = np.array([[ux, -uy], [uy, ux]]) / iod
    return np.array([(rx + lx) / 2, (ry + ly) / 2]), proj, iod


def face_frame(landmarks: np.ndarray, points: tuple[int, ...] | None = None
               ) -> tuple[np.ndarray, float]:
    """Landmarks (N x >=2, frame px) in the face frame, and the inter-ocular distance in px.

    With `points`, only those landmarks are transformed (rows in the same order).
    """
    origin, proj, iod = face_axes(landmarks)
    lm = np.asarray(landmarks)
    sel = lm[:, :2] if points is None else lm[list(points), :2]
    return (sel - origin) @ proj, iod


def raw_cues(landmarks: np.ndarray) -> Cues:
    """Raw expression cues of one face (inter-ocular units)."""
    p, _ = face_frame(landmarks, _CUE_POINTS)
    xs, ys = p[:, 0].tolist(), p[:, 1].tolist()
    r = _ROW

    def y(i: int) -> float:
        return ys[r[i]]

    lip_line = (y(LIP_UPPER_INNER) + y(LIP_LOWER_INNER)) / 2
    corners = (y(MOUTH_R) + y(MOUTH_L)) / 2
    eye_open = ((y(R_EYE_BOTTOM) - y(R_EYE_TOP)) + (y(L_EYE_BOTTOM) - y(L_EYE_TOP))) / 2
    r_brow = sum(y(i) for i in R_BROW_MID) / len(R_BROW_MID)
    l_brow = sum(y(i) for i in L_BROW_MID) / len(L_BROW_MID)
    brow_raise = ((y(R_EYE_TOP) - r_brow) + (y(L_EYE_TOP) - l_brow)) / 2
    return Cues(
        mouth_corner_lift=lip_line - corners,
        mouth_width=abs(xs[r[MOUTH_L]] - xs[r[MOUTH_R]]),
        mouth_open=max(0.0, y(LIP_LOWER_INNER) - y(LIP_UPPER_INNER)),
        eye_open=max(0.0, eye_open),
        brow_raise=brow_raise,
        brow_gap=abs(xs[r[L_BROW_INNER]] - xs[r[R_BROW_INNER]]),
    )


def cues(landmarks: np.ndarray, baseline: Cues | None = None) -> Cues:
    """Expression cues relative to `baseline` (the population default when None)."""
    return raw_cues(landmarks).minus(baseline or DEFAULT_BASELINE)


def frontality(landmarks: np.ndarray) -> float:
    """1.0 for a face looking at the camera, towards 0 as it turns away (yaw)."""
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    d_r = float(np.linalg.norm(pts[NOSE_TIP] - pts[CHEEK_R]))
    d_l = float(np.linalg.norm(pts[NOSE_TIP] - pts[CHEEK_L]))
    hi = max(d_r, d_l)
    return 0.0 if hi < 1e-6 else min(d_r, d_l) / hi


def average(samples: list[Cues]) -> Cues:
    """The median of several cue samples (a neutral baseline)."""
    if not samples:
        raise ValueError("no samples")
    return Cues(*(float(np.median([getattr(s, f.name) for s in samples])) for f in fields(Cues)))


def save_baseline(path: Path, baseline: Cues, samples: int) -> None:
    """Write a calibration file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": CALIBRATION_VERSION, "created": time.time(), "samples": samples,
           "baseline": baseline.as_dict()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def load_baseline(path: Path) -> Cues:
    """Read a calibration file written by `mooddj calibrate`; CalibrationError if unusable."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        base = doc["baseline"]
        return Cues(**{f.name: float(base[f.name]) for f in fields(Cues)})
    except FileNotFoundError:
        raise CalibrationError(f"calibration file {path} does not exist; "
                               f"run `mooddj calibrate` or clear vision.calibration_file") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CalibrationError(f"calibration file {path} is not valid ({type(err).__name__}); "
                               f"run `mooddj calibrate` again") from None


def calibration_path(vision_calibration_file: str, state_dir: Path) -> Path:
    """Where the baseline lives: vision.calibration_file, else <state_dir>/calibration.json."""
    if vision_calibration_file:
        return Path(vision_calibration_file)
    return Path(state_dir) / "calibration.json"
