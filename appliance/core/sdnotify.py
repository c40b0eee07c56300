"""systemd's notify protocol without libsystemd: one datagram per message.

`NOTIFY_SOCKET` names an AF_UNIX datagram socket, either a filesystem path or
an abstract name written with a leading '@' (sent as a leading NUL byte).
When it is unset (not started by systemd, or in a test) every call is a no-op.
A failed send never raises: it is logged once and the box carries on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """The address to `sendto` for a NOTIFY_SOCKET value ('@name' -> b'\\0name')."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None
                      ) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if not asked for."""
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    wd_pid = env.get("WATCHDOG_PID", "")
    if wd_pid:
        try:
            if int(wd_pid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    try:
        usec = int(raw)
    except ValueError:
        logger.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", raw)
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000 / 2


class Notifier:
    """Sends sd_notify messages to `address`; `Notifier(None)` sends nothing."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self.sent: list[str] = []  # last messages, for the status snapshot
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """A notifier for `$NOTIFY_SOCKET` (a no-op one when it is unset)."""
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, message: str) -> bool:
        """Send one notify datagram (e.g. "READY=1"); False if not sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), socket_address(self.address))
        except OSError as err:
            if not self._warned:
                self._warned = True
                logger.warning("cannot notify systemd at %s: %s (further failures not logged)",
                               self.address, err.strerror or err)
            return False
        self.sent = [*self.sent[-9:], message.split("\n", 1)[0]]
        return True

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is complete."""
        return self.send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        """Set the one-line status `systemctl status` shows."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Pet the watchdog."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """Tell systemd shutdown has begun."""
        return self.send("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.split())
