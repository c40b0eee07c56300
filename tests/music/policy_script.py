"""A timeline for the player's policy: `Script` feeds `decide`, `World` answers.

`Script` feeds `decide` the way the service does (each command's result is fed
back before the rest of its batch; a failure drops the rest) against `World`, a
small model of one Spotify account and speaker that answers every command.
No clock, no sleeps: a simulated hour takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.core.bus import (
    ButtonGesture,
    MoodReading,
    PresenceChanged,
)
from appliance.music.policy import (
    Done,
    Failed,
    Feedback,
    FindListener,
    ListenerFound,
    NextListener,
    Pause,
    Paused,
    Phase,
    Play,
    PlayerModel,
    Poll,
    Polled,
    Prepare,
    Queue,
    Queued,
    Ready,
    Record,
    Resume,
    Resumed,
    Settings,
    SetVolume,
    ShowOffline,
    Skip,
    Skipped,
    Started,
    Trouble,
    VolumeFixed,
    decide,
    next_wake,
)
from appliance.music.spotify_models import Device, Playback, Track

S = Settings(fade_seconds=3.0, empty_room_seconds=60.0, resume_within_seconds=600.0,
             poll_seconds=15.0, queue_lead_seconds=15.0, retry_initial=1.0,
             manual_default_seconds=1800.0, skip_feedback_seconds=30.0, default_volume=40)
SPEAKER = Device("dev-living", "Living Room", "Speaker", True, False, 40)
PHONE = Device("dev-phone", "Anna's phone", "Smartphone", True, False, 60)
MOODS = ("happy", "sad", "angry", "neutral", "surprised")
EPISODE_NOW = "episode"


def _track(mood: str, n: int, seconds: float = 200.0) -> Track:
    tid = f"{mood[:3]}{n:019d}"
    return Track(tid, f"spotify:track:{tid}", f"{mood} {n}", "Band", int(seconds * 1000))


@dataclass
class World:
    """One account's player and speaker, answering the policy's commands."""

    seconds: float = 200.0
    speaker_there: bool = True
    premium: bool = True
    refuse_play: bool = False
    offline: bool = False
    volume: int = 40
    fixed_volume: bool = False  # the speaker answers VOLUME_CONTROL_DISALLOW
    volumes: list[tuple[float, int]] = field(default_factory=list)  # (when, percent) set
    playing: bool = False
    current: Track | None = None
    started: float = 0.0
    paused_pos: float = 0.0
    queue: list[Track] = field(default_factory=list)
    other: str = ""  # "", "episode" (a podcast) or a Track id another app plays
    other_device: Device | None = None
    picks: dict[str, int] = field(default_factory=dict)
    by_id: dict[str, Track] = field(default_factory=dict)

    def pick(self, mood: str) -> Track:
        n = self.picks.get(mood, 0)
        self.picks[mood] = n + 1
        t = _track(mood, n, self.seconds)
        self.by_id[t.id] = t
        return t

    def advance(self, now: float) -> None:
        while self.playing and self.current is not None and not self.other:
            end = self.started + self.current.duration_ms / 1000
            if end > now:
                return
            if not self.queue:
                self.playing, self.paused_pos = False, 0.0
                return
            self.current, self.started = self.queue.pop(0), end

    def playback(self, now: float) -> Playback:
        self.advance(now)
        if self.other == EPISODE_NOW:  # item null, currently_playing_type "episode"
            return Playback(True, None, 5000, self.other_device or SPEAKER, kind="episode")
        if self.other:
            return Playback(True, self.by_id.get(self.other, _track("other", 1)), 1000,
                            self.other_device or SPEAKER, kind="track")
        if self.current is None:
            return Playback(False, None, 0, None)
        pos = now - self.started if self.playing else self.paused_pos
        return Playback(self.playing, self.current, int(pos * 1000), SPEAKER, kind="track")

    def do(self, c: Any, now: float) -> Any:
        if self.offline and not isinstance(c, Done | Record | Feedback | ShowOffline):
            return Failed(c, Trouble.OFFLINE, "Spotify is not answering.")
        if isinstance(c, FindListener):
            return ListenerFound("u1")
        if isinstance(c, NextListener):
            return ListenerFound("u2")
        if isinstance(c, Prepare):
            if not self.speaker_there:
                return Failed(c, Trouble.SPEAKER_MISSING, "The speaker is not visible.")
            return Ready(self.pick(c.mood), c.mood, SPEAKER.name, 40)
        if isinstance(c, SetVolume):
            if self.fixed_volume:
                return VolumeFixed()
            self.volume = c.percent
            self.volumes.append((now, c.percent))
        elif isinstance(c, Play):
            if not self.premium:
                return Failed(c, Trouble.BLOCKED, "This Spotify account has no Premium.")
            if not self.speaker_there:
                return Failed(c, Trouble.SPEAKER_MISSING, "The speaker is not visible.")
            if self.refuse_play:
                return Failed(c, Trouble.REFUSED, "Spotify refused to play (Restriction "
                              "violated); press Play to try again.")
            t = c.track or self.pick(c.mood)
            self.current, self.started, self.playing, self.other = t, now, True, ""
            return Started(t, c.mood)
        elif isinstance(c, Queue):
            t = self.pick(c.mood)
            self.queue.append(t)
            return Queued(t, c.mood)
        elif isinstance(c, Poll):
            return Polled(self.playback(now))
        elif isinstance(c, Pause):
            self.advance(now)
            self.paused_pos, self.playing = now - self.started, False
            return Paused(c.why)
        elif isinstance(c, Resume):
            self.started, self.playing = now - self.paused_pos, True
            return Resumed()
        elif isinstance(c, Skip):
            self.advance(now)
            if self.queue:
                self.current, self.started = self.queue.pop(0), now
            return Skipped()
        return Done(c)

    def vanish(self) -> None:
        """The speaker drops off Spotify's device list: nothing active (204)."""
        self.speaker_there, self.playing, self.current, self.queue = False, False, None, []


class Script:
    """Drives `decide` on a timeline, like `PlayerService` does, and logs every command."""

    def __init__(self, world: World | None = None, settings: Settings = S) -> None:
        self.world = world or World()
        self.model = PlayerModel.initial(settings)
        self.now = 0.0
        self.log: list[tuple[float, Any]] = []

    def at(self, t: float) -> Script:
        """Advance to `t`, ticking at every deadline on the way."""
        for _ in range(10_000):
            due = next_wake(self.model, self.now)
            if due > t:
                break
            self.now = max(self.now, due)
            self.feed(None)
        self.now = t
        return self.feed(None)

    def feed(self, event: Any) -> Script:
        self.model, batch = decide(self.model, event, self.now)
        while batch:
            c, batch = batch[0], batch[1:]
            self.log.append((self.now, c))
            result = self.world.do(c, self.now)
            self.model, more = decide(self.model, result, self.now)
            batch = more if isinstance(result, Failed) else more + batch
        return self

    # -- events --
    def presence(self, people: int) -> Script:
        return self.feed(PresenceChanged(people=people, previous=self.model.people))

    def reading(self, mood: str, stable: bool = True, faces: int = 1) -> Script:
        return self.feed(MoodReading(faces=faces, valence=0.0, arousal=0.0, mood=mood,  # type: ignore[arg-type]
                                     confidence=0.9, stable=stable))

    def button(self, gesture: str) -> Script:
        return self.feed(ButtonGesture(gesture=gesture))  # type: ignore[arg-type]

    # -- what was sent --
    def sent(self, kind: type, since: float = -1.0) -> list[tuple[float, Any]]:
        return [(t, c) for t, c in self.log if isinstance(c, kind) and t >= since]

    def polls_between(self, t0: float, t1: float) -> list[float]:
        return [t for t, c in self.log if isinstance(c, Poll) and t0 <= t <= t1]


def playing(mood: str = "happy", world: World | None = None) -> Script:
    s = Script(world).at(0.0).presence(2).reading(mood)
    assert s.model.phase is Phase.PLAYING
    return s


