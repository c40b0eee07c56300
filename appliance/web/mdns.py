"""mDNS: answer `<hostname>.local` and advertise an `_http._tcp` service, with python-zeroconf.

Why python-zeroconf and not avahi: the box must work the same under its
sandboxed systemd unit (no D-Bus access to avahi-daemon needed), in simulator
mode on a laptop and in tests, and it must advertise the *configured* name
(`web.hostname`, default "mooddj") even when the Pi's system hostname differs.
Raspberry Pi OS runs avahi-daemon, which also binds UDP 5353 (with
SO_REUSEADDR); zeroconf sets SO_REUSEADDR and SO_REUSEPORT, so on Linux both
bind the port, both receive the multicast queries, and each answers for its
own names (avahi for the system hostname, we for `mooddj.local`). If the port
cannot be shared (a responder without SO_REUSEADDR) the service fails soft: it
warns once and the page stays reachable by IP address. Set `web.mdns = false`
to leave mDNS to avahi alone (e.g. an avahi service file and the system
hostname set to mooddj).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Iterable

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from appliance import __version__
from appliance.core.bus import Bus, ErrorCleared, ErrorRaised
from appliance.core.config import WebConfig
from appliance.core.service import Service
from appliance.web.kit.security import local_addresses

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_http._tcp.local."
ERROR_KEY = "web.mdns"


def advertised_addresses(addresses: Iterable[str] | None = None) -> list[str]:
    """The box's LAN addresses worth advertising (no loopback, no link-local IPv6)."""
    out = []
    for a in sorted(local_addresses() if addresses is None else addresses):
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_unspecified or (ip.version == 6 and ip.is_link_local):
            continue
        out.append(str(ip))
    return out


def build_service_info(hostname: str, port: int, addresses: Iterable[str],
                       *, instance: str = "", version: str = __version__) -> ServiceInfo:
    """The `_http._tcp` record set: SRV to `<hostname>.local.`, A/AAAA, TXT path=/."""
    server = f"{hostname}.local."
    name = instance or f"MoodDJ ({hostname})"
    return ServiceInfo(
        SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=port, server=server,
        parsed_addresses=list(addresses),
        properties={"path": "/", "product": "mooddj", "version": version},
    )


class MdnsService(Service):
    """Advertises the setup page while running; warns instead of failing when it cannot."""

    name = "mdns"
    depends_on = ("web",)

    def __init__(self, cfg: WebConfig, bus: Bus, port: Callable[[], int] | int | None = None,
                 *, addresses: Callable[[], list[str]] = advertised_addresses,
                 version: str = __version__) -> None:
        super().__init__()
        self.cfg = cfg
        self.version = version  # in the TXT record
        self.bus = bus
        self._port = port
        self._addresses = addresses
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None

    def port(self) -> int:
        """The page's port: from the web service if given, else config."""
        p = self._port() if callable(self._port) else self._port
        return p or self.cfg.port

    async def start(self) -> None:
        """Register the service; on failure, warn and carry on without mDNS."""
        addresses = self._addresses()
        if not addresses:
            self.detail = "no LAN address yet; not advertising"
            logger.warning("mDNS: the box has no LAN address yet; %s.local is not advertised",
                           self.cfg.hostname)
            return
        self._info = build_service_info(self.cfg.hostname, self.port(), addresses,
                                        version=self.version)
        try:
            self._zc = AsyncZeroconf(ip_version=IPVersion.All)
            await self._zc.async_register_service(self._info, allow_name_change=True)
        except Exception as err:  # OSError, or zeroconf's own errors
            await self._close()
            self.detail = f"not advertising: {err}"
            logger.warning("mDNS: cannot advertise %s.local (%s); the page is still reachable "
                           "by IP address", self.cfg.hostname, err)
            self.bus.publish(ErrorRaised(
                key=ERROR_KEY, source="network",
                message=f"{self.cfg.hostname}.local is not advertised on the network",
                hint="open the page by the box's IP address, or set web.mdns = false and let "
                     "avahi advertise it"))
            return
        self.detail = f"{self.cfg.hostname}.local -> {', '.join(addresses)}"
        self.bus.publish(ErrorCleared(key=ERROR_KEY))
        logger.info("mDNS: advertising http://%s.local:%d", self.cfg.hostname, self.port())

    async def run(self) -> None:
        """Nothing to do while advertised; zeroconf answers queries by itself."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Say goodbye on the network and close the sockets."""
        await self._close()

    async def _close(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self._info is not None:
                await zc.async_unregister_service(self._info)
        except Exception as err:
            logger.debug("mDNS unregister failed: %s", err)
        await zc.async_close()

    def snapshot(self) -> dict[str, object]:
        """What is advertised."""
        return {"hostname": f"{self.cfg.hostname}.local", "advertising": self._zc is not None}
