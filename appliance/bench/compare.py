"""Today's pipeline and this one side by side on the same frames, in one run.

"before" is the pipeline as it was before issue 12: BlazeFace on the whole view only,
crops from the view, the single-person neutral baseline. "now" is the configured one
with the camera's main frame; "now_hires" is the same fed the Pi's high-resolution
mode (Camera Module 3: view 640x360, main 2304x1296, the recording scaled up into
it). The three run frame by frame interleaved, so a busy machine slows all alike and
the ratios stay honest.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

PI_MAIN = (2304, 1296)  # Camera Module 3's binned full-view mode (sources.picamera2)
PI_VIEW = (640, 360)
VIEW_SIDE = 640


def before_pipeline(vision: Any, models_dir: Path) -> Any:
    """The mood pipeline as it was before issue 12 (whole-view detection, view crops)."""
    from appliance.vision import geometry
    from appliance.vision.pipeline import Pipeline

    old = dataclasses.replace(vision, tile_detector="off", still_seconds=0.0)
    return Pipeline(old, models_dir, baseline=geometry.SINGLE_PERSON_BASELINE)


def _fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if size[0] < rgb.shape[1]
                      else cv2.INTER_LINEAR)


def _view_of(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= VIEW_SIDE:
        return rgb
    s = VIEW_SIDE / max(h, w)
    return _fit(rgb, (round(w * s), round(h * s)))


def inputs(mode: str, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(view, main) that a mode's pipeline is fed for one recorded frame."""
    if mode == "before":
        return _view_of(rgb), None
    if mode == "now":
        view = _view_of(rgb)
        return view, (rgb if rgb.shape[1] > view.shape[1] else None)
    return _fit(rgb, PI_VIEW), _fit(rgb, PI_MAIN)


def compare(vision: Any, models_dir: Path, path: Path, frames: int) -> dict[str, Any]:
    """Per-frame and model times of before / now / now_hires on the same frames."""
    from appliance.bench.vision import WARMUP_FRAMES, _stats, frames_of
    from appliance.vision.pipeline import Pipeline

    pipes = {"before": before_pipeline(vision, models_dir),
             "now": Pipeline(vision, models_dir),
             "now_hires": Pipeline(vision, models_dir)}
    per_frame: dict[str, list[float]] = {k: [] for k in pipes}
    models: dict[str, dict[str, list[float]]] = {k: {} for k in pipes}
    faces: dict[str, list[int]] = {k: [] for k in pipes}
    src = frames_of(path)
    try:
        for i in range(WARMUP_FRAMES + frames):
            rgb, t = next(src)
            for mode, pipe in pipes.items():
                view, main = inputs(mode, rgb)
                for m in pipe.models.values():
                    m.invoke_ms.clear()
                t0 = time.perf_counter()
                result = pipe.process(view, t, main)
                ms = (time.perf_counter() - t0) * 1e3
                if i < WARMUP_FRAMES:
                    continue
                per_frame[mode].append(ms)
                faces[mode].append(len(result.faces))
                for name, m in pipe.models.items():
                    models[mode].setdefault(name, []).append(sum(m.invoke_ms))
    finally:
        src.close()
    out: dict[str, Any] = {"source": str(path), "frames": frames}
    for mode in pipes:
        pf = _stats(per_frame[mode])
        share = {n: round(float(np.sum(v)) / max(1e-9, float(np.sum(per_frame[mode]))), 3)
                 for n, v in models[mode].items()}
        out[mode] = {"per_frame_ms": pf, "models_share": share,
                     "models_share_total": round(sum(share.values()), 3),
                     "faces_median": float(np.median(faces[mode])) if faces[mode] else 0.0}
    base = out["before"]["per_frame_ms"]["median"] or 1e-9
    out["ratio_now"] = round(out["now"]["per_frame_ms"]["median"] / base, 3)
    out["ratio_now_hires"] = round(out["now_hires"]["per_frame_ms"]["median"] / base, 3)
    return out


def report(out: dict[str, Any]) -> list[str]:
    """Readable lines of a comparison."""
    lines = [f"  side by side on the same {out['frames']} frames (target: now <= 1.6x before):"]
    for mode in ("before", "now", "now_hires"):
        o = out[mode]
        pf = o["per_frame_ms"]
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in o["models_share"].items())
        lines.append(f"    {mode:<10} median {pf['median']:6.2f} ms  p95 {pf['p95']:6.2f} ms  "
                     f"faces {o['faces_median']:.0f}; models {100 * o['models_share_total']:.0f}%"
                     f" of the time ({shares})")
    lines.append(f"    ratio now / before {out['ratio_now']}x; at the Pi's 2304x1296 main "
                 f"{out['ratio_now_hires']}x")
    return lines
