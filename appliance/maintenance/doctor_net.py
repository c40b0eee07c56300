"""Network checks of `mooddj doctor`: DNS for named remotes, TCP for literal addresses.

Nothing here sends an HTTP request: the doctor must be safe to run offline and
never talks to Spotify, the identity providers or the features source.
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

from appliance.core.checks import Check, ok, warn
from appliance.core.config import Config
from appliance.maintenance.doctor import NET_TIMEOUT


def network_targets(cfg: Config) -> list[tuple[str, str, int]]:
    """(what, host, port) of every configured remote the box talks to."""
    urls = [("spotify accounts", cfg.spotify.accounts_url), ("spotify api", cfg.spotify.api_url)]
    if cfg.features.provider == "reccobeats":
        urls.append(("features", cfg.features.reccobeats_url))
    elif cfg.features.provider == "soundnet":
        urls.append(("features", cfg.features.soundnet_url))
    real = {"google": "https://oauth2.googleapis.com", "github": "https://github.com",
            "microsoft": "https://login.microsoftonline.com"}
    for name in ("google", "microsoft", "github"):
        prov = getattr(cfg.identity, name)
        if prov.client_id:
            urls.append((f"{name} sign-in", prov.base_url or real[name]))
    out: list[tuple[str, str, int]] = []
    seen: set[tuple[str, int]] = set()
    for what, url in urls:
        parts = urlsplit(url)
        if not parts.hostname:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if (parts.hostname, port) not in seen:
            seen.add((parts.hostname, port))
            out.append((what, parts.hostname, port))
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _check_target(what: str, host: str, port: int) -> Check:
    name = f"network {what}"
    if _is_ip(host) or host == "localhost":
        # A literal address (the simulator's stand-ins): is something listening?
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), NET_TIMEOUT)
        except (OSError, TimeoutError) as err:
            return warn(name, f"{host}:{port} does not answer ({err.__class__.__name__})",
                        "start the service there (mooddj run --sim starts the stand-ins)")
        writer.close()
        return ok(name, f"{host}:{port} accepts connections")
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, port), NET_TIMEOUT)
    except (OSError, TimeoutError) as err:
        return warn(name, f"cannot resolve {host} ({err.__class__.__name__})",
                    "check the network and DNS (ping 1.1.1.1; cat /etc/resolv.conf)")
    return ok(name, f"{host} resolves")


async def check_network(cfg: Config) -> list[Check]:
    """DNS lookup of named remotes, TCP connect to literal addresses (never HTTP)."""
    targets = network_targets(cfg)
    return list(await asyncio.gather(*(_check_target(*t) for t in targets)))
