"""`mooddj bench player`: a simulated hour of the player against the stand-ins, and ranking.

The hour: vision's real `RoomMood` (the `[vision]` defaults: smoothing, hysteresis,
dwell) is fed faces at 5 Hz from a scripted room (mood changes, an empty room,
someone playing from the Spotify app, a Play press) and publishes on the bus as
the vision loop does; the real player takes it from there, through `SpotifyApi`
over HTTP to the Spotify stand-in. Everything runs on one simulated clock, so
the hour takes seconds and the times are the policy's, not the machine's.

Figures (targets): Web API calls per minute while our music plays (<= 6; minutes
with a start, a resume or a fade are counted apart, per start, since a fade is
a volume step every `fade_step_seconds`); the
shortest gap between two playback polls while nothing of ours plays (>= 5 s);
from the room's change (the faces in the script) to the queue command
(<= dwell + 1 s; also shown from the smoothed label's flip, which trails the
faces while the dwell counts from the faces); from the empty-room
timeout to the pause command (<= 1 s: the fade starts before the timeout);
ranking 10,000 cached tracks (<= 20 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FPS = 5.0
API_PREFIX = "/v1/"


class SimClock:
    """Simulated wall-clock seconds; `sleep` moves the time on instead of waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def set(self, t: float) -> None:
        """Move to `t` (never backwards)."""
        self.t = max(self.t, t)

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class PlayerStack:
    """The player wired to the Spotify and features stand-ins over real HTTP, not running."""

    sim: Any  # SpotifySim
    features: Any  # FeaturesSim
    store: Any
    bus: Any
    svc: Any  # SpotifyServices
    selector: Any
    player: Any  # PlayerService
    user_id: str
    clock: Callable[[], float]

    def calls(self, method: str, suffix: str) -> list[tuple[Any, ...]]:
        """Stand-in request log entries for `method` and a path ending in `suffix`."""
        return [r for r in self.sim.requests if r[0] == method and r[1].endswith(suffix)]


@contextlib.asynccontextmanager
async def player_stack(state_dir: Path, *, clock: SimClock | None = None, speed: float = 1.0,
                       player: dict[str, Any] | None = None,
                       settings: dict[str, Any] | None = None, volume: int = 40,
                       real_rules: bool = False) -> AsyncIterator[PlayerStack]:
    """Stand-ins, a store, a linked listener on "Living Room" and a started player.

    With `clock` everything (stand-in playback, fades, rate-limit windows, the
    player) runs on that simulated clock; `player` is `[player]` config,
    `settings` overrides the policy's (`poll_seconds`, `queue_lead_seconds`, ...);
    `real_rules` switches on every real-Spotify rule of the stand-in (`Rules.real()`).
    """
    from appliance.core.bus import Bus
    from appliance.core.config import Config, from_dict
    from appliance.core.crypto import Sealer
    from appliance.core.settings import Settings
    from appliance.music.features import make_provider
    from appliance.music.player import PlayerService, settings_from
    from appliance.music.selector import Selector
    from appliance.music.spotify import create_services
    from appliance.schema import open_store
    from appliance.simmode.spotify_link import ensure_user, link_via_sim
    from appliance.standins.features import FeaturesSim
    from appliance.standins.spotify_rules import Rules
    from appliance.standins.spotify_server import SpotifySim

    sim = SpotifySim(speed=speed, clock=clock)
    if real_rules:
        sim.rules = Rules.real()
    await sim.start()
    fsim = await FeaturesSim().start()
    store = open_store(state_dir / "mooddj.db")
    bus = Bus(asyncio.get_running_loop())
    config = from_dict(Config, {
        "paths": {"state_dir": str(state_dir)},
        "spotify": {"accounts_url": sim.accounts_url, "api_url": sim.api_url,
                    "client_id": sim.client_id, "timeout": 3.0},
        "features": {"provider": "reccobeats", "reccobeats_url": fsim.reccobeats_url},
        "player": {"default_volume": volume, **(player or {})},
    })
    box_settings = Settings(store, bus)  # the box's: cached, privacy stored from the bus
    svc = create_services(config, store, Sealer(os.urandom(32)), bus, settings=box_settings)
    svc.api.transfer_settle = 0.0
    if clock is not None:
        svc.api.clock, svc.api.sleep = clock, clock.sleep
    provider = make_provider(config.features)
    svc_player = None
    try:
        user_id = "u_listener"
        await ensure_user(store, user_id, "Listener", "owner")
        await link_via_sim(sim, svc.linking, user_id, account="alice")
        await svc.speakers.choose(sim.speaker_id("Living Room"), "Living Room", volume)
        selector = Selector(svc.api, store, provider, config.player, settings=box_settings)
        svc_player = PlayerService(
            api=svc.api, speakers=svc.speakers, selector=selector, store=store, bus=bus,
            settings=settings_from(config.player, **(settings or {})),
            clock=clock or time.time, box_settings=box_settings)
        await svc_player.start()
        yield PlayerStack(sim, fsim, store, bus, svc, selector, svc_player, user_id,
                          clock or time.time)
    finally:
        if svc_player is not None:
            await svc_player.stop()
        await provider.close()
        await svc.close()
        await fsim.stop()
        await sim.stop()
        store.close()


# -- the simulated hour --------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """From minute `at`: who is in the room and what happens on the speaker."""

    at: float
    mood: str | None  # the faces' expression; None: nobody in the room
    other_app: str = ""  # "play": a podcast from the Spotify app; "stop": it stops
    press_play: bool = False


DEFAULT_SCRIPT = (
    Scene(0, "happy"), Scene(7, "sad"), Scene(14, "neutral"), Scene(21, "angry"),
    Scene(27, "happy"), Scene(32, None), Scene(41, "happy"), Scene(45, "happy", "play"),
    Scene(51, "happy", "stop"), Scene(53, "sad", press_play=True), Scene(57, "happy"),
)


@dataclass
class HourLog:
    """What the bench saw, on the simulated clock."""

    t0: float
    phases: list[tuple[float, str]] = field(default_factory=list)  # (t, phase) on change
    changes: list[dict[str, Any]] = field(default_factory=list)
    empty_at: list[float] = field(default_factory=list)

    def phase_at(self, t: float) -> str:
        current = "idle"
        for at, phase in self.phases:
            if at > t:
                break
            current = phase
        return current


def _face(mood: str) -> Any:
    from appliance.vision.fusion import LABELS, MOOD_AROUSAL, MOOD_VALENCE
    from appliance.vision.room import FaceMood

    probs = [0.05] * len(LABELS)
    probs[LABELS.index(mood)] = 1.0 - 0.05 * (len(LABELS) - 1)
    return FaceMood(valence=MOOD_VALENCE[mood], arousal=MOOD_AROUSAL[mood],
                    probs=tuple(probs), weight=1.0)


async def run_hour(stack: PlayerStack, clock: SimClock, script: tuple[Scene, ...],
                   minutes: float, room: Any) -> HourLog:
    """Play `script` for `minutes` of simulated time; returns what happened when."""
    from appliance.core.bus import ButtonGesture, PresenceChanged
    from appliance.music.policy import next_wake

    player, bus = stack.player, stack.bus
    log = HourLog(t0=clock())
    scenes = sorted(script, key=lambda s: s.at)
    scene_i = -1
    pending: dict[str, Any] | None = None
    frames = int(minutes * 60 * FPS)
    for i in range(frames):
        t = log.t0 + i / FPS
        while True:  # the player's own deadlines before this frame
            due = next_wake(player.model, clock())
            if due > t:
                break
            clock.set(due)
            await player.tick()
        clock.set(t)
        while scene_i + 1 < len(scenes) and scenes[scene_i + 1].at * 60 <= t - log.t0:
            scene_i += 1
            scene = scenes[scene_i]
            _other_app(stack, scene.other_app)
            if scene.press_play and player.model.phase.value != "playing":
                bus.publish(ButtonGesture(gesture="play_press"))
            if scene.mood and player.model.phase.value == "playing" \
                    and scene.mood != player.model.heading:
                pending = {"mood": scene.mood, "scene": t, "flip": None, "stable": None,
                           "queued": None}
        mood = scenes[scene_i].mood if scene_i >= 0 else None
        state = room.update([_face(mood)] if mood else [], t)
        if state.presence_changed is not None:
            people, previous = state.presence_changed
            bus.publish(PresenceChanged(people=people, previous=previous))
            if people == 0:
                log.empty_at.append(t)
        if state.faces > 0 or state.people > 0:
            bus.publish(state.reading())
        if pending is not None:
            if pending["flip"] is None and state.mood == pending["mood"]:
                pending["flip"] = t
            if pending["stable"] is None and state.mood == pending["mood"] and state.stable:
                pending["stable"] = t
        await player.drain()
        if pending is not None and player.model.heading == pending["mood"]:
            pending["queued"] = clock()
            log.changes.append(pending)
            pending = None
        phase = player.model.phase.value
        if not log.phases or log.phases[-1][1] != phase:
            log.phases.append((clock(), phase))
    return log


def _other_app(stack: PlayerStack, what: str) -> None:
    """Someone uses the account from the Spotify app: a podcast on the speaker, then not."""
    if what == "play":
        stack.sim.play_podcast()
    elif what == "stop":
        stack.sim.stop_foreign()


def hour_figures(stack: PlayerStack, log: HourLog, minutes: float, dwell: float,
                 empty_seconds: float, fade: float) -> dict[str, Any]:
    """The figures of one simulated hour (see the module docstring)."""
    api = [r for r in stack.sim.requests if r[1].startswith(API_PREFIX)]
    changes = [t for t, _ in log.phases]
    per_minute_playing = []
    for k in range(int(minutes)):
        a, b = log.t0 + 60 * k, log.t0 + 60 * (k + 1)
        steady = not any(a - fade <= t < b for t in changes)  # no start, resume or fade
        if steady and all(log.phase_at(a + s) == "playing" for s in range(0, 60, 2)):
            per_minute_playing.append(sum(1 for r in api if a <= r[5] < b))
    starts = [t for (t, p), (_, before) in zip(log.phases[1:], log.phases, strict=False)
              if p == "playing" and before in ("idle", "paused", "starting")]
    per_start = [sum(1 for r in api if t - 1.0 <= r[5] <= t + fade + 0.5) for t in starts]
    polls_idle = [r[5] for r in api if r[0] == "GET" and r[1] == "/v1/me/player"
                  and log.phase_at(r[5]) not in ("playing", "starting", "fading")]
    gaps = [b - a for a, b in itertools.pairwise(polls_idle)]
    from_flip = [c["queued"] - c["flip"] for c in log.changes if c["flip"] is not None]
    from_scene = [c["queued"] - c["scene"] for c in log.changes]
    pauses = [r[5] for r in api if r[0] == "PUT" and r[1] == "/v1/me/player/pause"]
    to_pause = []
    for e in log.empty_at:
        after = [p for p in pauses if p >= e]
        if after:
            to_pause.append(after[0] - (e + empty_seconds))
    return {
        "simulated_minutes": minutes,
        "web_api_calls": len(api),
        "calls_per_minute_playing": _stats([float(n) for n in per_minute_playing]),
        "target_calls_per_minute_playing": 6.0,
        "calls_per_start_with_fade_in": _stats([float(n) for n in per_start]),
        "polls_while_nothing_of_ours_plays": len(polls_idle),
        "shortest_poll_gap_while_nothing_of_ours_plays_s": round(min(gaps), 2) if gaps else None,
        "polls_faster_than_5_s_while_nothing_of_ours_plays": sum(1 for g in gaps if g < 5.0),
        "dwell_seconds": dwell,
        "fade_seconds": fade,
        "label_change_to_queue_s": _stats(from_flip),
        "scene_change_to_queue_s": _stats(from_scene),
        "target_room_change_to_queue_s": dwell + 1.0,
        "empty_timeout_to_pause_s": _stats(to_pause),
        "target_pause_s": 1.0,
        "phases": [(round(t - log.t0, 1), p) for t, p in log.phases],
    }


async def bench_hour(minutes: float, script: tuple[Scene, ...] = DEFAULT_SCRIPT
                     ) -> dict[str, Any]:
    """The simulated hour with the box's default `[vision]` and `[player]` settings."""
    from appliance.core.config import PlayerConfig, VisionConfig
    from appliance.vision.room import RoomMood

    vision, player_cfg = VisionConfig(), PlayerConfig()
    clock = SimClock()
    with tempfile.TemporaryDirectory(prefix="mooddj-bench-") as tmp:
        async with player_stack(Path(tmp), clock=clock, real_rules=True) as stack:
            log = await run_hour(stack, clock, script, minutes, RoomMood.from_config(vision))
            return hour_figures(stack, log, minutes, vision.dwell_seconds,
                                player_cfg.empty_room_minutes * 60.0, player_cfg.fade_seconds)


# -- ranking -------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
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

