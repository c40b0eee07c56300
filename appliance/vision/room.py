"""The room's mood from all faces: weighting, time-constant smoothing, hysteresis, presence.

Smoothing is an exponential moving average whose weight per update is
`1 - exp(-dt / tau)`, so the same change in the room moves the reading the
same way whether frames arrive at 1 or 30 per second. The label only changes
when another label leads the current one by `hysteresis` in the smoothed
label distribution and the current label has held for `dwell_seconds`.

The dwell is counted from when the room changed, not from when the smoothed
label caught up: a fast distribution (time constant `ONSET_SECONDS`) dates the
onset of the label that leads it, and a new label is dated from that onset.
So a lasting change is `stable` one dwell after it happened in front of the
camera; the smoothing's lag (about 2.5 s at the defaults) is not added to it.
Presence is debounced: faces must be seen for `arrive_seconds` to count as
arrivals and be gone for `leave_seconds` to count as departures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from appliance.core.bus import Mood, MoodReading
from appliance.vision.fusion import LABELS, MOOD_AROUSAL, MOOD_VALENCE

NEUTRAL_INDEX = LABELS.index("neutral")
ONSET_SECONDS = 0.5  # fast enough to date a change, slow enough to ride over one odd frame


@dataclass(frozen=True)
class FaceMood:
    """What the room needs from one face: its mood and how much it should count."""

    valence: float
    arousal: float
    probs: tuple[float, ...]  # over LABELS
    weight: float


@dataclass(frozen=True)
class RoomState:
    """The room reading after one frame."""

    t: float
    faces: int  # faces seen in this frame (raw)
    people: int  # debounced people count
    valence: float
    arousal: float
    mood: str
    confidence: float
    stable: bool
    probs: tuple[float, ...] = ()
    presence_changed: tuple[int, int] | None = None  # (people, previous) when it changed

    def reading(self) -> MoodReading:
        """The bus event for this reading (what the player and the pages get)."""
        return MoodReading(faces=self.faces, valence=self.valence, arousal=self.arousal,
                           mood=cast(Mood, self.mood), confidence=self.confidence,
                           stable=self.stable)


def face_weight(box_w: float, box_h: float, frontality: float, presence: float = 1.0) -> float:
    """Weight of one face: larger (closer) and more frontal faces count more."""
    size = math.sqrt(max(box_w, 0.0) * max(box_h, 0.0))
    return size * max(0.05, min(1.0, frontality)) * max(0.0, min(1.0, presence))


def combine(faces: Sequence[FaceMood]) -> tuple[float, float, list[float]] | None:
    """Weighted mean valence, arousal and label distribution of this frame's faces."""
    if not faces:
        return None
    raw = [max(f.weight, 1e-6) for f in faces]
    total = sum(raw)
    w = [x / total for x in raw]
    v = sum(wi * f.valence for wi, f in zip(w, faces, strict=True))
    a = sum(wi * f.arousal for wi, f in zip(w, faces, strict=True))
    p = [sum(wi * f.probs[i] for wi, f in zip(w, faces, strict=True))
         for i in range(len(LABELS))]
    return v, a, p


def alpha(dt: float, tau: float) -> float:
    """Share of a new sample after `dt` seconds with time constant `tau`."""
    if dt <= 0:
        return 0.0
    if tau <= 0:
        return 1.0
    return 1.0 - math.exp(-dt / tau)


@dataclass
class Presence:
    """Debounced people count from raw per-frame face counts."""

    arrive_seconds: float
    leave_seconds: float
    people: int = 0
    _since: float | None = None  # when the raw count first differed from `people`
    _direction: int = 0
    _extreme: int = 0  # least count seen while rising, most while falling

    def update(self, raw: int, t: float) -> tuple[int, int] | None:
        """Feed one frame's face count; returns (people, previous) when the count changes."""
        direction = (raw > self.people) - (raw < self.people)
        if direction == 0:
            self._since, self._direction = None, 0
            return None
        if direction != self._direction or self._since is None:
            self._since, self._direction, self._extreme = t, direction, raw
        elif direction > 0:
            self._extreme = min(self._extreme, raw)
        else:
            self._extreme = max(self._extreme, raw)
        wait = self.arrive_seconds if direction > 0 else self.leave_seconds
        if t - self._since + 1e-9 < wait:
            return None
        previous, self.people = self.people, self._extreme
        self._since, self._direction = None, 0
        return self.people, previous


@dataclass
class RoomMood:
    """Smoothed room mood with label hysteresis, dwell time and debounced presence."""

    smoothing_seconds: float = 3.0
    hysteresis: float = 0.15
    dwell_seconds: float = 8.0
    arrive_seconds: float = 0.5
    leave_seconds: float = 3.0
    valence: float = 0.0
    arousal: float = 0.0
    label: str = "neutral"
    probs: list[float] = field(default_factory=lambda: _neutral_probs())
    presence: Presence = field(init=False)
    _last_t: float | None = None
    _label_since: float = -math.inf
    _primed: bool = False
    _fast: list[float] = field(default_factory=lambda: _neutral_probs())
    _lead: int = NEUTRAL_INDEX  # the label leading the fast distribution
    _lead_since: float = -math.inf

    def __post_init__(self) -> None:
        self.presence = Presence(self.arrive_seconds, self.leave_seconds)

    @classmethod
    def from_config(cls, vision: object) -> RoomMood:
        """A RoomMood with the smoothing, hysteresis, dwell and presence times of `vision`."""
        return cls(
            smoothing_seconds=vision.smoothing_seconds,  # type: ignore[attr-defined]
            hysteresis=vision.hysteresis,  # type: ignore[attr-defined]
            dwell_seconds=vision.dwell_seconds,  # type: ignore[attr-defined]
            arrive_seconds=vision.arrive_seconds,  # type: ignore[attr-defined]
            leave_seconds=vision.leave_seconds,  # type: ignore[attr-defined]
        )

    def reset(self) -> None:
        """Forget the mood (the room emptied); presence is kept."""
        self.valence = self.arousal = 0.0
        self.probs = _neutral_probs()
        self.label = "neutral"
        self._label_since = -math.inf
        self._primed = False
        self._fast = _neutral_probs()
        self._lead, self._lead_since = NEUTRAL_INDEX, -math.inf

    def update(self, faces: Sequence[FaceMood], t: float) -> RoomState:
        """Feed one frame's faces at time `t` (seconds, any monotonic clock)."""
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        changed = self.presence.update(len(faces), t)
        if changed is not None and changed[0] == 0:
            self.reset()
        now = combine(faces)
        if now is not None:
            v, a, p = now
            k = 1.0 if not self._primed else alpha(dt, self.smoothing_seconds)
            self.valence += k * (v - self.valence)
            self.arousal += k * (a - self.arousal)
            self.probs = [old + k * (new - old) for old, new in zip(self.probs, p, strict=True)]
            self._track_onset(p, dt, t)
            self._primed = True
            self._update_label(t)
        return self.state(t, len(faces), changed)

    def _track_onset(self, p: Sequence[float], dt: float, t: float) -> None:
        k = 1.0 if not self._primed else alpha(dt, min(ONSET_SECONDS, self.smoothing_seconds))
        self._fast = [old + k * (new - old) for old, new in zip(self._fast, p, strict=True)]
        lead = _argmax(self._fast)
        if lead != self._lead:
            self._lead, self._lead_since = lead, t

    def _update_label(self, t: float) -> None:
        cur = LABELS.index(self.label)
        best = _argmax(self.probs)
        if best == cur:
            return
        if self.probs[best] < self.probs[cur] + self.hysteresis:
            return
        if t - self._label_since < self.dwell_seconds:
            return
        self.label = LABELS[best]
        onset = self._lead_since if self._lead == best else t
        self._label_since = max(onset, self._label_since)

    def state(self, t: float, faces: int = 0,
              changed: tuple[int, int] | None = None) -> RoomState:
        """The current reading without feeding a frame."""
        cur = LABELS.index(self.label)
        return RoomState(
            t=t, faces=faces, people=self.presence.people,
            valence=_clip(self.valence), arousal=_clip(self.arousal), mood=self.label,
            confidence=float(round(self.probs[cur], 4)),
            stable=(t - self._label_since) >= self.dwell_seconds,
            probs=tuple(float(x) for x in self.probs), presence_changed=changed,
        )


def instant(faces: Sequence[FaceMood], t: float = 0.0) -> RoomState:
    """An unsmoothed reading of one frame (a single photo): people = faces found."""
    now = combine(faces)
    if now is None:
        return RoomState(t=t, faces=0, people=0, valence=0.0, arousal=0.0, mood="neutral",
                         confidence=0.0, stable=True, probs=tuple(_neutral_probs()))
    v, a, p = now
    best = _argmax(p)
    return RoomState(t=t, faces=len(faces), people=len(faces), valence=_clip(v),
                     arousal=_clip(a), mood=LABELS[best], confidence=float(round(p[best], 4)),
                     stable=True, probs=tuple(float(x) for x in p))


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _neutral_probs() -> list[float]:
    p = [0.0] * len(LABELS)
    p[NEUTRAL_INDEX] = 1.0
    return p


def _clip(x: float) -> float:
    return float(round(max(-1.0, min(1.0, x)), 4))


__all__ = ["MOOD_AROUSAL", "MOOD_VALENCE", "FaceMood", "Presence", "RoomMood", "RoomState",
           "alpha", "combine", "face_weight", "instant"]
