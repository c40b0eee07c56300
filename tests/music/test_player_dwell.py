"""One owner for the dwell: vision's `stable` flag, and the player adds no wait of its own.

Vision's real `RoomMood` (default smoothing, hysteresis and dwell) feeds the
player's real policy at 5 Hz on a simulated timeline: the queue command comes
with the first stable reading of the new label, one dwell after the faces
changed (not after the smoothed label caught up). Removing the dwell from
vision makes it come too early; a second wait in the player, or dating the
dwell from the label's flip, makes it come too late.
"""

from __future__ import annotations

import pytest
from policy_script import Script

from appliance.music.policy import Phase, Queue
from appliance.vision.fusion import LABELS
from appliance.vision.room import FaceMood, RoomMood

pytestmark = pytest.mark.timeout(30)

FPS = 5.0
DWELL = 8.0
CHANGE = 30.0  # when the faces turn from happy to sad


def _face(label: str, valence: float) -> FaceMood:
    probs = [0.0] * len(LABELS)
    probs[LABELS.index(label)] = 1.0
    return FaceMood(valence=valence, arousal=0.0, probs=tuple(probs), weight=1.0)


def test_the_queue_command_comes_with_the_first_stable_reading_one_dwell_after_the_change():
    room = RoomMood(smoothing_seconds=3.0, hysteresis=0.15, dwell_seconds=DWELL,
                    arrive_seconds=0.5, leave_seconds=3.0)
    s = Script().at(0.0).presence(1)
    flip = first_stable = None
    for i in range(int(60 * FPS)):
        t = i / FPS
        face = _face("happy", 0.7) if t < CHANGE else _face("sad", -0.7)
        state = room.update([face], t)
        s.at(t).feed(state.reading())
        if state.mood == "sad" and flip is None:
            flip = t
        if state.mood == "sad" and state.stable and first_stable is None:
            first_stable = t
    assert s.model.phase is Phase.PLAYING and flip is not None and first_stable is not None
    queued = [(t, c) for t, c in s.sent(Queue) if c.mood == "sad"]
    assert queued, "the sad mood was never queued"
    at = queued[0][0]
    assert at == first_stable  # the player adds no wait of its own
    assert flip < at
    assert at - CHANGE >= DWELL - 1e-6  # vision's dwell is what held it back
    assert at - CHANGE <= DWELL + 1.0  # the target: dwell + 1 s from the room's change
