"""`mooddj bench player`: the player against the real stand-ins, and the ranking speed.

Figures: from the first reading of a sustained mood change to the queue
command reaching the speaker (target: dwell time + 1 s); from the empty-room
timeout to the pause command (target: 1 s; the player starts fading out
`--fade` seconds before the timeout so the pause lands on it); ranking 10,000
cached tracks (target: 20 ms).
`player_rig` is also what the player's integration tests run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PlayerRig:
    """A running player wired to the Spotify and features stand-ins over real HTTP."""

    sim: Any  # SpotifySim
    features: Any  # FeaturesSim
    store: Any
    bus: Any
    svc: Any  # SpotifyServices
    selector: Any
    player: Any
    user_id: str
    events: list[Any] = field(default_factory=list)

    def reading(self, mood: str, faces: int = 1) -> None:
        """Publish a stable room mood reading."""
        from appliance.core.bus import MoodReading

        self.bus.publish(MoodReading(faces=faces, valence=0.0, arousal=0.0, mood=mood,  # type: ignore[arg-type]
                                     confidence=0.9, stable=True))

    def presence(self, people: int) -> None:
        from appliance.core.bus import PresenceChanged

        self.bus.publish(PresenceChanged(people=people, previous=self.player.people))

    def calls(self, method: str, suffix: str) -> list[tuple[Any, ...]]:
        """Stand-in request log entries for `method` and a path ending in `suffix`."""
        return [r for r in self.sim.requests if r[0] == method and r[1].endswith(suffix)]

    async def until(self, pred: Any, limit: float = 10.0, what: str = "") -> float:
        """Wait up to `limit` seconds for `pred()`; returns the monotonic time it became true."""
        deadline = time.monotonic() + limit
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what or pred}; "
                                   f"player={self.player.snapshot()}")
            await asyncio.sleep(0.01)
        return time.monotonic()


@contextlib.asynccontextmanager
async def player_rig(state_dir: Path, *, speed: float = 50.0, dwell: float = 0.5,
                     empty_room_minutes: float = 0.01, fade_seconds: float = 0.2,
                     resume_within_minutes: float = 1.0, poll_seconds: float = 0.3,
                     queue_lead_seconds: float = 10.0, retry_initial: float = 0.2,
                     volume: int = 40) -> AsyncIterator[PlayerRig]:
    """Stand-ins, a store, a linked listener on the "Living Room" speaker and a running player."""
    from appliance.core.bus import Bus
    from appliance.core.config import Config, from_dict
    from appliance.core.crypto import Sealer
    from appliance.core.store import Store
    from appliance.music.features import make_provider
    from appliance.music.player import PlayerService
    from appliance.music.selector import Selector
    from appliance.music.spotify import create_services
    from appliance.simmode.spotify_link import ensure_user, link_via_sim
    from appliance.standins.features import FeaturesSim
    from appliance.standins.spotify_server import SpotifySim

    sim = SpotifySim(speed=speed)
    await sim.start()
    fsim = await FeaturesSim().start()
    store = Store.open(state_dir / "mooddj.db")
    bus = Bus(asyncio.get_running_loop())
    events: list[Any] = []
    sub = bus.subscribe(maxsize=10_000, name="rig")
    config = from_dict(Config, {
        "paths": {"state_dir": str(state_dir)},
        "spotify": {"accounts_url": sim.accounts_url, "api_url": sim.api_url,
                    "client_id": sim.client_id, "timeout": 3.0},
        "features": {"provider": "reccobeats", "reccobeats_url": fsim.reccobeats_url},
        "player": {"empty_room_minutes": empty_room_minutes, "fade_seconds": fade_seconds,
                   "resume_within_minutes": resume_within_minutes, "default_volume": volume},
    })
    svc = create_services(config, store, Sealer(os.urandom(32)), bus)
    svc.api.transfer_settle = 0.0
    svc.speakers.step_seconds = 0.05
    provider = make_provider(config.features)
    player = task = collector = None
    try:
        user_id = "u_listener"
        await ensure_user(store, user_id, "Listener", "owner")
        await link_via_sim(sim, svc.linking, user_id, account="alice")
        await svc.speakers.choose(sim.speaker_id("Living Room"), "Living Room", volume)
        selector = Selector(svc.api, store, provider, config.player)
        player = PlayerService(api=svc.api, speakers=svc.speakers, selector=selector,
                               store=store, bus=bus, config=config.player, dwell_seconds=dwell,
                               poll_seconds=poll_seconds, queue_lead_seconds=queue_lead_seconds,
                               retry_initial=retry_initial)

        async def collect() -> None:
            while True:
                events.append(await sub.get())
        collector = asyncio.create_task(collect())
        await player.start()
        task = asyncio.create_task(player.run())
        yield PlayerRig(sim, fsim, store, bus, svc, selector, player, user_id, events)
    finally:
        for t in (task, collector):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if player is not None:
            await player.stop()
        sub.close()
        await provider.close()
        await svc.close()
        await fsim.stop()
        await sim.stop()
        store.close()


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 4), "p95": round(p95, 4),
            "max": round(ordered[-1], 4), "n": len(ordered)}


def bench_ranking(n: int = 10_000, repeats: int = 200) -> dict[str, float]:
    """Milliseconds to score and order `n` cached tracks for one mood."""
    import numpy as np

    from appliance.core.config import PlayerConfig
    from appliance.music.features_cache import FeatureMatrix
    from appliance.music.moods import DEFAULT_TARGETS
    from appliance.music.selector import Pool, Selector
    from appliance.music.spotify_models import Track

    rng = np.random.default_rng(7)
    ids = [f"B{i:021d}" for i in range(n)]
    values = np.column_stack([rng.random(n), rng.random(n), 60 + 120 * rng.random(n)])
    matrix = FeatureMatrix(ids, values.astype(np.float32))
    tracks = {tid: Track(tid, f"spotify:track:{tid}", tid, "", 200_000) for tid in ids}
    pool = Pool("bench", tracks, {}, matrix, time.time(),
                feedback={"happy": {ids[i]: 0.25 for i in range(0, n, 97)}})
    recent = set(ids[::53])
    sel = Selector(None, None, None, PlayerConfig())  # type: ignore[arg-type]
    target = DEFAULT_TARGETS["happy"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        scores = sel.scores(pool, "happy", target, recent)
        np.argsort(scores, kind="stable")[:10]
        times.append((time.perf_counter() - t0) * 1000)
    return _stats(times)


async def bench_live(rounds: int, dwell: float, fade: float) -> dict[str, Any]:
    """Mood-change-to-queue and empty-room-to-pause latencies against the stand-ins."""
    empty_minutes = max(0.02, (fade + 1.5) / 60)  # the fade must fit inside the timeout
    with tempfile.TemporaryDirectory(prefix="mooddj-bench-") as tmp:
        async with player_rig(Path(tmp), speed=1.0, dwell=dwell, fade_seconds=fade,
                              empty_room_minutes=empty_minutes, poll_seconds=2.0,
                              queue_lead_seconds=5.0) as rig:
            rig.presence(2)
            rig.reading("happy")
            await rig.until(lambda: rig.player.phase == "playing", 20, "start")
            await asyncio.sleep(fade + 0.2)
            change, moods = [], ["sad", "happy"]
            for i in range(rounds):
                mood = moods[i % 2]
                n = len(rig.calls("POST", "/me/player/queue"))
                t0 = time.monotonic()
                rig.reading(mood)
                await rig.until(lambda n=n: len(rig.calls("POST", "/me/player/queue")) > n,
                                dwell + 10, "queue")
                change.append(rig.calls("POST", "/me/player/queue")[-1][5] - t0)
            pause = []
            for _ in range(rounds):
                n = len(rig.calls("PUT", "/me/player/pause"))
                deadline = time.monotonic() + empty_minutes * 60
                rig.presence(0)
                await rig.until(lambda n=n: len(rig.calls("PUT", "/me/player/pause")) > n,
                                empty_minutes * 60 + fade + 10, "pause")
                pause.append(rig.calls("PUT", "/me/player/pause")[-1][5] - deadline)
                rig.presence(1)
                await rig.until(lambda: rig.player.phase == "playing", 10, "resume")
                await asyncio.sleep(fade + 0.1)
            api_calls = rig.svc.api.calls
    return {"dwell_seconds": dwell, "fade_seconds": fade,
            "mood_change_to_queue_s": _stats(change), "target_mood_s": dwell + 1.0,
            "empty_timeout_to_pause_s": _stats(pause), "target_pause_s": 1.0,
            "spotify_calls": api_calls}
