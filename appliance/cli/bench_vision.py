"""`mooddj bench vision`: per-stage and per-frame timings of the mood pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from appliance.bench.compare import compare
from appliance.bench.vision import (
    DEFAULT_MEDIA,
    lag_baseline,
    pipeline_bench,
    repeated,
    report,
    service_run,
)
from appliance.cli.locations import fail, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj bench vision`."""
    parser.add_argument("path", nargs="?", metavar="PATH",
                        help="recording to run (default tests/media/single_face.mp4); with "
                             "--distance, the folder of test media (default tests/media)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--frames", type=int, default=300, metavar="N",
                        help="frames to process (the recording loops; default 300)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, metavar="S",
                        help="seconds of the idle-room CPU and loop-lag runs (0 skips them)")
    parser.add_argument("--size", metavar="WxH",
                        help="fit each frame into WxH (keeping its aspect, padded), e.g. 640x480")
    parser.add_argument("--empty", metavar="PATH",
                        help="empty-room recording for the idle run (default no_face.mp4)")
    parser.add_argument("--distance", action="store_true",
                        help="the distance ladder instead: real faces shrunk to 20-64 px wide "
                             "in a 640-px view (and 14-16 px, the wide module's rows), found / "
                             "false / agreement / valence error / cost")
    parser.add_argument("--peer", choices=("fer",), metavar="NAME",
                        help="with --distance: also run fer with MTCNN on the same frames "
                             "(installed into its own venv under .cache/ on first use)")
    parser.add_argument("--repeat", type=int, default=1, metavar="R",
                        help="run the pipeline figures R times and report their spread "
                             "(the last run's details are shown; default 1)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks and print the figures."""
    import asyncio

    from appliance.vision.models import ModelError
    from appliance.vision.pipeline import Pipeline
    from appliance.vision.sources import CameraError

    cfg = load_config(args)
    if args.distance:
        return distance(cfg, args)
    path = Path(args.path) if args.path else DEFAULT_MEDIA / "single_face.mp4"
    empty = Path(args.empty) if args.empty else DEFAULT_MEDIA / "no_face.mp4"
    if args.frames < 1:
        return fail("--frames must be at least 1")
    if args.repeat < 1:
        return fail("--repeat must be at least 1")
    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
            size = (w, h)
        except ValueError:
            return fail(f"--size {args.size!r} is not WxH, e.g. 640x480")
    try:
        runs = []
        for _ in range(args.repeat):
            pipe = Pipeline(cfg.vision, cfg.paths.models)
            runs.append(pipeline_bench(pipe, path, args.frames, size))
        out = runs[-1]
        if args.repeat > 1:
            out["repeat"] = repeated(runs)
        out["compare"] = compare(cfg.vision, cfg.paths.models, path, args.frames)
        if args.idle_seconds > 0:
            out["idle"] = asyncio.run(service_run(cfg, empty, args.idle_seconds,
                                                   realtime=False, probe_lag=False))
            out["idle"]["idle_fps"] = cfg.vision.idle_fps
            before = dataclasses.replace(cfg, vision=dataclasses.replace(
                cfg.vision, tile_detector="off", still_seconds=0.0))
            out["idle_before"] = asyncio.run(service_run(before, empty, args.idle_seconds,
                                                         realtime=False, probe_lag=False,
                                                         main=False))
            out["event_loop"] = asyncio.run(service_run(cfg, path, args.idle_seconds,
                                                         realtime=True, probe_lag=True))
            out["event_loop"]["active_fps"] = cfg.vision.active_fps
            out["event_loop"]["baseline_max_lag_ms"] = asyncio.run(
                lag_baseline(args.idle_seconds))
    except (ModelError, CameraError) as err:
        return fail(str(err).splitlines()[0])
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(report(out))
    return 0


def distance(cfg: Any, args: argparse.Namespace) -> int:
    """`--distance`: the ladder (and the peer), printed."""
    from appliance.bench import distance as ladder
    from appliance.vision.models import ModelError

    media = Path(args.path) if args.path else DEFAULT_MEDIA
    try:
        out = ladder.run_ladder(cfg, media, peer=args.peer)
    except (ModelError, ladder.LadderError) as err:
        return fail(str(err).splitlines()[0])
    print(json.dumps(out, indent=2) if args.json else ladder.report(out))
    return 0
