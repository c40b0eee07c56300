"""`mooddj bench vision`: pipeline stage timings, raw model times, idle CPU, loop lag."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from appliance.bench.compare import report as compare_report
from appliance.vision import native

DEFAULT_MEDIA = Path(__file__).resolve().parents[2] / "tests" / "media"


def _stats(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {"median": 0.0, "p95": 0.0, "n": 0}
    a = np.asarray(values)
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "n": len(values)}


def fit(rgb: Any, size: tuple[int, int] | None) -> Any:
    """The frame scaled to fit `size` (w, h) keeping its aspect, centred on black."""
    if size is None:
        return rgb
    import cv2
    import numpy as np

    w, h = size
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    nw, nh = max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


WARMUP_FRAMES = 10  # interpreters and caches settle; not counted


def frames_of(path: Path) -> Generator[tuple[Any, float], None, None]:
    """(RGB frame, t seconds) of a recording, looping for ever.

    A video is decoded on the calling thread only: FFmpeg's own decoding threads
    would otherwise keep decoding ahead while the pipeline is being timed (a camera
    delivers frames without that). Images and folders go through ReplaySource.
    """
    import cv2

    from appliance.vision.sources import CameraError
    from appliance.vision.sources.base import to_rgb
    from appliance.vision.sources.replay import ReplaySource, is_image

    if path.is_dir() or is_image(path):
        src = ReplaySource(path, loop=True, realtime=False)
        src.open()
        try:
            while True:
                frame = src.read()
                yield frame.rgb, frame.t
        finally:
            src.close()
    t_base, n = 0.0, 0
    while True:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            fps = fps if 1.0 <= fps <= 240.0 else 25.0
            n = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield to_rgb(bgr, order="bgr"), t_base + n / fps
                n += 1
        finally:
            cap.release()
        if n == 0:
            raise CameraError(f"video {path} has no readable frames (unreadable, truncated "
                              f"or not a video)")
        t_base += n / fps


def pipeline_bench(pipe: Any, path: Path, frames: int,
                   size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Run `frames` frames through the pipeline; per-stage, per-frame and raw model times.

    `overhead_ratio` is the issue's figure: per-frame median over the sum of the raw
    model medians weighted by invokes per frame (the detector's share is amortised).
    Each frame is also paired with the model time spent inside it:
    `overhead_ratio_paired` is the median of those per-frame ratios and
    `overhead_ms_per_frame` the median of the time outside the models. Pairing makes
    them steadier on a busy machine, where a slow stretch slows both sides at once.
    """
    import resource

    src = frames_of(path)
    stages: dict[str, list[float]] = {}
    model_ms: dict[str, list[float]] = {name: [] for name in pipe.models}
    paired: list[float] = []
    outside: list[float] = []
    shape = (0, 0)
    try:
        for _ in range(WARMUP_FRAMES):
            rgb, t = next(src)
            pipe.process(fit(rgb, size), t)
        for m in pipe.models.values():
            m.invoke_ms.clear()
        runs0, wall0 = pipe.detector_runs, time.perf_counter()
        for _ in range(frames):
            rgb, t = next(src)
            rgb = fit(rgb, size)
            shape = (rgb.shape[1], rgb.shape[0])
            result = pipe.process(rgb, t)
            for k, v in result.ms.items():
                stages.setdefault(k, []).append(v)
            in_models = 0.0
            for name, m in pipe.models.items():
                model_ms[name].extend(m.invoke_ms)
                in_models += sum(m.invoke_ms)
                m.invoke_ms.clear()
            frame_ms = result.ms.get("frame", 0.0)
            outside.append(frame_ms - in_models)
            if in_models > 0:
                paired.append(frame_ms / in_models)
        wall = time.perf_counter() - wall0
        runs = pipe.detector_runs - runs0
    finally:
        src.close()
    per_frame = _stats(stages.pop("frame", []))
    models = {n: {**_stats(v), "invokes": len(v)} for n, v in model_ms.items()}
    model_work = sum(s["median"] * s["invokes"] / frames for s in models.values())
    return {
        "source": str(path), "frame_size": list(shape), "frames": frames,
        "fps": round(frames / wall, 1), "per_frame_ms": per_frame,
        "stages_ms": {k: _stats(v) for k, v in sorted(stages.items())},
        "models_ms": models, "model_ms_per_frame": round(model_work, 3),
        "overhead_ratio": round(per_frame["median"] / model_work, 3) if model_work else None,
        "overhead_ratio_paired": _stats(paired)["median"] if paired else None,
        "overhead_ms_per_frame": _stats(outside),
        "detector_runs": runs, "detector_run_ratio": round(runs / frames, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "image_ops": "compiled kernel" if native.load() is not None else "numpy fallback",
    }


def repeated(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline figures of each repeated pipeline run and their spread (min, median, max)."""
    import numpy as np

    keys = {"per_frame_median_ms": lambda r: r["per_frame_ms"]["median"],
            "per_frame_p95_ms": lambda r: r["per_frame_ms"]["p95"],
            "model_ms_per_frame": lambda r: r["model_ms_per_frame"],
            "overhead_ratio": lambda r: r["overhead_ratio"],
            "overhead_ratio_paired": lambda r: r["overhead_ratio_paired"],
            "overhead_ms_per_frame": lambda r: r["overhead_ms_per_frame"]["median"]}
    table = {k: [get(r) for r in runs] for k, get in keys.items()}
    spread = {k: {"min": min(v), "median": round(float(np.median(v)), 3), "max": max(v)}
              for k, v in table.items() if all(x is not None for x in v)}
    return {"runs": table, "spread": spread}


async def service_run(cfg: Any, path: Path, seconds: float, *, realtime: bool,
                       probe_lag: bool, main: bool = True) -> dict[str, Any]:
    """Run VisionService on a replay for `seconds`: process CPU share and event-loop lag."""
    import asyncio

    from appliance.core.bus import Bus
    from appliance.vision.loop import VisionService
    from appliance.vision.sources import main_side
    from appliance.vision.sources.replay import ReplaySource

    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    side = max(cfg.camera.width, cfg.camera.height)
    svc = VisionService(cfg.camera, cfg.vision, bus, None, models_dir=cfg.paths.models,
                        source_factory=lambda cam: ReplaySource(
                            path, loop=True, realtime=realtime, max_side=side,
                            main_side=main_side(cam) if main else 0))
    await svc.start()
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t0 - 0.01) * 1000)

    task = asyncio.create_task(svc.run())
    await asyncio.sleep(1.0)  # let the camera open and the first frames pass
    probe_task = asyncio.create_task(probe()) if probe_lag else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    snap = svc.snapshot()
    stop.set()
    if probe_task is not None:
        await probe_task
    await svc.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    out: dict[str, Any] = {"source": str(path), "seconds": round(wall, 2),
                           "cpu_percent_one_core": round(100 * cpu / wall, 2),
                           "frames": snap["frames"], "fps": snap["fps"]}
    if probe_lag:
        lags.sort()
        out["max_lag_ms"] = round(max(lags), 2) if lags else 0.0
        out["p99_lag_ms"] = round(lags[int(0.99 * (len(lags) - 1))], 2) if lags else 0.0
    return out


async def lag_baseline(seconds: float) -> float:
    """Max event-loop lag with no vision loop running (what the machine itself adds)."""
    import asyncio

    worst = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, (time.perf_counter() - t0 - 0.01) * 1000)
    return round(worst, 2)


def report(out: dict[str, Any]) -> str:
    """The figures as readable lines."""
    pf = out["per_frame_ms"]
    lines = [
        f"vision pipeline on {out['source']} ({out['frame_size'][0]}x{out['frame_size'][1]}, "
        f"{out['frames']} frames)",
        f"  per frame: median {pf['median']:.2f} ms, p95 {pf['p95']:.2f} ms, {out['fps']} fps",
    ]
    for k, s in out["stages_ms"].items():
        lines.append(f"  stage {k:<18} median {s['median']:7.3f} ms  p95 {s['p95']:7.3f} ms")
    for k, s in out["models_ms"].items():
        lines.append(f"  model {k:<18} median {s['median']:7.3f} ms  p95 {s['p95']:7.3f} ms  "
                     f"({s['invokes']} invokes)")
    lines.append(f"  model time per frame {out['model_ms_per_frame']:.3f} ms; "
                 f"overhead_ratio {out['overhead_ratio']}; paired per frame "
                 f"{out['overhead_ratio_paired']} (outside the models: median "
                 f"{out['overhead_ms_per_frame']['median']:.3f} ms)")
    lines.append(f"  detector runs {out['detector_runs']} ({100 * out['detector_run_ratio']:.1f}% "
                 f"of frames); peak RSS {out['peak_rss_mb']} MB; image ops: {out['image_ops']}")
    if "repeat" in out:
        rep = out["repeat"]
        n = len(rep["runs"]["overhead_ratio"])
        lines.append(f"  spread over {n} runs (min / median / max):")
        for k, sp in rep["spread"].items():
            runs = ", ".join(f"{v}" for v in rep["runs"][k])
            lines.append(f"    {k:<24} {sp['min']} / {sp['median']} / {sp['max']}  ({runs})")
    if "compare" in out:
        lines.extend(compare_report(out["compare"]))
    if "idle" in out:
        i = out["idle"]
        before = out.get("idle_before", {}).get("cpu_percent_one_core")
        lines.append(f"  idle room ({i['source']}, idle_fps {i['idle_fps']}): "
                     f"{i['cpu_percent_one_core']}% of one core over {i['seconds']} s "
                     f"(target <= 1%; before issue 12: {before}%)")
    if "event_loop" in out:
        e = out["event_loop"]
        lines.append(f"  event loop while the vision loop runs (active_fps {e['active_fps']}): "
                     f"max lag {e['max_lag_ms']} ms, p99 {e['p99_lag_ms']} ms "
                     f"(without it: max {e['baseline_max_lag_ms']} ms)")
    return "\n".join(lines)
