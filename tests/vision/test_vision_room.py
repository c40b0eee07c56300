"""Room mood: frame-rate-invariant smoothing, hysteresis, dwell, presence debounce, weights."""

from __future__ import annotations

import math

import pytest

from appliance.vision.fusion import LABELS
from appliance.vision.room import FaceMood, Presence, RoomMood, combine, face_weight, instant


def mood(label: str, valence: float = 0.0, arousal: float = 0.0, weight: float = 1.0,
         strength: float = 1.0) -> FaceMood:
    probs = [0.0] * len(LABELS)
    probs[LABELS.index(label)] = strength
    probs[LABELS.index("neutral")] += 1.0 - strength
    return FaceMood(valence=valence, arousal=arousal, probs=tuple(probs), weight=weight)


def run(room: RoomMood, fps: float, seconds: float, face: FaceMood, t0: float = 0.0) -> float:
    n = round(seconds * fps)
    t = t0
    for i in range(1, n + 1):
        t = t0 + i / fps
        room.update([face], t)
    return t


def test_smoothing_reaches_the_same_value_at_any_frame_rate():
    values = []
    for fps in (1.0, 5.0, 30.0):
        room = RoomMood(smoothing_seconds=3.0, dwell_seconds=0, arrive_seconds=0)
        room.update([mood("neutral", 0.0)], 0.0)  # primes the state at valence 0
        run(room, fps, 3.0, mood("happy", 0.8))
        values.append(room.valence)
    expected = 0.8 * (1 - math.exp(-1.0))  # one time constant
    assert values == pytest.approx([expected] * 3, abs=1e-9)


def test_smoothing_lags_a_sudden_change_by_its_time_constant():
    room = RoomMood(smoothing_seconds=2.0, dwell_seconds=0, arrive_seconds=0)
    room.update([mood("neutral", 0.0)], 0.0)
    room.update([mood("happy", 1.0)], 0.2)
    assert 0.0 < room.valence < 0.2  # one frame does not swing the room
    run(room, 10, 10.0, mood("happy", 1.0), t0=0.2)
    assert room.valence > 0.99


def test_label_needs_the_hysteresis_margin_to_change():
    room = RoomMood(smoothing_seconds=0.1, hysteresis=0.3, dwell_seconds=0, arrive_seconds=0)
    # 60/40 happy/neutral: happy leads by 0.2 < 0.3, so the label stays neutral.
    run(room, 10, 3.0, mood("happy", 0.5, strength=0.6))
    assert room.label == "neutral"
    # 80/20 leads by 0.6: now it changes.
    run(room, 10, 3.0, mood("happy", 0.8, strength=0.8), t0=3.0)
    assert room.label == "happy"
    # Back to 40/60: neutral leads by 0.2 only, happy holds.
    run(room, 10, 3.0, mood("happy", 0.3, strength=0.4), t0=6.0)
    assert room.label == "happy"


def _first(room: RoomMood, fps: float, seconds: float, face: FaceMood, t0: float,
           what: str) -> tuple[float | None, float]:
    """Feed `face`; the first time the label is `what` and stable (None if never)."""
    first = None
    t = t0
    for i in range(1, round(seconds * fps) + 1):
        t = t0 + i / fps
        state = room.update([face], t)
        if first is None and state.mood == what and state.stable:
            first = t
    return first, t


def test_label_holds_for_the_dwell_time_before_changing_again():
    room = RoomMood(smoothing_seconds=0.05, hysteresis=0.1, dwell_seconds=8.0, arrive_seconds=0)
    run(room, 10, 1.0, mood("happy", 0.8))
    assert room.label == "happy"
    t = run(room, 10, 5.0, mood("sad", -0.6), t0=1.0)  # sad clearly leads, but dwell holds
    assert room.label == "happy"
    assert not room.state(t).stable  # a label inside its dwell time is not stable yet
    flipped = None
    for i in range(1, 41):
        t = 6.0 + i / 10
        room.update([mood("sad", -0.6)], t)
        if flipped is None and room.label == "sad":
            flipped = t
    assert flipped is not None and flipped >= 0.1 + 8.0 - 1e-9  # happy held its full dwell


def test_a_lasting_change_is_stable_one_dwell_after_the_room_changed():
    # The defaults: the smoothed label trails the room by ~2.5 s; the dwell must not add it.
    room = RoomMood(smoothing_seconds=3.0, hysteresis=0.15, dwell_seconds=8.0,
                    arrive_seconds=0.5)
    first, t = _first(room, 5, 30.0, mood("happy", 0.7), 0.0, "happy")
    assert first is not None
    first, _ = _first(room, 5, 20.0, mood("sad", -0.7), t, "sad")
    assert first is not None
    assert 8.0 <= first - t <= 9.0  # one dwell from the change in front of the camera


def test_a_blip_does_not_date_a_later_change():
    room = RoomMood(smoothing_seconds=3.0, hysteresis=0.15, dwell_seconds=8.0,
                    arrive_seconds=0.5)
    _, t = _first(room, 5, 30.0, mood("happy", 0.7), 0.0, "happy")
    _, t = _first(room, 5, 0.6, mood("sad", -0.7), t, "sad")  # someone frowns for a moment
    _, t = _first(room, 5, 10.0, mood("happy", 0.7), t, "happy")
    changed = t
    first, _ = _first(room, 5, 20.0, mood("sad", -0.7), t, "sad")
    assert first is not None and first - changed >= 8.0


def test_presence_ignores_a_blip_shorter_than_arrive_seconds():
    p = Presence(arrive_seconds=0.5, leave_seconds=3.0)
    events = [p.update(n, t / 10) for t, n in enumerate([0, 1, 1, 1, 0, 0, 0])]
    assert events == [None] * 7 and p.people == 0


def test_presence_arrival_after_arrive_seconds_and_departure_after_leave_seconds():
    p = Presence(arrive_seconds=0.5, leave_seconds=3.0)
    out = {}
    for i in range(0, 100):
        t = i / 10
        raw = 1 if 10 <= i < 40 else 0  # face from 1.0 s to 4.0 s
        ev = p.update(raw, t)
        if ev:
            out[ev] = t
    assert out[(1, 0)] == pytest.approx(1.5)
    assert out[(0, 1)] == pytest.approx(7.0)


def test_presence_survives_a_person_turning_away_briefly():
    p = Presence(arrive_seconds=0.0, leave_seconds=3.0)
    assert p.update(1, 0.0) == (1, 0)
    for i in range(1, 21):  # two seconds without a face: still here
        assert p.update(0, i / 10) is None
    assert p.update(1, 2.1) is None  # back: the departure timer is cancelled
    events = {}
    for i in range(22, 80):
        ev = p.update(0, i / 10)
        if ev:
            events[ev] = i / 10
    assert events == {(0, 1): pytest.approx(5.2)}  # 3 s after the face was last gone from 2.2


def test_presence_counts_the_people_that_stayed_for_the_whole_debounce():
    p = Presence(arrive_seconds=1.0, leave_seconds=1.0)
    p.update(0, 0.0)
    for i, raw in enumerate([2, 3, 2, 3, 3, 2, 3, 3, 3, 3, 3]):
        ev = p.update(raw, 0.1 * (i + 1))
    assert ev == (2, 0) and p.people == 2  # only two were there throughout


def test_room_resets_its_mood_once_everyone_left():
    room = RoomMood(smoothing_seconds=0.1, dwell_seconds=0, arrive_seconds=0, leave_seconds=1.0)
    run(room, 10, 2.0, mood("happy", 0.8))
    assert room.label == "happy" and room.presence.people == 1
    for i in range(1, 15):
        state = room.update([], 2.0 + i / 10)
    assert state.people == 0 and state.mood == "neutral" and state.valence == 0.0


def test_larger_and_more_frontal_faces_weigh_more():
    big = face_weight(200, 200, 1.0)
    small = face_weight(50, 50, 1.0)
    turned = face_weight(200, 200, 0.2)
    assert big > turned and big > small
    v, _, _ = combine([mood("happy", 1.0, weight=big), mood("sad", -1.0, weight=small)])
    assert v == pytest.approx((big - small) / (big + small))
    assert v > 0.5


def test_a_single_photo_reads_every_face_without_smoothing():
    state = instant([mood("happy", 0.8, weight=1), mood("happy", 0.6, weight=1)])
    assert state.people == 2 and state.mood == "happy" and state.valence == pytest.approx(0.7)
    empty = instant([])
    assert empty.people == 0 and empty.mood == "neutral"
