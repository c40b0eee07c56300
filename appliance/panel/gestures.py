"""The gesture recogniser: a pure state machine fed with (button, pressed, time).

No pins and no clock inside: `feed()` takes each raw edge with its time,
`tick(now)` fires what time alone decides (holds, the reset countdown, the
confirmation window) and `next_deadline()` says when `tick` is due next. Times
are monotonic seconds.

Gesture table (thresholds are `[panel]` config keys):

| buttons | gesture (when) | what the box does |
| --- | --- | --- |
| Play press (< 3 s) | `play_press` (release) | play/pause |
| Play hold 3 s | `play_hold` (reached) | while a browser waits to pair: enter its code next |
| Next press (< 1.5 s) | `next_press` (release) | skip; feedback against the track for this mood |
| Next hold 1.5 s | `next_hold` (reached) | like the track for this mood |
| Mood press (< 1.5 s) | `mood_press` (release) | manual mood: auto -> happy -> neutral -> sad -> |
| | | angry -> surprised -> auto (`ManualMood`) |
| Mood hold 1.5 s | `mood_hold` (release) | privacy on/off (`PrivacyChanged`) |
| Next press while Mood is held | `listener_next` (Next down) | next person's Spotify; |
| | | Mood then does nothing on release |
| Play + Next held 10 s | `factory_reset_armed` (reached) | LED counts down while held, |
| | | then flashes red fast |
| then release both and press | `factory_reset_confirmed` (both down) | erase everything, |
| Play + Next again within 5 s | | new key; the box is unclaimed |
| armed, but the 5 s pass, or | `factory_reset_cancelled` | nothing is erased |
| Mood / a lone Play or Next | | |

(3 s = pair_hold_seconds, 1.5 s = hold_seconds, 10 s = reset_hold_seconds,
5 s = reset_confirm_seconds, counted from arming.)

Rules:
- A button's state counts only after it has been stable for bounce_seconds
  (noise and contact bounce never make a press; the press's time is the start
  of the stable level).
- Mood's hold acts on release so that Mood + Next can never also toggle privacy.
- Play and Next fire their holds when the time is reached, once; a button stuck
  down fires its hold once and nothing more (no press on a later release).
- A button that took part in a two-button gesture (Play + Next, Mood + Next)
  fires nothing else until it is released.
- While a pairing code is entered, appliance.panel.entry turns presses into
  code presses (pair_play, pair_next, pair_mood) before they are published.
- At most `rate_limit` gestures per `rate_window` seconds are emitted (the
  factory-reset gestures are never dropped): no event storms.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

BUTTONS = ("play", "next", "mood")
RESET_GESTURES = frozenset({"factory_reset_armed", "factory_reset_confirmed",
                            "factory_reset_cancelled"})
ArmedPhase = Literal["", "holding", "waiting", "confirming"]


@dataclass(frozen=True)
class Timings:
    """Thresholds of the recogniser, in seconds."""

    bounce: float = 0.03
    hold: float = 1.5
    pair_hold: float = 3.0
    reset_hold: float = 10.0
    reset_confirm: float = 5.0
    rate_limit: int = 8
    rate_window: float = 2.0

    @classmethod
    def from_config(cls, cfg: Any) -> Timings:
        """Timings from a PanelConfig."""
        return cls(bounce=cfg.bounce_seconds, hold=cfg.hold_seconds,
                   pair_hold=cfg.pair_hold_seconds, reset_hold=cfg.reset_hold_seconds,
                   reset_confirm=cfg.reset_confirm_seconds)

    def hold_of(self, button: str) -> float:
        """Seconds a press of `button` must last to be a hold."""
        return self.pair_hold if button == "play" else self.hold


@dataclass
class _Button:
    raw: bool = False  # last raw level (pressed?)
    raw_t: float = 0.0  # time of the last raw edge
    down: bool = False  # debounced state
    down_at: float = 0.0
    consumed: bool = False  # part of a two-button gesture: fires nothing else
    held: bool = False  # its hold already fired


class GestureRecognizer:
    """Turns debounced button edges and time into gesture names (see the module table)."""

    def __init__(self, timings: Timings | None = None) -> None:
        self.t = timings or Timings()
        self.buttons = {name: _Button() for name in BUTTONS}
        self.combo_since: float | None = None  # Play + Next both down since
        self.armed_phase: ArmedPhase = ""
        self.armed_until = 0.0
        self.mood_chord = False  # Next was pressed during this Mood press
        self._sent: collections.deque[float] = collections.deque()
        self.dropped = 0

    # -- inputs -----------------------------------------------------------------

    def feed(self, button: str, pressed: bool, now: float) -> list[str]:
        """A raw edge of `button` at time `now`; returns the gestures due by `now`."""
        b = self.buttons[button]
        if pressed != b.raw:
            b.raw = pressed
            b.raw_t = now
        return self.tick(now)

    def tick(self, now: float) -> list[str]:
        """Gestures due by `now` (debounced edges in time order, then timers)."""
        out: list[str] = []
        while True:
            pending = [(b.raw_t, name) for name, b in self.buttons.items()
                       if b.raw != b.down and now >= b.raw_t + self.t.bounce]
            if not pending:
                break
            t, name = min(pending)
            out += self._timers(t)
            out += self._edge(name, self.buttons[name].raw, t)
        out += self._timers(now)
        return self._limit(out, now)

    # -- what time decides ---------------------------------------------------------

    def _until(self, name: str, now: float) -> float:
        """`now`, or the time of a raw change still being debounced (holds stop there)."""
        b = self.buttons[name]
        return min(now, b.raw_t) if b.raw != b.down else now

    def _timers(self, now: float) -> list[str]:
        out: list[str] = []
        if self.armed_phase and now >= self.armed_until:
            out.append(self._disarm("window passed"))
        if self.combo_since is not None and not self.armed_phase:
            reached = min(self._until("play", now), self._until("next", now))
            if reached >= self.combo_since + self.t.reset_hold:  # same sum as next_deadline
                self.combo_since = None
                self.armed_phase = "holding"
                self.armed_until = reached + self.t.reset_confirm
                out.append("factory_reset_armed")
        for name in ("play", "next"):
            b = self.buttons[name]
            if b.down and not b.consumed and not b.held and \
                    self._until(name, now) >= b.down_at + self.t.hold_of(name):
                b.held = True
                out.append(f"{name}_hold")
        return out

    def next_deadline(self) -> float | None:
        """When `tick` should run next (monotonic seconds), or None if nothing is pending."""
        times = [b.raw_t + self.t.bounce for b in self.buttons.values() if b.raw != b.down]
        for name in ("play", "next"):
            b = self.buttons[name]
            if b.down and not b.consumed and not b.held:
                times.append(b.down_at + self.t.hold_of(name))
        if self.combo_since is not None and not self.armed_phase:
            times.append(self.combo_since + self.t.reset_hold)
        if self.armed_phase:
            times.append(self.armed_until)
        return min(times) if times else None

    def countdown(self, now: float) -> float | None:
        """Progress 0..1 of a Play + Next hold towards arming the reset, or None."""
        if self.combo_since is None or self.armed_phase:
            return None
        return max(0.0, min(1.0, (now - self.combo_since) / self.t.reset_hold))

    @property
    def armed(self) -> bool:
        """The factory reset is armed and waits for its confirmation."""
        return bool(self.armed_phase)

    # -- edges -------------------------------------------------------------------

    def _edge(self, name: str, pressed: bool, t: float) -> list[str]:
        b = self.buttons[name]
        b.down = pressed
        if pressed:
            b.down_at, b.consumed, b.held = t, False, False
            return self._down(name, t)
        out = self._up(name, t)
        b.consumed = b.held = False
        return out

    def _down(self, name: str, t: float) -> list[str]:
        b = self.buttons[name]
        if self.armed_phase:
            b.consumed = True
            if self.armed_phase != "holding":
                if name == "mood":
                    return [self._disarm("Mood pressed")]
                other = self.buttons["next" if name == "play" else "play"]
                if other.down and other.consumed:
                    self.armed_phase = ""
                    return ["factory_reset_confirmed"]
                self.armed_phase = "confirming"
            return []
        if name == "next" and self.buttons["mood"].down:
            b.consumed = True
            self.mood_chord = True
            return ["listener_next"]
        if name in ("play", "next"):
            other = self.buttons["next" if name == "play" else "play"]
            if other.down and not other.consumed:
                b.consumed = other.consumed = True
                self.combo_since = t
        return []

    def _up(self, name: str, t: float) -> list[str]:
        b = self.buttons[name]
        if name in ("play", "next"):
            self.combo_since = None
        if self.armed_phase:
            if self.armed_phase == "holding":
                if not any(self.buttons[n].down for n in ("play", "next")):
                    self.armed_phase = "waiting"
                return []
            if self.armed_phase == "confirming" and name in ("play", "next"):
                return [self._disarm("only one button pressed")]
            return []
        if name == "mood":
            chord, self.mood_chord = self.mood_chord, False
            if chord or b.consumed:
                return []
            return ["mood_hold" if t >= b.down_at + self.t.hold else "mood_press"]
        if b.consumed or b.held:
            return []
        if t >= b.down_at + self.t.hold_of(name):  # reached between ticks: still one hold
            return [f"{name}_hold"]
        return [f"{name}_press"]

    def _disarm(self, why: str) -> str:
        logger.info("factory reset cancelled: %s", why)
        self.armed_phase = ""
        self.armed_until = 0.0
        return "factory_reset_cancelled"

    # -- storms --------------------------------------------------------------------

    def _limit(self, gestures: list[str], now: float) -> list[str]:
        """Drop gestures beyond rate_limit per rate_window (reset gestures always pass)."""
        out = []
        for g in gestures:
            while self._sent and now - self._sent[0] > self.t.rate_window:
                self._sent.popleft()
            if g not in RESET_GESTURES:
                if len(self._sent) >= self.t.rate_limit:
                    self.dropped += 1
                    if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                        logger.warning("button gestures arrive too fast; dropped %d so far "
                                       "(check the wiring for a loose contact)", self.dropped)
                    continue
                self._sent.append(now)
            out.append(g)
        return out
