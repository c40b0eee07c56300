"""Fuse the emotion CNN and the geometric cues into valence, arousal, a mood and a confidence.

Both sources become a distribution over the five moods the box plays for
(happy, sad, angry, neutral, surprised); the fused distribution is their
weighted mixture. Valence and arousal are its expectation over each mood's
place on the circumplex (Russell's valence/arousal plane).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


# The same table as (mood, share) pairs per emotion, skipping zeros (pure-Python path).
_SHARES = tuple(tuple((j, w) for j, w in enumerate(row) if w) for row in _EMOTION_TO_MOOD.tolist())


def cnn_moods(emotions: np.ndarray | Sequence[float]) -> np.ndarray:
    """The CNN's 7 emotion probabilities as a distribution over the 5 moods."""
    return np.array(_cnn_moods(_seven(emotions)))


def geometry_moods(c: Cues) -> np.ndarray:
    """A distribution over the 5 moods from baseline-relative cues (softmax of evidence)."""
    return np.array(_geometry_moods(c))


def fuse(emotions: np.ndarray | Sequence[float] | None, c: Cues | None) -> Expression:
    """Fuse the CNN's 7 probabilities and the cues (either may be missing) into one reading."""
    parts: list[tuple[float, list[float]]] = []
    if emotions is not None:
        parts.append((CNN_WEIGHT, _cnn_moods(_seven(emotions))))
    if c is not None:
        parts.append((GEOMETRY_WEIGHT, _geometry_moods(c)))
    if parts:
        total = 0.0
        acc = [0.0] * len(LABELS)
        for w, p in parts:
            total += w
            for i, v in enumerate(p):
                acc[i] += w * v
        probs = [v / total for v in acc]
    else:
        probs = [1.0 / len(LABELS)] * len(LABELS)
    confidence = max(probs)
    valence = arousal = 0.0
    for q, v, a in zip(probs, _VL, _AL, strict=True):
        valence += q * v
        arousal += q * a
    return Expression(
        valence=min(1.0, max(-1.0, valence)),
        arousal=min(1.0, max(-1.0, arousal)),
        mood=LABELS[probs.index(confidence)],
        confidence=confidence,
        probs=tuple(probs),
    )


def _seven(emotions: np.ndarray | Sequence[float]) -> list[float]:
    """7 emotion scores as a list of floats (ValueError if there are not 7)."""
    if isinstance(emotions, list) and len(emotions) == len(EMOTIONS):
        return emotions
    return np.asarray(emotions, dtype=np.float64).reshape(len(EMOTIONS)).tolist()


def _cnn_moods(p7: list[float]) -> list[float]:
    q = [0.0] * len(LABELS)
    for v, shares in zip(p7, _SHARES, strict=True):
        if v > 0.0:
            for j, w in shares:
                q[j] += v * w
    s = sum(q)
    return [v / s for v in q] if s > 0 else [1.0 / len(LABELS)] * len(LABELS)


def _geometry_moods(c: Cues) -> list[float]:
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
    return _softmax([evidence[m] for m in LABELS])


def _softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _ramp(x: float, full: float) -> float:
    """0 at or below 0, 1 at `full` and beyond."""
    return min(1.0, max(0.0, x / full))
