"""Runs inside the fer peer's own venv (never the box's): fer + MTCNN on image files.

Reads a JSON list of image paths on stdin; prints one JSON list of results, each a
list of faces {"box": [x, y, w, h], "emotions": {name: p}}. Imports nothing of appliance.
"""

import json
import sys
import time

import cv2
from fer.fer import FER


def main() -> None:
    import torch

    torch.set_num_threads(1)
    paths = json.load(sys.stdin)
    detector = FER(mtcnn=True)
    out = []
    for p in paths:
        bgr = cv2.imread(p)
        if bgr is None:
            raise SystemExit(f"cannot read {p}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        faces = detector.detect_emotions(rgb)
        ms = (time.perf_counter() - t0) * 1e3
        out.append({"ms": ms, "faces": [{"box": [float(v) for v in f["box"]],
                                         "emotions": {k: float(v) for k, v in
                                                      f["emotions"].items()}}
                                        for f in faces]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
