"""The setup page as a supervised Service: AppRunner/TCPSite inside the supervisor's loop."""

from __future__ import annotations

import asyncio
import errno
import logging

from aiohttp import web

from appliance.core.service import Service
from appliance.web.kit.deps import WebDeps
from appliance.web.kit.ws import LIVE

logger = logging.getLogger(__name__)


class WebServiceError(Exception):
    """The setup page cannot listen; the message says what to do."""


def listen_problem(err: OSError, host: str, port: int) -> str:
    """One line saying why the page cannot listen on host:port and what to do."""
    if err.errno == errno.EADDRINUSE:
        return (f"port {port} on {host or '0.0.0.0'} is already in use (another mooddj, or "
                f"another server); stop it, or pick another port with --port N or web.port")
    if err.errno == errno.EACCES:
        return (f"no permission to listen on port {port}; run under the systemd unit "
                f"(CAP_NET_BIND_SERVICE), or use --port N / web.port above 1023")
    return (f"cannot listen on {host}:{port}: {err.strerror}; check web.host and web.port")


class WebService(Service):
    """Serves `create_app(deps)` on config.web.host:port (port 0 picks a free port)."""

    name = "web"

    def __init__(self, deps: WebDeps, *, host: str | None = None, port: int | None = None) -> None:
        super().__init__()
        self.deps = deps
        self.host = host if host is not None else deps.config.web.host
        self.wanted_port = port if port is not None else deps.config.web.port
        self.port = 0  # the bound port, once started
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """http://host:port of the running page (loopback if bound to all addresses)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Build the app (other packages' routes included) and listen."""
        from appliance.web.app import create_app

        self.app = create_app(self.deps)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.wanted_port, reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            self._runner = None
            raise WebServiceError(listen_problem(err, self.host, self.wanted_port)) from None
        self.port = self._runner.addresses[0][1]
        self.detail = f"listening on {self.host}:{self.port}"
        logger.info("setup page listening on %s:%d", self.host, self.port)

    async def run(self) -> None:
        """Serve until cancelled (aiohttp's server runs on the loop by itself)."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Close live connections and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.port = 0

    def snapshot(self) -> dict[str, object]:
        """Port and number of live WebSocket clients."""
        clients = len(self.app[LIVE].clients) if self.app is not None else 0
        return {"port": self.port, "live_clients": clients}
