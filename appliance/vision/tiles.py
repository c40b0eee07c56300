"""Face detection on a whole view plus rotating tiles of the high-resolution frame.

BlazeFace sees a 192x192 (or 128x128) letterboxed image, so on the whole view a face
under ~50 px of a 640-px-wide view shrinks below the ~15 px the model needs. Tiles a
fifth of the view wide (128 px of a 640-px view), cut from the camera's high-resolution
frame, give a 20-px face 20 px of the tile detector's 128-px input. A pass runs the
whole-view detector and a few tiles, the next pass the next few: tracking carries the
faces found between passes, so a sweep of every tile costs a few frames' time, not one
frame's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from appliance.vision.detector import Detection, FaceDetector
from appliance.vision.roi import iou

# Tile side as a share of the view's width, for a 128-px detector input and faces of
# SMALLEST_FACE px in a 640-px view: one view pixel per input pixel. short_range's
# smallest anchor is 19 px of its input; at quarter-view tiles a 20-px face was 16 px
# there and scored 0.46-0.58 against its 0.5 threshold (one in 25 of the ladder's faces
# lost), at fifth-view tiles every one scores >= 0.86. Smaller faces take smaller tiles
# in proportion (14 px: 90-px tiles, every ladder face >= 0.71; at 128-px tiles 0.30).
TILE_FRACTION = 0.2
SMALLEST_FACE = 20
TILE_OVERLAP = 0.25  # share of a tile shared with its neighbour (a face on a seam is whole in one)
DEDUPE_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Tile:
    """A square (or edge-clipped) region of the view, in view pixels."""

    x: float
    y: float
    w: float
    h: float


def tile_grid(view_w: int, view_h: int, side: float, overlap: float = TILE_OVERLAP) -> list[Tile]:
    """Tiles of `side` view pixels covering the view, neighbours overlapping by `overlap`."""
    def starts(n: int) -> list[float]:
        if side >= n:
            return [0.0]
        k = math.ceil((n - side) / (side * (1.0 - overlap))) + 1
        step = (n - side) / (k - 1)
        return [i * step for i in range(k)]

    w, h = min(side, view_w), min(side, view_h)
    return [Tile(x, y, w, h) for y in starts(view_h) for x in starts(view_w)]


class TiledDetector:
    """The whole-view detector plus rotating tiles of the high-resolution frame.

    Detections come back in view pixels whichever image they were found in.
    """

    def __init__(self, whole: FaceDetector, tiler: FaceDetector | None, *,
                 tiles_per_pass: int = 3, tile_fraction: float | None = None,
                 smallest_face: int = SMALLEST_FACE) -> None:
        self.whole = whole
        self.tiler = tiler
        self.tiles_per_pass = max(0, int(tiles_per_pass))
        # A larger detector input takes a proportionally larger tile at the same face size.
        size = tiler.size if tiler is not None else 128
        self.tile_fraction = tile_fraction if tile_fraction is not None else min(
            1.0, TILE_FRACTION * size / 128 * smallest_face / SMALLEST_FACE)
        self._grid: list[Tile] = []
        self._grid_key: tuple[int, int] = (0, 0)
        self._next = 0
        self.tile_runs = 0
        self.last_tiles = 0  # tiles searched by the last detect()

    def tiles(self, view_w: int, view_h: int) -> list[Tile]:
        """The tile grid of a view of this size (cached; rotation restarts when it changes)."""
        if self._grid_key != (view_w, view_h):
            self._grid = tile_grid(view_w, view_h, view_w * self.tile_fraction)
            self._grid_key = (view_w, view_h)
            self._next = 0
        return self._grid

    def tile_count(self, view_w: int, view_h: int) -> int:
        """Tiles in a full sweep of a view of this size (0 without a tile detector)."""
        return len(self.tiles(view_w, view_h)) if self.tiler is not None else 0

    def detect(self, view: np.ndarray, main: np.ndarray | None = None, max_faces: int = 4,
               *, sweep: bool = False, whole: bool = True, count: int | None = None,
               ) -> list[Detection]:
        """Faces in the view (best first): the whole view (unless not `whole`) and the next
        `count` tiles (default tiles_per_pass; every tile with `sweep`)."""
        found = list(self.whole.detect(view, max_faces)) if whole else []
        self.last_tiles = 0
        if self.tiler is not None and self.tiles_per_pass:
            h, w = view.shape[:2]
            src = main if main is not None else view
            s = src.shape[1] / w
            grid = self.tiles(w, h)
            n = self.tiles_per_pass if count is None else count
            count = len(grid) if sweep else min(n, len(grid))
            self.last_tiles = count
            for _ in range(count):
                t = grid[self._next % len(grid)]
                self._next = (self._next + 1) % len(grid)
                found.extend(self._tile(src, t, s, max_faces))
        found.sort(key=lambda d: -d.score)
        kept: list[Detection] = []
        for d in found:
            if all(iou(d.box, k.box) <= DEDUPE_IOU for k in kept):
                kept.append(d)
        return kept[:max_faces]

    def _tile(self, src: np.ndarray, t: Tile, s: float, max_faces: int) -> list[Detection]:
        assert self.tiler is not None
        x0, y0 = round(t.x * s), round(t.y * s)
        x1 = min(src.shape[1], round((t.x + t.w) * s))
        y1 = min(src.shape[0], round((t.y + t.h) * s))
        self.tile_runs += 1
        out = []
        for d in self.tiler.detect(src[y0:y1, x0:x1], max_faces):
            bx, by, bw, bh = d.box
            out.append(Detection(((bx + x0) / s, (by + y0) / s, bw / s, bh / s), d.score,
                                 ((d.keypoints + np.array([x0, y0])) / s).astype(np.float32)))
        return out
