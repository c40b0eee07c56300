"""systemd notify over a real AF_UNIX datagram socket (path and abstract name)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core.bus import Bus
from appliance.core.config import SupervisorConfig
from appliance.core.sdnotify import Notifier, socket_address, watchdog_interval
from appliance.core.service import Service
from appliance.core.supervisor import Supervisor

FAST = SupervisorConfig(stop_timeout=1.0, backoff_initial=0.01, backoff_max=0.02)


class Listener:
    """A NOTIFY_SOCKET stand-in: a bound datagram socket collecting messages."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def lines(self) -> list[str]:
        return [line for m in self.drain() for line in m.split("\n")]


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
    else:
        address = f"@mooddj-test-{uuid.uuid4().hex}"
    lst = Listener(address)
    yield lst
    lst.sock.close()


def test_abstract_name_becomes_leading_nul() -> None:
    assert socket_address("@foo") == b"\0foo"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_notifier_sends_each_message_kind(listener: Listener) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": listener.address})
    assert n.enabled
    assert n.ready("1/1 services running")
    assert n.status("vision restarting\nnow")
    assert n.watchdog()
    assert n.stopping()
    n.close()
    assert listener.drain() == ["READY=1\nSTATUS=1/1 services running",
                                "STATUS=vision restarting now", "WATCHDOG=1", "STOPPING=1"]


def test_unset_notify_socket_is_a_silent_no_op(caplog: pytest.LogCaptureFixture) -> None:
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.send("READY=1") is False
    assert n.watchdog() is False
    assert caplog.records == []


def test_send_failure_never_raises_and_logs_once(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    n = Notifier(str(tmp_path / "nobody-listens.sock"))
    with caplog.at_level(logging.WARNING):
        assert n.send("READY=1") is False
        assert n.send("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec_for_our_pid_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
                             ) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


class Idle(Service):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class AlwaysCrashes(Idle):
    async def run(self) -> None:
        raise RuntimeError("no camera")


async def _wait_for(listener: Listener, pred, timeout: float = 5.0) -> list[str]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred(listener.lines()):
        if loop.time() > end:
            raise AssertionError(f"not received; got {listener.lines()}")
        await asyncio.sleep(0.01)
    return listener.lines()


async def test_supervisor_notifies_ready_status_watchdog_and_stopping(listener: Listener) -> None:
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "100000"}  # ping every 50 ms
    sup = Supervisor(FAST, Bus(), [Idle("web"), Idle("panel")], Notifier.from_env(env), env=env)
    task = asyncio.create_task(sup.run(handle_signals=False))
    lines = await _wait_for(listener, lambda ls: ls.count("WATCHDOG=1") >= 3)
    assert "READY=1" in lines
    assert lines.index("READY=1") < lines.index("WATCHDOG=1")  # no pets before ready
    assert any(line.startswith("STATUS=") and "2/2 services running" in line for line in lines)
    sup.request_stop()
    assert await task == 0
    lines = listener.lines()
    assert "STOPPING=1" in lines
    assert lines.index("STOPPING=1") > lines.index("READY=1")


async def test_watchdog_withheld_while_restarting_and_resumed_once_failed(
        listener: Listener) -> None:
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "100000"}
    cfg = SupervisorConfig(stop_timeout=1.0, max_crashes=3, backoff_initial=0.4, backoff_max=0.4)
    crasher = AlwaysCrashes("vision")
    sup = Supervisor(cfg, Bus(), [crasher, Idle("web")], Notifier.from_env(env), env=env,
                     rng=random.Random(3), clock=lambda: 1.0)
    task = asyncio.create_task(sup.run(handle_signals=False))
    await _wait_for(listener, lambda ls: "READY=1" in ls)
    await asyncio.sleep(0.15)  # restarting (backoff 0.2..0.4 s): about 3 pets would be due
    assert sup.state("vision") in ("restarting", "starting")
    assert listener.lines().count("WATCHDOG=1") == 0
    await _wait_for(listener, lambda ls: any("vision failed" in line for line in ls))
    await _wait_for(listener, lambda ls: ls.count("WATCHDOG=1") >= 2)  # the rest keeps going
    sup.request_stop()
    await task
