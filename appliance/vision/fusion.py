"""Fuse the emotion CNN and the geometric cues into valence, arousal, a mood and a confidence.

Both sources become a distribution over the five moods the box plays for
(happy, sad, angry, neutral, surprised); the fused distribution is their
weighted mixture. Valence and arousal are its expectation over each mood's
place on the circumplex (Russell's valence/arousal plane).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from appliance.core.bus import MOODS
from appliance.vision.geometry import Cues

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABELS: tuple[str, ...] = tuple(MOODS)  # happy, sad, angry, neutral, surprised

MOOD_VALENCE: dict[str, float] = {"happy": 0.8, "sad": -0.6, "angry": -0.7, "neutral": 0.0,
                                  "surprised": 0.3}
MOOD_AROUSAL: dict[str, float] = {"happy": 0.5, "sad": -0.5, "angry": 0.7, "neutral": -0.1,
                                  "surprised": 0.8}

# How each of the CNN's 7 emotions spreads over the 5 moods (rows: EMOTIONS, cols: LABELS).
_EMOTION_TO_MOOD = np.array([
    # happy sad angry neutral surprised
    [0.0, 0.0, 1.0, 0.0, 0.0],  # angry
    [0.0, 0.2, 0.8, 0.0, 0.0],  # disgust
    [0.0, 0.5, 0.0, 0.0, 0.5],  # fear
    [1.0, 0.0, 0.0, 0.0, 0.0],  # happy
    [0.0, 1.0, 0.0, 0.0, 0.0],  # sad
    [0.0, 0.0, 0.0, 0.0, 1.0],  # surprise
    [0.0, 0.0, 0.0, 1.0, 0.0],  # neutral
])

CNN_WEIGHT = 0.6
GEOMETRY_WEIGHT = 0.4
_VL = [MOOD_VALENCE[m] for m in LABELS]
_AL = [MOOD_AROUSAL[m] for m in LABELS]


@dataclass(frozen=True)
class Expression:
    """One face's fused reading."""

    valence: float
    arousal: float
    mood: str
    confidence: float
    probs: tuple[float, ...]  # over LABELS


def cnn_moods(emotions: np.ndarray) -> np.ndarray:
    """The CNN's 7 emotion probabilities as a distribution over the 5 moods."""
    p = np.clip(np.asarray(emotions, dtype=np.float64).reshape(7), 0.0, None)
    q = p @ _EMOTION_TO_MOOD
    s = q.sum()
    return q / s if s > 0 else _uniform()


def geometry_moods(c: Cues) -> np.ndarray:
    """A distribution over the 5 moods from baseline-relative cues (softmax of evidence)."""
    smile = 0.5 * _ramp(c.mouth_corner_lift, 0.04) + 0.5 * _ramp(c.mouth_width, 0.10)
    frown = _ramp(-c.mouth_corner_lift, 0.04)
    furrow = 0.6 * _ramp(-c.brow_gap, 0.05) + 0.4 * _ramp(-c.brow_raise, 0.06)
    surprise = (0.4 * _ramp(c.mouth_open, 0.15) + 0.35 * _ramp(c.brow_raise, 0.08)
                + 0.25 * _ramp(c.eye_open, 0.05))
    evidence = {
        "happy": 3.0 * smile - 1.0 * frown,
        "sad": 2.5 * frown - 1.0 * smile,
        "angry": 2.5 * furrow - 1.0 * smile,
        "neutral": 2.0 - 1.5 * max(smile, frown, furrow, surprise),
        "surprised": 3.0 * surprise * (1.0 - 0.5 * smile),
    }
    return np.array(_softmax([evidence[m] for m in LABELS]))


def fuse(emotions: np.ndarray | None, c: Cues | None) -> Expression:
    """Fuse the CNN's 7 probabilities and the cues (either may be missing) into one reading."""
    parts: list[tuple[float, list[float]]] = []
    if emotions is not None:
        parts.append((CNN_WEIGHT, cnn_moods(emotions).tolist()))
    if c is not None:
        parts.append((GEOMETRY_WEIGHT, geometry_moods(c).tolist()))
    if parts:
        total = sum(w for w, _ in parts)
        probs = [sum(w * p[i] for w, p in parts) / total for i in range(len(LABELS))]
    else:
        probs = [1.0 / len(LABELS)] * len(LABELS)
    best = max(range(len(probs)), key=probs.__getitem__)
    return Expression(
        valence=min(1.0, max(-1.0, sum(q * v for q, v in zip(probs, _VL, strict=True)))),
        arousal=min(1.0, max(-1.0, sum(q * a for q, a in zip(probs, _AL, strict=True)))),
        mood=LABELS[best],
        confidence=probs[best],
        probs=tuple(probs),
    )


def _softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _ramp(x: float, full: float) -> float:
    """0 at or below 0, 1 at `full` and beyond."""
    return float(min(1.0, max(0.0, x / full)))


def _uniform() -> np.ndarray:
    return np.full(len(LABELS), 1.0 / len(LABELS))
