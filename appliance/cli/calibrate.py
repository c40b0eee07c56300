"""`mooddj calibrate`: record a neutral face and save it as the geometric baseline."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from appliance.cli.locations import fail, load_config

MIN_SAMPLES = 5


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj calibrate`."""
    parser.add_argument("--seconds", type=float, default=5.0, metavar="N",
                        help="how long to record the neutral face (default 5)")
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="use a recording or image of the neutral face instead of the camera")
    parser.add_argument("--out", metavar="FILE",
                        help="where to save (default: vision.calibration_file, else "
                             "<state_dir>/calibration.json)")


def run(args: argparse.Namespace) -> int:
    """Record, average and save the baseline; print where it went."""
    from appliance.vision import geometry
    from appliance.vision.models import ModelError
    from appliance.vision.pipeline import Pipeline
    from appliance.vision.sources import CameraError, SourceEnded, create_source
    from appliance.vision.sources.base import FrameSource
    from appliance.vision.sources.replay import ReplaySource

    cfg = load_config(args)
    if args.seconds <= 0:
        return fail("--seconds must be more than 0")
    out = Path(args.out) if args.out else geometry.calibration_path(
        cfg.vision.calibration_file, cfg.paths.state)
    try:
        # The raw cues are measured, so the pipeline runs without any baseline.
        pipe = Pipeline(cfg.vision, cfg.paths.models, baseline=geometry.DEFAULT_BASELINE)
        if args.source:
            src: FrameSource = ReplaySource(args.source, loop=False, realtime=False)
        else:
            src = create_source(cfg.camera)
        print("Look at the camera with a relaxed, neutral face..." if not args.source
              else f"Reading the neutral face from {args.source}...")
        samples: list[geometry.Cues] = []
        src.open()
        try:
            start = None
            while True:
                try:
                    frame = src.read()
                except SourceEnded:
                    break
                start = frame.t if start is None else start
                if frame.t - start > args.seconds:
                    break
                faces = pipe.faces(frame.rgb, frame.main)
                if len(faces) == 1:
                    samples.append(geometry.raw_cues(faces[0].landmarks))
                if not args.source:
                    time.sleep(0.05)
        finally:
            src.close()
    except (ModelError, CameraError) as err:
        return fail(str(err).splitlines()[0])
    if len(samples) < MIN_SAMPLES:
        return fail(f"saw exactly one face in only {len(samples)} frame(s); sit alone in front "
                    f"of the camera, well lit, and run mooddj calibrate again")
    baseline = geometry.average(samples)
    try:
        geometry.save_baseline(out, baseline, len(samples))
    except OSError as err:
        return fail(f"cannot write {out} ({err.strerror}); pass --out FILE somewhere writable")
    print(f"Saved the neutral-face baseline from {len(samples)} frames to {out}")
    if args.out and out != geometry.calibration_path(cfg.vision.calibration_file,
                                                     cfg.paths.state):
        print(f"Set vision.calibration_file = \"{out}\" in the config to use it.")
    return 0
