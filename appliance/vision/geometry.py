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
from collections.abc import Iterator, Mapping
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


@dataclass(frozen=True, slots=True)
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
        return Cues(*(v - b for v, b in zip(self.values(), base.values(), strict=True)))

    def values(self) -> tuple[float, ...]:
        """The six cues in field order."""
        return (self.mouth_corner_lift, self.mouth_width, self.mouth_open, self.eye_open,
                self.brow_raise, self.brow_gap)

    def as_dict(self) -> dict[str, float]:
        return {n: round(getattr(self, n), 4) for n in _FIELDS}


# The population's neutral face: py-feat's AU -> face-mesh regression (py-feat 2.1.5,
# MIT: feat/resources/au_to_mesh_pls_v4.npz, fitted on the MediaPipe face mesh of many
# people and frontalised) predicts this mesh with every action unit at 0 and the head
# straight (its intercept). tests/vision/test_vision_baseline.py recomputes these cues
# from the fetched file. Neither the test stills nor the test recordings went into it;
# `mooddj calibrate` replaces it with the household's own neutral face.
DEFAULT_BASELINE = Cues(
    mouth_corner_lift=-0.0146, mouth_width=0.8229, mouth_open=0.1038,
    eye_open=0.1378, brow_raise=0.2886, brow_gap=0.4751,
)
# What the box used before issue 12: one person's neutral face (single_face.mp4, first
# 0.5 s). Kept so `mooddj bench vision` can run the old pipeline side by side.
SINGLE_PERSON_BASELINE = Cues(
    mouth_corner_lift=0.0, mouth_width=0.775, mouth_open=0.007,
    eye_open=0.153, brow_raise=0.365, brow_gap=0.48,
)


def neutral_mesh_cues(intercept: np.ndarray) -> Cues:
    """Raw cues of a py-feat au_to_mesh intercept (axis-major x | y | z of 478 points).

    Its y axis points up and x towards the subject's left: turned to image axes first.
    """
    mesh = np.asarray(intercept, np.float64).reshape(3, -1).T[:468].copy()
    if mesh[152, 1] < mesh[R_EYE_OUTER, 1]:  # chin below the eyes means y points up
        mesh[:, 1] *= -1
    if mesh[R_EYE_OUTER, 0] > mesh[L_EYE_OUTER, 0]:
        mesh[:, 0] *= -1
    return raw_cues(mesh)


_CUE_POINTS = (R_EYE_OUTER, R_EYE_INNER, R_EYE_TOP, R_EYE_BOTTOM, L_EYE_OUTER, L_EYE_INNER,
               L_EYE_TOP, L_EYE_BOTTOM, MOUTH_R, MOUTH_L, LIP_UPPER_INNER, LIP_LOWER_INNER,
               *R_BROW_MID, *L_BROW_MID, R_BROW_INNER, L_BROW_INNER)
# Face oval of the mesh: its extent is the face's extent.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
_FIELDS = ("mouth_corner_lift", "mouth_width", "mouth_open", "eye_open", "brow_raise", "brow_gap")


class Points(Mapping[int, tuple[float, float]]):
    """Landmark index -> (x, y) for the landmarks `measure` uses, held as two lists.

    `xs` and `ys` are in USED order (the face oval first): readers that need many
    points index them directly instead of building tuples one landmark at a time.
    """

    __slots__ = ("xs", "ys")

    def __init__(self, xs: list[float], ys: list[float]) -> None:
        self.xs = xs
        self.ys = ys

    def __getitem__(self, i: int) -> tuple[float, float]:
        r = _ROW[i]
        return self.xs[r], self.ys[r]

    def __iter__(self) -> Iterator[int]:
        return iter(USED)

    def __len__(self) -> int:
        return len(USED)

    def __contains__(self, i: object) -> bool:
        return i in _ROW

    def __repr__(self) -> str:
        return f"Points({dict(self)!r})"


@dataclass(frozen=True)
class FaceFrame:
    """One face's frame: origin between the eyes, unit x axis (ux, uy), inter-ocular distance.

    `face(i)` gives landmark i in face units: x along the eye line towards the
    subject's left eye, y towards the chin (image y points down), 1 = the IOD.
    """

    ox: float
    oy: float
    ux: float
    uy: float
    iod: float
    points: Mapping[int, tuple[float, float]]  # the landmarks used, in frame pixels
    coords: Mapping[int, tuple[float, float]]  # the same landmarks in face units

    def face(self, i: int) -> tuple[float, float]:
        return self.coords[i]


# Order of the landmarks in Points: the face oval first (a plain slice), then the eye
# corners that set the frame, then the rest.
USED = (*FACE_OVAL, R_EYE_OUTER, R_EYE_INNER, L_EYE_OUTER, L_EYE_INNER,
        *sorted({*_CUE_POINTS, NOSE_TIP, CHEEK_R, CHEEK_L}
                - {*FACE_OVAL, R_EYE_OUTER, R_EYE_INNER, L_EYE_OUTER, L_EYE_INNER}))
_ROW = {i: r for r, i in enumerate(USED)}
_USED_INDEX = np.array(USED, np.intp)
N_OVAL = len(FACE_OVAL)
(_R_EYE_OUTER, _R_EYE_INNER, _R_EYE_TOP, _R_EYE_BOTTOM, _L_EYE_OUTER, _L_EYE_INNER, _L_EYE_TOP,
 _L_EYE_BOTTOM, _MOUTH_R, _MOUTH_L, _LIP_UPPER, _LIP_LOWER, _R_BROW_INNER, _L_BROW_INNER,
 _NOSE_TIP, _CHEEK_R, _CHEEK_L) = (_ROW[i] for i in (
    R_EYE_OUTER, R_EYE_INNER, R_EYE_TOP, R_EYE_BOTTOM, L_EYE_OUTER, L_EYE_INNER, L_EYE_TOP,
    L_EYE_BOTTOM, MOUTH_R, MOUTH_L, LIP_UPPER_INNER, LIP_LOWER_INNER, R_BROW_INNER,
    L_BROW_INNER, NOSE_TIP, CHEEK_R, CHEEK_L))
_R_BROW = tuple(_ROW[i] for i in R_BROW_MID)
_L_BROW = tuple(_ROW[i] for i in L_BROW_MID)


def measure(landmarks: np.ndarray) -> FaceFrame:
    """The face frame of 468 landmarks; ValueError when the eyes coincide."""
    lm = landmarks if isinstance(landmarks, np.ndarray) else np.asarray(landmarks)
    # One gather and one conversion; the rest is plain arithmetic on 55 points, cheaper
    # than a chain of small numpy calls right after a model has run.
    cols = lm.take(_USED_INDEX, axis=0).T.tolist()
    xs, ys = cols[0], cols[1]
    rx, ry = (xs[_R_EYE_OUTER] + xs[_R_EYE_INNER]) / 2, (ys[_R_EYE_OUTER] + ys[_R_EYE_INNER]) / 2
    lx, ly = (xs[_L_EYE_OUTER] + xs[_L_EYE_INNER]) / 2, (ys[_L_EYE_OUTER] + ys[_L_EYE_INNER]) / 2
    iod = math.hypot(lx - rx, ly - ry)
    if not iod >= 1e-6:  # also NaN: a face that would poison the room's smoothing
        raise ValueError("degenerate landmarks: the eyes coincide or are not finite")
    ux, uy = (lx - rx) / iod, (ly - ry) / iod
    ox, oy = (rx + lx) / 2, (ry + ly) / 2
    a, b = ux / iod, uy / iod
    dx = [x - ox for x in xs]
    dy = [y - oy for y in ys]
    fx = [x * a + y * b for x, y in zip(dx, dy, strict=True)]
    fy = [y * a - x * b for x, y in zip(dx, dy, strict=True)]
    return FaceFrame(ox, oy, ux, uy, iod, Points(xs, ys), Points(fx, fy))


def frame_cues(f: FaceFrame, baseline: Cues | None = None) -> Cues:
    """Expression cues from a measured face frame, minus `baseline` when given."""
    c = f.coords if isinstance(f.coords, Points) else _as_points(f.coords)
    x, y = c.xs, c.ys
    lip_line = (y[_LIP_UPPER] + y[_LIP_LOWER]) / 2
    corners = (y[_MOUTH_R] + y[_MOUTH_L]) / 2
    eye_open = ((y[_R_EYE_BOTTOM] - y[_R_EYE_TOP]) + (y[_L_EYE_BOTTOM] - y[_L_EYE_TOP])) / 2
    r_brow = sum(y[i] for i in _R_BROW) / len(_R_BROW)
    l_brow = sum(y[i] for i in _L_BROW) / len(_L_BROW)
    lift = lip_line - corners
    width = abs(x[_MOUTH_L] - x[_MOUTH_R])
    mouth_open = max(0.0, y[_LIP_LOWER] - y[_LIP_UPPER])
    eye_open = max(0.0, eye_open)
    brow_raise = ((y[_R_EYE_TOP] - r_brow) + (y[_L_EYE_TOP] - l_brow)) / 2
    brow_gap = abs(x[_L_BROW_INNER] - x[_R_BROW_INNER])
    if baseline is None:
        return Cues(lift, width, mouth_open, eye_open, brow_raise, brow_gap)
    b = baseline
    return Cues(lift - b.mouth_corner_lift, width - b.mouth_width, mouth_open - b.mouth_open,
                eye_open - b.eye_open, brow_raise - b.brow_raise, brow_gap - b.brow_gap)


def _as_points(m: Mapping[int, tuple[float, float]]) -> Points:
    """A hand-built landmark mapping as Points (KeyError if a used landmark is missing)."""
    pts = [m[i] for i in USED]
    return Points([p[0] for p in pts], [p[1] for p in pts])


def frame_frontality(f: FaceFrame) -> float:
    """1.0 for a face looking at the camera, towards 0 as it turns away (yaw)."""
    p = f.points
    if isinstance(p, Points):
        xs, ys = p.xs, p.ys
        nx, ny, rx, ry = xs[_NOSE_TIP], ys[_NOSE_TIP], xs[_CHEEK_R], ys[_CHEEK_R]
        lx, ly = xs[_CHEEK_L], ys[_CHEEK_L]
    else:
        (nx, ny), (rx, ry), (lx, ly) = p[NOSE_TIP], p[CHEEK_R], p[CHEEK_L]
    d_r = math.hypot(nx - rx, ny - ry)
    d_l = math.hypot(nx - lx, ny - ly)
    hi = max(d_r, d_l)
    return 0.0 if hi < 1e-6 else min(d_r, d_l) / hi


def raw_cues(landmarks: np.ndarray) -> Cues:
    """Raw expression cues of one face (inter-ocular units)."""
    return frame_cues(measure(landmarks))


def cues(landmarks: np.ndarray, baseline: Cues | None = None) -> Cues:
    """Expression cues relative to `baseline` (the population default when None)."""
    return raw_cues(landmarks).minus(baseline or DEFAULT_BASELINE)


def frontality(landmarks: np.ndarray) -> float:
    """1.0 for a face looking at the camera, towards 0 as it turns away (yaw)."""
    pts = np.asarray(landmarks)[[NOSE_TIP, CHEEK_R, CHEEK_L], :2].tolist()
    f = FaceFrame(0.0, 0.0, 1.0, 0.0, 1.0, dict(zip((NOSE_TIP, CHEEK_R, CHEEK_L),
                                                    map(tuple, pts), strict=True)), {})
    return frame_frontality(f)


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
