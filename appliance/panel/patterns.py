"""Light patterns as data: condition -> colour, blink and fade timings, priority.

The status LED shows the active condition with the highest priority. Colours
are 0..1 RGB; `on`/`off` are seconds at full colour / dark, `fade_in`/`fade_out`
seconds of the ramps between them (gpiozero's RGBLED.blink). A pattern with
no off time and no fades is steady.

| condition | colour | on | off | fade in/out | prio | meaning |
| --- | --- | --- | --- | --- | --- | --- |
| reset_countdown | white | 0.5 -> 0.05 | 0.5 -> 0.05 | 0 | 100 | Play + Next held |
| reset_armed | red | 0.1 | 0.1 | 0 | 95 | release, press both again |
| resetting | red | 0 | 0 | 0.4 | 90 | erasing |
| pair_approved | green | 0.15 | 0.15 | 0 | 87 | the code was right: that browser is paired |
| pair_refused | amber | 0.15 | 0.15 | 0 | 87 | no waiting browser has the code entered |
| pair_entry | blue | steady | | | 85 | taking a pairing code: press what the phone shows |
| pairing | blue | 0.5 | 0.5 | 0 | 80 | a browser waits for its code on the buttons |
| error_service | red | steady | | | 70 | a part of the box failed |
| error_camera | red | 1.0 | 1.0 | 0 | 68 | no frames from the camera |
| error_network | red | 0.2 | 0.8 | 0 | 66 | network unreachable |
| error_spotify | red | 0 | 0.3 | 0.8 | 64 | Spotify refuses to play |
| error | red | 1.6 | 0.4 | 0 | 62 | another error (store, ...) |
| relink | amber | 0.2 | 1.8 | 0 | 50 | re-link Spotify |
| speaker_missing | purple | 1.0 | 1.0 | 0 | 45 | speaker not found |
| needs_setup | cyan | 0 | 0.2 | 1.0 | 40 | open the setup page |
| starting | white | 0 | 0 | 0.6 | 30 | the box is starting |
| playing | green | 0.6 | 0 | 1.2 | 10 | music is playing |
| ready | dim green | steady | | | 0 | ready, nothing playing |

The mood LED shows the room's mood colour (MOOD_COLORS) scaled by the
reading's confidence, a mood chosen by hand at full brightness, and nothing in
privacy mode or when the room is empty. The camera LED is on exactly while the
camera captures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

RGB = tuple[float, float, float]
OFF: RGB = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Pattern:
    """How the status LED shows one condition."""

    name: str
    color: RGB
    on: float = 0.0
    off: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    priority: int = 0
    meaning: str = ""

    @property
    def steady(self) -> bool:
        """True if the LED just stays at `color`."""
        return self.off == 0 and self.fade_in == 0 and self.fade_out == 0

    @property
    def period(self) -> float:
        """Seconds of one blink cycle (0 when steady)."""
        return 0.0 if self.steady else self.on + self.off + self.fade_in + self.fade_out

    def to_dict(self) -> dict[str, object]:
        """The JSON form used by the virtual panel."""
        return {"name": self.name, "color": list(self.color), "on": self.on, "off": self.off,
                "fadeIn": self.fade_in, "fadeOut": self.fade_out, "priority": self.priority,
                "meaning": self.meaning}


RED: RGB = (1.0, 0.0, 0.0)
STATUS_PATTERNS: dict[str, Pattern] = {p.name: p for p in (
    Pattern("reset_countdown", (1.0, 1.0, 1.0), 0.5, 0.5, 0, 0, 100,
            "Play + Next held: factory reset countdown"),
    Pattern("reset_armed", RED, 0.1, 0.1, 0, 0, 95,
            "factory reset armed: release both, then press both again to confirm"),
    Pattern("resetting", RED, 0.0, 0.0, 0.4, 0.4, 90, "factory reset in progress"),
    Pattern("pair_approved", (0.0, 1.0, 0.0), 0.15, 0.15, 0, 0, 87,
            "the code was right: that browser is paired"),
    Pattern("pair_refused", (1.0, 0.45, 0.0), 0.15, 0.15, 0, 0, 87,
            "no waiting browser has the code just entered: check it and try again"),
    Pattern("pair_entry", (0.0, 0.2, 1.0), 0, 0, 0, 0, 85,
            "taking a pairing code: press the buttons the phone shows"),
    Pattern("pairing", (0.0, 0.2, 1.0), 0.5, 0.5, 0, 0, 80,
            "a browser is waiting: hold Play, then press the code its page shows"),
    Pattern("error_service", RED, 0, 0, 0, 0, 70, "a part of the box stopped working"),
    Pattern("error_camera", RED, 1.0, 1.0, 0, 0, 68, "the camera is not working"),
    Pattern("error_network", RED, 0.2, 0.8, 0, 0, 66, "network problem"),
    Pattern("error_spotify", RED, 0.0, 0.3, 0.8, 0.8, 64, "Spotify refuses to play"),
    Pattern("error", RED, 1.6, 0.4, 0, 0, 62, "something needs attention"),
    Pattern("relink", (1.0, 0.45, 0.0), 0.2, 1.8, 0, 0, 50,
            "Spotify must be linked again on the setup page"),
    Pattern("speaker_missing", (0.6, 0.0, 1.0), 1.0, 1.0, 0, 0, 45,
            "the chosen speaker is not found: switch it on"),
    Pattern("needs_setup", (0.0, 0.8, 0.8), 0.0, 0.2, 1.0, 1.0, 40,
            "open the setup page to finish setting up"),
    Pattern("starting", (0.7, 0.7, 0.7), 0.0, 0.0, 0.6, 0.6, 30, "starting"),
    Pattern("playing", (0.0, 1.0, 0.0), 0.6, 0.0, 1.2, 1.2, 10, "playing music"),
    Pattern("ready", (0.0, 0.35, 0.0), 0, 0, 0, 0, 0, "ready"),
)}

COUNTDOWN_FASTEST = 0.05  # on/off seconds when the reset is about to arm
COUNTDOWN_STEPS = 10


def winner(active: set[str] | frozenset[str]) -> Pattern:
    """The pattern of the highest-priority active condition ("ready" when none)."""
    best = max((STATUS_PATTERNS[c] for c in active if c in STATUS_PATTERNS),
               key=lambda p: p.priority, default=STATUS_PATTERNS["ready"])
    return best


def countdown_pattern(progress: float) -> Pattern:
    """The reset countdown at `progress` (0..1): the blink speeds up in COUNTDOWN_STEPS steps."""
    base = STATUS_PATTERNS["reset_countdown"]
    step = min(COUNTDOWN_STEPS - 1, max(0, int(progress * COUNTDOWN_STEPS)))
    half = base.on - (base.on - COUNTDOWN_FASTEST) * step / (COUNTDOWN_STEPS - 1)
    return replace(base, on=round(half, 3), off=round(half, 3))


MOOD_COLORS: dict[str, RGB] = {
    "happy": (1.0, 0.7, 0.0),
    "neutral": (0.7, 0.7, 0.7),
    "sad": (0.0, 0.3, 1.0),
    "angry": (1.0, 0.0, 0.0),
    "surprised": (0.7, 0.0, 1.0),
}
MIN_MOOD_BRIGHTNESS = 0.05  # a confident-enough reading never goes fully dark


def mood_color(mood: str, confidence: float) -> RGB:
    """The mood LED's colour: the mood's colour scaled by confidence (0..1)."""
    base = MOOD_COLORS.get(mood, OFF)
    level = max(MIN_MOOD_BRIGHTNESS, min(1.0, confidence))
    return (round(base[0] * level, 3), round(base[1] * level, 3), round(base[2] * level, 3))
