"""`python -m appliance.standins`: run the stand-ins; prints one JSON line with their addresses."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from appliance.standins.stack import SimStack


async def _main(args: argparse.Namespace) -> None:
    stack = SimStack(state_file=Path(args.state_file) if args.state_file else None,
                     control_port=args.port, spotify_port=args.spotify_port,
                     identity_interval=args.identity_interval, speed=args.speed)
    info = await stack.start()
    print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m appliance.standins",
                                     description="MoodDJ's loopback stand-ins.")
    parser.add_argument("--port", type=int, default=0, help="control server port (/sim page)")
    parser.add_argument("--spotify-port", type=int, default=0, help="Spotify stand-in port")
    parser.add_argument("--identity-interval", type=float, default=2.0,
                        help="device-flow polling interval the identity stand-in asks for")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="Spotify stand-in playback speed (20: a 3-minute track lasts 9 s)")
    parser.add_argument("--state-file", help="keep Spotify grants here across restarts")
    args = parser.parse_args()
    if args.speed <= 0:
        parser.error("--speed must be above 0")
    logging.basicConfig(level=logging.WARNING, format="stand-ins: %(levelname)s %(message)s",
                        stream=sys.stderr)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
