"""`mooddj bench`: benchmarks that print figures (never timed assertions in tests)."""

from __future__ import annotations

import argparse
import importlib

# name -> (module providing configure(parser) and run(args), help)
BENCHES: dict[str, tuple[str, str]] = {
    "vision": ("appliance.cli.bench_vision", "per-stage and per-frame timings of the mood loop"),
    "player": ("appliance.cli.bench_player",
               "a simulated hour: API calls, mood change to queue latency; ranking speed"),
    "soak": ("appliance.cli.bench_soak", "run the simulator with a scaled clock; RSS, fds, tasks"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (module, help_text) in BENCHES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_bench_module=module)
        try:
            importlib.import_module(module).configure(p)
        except ImportError as err:
            p.set_defaults(_bench_error=str(err))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "_bench_error", None):
        print(f"mooddj bench {args.bench}: unavailable: {args._bench_error}")
        return 1
    return int(importlib.import_module(args._bench_module).run(args) or 0)
