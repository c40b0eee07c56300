"""`mooddj bench player`: mood change to speaker latency, ranking speed."""

from __future__ import annotations

import argparse
import asyncio
import json

from appliance.bench.player import bench_live, bench_ranking


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rounds", type=int, default=5, help="mood changes / empty rooms timed")
    parser.add_argument("--dwell", type=float, default=1.0, help="dwell time (s) for the bench")
    parser.add_argument("--fade", type=float, default=3.0,
                        help="fade length (s; the box's default is 3)")
    parser.add_argument("--tracks", type=int, default=10_000, help="cached tracks to rank")


def run(args: argparse.Namespace) -> int:
    """Run the player benchmark and print the figures."""
    ranking = bench_ranking(args.tracks)
    live = asyncio.run(bench_live(args.rounds, args.dwell, args.fade))
    result = {"ranking_ms": ranking, "ranking_tracks": args.tracks, "target_ranking_ms": 20.0,
              **live}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m, p = live["mood_change_to_queue_s"], live["empty_timeout_to_pause_s"]
    print(f"ranking {args.tracks} cached tracks: median {ranking['median']:.2f} ms, "
          f"p95 {ranking['p95']:.2f} ms (target <= 20 ms)")
    print(f"sustained mood change -> queue at the speaker: median {m['median']:.2f} s, "
          f"p95 {m['p95']:.2f} s (dwell {args.dwell:g} s; target <= {args.dwell + 1:g} s)")
    print(f"empty-room timeout -> pause: median {p['median']:.2f} s, p95 {p['p95']:.2f} s "
          f"(with a {args.fade:g} s fade-out begun before the timeout; target <= 1 s)")
    print(f"Spotify API calls during the run: {live['spotify_calls']}")
    return 0
