"""The Face record the tracker hands to the rest of the vision pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.vision.roi import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, Roi


@dataclass(slots=True)
class Face:
    """One tracked face in one frame; coordinates are frame pixels.

    box: (x, y, w, h) of the landmarks' bounding box, clipped to the frame.
    score: the detector's score from the detection that found (or last confirmed) the face.
    landmarks: 468x3 float32 face mesh; x, y in frame pixels, z relative depth in the same
        pixel units (negative is towards the camera).
    presence: face mesh presence probability of this frame (0..1).
    track_id: stable id while the face is tracked.
    roi: the rotated square the mesh was run on.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    presence: float
    track_id: int
    roi: Roi

    def keypoint(self, i: int) -> np.ndarray:
        """Landmark i as (x, y) in frame pixels."""
        return self.landmarks[i, :2]

    def inter_ocular(self) -> float:
        """Distance in pixels between the eyes' outer corners (landmarks 33 and 263)."""
        d = self.landmarks[LEFT_EYE_OUTER, :2] - self.landmarks[RIGHT_EYE_OUTER, :2]
        return float(np.hypot(d[0], d[1]))

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the box in pixels."""
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0
