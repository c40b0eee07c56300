"""Per-mood music targets (valence, energy, tempo), editable and kept in settings.

The setting `mood_targets` holds JSON `{"happy": {"valence": .., "energy": .., "tempo": ..}}`;
moods it leaves out use the defaults. A room `MoodReading` nudges its label's
target towards the measured valence/arousal, so a mildly happy room gets
milder music than an exuberant one.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from appliance.core.bus import MOODS, MoodReading
from appliance.core.settings import Key, Settings, SettingsTx

logger = logging.getLogger(__name__)

TEMPO_MIN, TEMPO_MAX = 40.0, 220.0


@dataclass(frozen=True)
class MoodTarget:
    """Where a mood's music sits: valence and energy in 0..1, tempo in BPM."""

    valence: float
    energy: float
    tempo: float

    def as_list(self) -> list[float]:
        return [self.valence, self.energy, self.tempo]


DEFAULT_TARGETS: dict[str, MoodTarget] = {
    "happy": MoodTarget(0.85, 0.75, 125.0),
    "sad": MoodTarget(0.2, 0.3, 80.0),
    "angry": MoodTarget(0.3, 0.85, 140.0),
    "neutral": MoodTarget(0.5, 0.5, 105.0),
    "surprised": MoodTarget(0.7, 0.8, 130.0),
}

# Words for a Spotify search when no cached features fit a mood.
MOOD_WORDS: dict[str, str] = {
    "happy": "happy upbeat feel good",
    "sad": "sad mellow acoustic",
    "angry": "angry intense rock",
    "neutral": "chill relaxed",
    "surprised": "energetic party",
}


def validate_targets(data: Any) -> dict[str, MoodTarget]:
    """Targets from JSON-like data; raises ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("mood targets must be an object of mood -> {valence, energy, tempo}")
    out: dict[str, MoodTarget] = {}
    for mood, values in data.items():
        if mood not in MOODS:
            raise ValueError(f"unknown mood {str(mood)[:20]!r}; moods are {', '.join(MOODS)}")
        if not isinstance(values, dict):
            raise ValueError(f"{mood}: expected {{valence, energy, tempo}}")
        nums: dict[str, float] = {}
        for key, lo, hi in (("valence", 0.0, 1.0), ("energy", 0.0, 1.0),
                            ("tempo", TEMPO_MIN, TEMPO_MAX)):
            v = values.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{mood}.{key} must be a number")
            if not lo <= v <= hi:
                raise ValueError(f"{mood}.{key} must be between {lo:g} and {hi:g}")
            nums[key] = float(v)
        out[mood] = MoodTarget(**nums)
    return out


def parse_targets(raw: str | None) -> dict[str, MoodTarget]:
    """All five targets from the stored JSON; a damaged setting falls back to defaults."""
    targets = dict(DEFAULT_TARGETS)
    if not raw:
        return targets
    try:
        targets.update(validate_targets(json.loads(raw)))
    except (ValueError, TypeError) as err:
        logger.warning("setting mood_targets is unusable (%s); using the default mood targets",
                       err)
    return targets


def dump_targets(targets: dict[str, MoodTarget]) -> str:
    """JSON for the `mood_targets` setting."""
    return json.dumps({m: asdict(t) for m, t in targets.items()}, sort_keys=True)


# The five targets; unset or damaged: the defaults.
MOOD_TARGETS: Key[dict[str, MoodTarget]] = Key(
    "mood_targets", DEFAULT_TARGETS, parse_targets, dump_targets)


async def load_targets(settings: Settings) -> dict[str, MoodTarget]:
    """The five targets (defaults where unset); cached, never read on the event loop."""
    targets: dict[str, MoodTarget] = await settings.get(MOOD_TARGETS)
    return dict(targets)


async def save_targets(settings: Settings, changes: dict[str, MoodTarget]
                       ) -> dict[str, MoodTarget]:
    """Merge `changes` into the stored targets in one transaction; returns all five."""
    def merge(tx: SettingsTx) -> dict[str, MoodTarget]:
        stored: dict[str, MoodTarget] = tx.get(MOOD_TARGETS)
        targets = {**stored, **changes}
        tx.set(MOOD_TARGETS, targets)
        return targets
    return await settings.change(merge)


def _unit(x: float) -> float:
    """A circumplex value in -1..1 mapped to 0..1."""
    return min(1.0, max(0.0, (x + 1.0) / 2.0))


def target_for_reading(reading: MoodReading, targets: dict[str, MoodTarget],
                       nudge: float = 0.25) -> MoodTarget:
    """The label's target moved `nudge` of the way to the room's valence/arousal (-1..1)."""
    base = targets.get(reading.mood, DEFAULT_TARGETS["neutral"])
    if not (math.isfinite(reading.valence) and math.isfinite(reading.arousal)):
        return base
    w = nudge * min(1.0, max(0.0, reading.confidence))
    valence = (1 - w) * base.valence + w * _unit(reading.valence)
    energy = (1 - w) * base.energy + w * _unit(reading.arousal)
    tempo = base.tempo + w * (energy - base.energy) * 100.0
    return MoodTarget(round(valence, 4), round(energy, 4),
                      round(min(TEMPO_MAX, max(TEMPO_MIN, tempo)), 2))
