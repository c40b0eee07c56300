"""Event bus: bounded drop-oldest, lossless and latest-value queues, thread-safe publishing,
filtering."""

from __future__ import annotations

import asyncio
import threading

import pytest
from polling import eventually

from appliance.core.bus import (
    Bus,
    ButtonGesture,
    ErrorRaised,
    MoodReading,
    PresenceChanged,
)


def mood(i: int) -> MoodReading:
    return MoodReading(faces=1, valence=i / 1000, arousal=0.0, mood="neutral", confidence=1.0)


async def test_slow_subscriber_loses_oldest_and_never_blocks_publisher() -> None:
    bus = Bus()
    slow = bus.subscribe(MoodReading, maxsize=5, name="slow-web-client")
    fast = bus.subscribe(MoodReading, maxsize=1000, name="player")
    received: list[float] = []
    slow_seen: list[float] = []

    async def fast_reader() -> None:
        async for ev in fast:
            received.append(ev.valence)
            if len(received) == 200:
                return

    async def slow_reader() -> None:
        while True:
            ev = await slow.get()
            slow_seen.append(ev.valence)
            await asyncio.sleep(0.05)  # a client on bad Wi-Fi

    reader = asyncio.create_task(fast_reader())
    lagging = asyncio.create_task(slow_reader())
    await asyncio.sleep(0)
    for i in range(200):
        bus.publish(mood(i))  # synchronous: returns at once whatever the readers do
        if i % 20 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(reader, 5)
    assert received == [i / 1000 for i in range(200)]  # the fast reader lost nothing
    # It still gets the newest reading (waiting on it, not on a fixed time: CI is noisy).
    await eventually(lambda: slow_seen and slow_seen[-1] == 0.199, what="the newest reading")
    lagging.cancel()
    assert slow.dropped > 150 and bus.dropped == slow.dropped
    assert len(slow_seen) < 20
    assert fast.dropped == 0


def test_queue_keeps_the_newest_items_in_order() -> None:
    bus = Bus()
    sub = bus.subscribe(maxsize=3)
    for i in range(10):
        bus.publish(mood(i))
    assert sub.dropped == 7
    assert [sub.get_nowait().valence for _ in range(3)] == [0.007, 0.008, 0.009]
    assert sub.get_nowait() is None


def test_a_lossless_subscription_keeps_everything_and_a_latest_one_only_the_newest() -> None:
    bus = Bus()
    lossless = bus.subscribe(ButtonGesture, maxsize=None)
    latest = bus.subscribe(MoodReading, latest=True)
    for i in range(5000):
        bus.publish(mood(i))
        if i % 100 == 0:
            bus.publish(ButtonGesture(gesture="next_press"))
    assert len(lossless) == 50 and lossless.dropped == 0
    assert len(latest) == 1 and latest.get_nowait().valence == 4.999  # type: ignore[union-attr]
    assert latest.dropped == 0 and bus.dropped == 0  # replacing a reading is no loss
    assert latest.get_nowait() is None


async def test_wait_returns_once_an_event_is_queued_without_taking_it() -> None:
    bus = Bus(asyncio.get_running_loop())
    sub = bus.subscribe(ButtonGesture, maxsize=None)
    waiter = asyncio.ensure_future(sub.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    bus.publish(ButtonGesture(gesture="play_press"))
    await asyncio.wait_for(waiter, 1.0)
    assert len(sub) == 1


def test_subscribers_receive_only_their_types_and_latest_is_kept() -> None:
    bus = Bus()
    moods = bus.subscribe(MoodReading)
    everything = bus.subscribe()
    bus.publish(PresenceChanged(people=1, previous=0))
    bus.publish(mood(5))
    bus.publish(ButtonGesture(gesture="play_press"))
    assert len(moods) == 1 and len(everything) == 3
    assert bus.latest(PresenceChanged) == PresenceChanged(people=1, previous=0,
                                                         t=bus.latest(PresenceChanged).t)
    assert bus.latest(ErrorRaised) is None


async def test_publish_threadsafe_from_worker_threads_arrives_in_order() -> None:
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    sub = bus.subscribe(MoodReading, maxsize=1000)

    def worker() -> None:  # e.g. the vision thread
        for i in range(100):
            bus.publish_threadsafe(mood(i))

    t = threading.Thread(target=worker)
    t.start()
    got = []
    while len(got) < 100:
        got.append((await asyncio.wait_for(sub.get(), 5)).valence)
    t.join()
    assert got == [i / 1000 for i in range(100)]
    assert threading.current_thread() is threading.main_thread()


def test_publish_threadsafe_needs_a_bound_loop_and_ignores_a_closed_one() -> None:
    bus = Bus()
    with pytest.raises(RuntimeError, match="not bound"):
        bus.publish_threadsafe(mood(1))
    loop = asyncio.new_event_loop()
    bus.bind(loop)
    loop.close()
    bus.publish_threadsafe(mood(1))  # shutting down: dropped quietly


async def test_closed_subscription_ends_iteration_and_stops_receiving() -> None:
    bus = Bus()
    sub = bus.subscribe(MoodReading)
    seen = []

    async def consume() -> None:
        async for ev in sub:
            seen.append(ev)

    task = asyncio.create_task(consume())
    bus.publish(mood(1))
    await asyncio.sleep(0.01)
    sub.close()
    await asyncio.wait_for(task, 1)
    bus.publish(mood(2))
    assert len(seen) == 1 and bus.subscribers == 0
