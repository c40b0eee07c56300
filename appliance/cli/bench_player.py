"""`mooddj bench player`: a simulated hour of the player against the stand-ins, ranking speed."""

from __future__ import annotations

import argparse
import asyncio
import json

from appliance.bench.player import bench_hour, bench_ranking


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="simulated minutes of the room script (default: an hour)")
    parser.add_argument("--tracks", type=int, default=10_000, help="cached tracks to rank")


def run(args: argparse.Namespace) -> int:
    """Run the player benchmark and print the figures."""
    ranking = bench_ranking(args.tracks)
    hour = asyncio.run(bench_hour(args.minutes))
    result = {"ranking_ms": ranking, "ranking_tracks": args.tracks, "target_ranking_ms": 20.0,
              **hour}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c, f, s, p = (hour["calls_per_minute_playing"], hour["label_change_to_queue_s"],
                  hour["scene_change_to_queue_s"], hour["empty_timeout_to_pause_s"])
    print(f"ranking {args.tracks} cached tracks: median {ranking['median']:.2f} ms, "
          f"p95 {ranking['p95']:.2f} ms (target <= 20 ms)")
    print(f"simulated {hour['simulated_minutes']:g} min against the stand-ins: "
          f"{hour['web_api_calls']} Web API calls")
    print(f"  while our music plays: median {c.get('median', 0):g}, max {c.get('max', 0):g} "
          f"calls per minute over {c['n']} minutes (target <= 6)")
    st = hour["calls_per_start_with_fade_in"]
    print(f"  a start or resume with its {hour.get('fade_seconds', 0):g} s fade-in: median "
          f"{st.get('median', 0):g}, max {st.get('max', 0):g} calls over {st['n']}")
    gap = hour["shortest_poll_gap_while_nothing_of_ours_plays_s"]
    print(f"  while nothing of ours plays: {hour['polls_while_nothing_of_ours_plays']} polls, "
          f"shortest gap {gap} s, "
          f"{hour['polls_faster_than_5_s_while_nothing_of_ours_plays']} faster than 5 s "
          f"(target 0)")
    print(f"  room's change (the faces) -> queue: median {s.get('median', 0):.2f} s, max "
          f"{s.get('max', 0):.2f} s over {s['n']} changes (dwell {hour['dwell_seconds']:g} s; "
          f"target <= {hour['target_room_change_to_queue_s']:g} s)")
    print(f"  smoothed label's flip -> queue: median {f.get('median', 0):.2f} s "
          f"(the label trails the faces; the dwell counts from the faces)")
    print(f"  empty-room timeout -> pause: median {p.get('median', 0):.2f} s over {p['n']} "
          f"(target <= 1 s)")
    return 0
