"""The one way a stand-in serves its aiohttp app on a loopback port (and stops)."""

from __future__ import annotations

from aiohttp import web


class Served:
    """An app on a TCP port: `port = await served.start(app, host, port)`, then `stop()`."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    async def start(self, app: web.Application, host: str = "127.0.0.1", port: int = 0, *,
                    reuse_address: bool | None = None) -> int:
        """Serve `app` on `host:port` (0: any free port); returns the port bound."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_address=reuse_address).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; a second call does nothing."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
