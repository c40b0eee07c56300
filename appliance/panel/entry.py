"""Taking a pairing code on the buttons (pure: gestures and times in, decisions out).

While a browser waits to pair (`PairingWindow` open), a Play hold starts an entry
(an unclaimed box, whose window says `hold=False`, starts one at the first press).
During an entry the presses are the code, not their usual actions: Play press,
Next press or hold and Mood press or hold are published as `pair_play`,
`pair_next` and `pair_mood`, and after `length` of them the whole code is handed
back once (the service publishes `PairingEntered`). Mood held + Next is dropped.
An entry ends with its last press, after `idle` seconds without one, when the
window closes, or when a factory reset starts; a Play hold starts it afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.panel.gestures import RESET_GESTURES

PRESS_OF = {"play_press": "play", "next_press": "next", "next_hold": "next",
            "mood_press": "mood", "mood_hold": "mood"}
DEFAULT_LENGTH = 4


@dataclass
class CodeEntry:
    """One pairing code being entered on the buttons."""

    idle: float  # seconds an entry waits for its next press
    active: bool = False
    presses: list[str] = field(default_factory=list)
    last: float = 0.0  # monotonic time of the start or the last press

    def expire(self, now: float, window_open: bool) -> bool:
        """End the entry if it waited too long or the window closed; True if it ended."""
        if self.active and (not window_open or now - self.last > self.idle):
            self.active = False
            self.presses.clear()
            return True
        return False

    def take(self, gesture: str, now: float, *, window_open: bool, hold: bool,
             length: int) -> tuple[str | None, tuple[str, ...] | None]:
        """(gesture to publish or None, the complete code or None) for one gesture."""
        self.expire(now, window_open)
        if not window_open:
            return gesture, None
        if gesture in RESET_GESTURES:
            self.active = False
            self.presses.clear()
            return gesture, None
        if gesture == "play_hold":
            self.active, self.last = True, now
            self.presses.clear()
            return gesture, None
        press = PRESS_OF.get(gesture)
        if press is not None and not self.active and not hold:
            self.active, self.last = True, now
            self.presses.clear()
        if not self.active:
            return gesture, None
        if press is None:
            return (None, None) if gesture == "listener_next" else (gesture, None)
        self.presses.append(press)
        self.last = now
        if len(self.presses) < (length or DEFAULT_LENGTH):
            return f"pair_{press}", None
        code = tuple(self.presses)
        self.active = False
        self.presses.clear()
        return f"pair_{press}", code
