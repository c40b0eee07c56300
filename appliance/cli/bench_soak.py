"""`mooddj bench soak`: the whole simulator with a scaled clock; RSS, fds, tasks over time."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from appliance.bench.soak import Soak, SoakError
from appliance.bench.soak_report import summary
from appliance.cli.locations import fail


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj bench soak`."""
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="how long to drive the box after setup (default 10)")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="Spotify stand-in clock factor: tracks end this much sooner "
                             "(default 20)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between samples of the box process (default 5)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds left out of the growth figures (default: 20%% of the "
                             "run, at most 120)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp state dir (database, logs) and print where it is")


def run(args: argparse.Namespace) -> int:
    """Run the soak and print the table and the summary (or JSON)."""

    if args.minutes <= 0 or args.speed <= 0 or args.interval <= 0:
        return fail("--minutes, --speed and --interval must be above 0")
    total = args.minutes * 60.0
    warmup = args.warmup if args.warmup is not None else min(120.0, 0.2 * total)
    out = sys.stderr if args.json else sys.stdout
    soak = Soak(minutes=args.minutes, speed=args.speed, interval=args.interval,
                warmup=warmup, keep=args.keep, out=out)
    try:
        result = asyncio.run(soak.run())
    except SoakError as err:
        return fail(str(err), 3)
    except KeyboardInterrupt:
        return fail("soak interrupted", 3)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(summary(result), flush=True)
    if args.keep:
        print(f"state and logs kept in {result.state_dir}", file=out)
    return 0 if result.figures().get("pass") else 1
