"""DNS-rebinding guard (Host allow-list), Origin checks and the security headers."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from appliance.core.config import WebConfig

logger = logging.getLogger(__name__)

CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "img-src 'self' data:; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def local_addresses() -> set[str]:
    """Every IP address of this machine's interfaces (found at start)."""
    found: set[str] = set()
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    found.add(a.address.split("%", 1)[0].lower())
    except Exception as err:  # psutil missing or the interfaces unreadable
        logger.warning("cannot list network interfaces (%s); only names are accepted", err)
    return found


def split_host(host: str) -> str:
    """The host name or IP of a Host/Origin authority, lower-case, without port or brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class HostAllowList:
    """Names and addresses the setup page answers to; everything else is refused."""

    def __init__(self, cfg: WebConfig, extra: Iterable[str] = (),
                 addresses: Iterable[str] | None = None) -> None:
        names = {cfg.hostname, f"{cfg.hostname}.local", *LOOPBACK_NAMES}
        try:
            system = socket.gethostname().lower()
            names.update({system, f"{system}.local"})
        except OSError:
            pass
        names.update(cfg.allowed_hosts)
        names.update(extra)
        names.update(local_addresses() if addresses is None else addresses)
        self.names = {split_host(n) for n in names if n}

    def allows(self, host_header: str | None) -> bool:
        """True if the Host header names this box."""
        if not host_header:
            return False
        host = split_host(host_header)
        if host in self.names:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def add(self, name: str) -> None:
        """Accept another name (e.g. an address that appeared after start)."""
        self.names.add(split_host(name))


def origin_matches(origin: str, host_header: str | None) -> bool:
    """True if the Origin header's authority is exactly this request's Host."""
    if not origin or origin == "null" or not host_header:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. "http://[" from a hand-made request
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return parts.netloc.lower() == host_header.strip().lower()


def loopback_peer(remote: str | None) -> bool:
    """True if the connection comes from the box itself (`request.remote`, not a header)."""
    try:
        ip = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)
