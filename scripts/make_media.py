"""Build the derived test recordings of scripts/test-media.toml [derived.*] (OpenCV + numpy).

A derived recording is made from fetched real recordings by a recipe in the manifest:
each layer is a recording scaled by `scale` and placed with its centre at `at` (shares
of the canvas) on a background frame, so its faces come out as small as a living room's
at 3-4 m. The encoder's bytes vary between OpenCV builds, so a derived file is checked
by the recipe it was made from (a .recipe.json beside it), not by a SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path


def recipe_path(target: Path) -> Path:
    """Where the recipe a derived file was made from is kept."""
    return target.with_name(target.name + ".recipe.json")


def is_current(target: Path, entry: dict) -> bool:
    """True when target exists and was made from this very recipe."""
    try:
        return target.is_file() and json.loads(recipe_path(target).read_text()) == entry
    except (OSError, ValueError):
        return False


def build(entry: dict, media: Path, target: Path) -> None:
    """Render one derived recording into target (atomically), then record its recipe."""
    import cv2
    import numpy as np

    width, height = entry["size"]
    fps = float(entry["fps"])
    frames = round(float(entry["seconds"]) * fps)
    bg_cap = cv2.VideoCapture(str(media / entry["background"]))
    ok, bg = bg_cap.read()
    bg_cap.release()
    if not ok:
        raise RuntimeError(f"cannot read {entry['background']} in {media}")
    bg = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)
    layers = []
    for layer in entry["layers"]:
        cap = cv2.VideoCapture(str(media / layer["source"]))
        if not cap.isOpened():
            raise RuntimeError(f"cannot open {layer['source']} in {media}")
        layers.append((cap, float(cap.get(cv2.CAP_PROP_FPS)) or fps, layer))
    tmp = target.with_name("." + target.name + ".tmp.mp4")
    out = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not out.isOpened():
        raise RuntimeError(f"cannot write {tmp}")
    rng = np.random.default_rng(int(entry.get("seed", 1)))
    try:
        for i in range(frames):
            canvas = bg.copy()
            for cap, src_fps, layer in layers:
                cap.set(cv2.CAP_PROP_POS_FRAMES, round(i / fps * src_fps) % int(
                    cap.get(cv2.CAP_PROP_FRAME_COUNT)))
                ok, img = cap.read()
                if not ok:
                    raise RuntimeError(f"{layer['source']} stopped at frame {i}")
                s = float(layer["scale"])
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                h, w = img.shape[:2]
                x0 = round(layer["at"][0] * width - w / 2)
                y0 = round(layer["at"][1] * height - h / 2)
                canvas[y0:y0 + h, x0:x0 + w] = img
            noise = rng.normal(0.0, float(entry.get("noise", 2.0)), canvas.shape)
            out.write(np.clip(canvas + noise, 0, 255).astype(np.uint8))
    finally:
        out.release()
        for cap, _, _ in layers:
            cap.release()
    tmp.replace(target)
    recipe_path(target).write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
