"""What the LEDs should show, derived from bus events (pure: no pins, no loop)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from appliance.core.bus import (
    CameraState,
    ErrorCleared,
    ErrorRaised,
    Event,
    LinkState,
    ListenerChanged,
    ManualMood,
    MoodReading,
    PairingChecked,
    PairingWindow,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
    ServiceState,
    SetupProgress,
)
from appliance.core.errors import ErrorBoard
from appliance.panel.patterns import MOOD_COLORS, OFF, RGB, mood_color

logger = logging.getLogger(__name__)

# Every event type the conditions follow (the service subscribes to these).
FOLLOWED = (CameraState, ErrorCleared, ErrorRaised, LinkState, ListenerChanged, ManualMood,
            MoodReading, PairingChecked, PairingWindow, PlayerState, PresenceChanged,
            PrivacyChanged, ServiceState, SetupProgress)
PAIR_RESULT_SECONDS = 2.0  # how long the status LED shows whether a code was right


def error_condition(source: str, key: str) -> str:
    """The status condition of an ErrorRaised: error_camera, _network, _spotify, _service
    or plain error."""
    head = key.split(".", 1)[0]
    for cond, names in (("error_service", ("service",)), ("error_camera", ("camera",)),
                        ("error_network", ("network",)), ("error_spotify", ("spotify",))):
        if source in names or head in names:
            return cond
    return "error"


@dataclass(frozen=True)
class MoodLight:
    """What the mood LED shows: a colour and why (room, manual, privacy, empty, off)."""

    color: RGB
    pattern: str


class Conditions:
    """The box's state as the LEDs see it; `apply` each event, then ask `active(now)`.

    Active errors come from the box's error board, which follows the bus itself;
    without one (a panel on its own), the conditions fold errors into a board of
    their own.
    """

    def __init__(self, errors: ErrorBoard | None = None) -> None:
        self._own_board = errors is None
        self.board = ErrorBoard() if errors is None else errors
        self.failed_services: set[str] = set()
        self.starting_services: set[str] = set()
        self.seen_box = False  # any sign of life from the rest of the box
        self.setup_step = ""
        self.pairing_until: float | None = None  # open window's end (0 = no end given)
        self.pairing_hold = True  # a Play hold starts a code (False: an unclaimed box)
        self.pairing_length = 4
        self.pair_result: tuple[bool, float] | None = None  # (approved, shown until)
        self.player_state = ""
        self.links: dict[tuple[str, str], str] = {}  # (platform, user) -> state
        self.listener = ""
        self.camera_capturing = False
        self.camera_error = ""
        self.privacy = False
        self.manual: tuple[str, float] | None = None  # (mood, until wall-clock; 0: no end)
        self.mood: MoodReading | None = None
        self.people: int | None = None
        # Set by the panel service itself:
        self.countdown: float | None = None
        self.armed = False
        self.resetting = False
        self.entering = False  # a pairing code is being entered

    def apply(self, ev: Event) -> None:
        """Update from one bus event (others are ignored)."""
        if isinstance(ev, ServiceState):
            self.seen_box = True
            self.starting_services.discard(ev.name)
            self.failed_services.discard(ev.name)
            if ev.state == "starting":
                self.starting_services.add(ev.name)
            elif ev.state == "failed":
                self.failed_services.add(ev.name)
        elif isinstance(ev, ErrorRaised | ErrorCleared):
            if self._own_board:
                self.board.apply(ev)
        elif isinstance(ev, SetupProgress):
            self.seen_box = True
            self.setup_step = ev.step
        elif isinstance(ev, PairingWindow):
            self.pairing_until = (ev.until or 0.0) if ev.open else None
            self.pairing_hold, self.pairing_length = ev.hold, ev.length
        elif isinstance(ev, PairingChecked):
            self.pair_result = (ev.approved, ev.t + PAIR_RESULT_SECONDS)
        elif isinstance(ev, PlayerState):
            self.seen_box = True
            self.player_state = ev.state
        elif isinstance(ev, LinkState):
            self.links[(ev.platform, ev.user_id)] = ev.state
        elif isinstance(ev, ListenerChanged):
            self.listener = ev.user_id
        elif isinstance(ev, CameraState):
            self.camera_capturing = ev.capturing
            self.camera_error = "" if ev.capturing else ev.error
        elif isinstance(ev, PrivacyChanged):
            self.privacy = ev.enabled
        elif isinstance(ev, ManualMood):
            self.manual = (ev.mood, ev.until) if ev.mood else None
        elif isinstance(ev, MoodReading):
            self.mood = ev
        elif isinstance(ev, PresenceChanged):
            self.people = ev.people
            if ev.people == 0:
                self.mood = None  # the room emptied after the last reading

    # -- the status LED --------------------------------------------------------------

    def _link_states(self) -> set[str]:
        """States of the active listener's links (all users' when none is known)."""
        users = {u for (_p, u) in self.links}
        mine = self.listener if self.listener in users else None
        return {s for (_p, u), s in self.links.items() if mine is None or u == mine}

    def active(self, now: float) -> set[str]:
        """Every status condition that holds at wall-clock time `now`."""
        out: set[str] = set()
        if self.countdown is not None:
            out.add("reset_countdown")
        if self.armed:
            out.add("reset_armed")
        if self.resetting:
            out.add("resetting")
        if self.pairing_open(now):
            out.add("pairing")
        if self.entering:
            out.add("pair_entry")
        if self.pair_result is not None and self.pair_result[1] > now:
            out.add("pair_approved" if self.pair_result[0] else "pair_refused")
        out.update(error_condition(e.source, e.key) for e in self.board.active())
        if self.failed_services:
            out.add("error_service")
        if self.camera_error and not self.privacy:
            out.add("error_camera")
        links = self._link_states()
        if "relink_needed" in links:
            out.add("relink")
        if "speaker_missing" in links:
            out.add("speaker_missing")
        if links & {"premium_required", "rate_limited"}:
            out.add("error_spotify")
        if self.setup_step and self.setup_step != "done":
            out.add("needs_setup")
        if self.starting_services or not self.seen_box:
            out.add("starting")
        if self.player_state in ("playing", "fading"):
            out.add("playing")
        return out

    def pairing_open(self, now: float) -> bool:
        """True while a browser waits to pair (the panel takes a button code)."""
        return self.pairing_until is not None and (self.pairing_until == 0 or
                                                   self.pairing_until > now)

    # -- the mood and camera LEDs ------------------------------------------------------

    def manual_mood(self, now: float) -> str | None:
        """The mood chosen by hand that still holds at `now`, or None (automatic)."""
        if self.manual is None:
            return None
        mood, until = self.manual
        return mood if (not until or until > now) else None

    def mood_light(self, now: float) -> MoodLight:
        """The mood LED: off in privacy, a manual mood at full brightness, else the room's."""
        if self.privacy:
            return MoodLight(OFF, "privacy")
        manual = self.manual_mood(now)
        if manual is not None:
            return MoodLight(MOOD_COLORS.get(manual, OFF), f"manual:{manual}")
        reading = self.mood
        if reading is None or reading.faces <= 0:
            return MoodLight(OFF, "empty" if self.people == 0 or reading else "off")
        return MoodLight(mood_color(reading.mood, reading.confidence), f"room:{reading.mood}")

    @property
    def camera_on(self) -> bool:
        """The camera LED: on exactly while the camera reports capturing."""
        return self.camera_capturing
