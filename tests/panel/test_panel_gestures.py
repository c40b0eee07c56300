"""The gesture recogniser as a pure state machine: edges and times in, gestures out."""

from __future__ import annotations

import pytest

from appliance.panel.gestures import GestureRecognizer, Timings

pytestmark = pytest.mark.timeout(30)

T = Timings(bounce=0.03, hold=1.5, pair_hold=3.0, reset_hold=10.0, reset_confirm=5.0)


class Script:
    """Drives a recogniser with a timeline and collects every gesture."""

    def __init__(self, timings: Timings = T) -> None:
        self.rec = GestureRecognizer(timings)
        self.now = 0.0
        self.out: list[str] = []

    def at(self, t: float) -> Script:
        """Advance to `t`, firing ticks at every deadline on the way (like the service)."""
        for _ in range(1000):
            d = self.rec.next_deadline()
            if d is None or d > t:
                break
            self.now = max(self.now, d)
            self.out += self.rec.tick(self.now)
        self.now = t
        self.out += self.rec.tick(t)
        return self

    def edge(self, button: str, pressed: bool) -> Script:
        self.out += self.rec.feed(button, pressed, self.now)
        return self

    def down(self, *buttons: str) -> Script:
        for b in buttons:
            self.edge(b, True)
        return self

    def up(self, *buttons: str) -> Script:
        for b in buttons:
            self.edge(b, False)
        return self

    def press(self, button: str, seconds: float) -> Script:
        return self.down(button).at(self.now + seconds).up(button).at(self.now + 0.1)


@pytest.mark.parametrize(("button", "seconds", "gesture"), [
    ("play", 0.2, "play_press"),
    ("play", 3.2, "play_hold"),
    ("next", 0.2, "next_press"),
    ("next", 1.7, "next_hold"),
    ("mood", 0.2, "mood_press"),
    ("mood", 1.7, "mood_hold"),
])
def test_each_single_button_gesture_fires_exactly_once(button, seconds, gesture):
    s = Script().at(1.0).press(button, seconds).at(20.0)
    assert s.out == [gesture]


def test_hold_and_press_are_told_apart_at_the_thresholds():
    assert Script().at(1).press("play", 2.95).at(9).out == ["play_press"]
    assert Script().at(1).press("play", 3.05).at(9).out == ["play_hold"]
    assert Script().at(1).press("next", 1.45).at(9).out == ["next_press"]
    assert Script().at(1).press("next", 1.55).at(9).out == ["next_hold"]
    assert Script().at(1).press("mood", 1.45).at(9).out == ["mood_press"]
    assert Script().at(1).press("mood", 1.55).at(9).out == ["mood_hold"]


def test_play_hold_fires_when_reached_not_at_release():
    s = Script().at(1.0).down("play").at(3.9)
    assert s.out == []
    s.at(4.05)
    assert s.out == ["play_hold"]
    s.at(30.0).up("play").at(31.0)
    assert s.out == ["play_hold"]


def test_contact_bounce_never_double_fires():
    s = Script().at(1.0)
    for i in range(6):  # a bouncing contact: edges 5 ms apart, then a clean press
        s.at(1.0 + i * 0.005).edge("next", i % 2 == 0)
    s.down("next").at(1.3)
    for i in range(6):  # and a bouncing release
        s.at(1.3 + i * 0.005).edge("next", i % 2 == 1)
    s.up("next").at(2.0)
    assert s.out == ["next_press"]


def test_a_glitch_shorter_than_the_bounce_time_is_no_press():
    s = Script().at(1.0).down("play").at(1.01).up("play").at(5.0)
    assert s.out == []


def test_stuck_button_fires_its_hold_once_and_nothing_more():
    s = Script().at(1.0).down("next").at(600.0)
    assert s.out == ["next_hold"]
    assert s.rec.next_deadline() is None
    s.up("next").at(601.0)
    assert s.out == ["next_hold"]


def test_stuck_mood_button_does_nothing_until_released():
    s = Script().at(1.0).down("mood").at(600.0)
    assert s.out == []


def test_mood_held_with_next_press_is_listener_next_without_privacy_toggle():
    s = Script().at(1.0).down("mood").at(2.0).press("next", 0.2).at(3.5)
    assert s.out == ["listener_next"]
    s.press("next", 0.2)  # a second Next press moves on again
    s.at(5.0).up("mood").at(6.0)  # Mood held 5 s: would be a hold on its own
    assert s.out == ["listener_next", "listener_next"]


def test_next_held_then_mood_is_no_listener_gesture():
    s = Script().at(1.0).down("next").at(1.2).down("mood").at(1.4).up("mood").at(1.6)
    s.up("next").at(3.0)
    assert s.out == ["mood_press", "next_press"]


def test_factory_reset_needs_both_buttons_held_ten_seconds():
    s = Script().at(1.0).down("play").at(1.2).down("next").at(11.1)
    assert s.out == []
    assert s.rec.countdown(11.1) == pytest.approx(0.99, abs=0.01)
    s.at(11.3)
    assert s.out == ["factory_reset_armed"]


def test_one_button_for_ten_seconds_is_not_a_reset():
    s = Script().at(1.0).down("play").at(12.0).up("play").at(13.0)
    assert s.out == ["play_hold"]


def test_combo_released_early_fires_nothing_and_no_single_gestures():
    s = Script().at(1.0).down("play", "next").at(6.0).up("next").at(7.0).up("play").at(8.0)
    assert s.out == []
    assert s.rec.countdown(8.0) is None


def test_reset_confirmed_by_pressing_both_again_within_the_window():
    s = Script().at(1.0).down("play", "next").at(11.2)
    assert s.out == ["factory_reset_armed"]
    s.up("play", "next").at(12.0).down("play").at(12.1).down("next").at(12.2)
    assert s.out == ["factory_reset_armed", "factory_reset_confirmed"]
    s.up("play", "next").at(20.0)
    assert s.out == ["factory_reset_armed", "factory_reset_confirmed"]


def test_reset_cancelled_when_the_window_passes():
    s = Script().at(1.0).down("play", "next").at(11.2).up("play", "next").at(30.0)
    assert s.out == ["factory_reset_armed", "factory_reset_cancelled"]


def test_reset_cancelled_by_a_lone_play_press():
    s = Script().at(1.0).down("play", "next").at(11.2).up("play", "next").at(12.0)
    s.press("play", 0.2).at(20.0)
    assert s.out == ["factory_reset_armed", "factory_reset_cancelled"]


def test_reset_not_confirmed_while_still_holding_after_arming():
    s = Script().at(1.0).down("play", "next").at(11.2).up("next").at(11.5).down("next")
    s.at(30.0)
    assert s.out == ["factory_reset_armed", "factory_reset_cancelled"]


def test_chattering_button_is_rate_limited():
    timings = Timings(bounce=0.01, hold=1.5, pair_hold=3.0, reset_hold=10.0,
                      reset_confirm=5.0, rate_limit=8, rate_window=2.0)
    s = Script(timings).at(1.0)
    t = 1.0
    for _ in range(100):  # a loose contact: a clean 'press' every 40 ms for 4 s
        s.at(t).edge("next", True).at(t + 0.02).edge("next", False)
        t += 0.04
    s.at(t + 1)
    assert 0 < len(s.out) <= 8 * 3
    assert s.rec.dropped == 100 - len(s.out)
