"""Faces that never move: a poster or a photo on the wall is not a person in the room.

A person's head moves. Measured at 5 frames per second on the landmarks' centroid
(3-frame median), over 8-10 s: the real recordings span 9-51% of the inter-ocular
distance (IOD), the least a person sitting still facing the camera (single_face.mp4,
also when 26 px wide in small_faces.mp4); printed faces shot with fresh sensor noise
and JPEG every frame (the distance ladder's camera model), 25-84 px wide, span 0.2-0.7%,
a few faces of the group photo up to 6-25% (half-turned faces whose mesh wanders;
those stay counted). A track that stays within STILL_RANGE IODs for `seconds` is
taken for a picture until it moves again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

STILL_RANGE = 0.03  # IODs: 4x the usual printed face, a third of the stillest person


@dataclass
class Stillness:
    """Per-track history of face centres (in IODs) over a sliding window."""

    seconds: float = 10.0
    _tracks: dict[int, deque[tuple[float, float, float, float]]] = field(default_factory=dict)

    def update(self, track_id: int, t: float, cx: float, cy: float, iod: float) -> bool:
        """Record one frame of a track; True when it has been still for the whole window."""
        if self.seconds <= 0 or iod <= 0:
            return False
        hist = self._tracks.setdefault(track_id, deque())
        hist.append((t, cx, cy, iod))
        while hist and t - hist[0][0] > self.seconds:
            hist.popleft()
        if len(hist) < 5 or t - hist[0][0] < self.seconds * 0.95:
            return False
        xs, ys = _median3([p[1] for p in hist]), _median3([p[2] for p in hist])
        scale = sorted(p[3] for p in hist)[len(hist) // 2]
        return max(max(xs) - min(xs), max(ys) - min(ys)) < STILL_RANGE * scale

    def keep(self, track_ids: set[int]) -> None:
        """Forget tracks that are gone."""
        for k in [k for k in self._tracks if k not in track_ids]:
            del self._tracks[k]

    def reset(self) -> None:
        """Forget every track."""
        self._tracks.clear()


def _median3(v: list[float]) -> list[float]:
    """Each value replaced by the median of it and its neighbours (drops one-frame jitter)."""
    if len(v) < 3:
        return v
    return [sorted(v[i - 1:i + 2])[1] for i in range(1, len(v) - 1)]
