"""`mooddj pair`: print a one-time code that pairs a new browser with the box."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.config import Config


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj pair`."""
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="how long the code stays valid (default 10, at most 60)")


def run(args: argparse.Namespace) -> int:
    """Create a code in the box's database and print it once."""
    from appliance.cli.locations import fail, load_config
    from appliance.core.store import StoreError
    from appliance.identity.pairing import format_code, new_code, store_code
    from appliance.schema import open_store

    if not 1 <= args.minutes <= 60:
        return fail("--minutes must be between 1 and 60")
    config = load_config(args)
    try:
        store = open_store(config.paths.database_path)
    except StoreError as err:
        return fail(str(err))
    try:
        code = new_code()
        until = store.write_sync(
            lambda db: store_code(db, code, created_by="cli", ttl=args.minutes * 60))
    finally:
        store.close()
    left = round((until - time.time()) / 60)
    print(f"Pairing code: {format_code(code)}")
    print(f"Open {page_address(config)} in the new browser, choose "
          f"\"use a pairing code\" and type it. It works once, within {left} minutes.")
    return 0


def page_address(config: Config) -> str:
    """Where the setup page answers: <hostname>.local, or the loopback address the box serves."""
    from appliance.core.status import read_status, status_path

    host = config.web.host
    if config.web.mdns or host in ("0.0.0.0", "", "::"):
        return f"http://{config.web.hostname}.local"
    doc = read_status(status_path(config.paths.runtime)) or {}
    ports = [(s.get("snapshot") or {}).get("port") for s in doc.get("services", [])
             if isinstance(s, dict) and s.get("name") == "web"]
    port = ports[0] if ports and isinstance(ports[0], int) else config.web.port
    return f"http://{host}" + ("" if port == 80 else f":{port}")
