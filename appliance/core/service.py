"""The contract between the supervisor and every long-running part of the box."""

from __future__ import annotations

import time


class Service:
    """A supervised part of the box (vision loop, web server, player, panel, ...).

    Lifecycle, driven by the supervisor: `start()` (set up; raise to fail),
    then `run()` as a task (return or raise = crash, unless stopping), then
    `stop()` (release everything; must be safe after a failed `start`). After a
    crash the supervisor calls `stop()`, waits its backoff, and starts again.
    A service with `heartbeat_deadline` set must call `beat()` at least that
    often while running, or it is treated as hung and restarted.
    """

    name: str = "service"
    depends_on: tuple[str, ...] = ()
    heartbeat_deadline: float | None = None

    def __init__(self) -> None:
        self.last_beat = time.monotonic()
        self.detail = ""  # one line shown in `mooddj status`

    def beat(self) -> None:
        """Record progress (thread-safe: a float store)."""
        self.last_beat = time.monotonic()

    async def start(self) -> None:
        """Acquire resources; raising here counts as a crash."""

    async def run(self) -> None:
        """The service's work; runs until cancelled. Default: idle until stopped."""
        import asyncio

        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Release resources; called on shutdown and after a crash."""

    def snapshot(self) -> dict[str, object]:
        """Extra facts for the status screen (fps, speaker, ...)."""
        return {}
