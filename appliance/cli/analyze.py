"""`mooddj analyze PATH`: the box's mood pipeline on an image, a folder of images or a video."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.cli.locations import fail, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj analyze`."""
    parser.add_argument("path", metavar="PATH", help="image, folder of images, or video")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--annotate", metavar="OUT",
                        help="write a copy with boxes, landmarks and moods drawn (image, "
                             "video, or a folder for a folder)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="video: process every Nth frame (default 1)")


def run(args: argparse.Namespace) -> int:
    """Analyze PATH and print the result."""
    from appliance.vision import analyze
    from appliance.vision.geometry import calibration_path
    from appliance.vision.models import ModelError
    from appliance.vision.sources import CameraError

    cfg = load_config(args)
    path = Path(args.path)
    if not path.exists():
        return fail(f"{path} does not exist; give an image, a folder of images or a video")
    if args.every < 1:
        return fail("--every must be at least 1")
    try:
        from appliance.vision.pipeline import Pipeline

        pipe = Pipeline(cfg.vision, cfg.paths.models, calibration_path=calibration_path(
            cfg.vision.calibration_file, cfg.paths.state))
        out = analyze.analyze(pipe, path, every=args.every,
                              annotate=Path(args.annotate) if args.annotate else None)
    except (ModelError, CameraError) as err:
        return fail(str(err).splitlines()[0])
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        print(table(out))
    return 0


def table(out: dict[str, Any]) -> str:
    """A readable summary of an analysis."""
    if "images" in out:
        return "\n\n".join(table(o) for o in out["images"]) or f"{out['source']}: no images"
    lines = [f"{out['source']}: {len(out['faces'])} face(s)"]
    if out["faces"]:
        lines.append(f"  {'#':>2}  {'box (x, y, w, h)':<22} {'score':>5}  {'mood':<9} "
                     f"{'conf':>4}  {'val':>5}  {'aro':>5}  top emotions")
    for i, f in enumerate(out["faces"], 1):
        top = sorted(f["emotions"].items(), key=lambda kv: -kv[1])[:2]
        box = "(" + ", ".join(str(v) for v in f["box"]) + ")"
        lines.append(f"  {i:>2}  {box:<22} {f['score']:>5.2f}  {f['mood']:<9} "
                     f"{f['confidence']:>4.2f}  {f['valence']:>+5.2f}  {f['arousal']:>+5.2f}  "
                     + ", ".join(f"{k} {v:.2f}" for k, v in top))
    r = out["room"]
    lines.append(f"  room: {r['people']} people, mood {r['mood']}, "
                 f"valence {r['valence']:+.2f}, arousal {r['arousal']:+.2f}")
    timeline = out.get("timeline")
    if timeline:
        lines.append(f"  timeline ({len(timeline)} frames, every ~0.5 s shown):")
        lines.append(f"    {'t (s)':>6}  {'people':>6}  {'mood':<9} {'val':>5}  {'aro':>5}")
        last = -1.0
        for e in timeline:
            if e["t"] - last >= 0.5 or e is timeline[-1]:
                lines.append(f"    {e['t']:>6.2f}  {e['people']:>6}  {e['mood']:<9} "
                             f"{e['valence']:>+5.2f}  {e['arousal']:>+5.2f}")
                last = e["t"]
    return "\n".join(lines)
