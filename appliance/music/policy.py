"""The player's policy: what to do on the speaker, as a pure function of state, event and time.

    model, commands = decide(model, event, now)

No I/O, no clock, no awaits (the split of `appliance.panel.gestures`). The
service (`appliance.music.player`) runs the commands in order; each one's
outcome comes back as a result event (`Ready`, `Started`, `Polled`, ...,
`Failed`) whose own commands run before the rest of the batch, and a failed
command drops the rest of its batch. `event=None` is a tick; `next_wake(model)`
says when one is due.

The life of the music:
- idle -> people present (`PresenceChanged`) and a stable room mood -> start
  that mood's music with a fade-in;
- a new stable room mood queues its first track, so it starts at the next
  track boundary and no song is cut. Vision owns the dwell time: a reading is
  `stable` only once its label has lasted the dwell, and the player acts on the
  first stable reading of a new label, with no wait of its own;
- the room empty for `empty_room_minutes` -> fade out and pause; people back
  within `resume_within_minutes` -> resume with a fade-in;
- fades are steps on the timeline (a `SetVolume` every `fade_step_seconds`),
  not one long command, so a press, a person coming back or a failure during a
  fade is handled at once: people back during a fade-out fade the music up
  again, Play during it pauses at once; a speaker with fixed volume gets none;
- a manual mood holds until its `until`; privacy keeps the music and freezes
  the mood;
- someone else playing on the speaker (another track from the Spotify app, a
  podcast, an ad) -> the box backs off (phase `away`), says so, polls slowly,
  queues nothing, and waits for Play once the speaker is free again;
- Spotify trouble keeps the state and retries with backoff; a refused start
  restores the volume, shows why, and leaves Play working.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from appliance.core.bus import (
    ButtonGesture,
    ListenerChanged,
    ManualMood,
    MoodReading,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.music.spotify_models import Playback, Track

RETRY_MAX = 60.0
PAUSED_POLL_SECONDS = 30.0  # paused: notice a resume from the Spotify app this often
AWAY_POLL_SECONDS = 30.0  # someone else plays: look whether the speaker is free this often
MIN_POLL_GAP = 1.0  # never two polls closer than this, even around a track boundary
BOUNDARY_SLACK = 0.5  # poll this long after a track's expected end
NO_LISTENER_RETRY = 5.0
QUEUE_RETRY_SECONDS = 60.0  # a mood that found nothing to queue is asked again after this
OURS_KEPT = 12  # recent tracks of ours (played or queued) recognised on the speaker
ENDED_MARGIN_MS = 1500


class Phase(Enum):
    """What the speaker does, as far as the box is concerned."""

    IDLE = "idle"  # nothing of ours plays and nothing is paused
    STARTING = "starting"  # volume at 0, the first track being started
    PLAYING = "playing"
    FADING = "fading"  # fading out before a pause
    PAUSED = "paused"  # our music, paused (see `paused_by`)
    AWAY = "away"  # someone else plays on the speaker: hands off


class Trouble(Enum):
    """Why the last command failed (how long to wait, and what to show)."""

    RATE_LIMITED = "rate_limited"
    SPEAKER_MISSING = "speaker_missing"
    BLOCKED = "blocked"  # needs a person: link, relink, Premium, speaker, dashboard user list
    NOTHING_TO_PLAY = "nothing_to_play"
    REFUSED = "refused"  # 403 "Restriction violated" on a play
    OFFLINE = "offline"  # no answer, or 5xx: the "Spotify is not answering" error is shown
    REJECTED = "rejected"  # any other refusal: shown, retried with backoff
    NO_LISTENER = "no_listener"


WAITING = frozenset({Trouble.SPEAKER_MISSING, Trouble.NOTHING_TO_PLAY, Trouble.NO_LISTENER})


@dataclass(frozen=True)
class Settings:
    """The policy's times (seconds) and the speaker's usual volume."""

    fade_seconds: float = 3.0
    fade_step_seconds: float = 0.35
    empty_room_seconds: float = 600.0
    resume_within_seconds: float = 1800.0
    poll_seconds: float = 15.0
    queue_lead_seconds: float = 15.0
    retry_initial: float = 1.0
    manual_default_seconds: float = 1800.0
    skip_feedback_seconds: float = 30.0
    default_volume: int = 40

    @property
    def fade_out_after(self) -> float:
        """Seconds of empty room before the fade starts: the pause lands on the timeout."""
        return max(0.0, self.empty_room_seconds - self.fade_seconds)


@dataclass(frozen=True)
class Fade:
    """A volume fade on the timeline: step `i` is due at `start + i * seconds / steps`."""

    from_pct: int
    to_pct: int
    start: float
    seconds: float
    steps: int
    sent: int = 0  # steps sent so far

    @classmethod
    def of(cls, from_pct: int, to_pct: int, now: float, settings: Settings) -> Fade:
        """A fade over the settings' `fade_seconds`, starting at `now`."""
        s = settings
        steps = max(1, round(s.fade_seconds / s.fade_step_seconds)) \
            if s.fade_seconds > 0 and s.fade_step_seconds > 0 else 1
        return cls(from_pct, to_pct, now, max(0.0, s.fade_seconds), steps)

    def level(self, i: int) -> int:
        return round(self.from_pct + (self.to_pct - self.from_pct) * i / self.steps)

    @property
    def current(self) -> int:
        """The volume the speaker was last set to by this fade."""
        return self.level(self.sent)

    def next_at(self) -> float:
        return self._at(self.sent + 1)

    def due(self, now: float) -> int:
        """The step due at `now` (late ticks jump ahead rather than replay the steps)."""
        i = self.sent
        while i < self.steps and self._at(i + 1) <= now + 1e-9:
            i += 1
        return i

    def _at(self, i: int) -> float:
        return self.start + i * self.seconds / self.steps


@dataclass(frozen=True)
class Mine:
    """A track of ours on its way to the speaker, and the mood it was chosen for."""

    track: Track
    mood: str


@dataclass(frozen=True)
class PlayerModel:
    """Everything the policy knows (frozen: `decide` returns a new one)."""

    settings: Settings = field(default_factory=Settings)
    # the room
    people: int = 0
    room_mood: str | None = None
    reading: MoodReading | None = None  # the last stable reading (its numbers nudge the target)
    manual: tuple[str, float] | None = None  # (mood, until)
    privacy: bool = False
    empty_since: float | None = None
    # the speaker
    listener: str | None = None
    phase: Phase = Phase.IDLE
    paused_by: str = ""  # user | empty | external
    paused_at: float = 0.0
    music_mood: str = ""
    track: Track | None = None
    track_started: float = 0.0
    queued: Mine | None = None
    ours: tuple[Mine, ...] = ()  # recent tracks of ours, newest last
    speaker: str = ""
    volume: int = 40
    silenced: bool = False  # the box turned the speaker down and has not brought it back yet
    fade: Fade | None = None  # a fade in progress (in or out)
    fixed_volume: bool = False  # the speaker refuses volume changes: no fades, no silence
    next_poll: float = 0.0
    queue_tried: tuple[str, float] | None = None  # (mood, when) a queue found nothing
    refused: tuple[str, ...] = ()  # tracks Spotify would not start: not picked again
    # trouble
    retry_at: float = 0.0
    backoff: float = 1.0
    trouble: Trouble | None = None
    problem: str = ""
    offline_shown: bool = False
    note: str = ""  # a passing remark for the page ("liked", "paused from another app")
    jitter: float = 1.0  # this box's retry delays are scaled by it (0.9..1.1): no herds

    @classmethod
    def initial(cls, settings: Settings, *, people: int = 0, privacy: bool = False,
                listener: str | None = None, jitter: float = 1.0) -> PlayerModel:
        """The model of a box that just started."""
        return cls(settings=settings, people=people, privacy=privacy, listener=listener,
                   volume=settings.default_volume, backoff=settings.retry_initial,
                   jitter=jitter)

    @property
    def heading(self) -> str:
        """The mood the music is on, or already heading to (queued)."""
        return self.queued.mood if self.queued else self.music_mood

    def effective_mood(self, now: float) -> str | None:
        """The mood the music should have now (manual, else the room's)."""
        if self.manual and self.manual[1] > now:
            return self.manual[0]
        if self.privacy:
            return self.music_mood or self.room_mood
        return self.room_mood

    def fade_out_after(self) -> float:
        """Seconds of empty room before the fade-out starts (the pause lands on the timeout)."""
        s = self.settings
        return s.empty_room_seconds if self.fixed_volume else s.fade_out_after

    def track_end(self) -> float:
        """When the current track is expected to end (inf when none)."""
        if self.track is None:
            return float("inf")
        return self.track_started + self.track.duration_ms / 1000.0

    def avoid(self) -> tuple[str, ...]:
        """Track ids a pick must not return (playing now, queued, or refused by Spotify)."""
        now = tuple(t.id for t in (self.track, self.queued.track if self.queued else None) if t)
        return now + self.refused


# -- commands (what the service does) ---------------------------------------------------


@dataclass(frozen=True)
class FindListener:
    """Read whose account plays (`ListenerFound`)."""


@dataclass(frozen=True)
class Prepare:
    """Resolve the chosen speaker and pick a first track (`Ready`)."""

    mood: str
    reading: MoodReading | None
    avoid: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetVolume:
    percent: int


@dataclass(frozen=True)
class Play:
    """Play `track`, or a fresh pick for `mood` when None (`Started`)."""

    mood: str
    track: Track | None = None
    reading: MoodReading | None = None
    avoid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Queue:
    """Pick a track for `mood` and queue it after the current one (`Queued`)."""

    mood: str
    reading: MoodReading | None = None
    avoid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Poll:
    """Read the account's playback state (`Polled`)."""


@dataclass(frozen=True)
class Pause:
    """Pause (`Paused`); `account` pauses that listener's player instead (a switch)."""

    why: str
    account: str | None = None


@dataclass(frozen=True)
class Resume:
    """Resume the paused track (`Resumed`)."""


@dataclass(frozen=True)
class Skip:
    """Skip exactly one track (`Skipped`)."""


@dataclass(frozen=True)
class Record:
    """Remember that `track` started at `started` for `mood` (the plays table)."""

    track: Track
    mood: str
    started: float


@dataclass(frozen=True)
class Feedback:
    track_id: str
    mood: str
    kind: str  # skip | like


@dataclass(frozen=True)
class NextListener:
    """Move on to the next linked person (`ListenerFound`)."""


@dataclass(frozen=True)
class ShowOffline:
    """Raise (or clear) the "Spotify is not answering" error."""

    shown: bool


Command = (FindListener | Prepare | SetVolume | Play | Queue | Poll | Pause | Resume
           | Skip | Record | Feedback | NextListener | ShowOffline)


# -- results (what came of a command) ----------------------------------------------------


@dataclass(frozen=True)
class Done:
    """A command without a result of its own succeeded."""

    command: Any


@dataclass(frozen=True)
class ListenerFound:
    user_id: str | None


@dataclass(frozen=True)
class Ready:
    """The speaker is there and a first track was picked."""

    track: Track
    mood: str
    speaker: str
    volume: int


@dataclass(frozen=True)
class Started:
    track: Track
    mood: str


@dataclass(frozen=True)
class Queued:
    """`track` (None: nothing fitted) was queued for `mood`."""

    track: Track | None
    mood: str


@dataclass(frozen=True)
class Polled:
    playback: Playback


@dataclass(frozen=True)
class Paused:
    why: str


@dataclass(frozen=True)
class Resumed:
    pass


@dataclass(frozen=True)
class VolumeFixed:
    """The speaker does not allow volume control (VOLUME_CONTROL_DISALLOW)."""


@dataclass(frozen=True)
class Skipped:
    pass


@dataclass(frozen=True)
class Failed:
    """`command` failed: `trouble` says how, `message` what to tell a person."""

    command: Any
    trouble: Trouble
    message: str
    retry_after: float = 0.0


Result = Done | ListenerFound | Ready | Started | Queued | Polled | Paused | Resumed | Skipped \
    | VolumeFixed | Failed
Decision = tuple[PlayerModel, list[Any]]


# -- the policy --------------------------------------------------------------------------


def decide(model: PlayerModel, event: Any, now: float) -> Decision:
    """The next model and the commands for one event (None: time passed) at `now`."""
    handler = _HANDLERS.get(type(event))
    if handler is None and event is not None:
        return model, []
    m, out = handler(model, event, now) if handler is not None else (model, [])
    if not out and not isinstance(event, _RESULTS):
        # Inputs that asked for nothing themselves (and ticks) leave it to the reconciliation.
        return _reconcile(m, now)
    return m, out


def next_wake(model: PlayerModel, now: float) -> float:
    """When `decide(model, None, t)` next has something to do (inf: only events matter)."""
    times = [float("inf")]
    if model.manual:
        times.append(model.manual[1])
    if model.retry_at > now:
        return min([*times, model.retry_at])
    if model.fade is not None:
        times.append(model.fade.next_at())
    if model.phase is Phase.PLAYING:
        times.append(model.next_poll)
        if model.empty_since is not None and model.people == 0 and not model.privacy:
            times.append(model.empty_since + model.fade_out_after())
        if model.track is not None and model.queued is None:
            times.append(model.track_end() - model.settings.queue_lead_seconds)
    elif model.phase in (Phase.PAUSED, Phase.AWAY):
        times.append(model.next_poll)
    return max(now, min(times))


def view(model: PlayerModel) -> tuple[str, str]:
    """The `PlayerState.state` and `detail` the page and LEDs show for `model`."""
    if model.trouble is Trouble.BLOCKED:
        state = "error"
    elif model.trouble in WAITING:
        state = "waiting"
    elif model.phase is Phase.AWAY:
        state = "paused"
    else:
        state = model.phase.value
    return state, model.problem or model.note


# -- inputs ------------------------------------------------------------------------------


def _on_reading(m: PlayerModel, ev: MoodReading, now: float) -> Decision:
    if m.privacy or ev.faces <= 0 or not ev.stable:
        return m, []  # privacy freezes the mood; unstable labels are still inside vision's dwell
    return replace(m, room_mood=ev.mood, reading=ev), []


def _on_presence(m: PlayerModel, ev: PresenceChanged, now: float) -> Decision:
    if m.privacy:
        return m, []
    empty = m.empty_since if ev.people == 0 else None
    if ev.people == 0 and empty is None:
        empty = now
    return replace(m, people=ev.people, empty_since=empty), []


def _on_manual(m: PlayerModel, ev: ManualMood, now: float) -> Decision:
    if ev.mood is None:
        return replace(m, manual=None), []
    until = ev.until if ev.until > now else now + m.settings.manual_default_seconds
    m = replace(m, manual=(ev.mood, until))
    if m.phase is Phase.PLAYING and ev.mood != m.heading:
        # Chosen by a person: change now (queue the track, then skip to it once).
        return m, [Queue(ev.mood, None, m.avoid()), Skip()]
    if m.phase is Phase.PAUSED and m.paused_by == "empty":
        m = replace(m, phase=Phase.IDLE, paused_by="")
    return m, []


def _on_privacy(m: PlayerModel, ev: PrivacyChanged, now: float) -> Decision:
    empty = m.empty_since
    if not ev.enabled:
        empty = now if m.people == 0 else None
    return replace(m, privacy=ev.enabled, empty_since=empty), []


def _on_button(m: PlayerModel, ev: ButtonGesture, now: float) -> Decision:
    g = ev.gesture
    if g == "listener_next":
        return m, [NextListener()]
    if m.listener is None:
        return m, []
    if g == "play_press":
        # Always the music's: once the box is claimed only a Play hold pairs a browser,
        # so nobody on the Wi-Fi can take the Play button away by asking to pair.
        return _toggle(m, now)
    if g == "next_press" and m.phase is Phase.PLAYING and m.track is not None:
        out: list[Any] = []
        if now - m.track_started <= m.settings.skip_feedback_seconds:
            out.append(Feedback(m.track.id, m.music_mood, "skip"))
        if m.queued is None:
            out.append(Queue(m.heading, _reading_for(m, m.heading), m.avoid()))
        return m, [*out, Skip()]
    if g == "next_hold" and m.track is not None and m.music_mood:
        return replace(m, note="liked"), [Feedback(m.track.id, m.music_mood, "like")]
    return m, []


def _toggle(m: PlayerModel, now: float) -> Decision:
    if m.phase is Phase.PLAYING:
        return replace(m, fade=None), [Pause("user")]
    if m.phase is Phase.FADING:  # fading out for an empty room: pause now, volume back
        return replace(m, fade=None), [Pause("user"), *_volume(m, m.volume)]
    if m.phase is Phase.PAUSED and m.track is not None:
        return _resume(m)
    if m.phase in (Phase.IDLE, Phase.PAUSED, Phase.AWAY):
        # A person asked: no waiting for a retry, and the speaker is ours again.
        m = replace(m, phase=Phase.IDLE, paused_by="", retry_at=0.0, note="")
        return _start(m, m.effective_mood(now) or "neutral")
    return m, []  # starting: the press would only race the play command in flight


def _on_listener(m: PlayerModel, ev: ListenerChanged, now: float) -> Decision:
    return _switch_listener(m, ev.user_id)


# -- results -----------------------------------------------------------------------------


def _ok(m: PlayerModel) -> Decision:
    """A command of the speaker's succeeded: the trouble is over."""
    out: list[Any] = [ShowOffline(False)] if m.offline_shown else []
    return replace(m, backoff=m.settings.retry_initial, trouble=None, problem="",
                   offline_shown=False), out


def _on_done(m: PlayerModel, ev: Done, now: float) -> Decision:
    c = ev.command
    if isinstance(c, SetVolume):
        return replace(m, silenced=c.percent != m.volume), []
    return m, []


def _on_listener_found(m: PlayerModel, ev: ListenerFound, now: float) -> Decision:
    if ev.user_id is None:
        if m.listener is not None:
            return m, []
        return replace(m, trouble=Trouble.NO_LISTENER,
                       problem="No Spotify account is linked yet; link one on the page.",
                       retry_at=now + NO_LISTENER_RETRY), []
    if m.listener is None:
        m, out = _ok(replace(m, listener=ev.user_id))
        return m, out
    return _switch_listener(m, ev.user_id)


def _switch_listener(m: PlayerModel, user_id: str) -> Decision:
    if user_id == m.listener:
        return m, []
    old = m.listener
    out: list[Any] = []
    if old and m.phase is Phase.PLAYING:
        out.append(Pause("switch", account=old))
    return replace(m, listener=user_id, phase=Phase.IDLE, paused_by="", track=None,
                   queued=None, music_mood="", note="", retry_at=0.0, fade=None), out


def _on_ready(m: PlayerModel, ev: Ready, now: float) -> Decision:
    m, out = _ok(m)
    fixed = m.fixed_volume and ev.speaker == m.speaker
    m = replace(m, phase=Phase.STARTING, speaker=ev.speaker, volume=ev.volume,
                fixed_volume=fixed, fade=None)
    return m, [*out, *_volume(m, 0), Play(ev.mood, ev.track)]


def _on_started(m: PlayerModel, ev: Started, now: float) -> Decision:
    m, out = _ok(m)
    starting = m.phase is Phase.STARTING
    empty = m.empty_since
    if m.people == 0 and empty is None and not m.privacy:
        empty = now
    m = _now_playing(replace(m, phase=Phase.PLAYING, queued=None, empty_since=empty),
                     ev.track, ev.mood, now)
    out += [Record(ev.track, ev.mood, now)]
    if starting or m.silenced:
        m = _fade(m, 0, m.volume, now)
    return m, out


def _on_queued(m: PlayerModel, ev: Queued, now: float) -> Decision:
    if ev.track is None:
        return replace(m, queue_tried=(ev.mood, now)), []
    m, out = _ok(m)
    mine = Mine(ev.track, ev.mood)
    return replace(m, queued=mine, queue_tried=None, ours=_remember(m.ours, mine)), out


def _on_skipped(m: PlayerModel, ev: Skipped, now: float) -> Decision:
    m, out = _ok(m)
    if m.queued is not None:
        q = m.queued
        m = _now_playing(replace(m, queued=None), q.track, q.mood, now)
        out.append(Record(q.track, q.mood, now))
    return replace(m, next_poll=now + MIN_POLL_GAP), out


def _on_paused(m: PlayerModel, ev: Paused, now: float) -> Decision:
    m, out = _ok(m)
    if ev.why == "switch":
        return m, out
    queued = None if ev.why == "empty" else m.queued
    return replace(m, phase=Phase.PAUSED, paused_by=ev.why, paused_at=now, queued=queued,
                   next_poll=now + PAUSED_POLL_SECONDS), out


def _on_resumed(m: PlayerModel, ev: Resumed, now: float) -> Decision:
    m, out = _ok(m)
    empty = now if m.people == 0 and not m.privacy else None
    m = replace(m, phase=Phase.PLAYING, paused_by="", note="", empty_since=empty,
                next_poll=now + MIN_POLL_GAP)
    return _fade(m, 0, m.volume, now), out


def _on_volume_fixed(m: PlayerModel, ev: VolumeFixed, now: float) -> Decision:
    return replace(m, fixed_volume=True, fade=None, silenced=False), []


def _on_polled(m: PlayerModel, ev: Polled, now: float) -> Decision:
    m, out = _ok(m)
    pb = ev.playback
    if m.phase is Phase.PLAYING:
        m, more = _polled_playing(m, pb, now)
    elif m.phase is Phase.PAUSED:
        m, more = _polled_paused(m, pb, now)
    elif m.phase is Phase.AWAY:
        m, more = _polled_away(m, pb, now)
    else:
        more = []
    return m, out + more


def _polled_playing(m: PlayerModel, pb: Playback, now: float) -> Decision:
    current = m.track
    if current is None:  # playing, but not knowing what: learn it from the next poll
        return replace(m, next_poll=now + m.settings.poll_seconds), []
    if pb.is_playing and _foreign(m, pb, now):
        return _away(m, pb, now), []
    if pb.track is not None and pb.track.id != current.id:
        mine = _ours(m, pb.track)
        mood = mine.mood if mine else m.music_mood  # after our track ended: Spotify's autoplay
        queued = None if m.queued is None or m.queued.track.id == pb.track.id else m.queued
        started = now - pb.progress_ms / 1000.0
        m = _now_playing(replace(m, queued=queued), pb.track, mood, started)
        return _next_poll(m, now), [Record(pb.track, mood, started)]
    if not pb.is_playing:
        ended = pb.track is None or pb.progress_ms == 0 or \
            pb.progress_ms >= current.duration_ms - ENDED_MARGIN_MS
        if ended:  # the list ran out (no queued track reached Spotify): play the next pick
            mood = m.heading or m.effective_mood(now) or "neutral"
            track = m.queued.track if m.queued else None
            return replace(m, next_poll=now + MIN_POLL_GAP), [
                Play(mood, track, _reading_for(m, mood), m.avoid())]
        return replace(m, phase=Phase.PAUSED, paused_by="external", paused_at=now,
                       note="paused from another app",
                       next_poll=now + PAUSED_POLL_SECONDS), []
    m = replace(m, track_started=now - pb.progress_ms / 1000.0)
    return _next_poll(m, now), []


def _polled_paused(m: PlayerModel, pb: Playback, now: float) -> Decision:
    m = replace(m, next_poll=now + PAUSED_POLL_SECONDS)
    if not pb.is_playing:
        return m, []
    if pb.track is None or _foreign(m, pb, now, paused=True):
        return _away(m, pb, now), []
    # Our music was resumed from the Spotify app.
    empty = now if m.people == 0 and not m.privacy and m.empty_since is None else m.empty_since
    m = replace(m, phase=Phase.PLAYING, paused_by="", note="", empty_since=empty)
    out: list[Any] = []
    if m.track is None or pb.track.id != m.track.id:
        mood = m.music_mood or "neutral"
        m = _now_playing(m, pb.track, mood, now - pb.progress_ms / 1000.0)
        out.append(Record(pb.track, mood, m.track_started))
    else:
        m = replace(m, track_started=now - pb.progress_ms / 1000.0)
    return _next_poll(m, now), out


def _polled_away(m: PlayerModel, pb: Playback, now: float) -> Decision:
    mine = _ours(m, pb.track) if pb.track is not None and not pb.foreign else None
    on_ours = pb.device is None or not m.speaker or pb.device.name == m.speaker
    if pb.is_playing and mine is not None and on_ours:
        # Our music is back on our speaker (resumed from the app): the box follows it again.
        started = now - pb.progress_ms / 1000.0
        m = _now_playing(replace(m, phase=Phase.PLAYING, paused_by="", queued=None),
                         mine.track, mine.mood, started)
        return _next_poll(m, now), []
    if pb.is_playing:
        return replace(m, next_poll=now + AWAY_POLL_SECONDS), []
    # The speaker is free again: the box waits for Play rather than cut in on a pause.
    return replace(m, phase=Phase.PAUSED, paused_by="external", paused_at=now,
                   note="The Spotify app stopped; press Play for the room's music.",
                   next_poll=now + PAUSED_POLL_SECONDS), []


def _on_failed(m: PlayerModel, ev: Failed, now: float) -> Decision:
    """Keep the state, show what went wrong, and retry later (never replay the command)."""
    if ev.trouble is Trouble.RATE_LIMITED:
        delay = max(ev.retry_after, m.backoff)
    elif ev.trouble in (Trouble.BLOCKED, Trouble.NOTHING_TO_PLAY):
        delay = RETRY_MAX
    else:
        delay = m.backoff
    delay *= m.jitter
    out: list[Any] = []
    # Never leave the speaker turned down: at once when Spotify answers (a refused play),
    # else with the retry (the reconciliation restores it; see `_reconcile`).
    if (m.silenced or m.fade is not None) and not isinstance(ev.command, SetVolume) \
            and ev.trouble not in (Trouble.OFFLINE, Trouble.RATE_LIMITED):
        out += _volume(m, m.volume)
    phase = m.phase
    if phase is Phase.FADING:
        phase = Phase.PLAYING
    elif phase is Phase.STARTING:
        phase = Phase.IDLE
    track = m.track if phase is not Phase.IDLE else None
    if ev.trouble is Trouble.SPEAKER_MISSING and phase is Phase.PLAYING:
        phase, track = Phase.IDLE, None  # the speaker vanished: start afresh when it is back
    refused = m.refused
    if ev.trouble is Trouble.REFUSED and isinstance(ev.command, Play) and ev.command.track:
        refused = (*refused, ev.command.track.id)[-OURS_KEPT:]  # the retry picks another
    offline = m.offline_shown
    if ev.trouble is Trouble.OFFLINE and not offline:
        offline = True
        out.append(ShowOffline(True))
    m = replace(m, phase=phase, track=track, queued=m.queued if track else None, fade=None,
                music_mood=m.music_mood if track else "", retry_at=now + delay,
                backoff=min(RETRY_MAX, m.backoff * 2), trouble=ev.trouble,
                problem=ev.message, offline_shown=offline, refused=refused)
    return m, out


# -- time: the reconciliation ------------------------------------------------------------


def _reconcile(m: PlayerModel, now: float) -> Decision:
    """What the current knowledge asks for (start, queue, poll, fade, resume)."""
    if m.manual and m.manual[1] <= now:
        m = replace(m, manual=None)
    if m.retry_at > now:
        return m, []
    if m.listener is None:
        return m, [FindListener()]
    mood = m.effective_mood(now)
    if m.phase is Phase.FADING:
        if m.people > 0 or m.privacy:  # someone came back: fade up again
            level = m.fade.current if m.fade is not None else 0
            m = _fade(replace(m, phase=Phase.PLAYING, empty_since=None), level, m.volume, now)
        else:
            return _fade_step(m, now)
    m, stepped = _fade_step(m, now)
    if m.silenced and m.fade is None and not stepped and m.phase is not Phase.STARTING:
        stepped += _volume(m, m.volume)  # a fade or a restore that failed earlier
    m, out = _reconcile_phase(m, mood, now)
    return m, stepped + out


def _reconcile_phase(m: PlayerModel, mood: str | None, now: float) -> Decision:
    s = m.settings
    if m.phase is Phase.IDLE:
        if mood and (m.people > 0 or m.manual):
            return _start(m, mood)
        return m, []
    if m.phase is Phase.PLAYING:
        if not m.privacy and m.people == 0 and m.empty_since is not None \
                and now - m.empty_since >= m.fade_out_after():
            if m.fixed_volume:
                return replace(m, phase=Phase.FADING, fade=None), [Pause("empty")]
            level = m.fade.current if m.fade is not None else m.volume
            return _fade_step(_fade(replace(m, phase=Phase.FADING), level, 0, now), now)
        out: list[Any] = []
        if mood and mood != m.heading and not _tried(m, mood, now):
            out.append(Queue(mood, _reading_for(m, mood), m.avoid()))
        elif m.queued is None and m.track is not None and not _tried(m, m.heading, now) \
                and m.track_end() - now <= s.queue_lead_seconds:
            out.append(Queue(m.heading, _reading_for(m, m.heading), m.avoid()))
        if now >= m.next_poll:
            out.append(Poll())
        return m, out
    if m.phase is Phase.PAUSED:
        if m.paused_by == "empty" and m.people > 0:
            if now - m.paused_at <= s.resume_within_seconds and m.track is not None:
                return _resume(m)
            m = replace(m, phase=Phase.IDLE, paused_by="", track=None, queued=None)
            return _start(m, mood) if mood else (m, [])
        if now >= m.next_poll:
            return m, [Poll()]
        return m, []
    if m.phase is Phase.AWAY and now >= m.next_poll:
        return m, [Poll()]
    return m, []


def _fade(m: PlayerModel, from_pct: int, to_pct: int, now: float) -> PlayerModel:
    """`m` with a fade from `from_pct` to `to_pct` starting now (none on a fixed-volume speaker)."""
    if m.fixed_volume:
        return replace(m, fade=None, silenced=False)
    return replace(m, fade=Fade.of(from_pct, to_pct, now, m.settings))


def _fade_step(m: PlayerModel, now: float) -> Decision:
    """The fade's step due now; at the end of a fade-out, the pause."""
    f = m.fade
    if f is None:
        return m, []
    i = f.due(now)
    if i <= f.sent:
        return m, []
    out = _volume(m, f.level(i)) if f.level(i) != f.current or i == f.steps else []
    if i < f.steps:
        return replace(m, fade=replace(f, sent=i)), out
    m = replace(m, fade=None)
    if m.phase is Phase.FADING:  # faded out: pause, and leave the usual volume for the app
        out += [Pause("empty"), *_volume(m, m.volume)]
    return m, out


def _volume(m: PlayerModel, percent: int) -> list[Any]:
    return [] if m.fixed_volume else [SetVolume(percent)]


def _start(m: PlayerModel, mood: str) -> Decision:
    return m, [Prepare(mood, _reading_for(m, mood), m.avoid())]


def _resume(m: PlayerModel) -> Decision:
    return m, [*_volume(m, 0), Resume()]


# -- helpers -----------------------------------------------------------------------------


def _reading_for(m: PlayerModel, mood: str) -> MoodReading | None:
    """The room's numbers when `mood` is the room's own (a chosen mood uses its target)."""
    r = m.reading
    return r if r is not None and r.mood == mood and not m.manual else None


def _tried(m: PlayerModel, mood: str, now: float) -> bool:
    t = m.queue_tried
    return t is not None and t[0] == mood and now - t[1] < QUEUE_RETRY_SECONDS


def _now_playing(m: PlayerModel, track: Track, mood: str, started: float) -> PlayerModel:
    mine = Mine(track, mood)
    m = replace(m, track=track, music_mood=mood, track_started=started, note="",
                ours=_remember(m.ours, mine))
    return _next_poll(m, started)


def _next_poll(m: PlayerModel, now: float) -> PlayerModel:
    """Poll every `poll_seconds`, and just after the track's expected end (the boundary)."""
    at = min(now + m.settings.poll_seconds, m.track_end() + BOUNDARY_SLACK)
    return replace(m, next_poll=max(now + MIN_POLL_GAP, at))


def _remember(ours: tuple[Mine, ...], mine: Mine) -> tuple[Mine, ...]:
    kept = tuple(o for o in ours if o.track.id != mine.track.id)
    return (*kept, mine)[-OURS_KEPT:]


def _ours(m: PlayerModel, track: Track) -> Mine | None:
    return next((o for o in reversed(m.ours) if o.track.id == track.id), None)


def _foreign(m: PlayerModel, pb: Playback, now: float, *, paused: bool = False) -> bool:
    """Someone else plays on the account: not a track of ours, or on another speaker."""
    if pb.foreign or pb.track is None:
        return True  # a podcast, an ad, a local file or something we cannot read: not ours
    if pb.device is not None and m.speaker and pb.device.name != m.speaker:
        return True  # moved to another device (a phone, another speaker)
    if _ours(m, pb.track) is not None:
        return False
    if paused:
        return m.track is None or pb.track.id != m.track.id
    # A strange track after our last one ended is Spotify's autoplay; before, a person's.
    return now < m.track_end() - ENDED_MARGIN_MS / 1000.0


AWAY_WHAT = {"episode": "a podcast", "ad": "an ad", "local": "a local file",
             "unknown": "something the box cannot read", "track": "other music"}


def _away(m: PlayerModel, pb: Playback, now: float) -> PlayerModel:
    what = AWAY_WHAT.get(pb.kind or "nothing", "something else")
    where = m.speaker or "the speaker"
    note = (f"Someone is playing {what} on {where} from the Spotify app; the box waits "
            "(press Play for the room's music).")
    return replace(m, phase=Phase.AWAY, paused_by="external", paused_at=now, track=None,
                   queued=None, music_mood="", note=note, fade=None,
                   next_poll=now + AWAY_POLL_SECONDS)


_RESULTS = (Done, ListenerFound, Ready, Started, Queued, Polled, Paused, Resumed, Skipped,
            VolumeFixed, Failed)
_HANDLERS: dict[type, Any] = {
    MoodReading: _on_reading, PresenceChanged: _on_presence, ManualMood: _on_manual,
    PrivacyChanged: _on_privacy, ButtonGesture: _on_button, ListenerChanged: _on_listener,
    Done: _on_done, ListenerFound: _on_listener_found, Ready: _on_ready, Started: _on_started,
    Queued: _on_queued, Polled: _on_polled, Paused: _on_paused, Resumed: _on_resumed,
    Skipped: _on_skipped, VolumeFixed: _on_volume_fixed, Failed: _on_failed,
}

__all__ = [
    "Command",
    "Decision",
    "Done",
    "Fade",
    "Failed",
    "Feedback",
    "FindListener",
    "ListenerFound",
    "NextListener",
    "Pause",
    "Paused",
    "Phase",
    "Play",
    "PlayerModel",
    "Poll",
    "Polled",
    "Prepare",
    "Queue",
    "Queued",
    "Ready",
    "Record",
    "Resume",
    "Resumed",
    "SetVolume",
    "Settings",
    "ShowOffline",
    "Skip",
    "Skipped",
    "Started",
    "Trouble",
    "VolumeFixed",
    "decide",
    "next_wake",
    "view",
]
