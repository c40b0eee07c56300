"""Conditions from bus events, their priority, and the mood LED target (no pins)."""

from __future__ import annotations

import itertools
import time

import pytest

from appliance.core.bus import (
    CameraState,
    ErrorCleared,
    ErrorRaised,
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
from appliance.panel.conditions import Conditions, error_condition
from appliance.panel.patterns import (
    COUNTDOWN_FASTEST,
    STATUS_PATTERNS,
    countdown_pattern,
    mood_color,
    winner,
)


def ready_box() -> Conditions:
    c = Conditions()
    c.apply(ServiceState(name="web", state="running"))
    c.apply(SetupProgress(step="done"))
    return c


def shown(c: Conditions) -> str:
    return winner(c.active(time.time())).name


def test_a_fresh_panel_shows_starting_until_the_box_shows_life():
    c = Conditions()
    assert shown(c) == "starting"
    c.apply(ServiceState(name="vision", state="starting"))
    assert shown(c) == "starting"
    c.apply(ServiceState(name="vision", state="running"))
    assert shown(c) == "ready"


def test_needs_setup_until_setup_is_done():
    c = ready_box()
    c.apply(SetupProgress(step="no_spotify"))
    assert shown(c) == "needs_setup"
    c.apply(SetupProgress(step="done"))
    assert shown(c) == "ready"


def test_playing_shows_over_ready():
    c = ready_box()
    c.apply(PlayerState(state="playing"))
    assert shown(c) == "playing"
    c.apply(PlayerState(state="paused"))
    assert shown(c) == "ready"


@pytest.mark.parametrize(("source", "key", "cond"), [
    ("camera", "camera", "error_camera"),
    ("network", "network.dns", "error_network"),
    ("spotify", "spotify.rate_limited", "error_spotify"),
    ("service", "service.vision", "error_service"),
    ("store", "store.moved_aside", "error"),
    ("identity", "identity.google", "error"),
])
def test_errors_are_classified_by_source_and_key(source, key, cond):
    assert error_condition(source, key) == cond
    c = ready_box()
    c.apply(ErrorRaised(key=key, source=source, message="m"))
    assert shown(c) == cond
    c.apply(ErrorCleared(key=key))
    assert shown(c) == "ready"


def test_failed_service_is_an_error_until_it_runs_again():
    c = ready_box()
    c.apply(ServiceState(name="player", state="failed", crashes=5))
    assert shown(c) == "error_service"
    c.apply(ServiceState(name="player", state="running"))
    assert shown(c) == "ready"


def test_camera_that_fails_to_start_is_a_camera_error_but_not_in_privacy():
    c = ready_box()
    c.apply(CameraState(capturing=False, error="camera busy: Pipeline handler in use"))
    assert shown(c) == "error_camera"
    assert c.camera_on is False
    c.apply(PrivacyChanged(enabled=True))
    assert shown(c) == "ready"
    c.apply(PrivacyChanged(enabled=False))
    c.apply(CameraState(capturing=True, fps=5))
    assert shown(c) == "ready"
    assert c.camera_on is True


def test_link_states_of_the_active_listener_win():
    c = ready_box()
    c.apply(LinkState(platform="spotify", user_id="mmp_a", state="relink_needed"))
    c.apply(LinkState(platform="spotify", user_id="mmp_b", state="linked"))
    assert shown(c) == "relink"  # no listener known: anyone's problem shows
    c.apply(ListenerChanged(user_id="mmp_b"))
    assert shown(c) == "ready"
    c.apply(LinkState(platform="spotify", user_id="mmp_b", state="speaker_missing"))
    assert shown(c) == "speaker_missing"
    c.apply(LinkState(platform="spotify", user_id="mmp_b", state="premium_required"))
    assert shown(c) == "error_spotify"


def test_pairing_window_shows_until_it_ends():
    c = ready_box()
    now = time.time()
    c.apply(PairingWindow(open=True, until=now + 60))
    assert winner(c.active(now)).name == "pairing"
    assert winner(c.active(now + 61)).name == "ready"
    c.apply(PairingWindow(open=False))
    assert winner(c.active(now)).name == "ready"


def test_priority_order_countdown_pairing_error_relink_speaker_setup_starting_playing():
    c = Conditions()  # not seen the box yet: starting
    c.apply(PlayerState(state="playing"))
    c.apply(ServiceState(name="vision", state="starting"))
    steps = [
        ("starting", None),
        ("needs_setup", SetupProgress(step="no_speaker")),
        ("speaker_missing", LinkState(platform="spotify", user_id="u", state="speaker_missing")),
        ("relink", LinkState(platform="spotify", user_id="v", state="relink_needed")),
        ("error_camera", ErrorRaised(key="camera", source="camera", message="m")),
        ("error_service", ErrorRaised(key="service.player", source="service", message="m")),
        ("pairing", PairingWindow(open=True, until=time.time() + 60)),
        ("pair_approved", PairingChecked(approved=True)),
    ]
    for expected, ev in steps:
        if ev is not None:
            c.apply(ev)
        assert shown(c) == expected
    c.pair_result = None
    c.entering = True
    assert shown(c) == "pair_entry"
    c.countdown = 0.3
    assert shown(c) == "reset_countdown"
    ordered = sorted(STATUS_PATTERNS.values(), key=lambda p: -p.priority)
    assert [p.name for p in ordered][:7] == ["reset_countdown", "reset_armed", "resetting",
                                              "pair_approved", "pair_refused", "pair_entry",
                                              "pairing"]
    assert ordered[-1].name == "ready" and ordered[-2].name == "playing"


def test_every_condition_has_a_distinct_pattern():
    looks = {(p.color, p.on, p.off, p.fade_in, p.fade_out) for p in STATUS_PATTERNS.values()}
    assert len(looks) == len(STATUS_PATTERNS)


def test_countdown_blinks_faster_as_the_hold_goes_on():
    halves = [countdown_pattern(p / 10).on for p in range(11)]
    assert halves[0] == STATUS_PATTERNS["reset_countdown"].on
    assert halves[-1] == COUNTDOWN_FASTEST
    assert all(a > b for a, b in itertools.pairwise(halves[:-1]))


def test_mood_led_is_room_colour_scaled_by_confidence():
    c = ready_box()
    c.apply(MoodReading(faces=2, valence=0.6, arousal=0.4, mood="happy", confidence=0.5))
    target = c.mood_light(time.time())
    assert target.pattern == "room:happy"
    assert target.color == pytest.approx((0.5, 0.35, 0.0))
    assert mood_color("sad", 1.0) == (0.0, 0.3, 1.0)


def test_mood_led_off_in_privacy_and_when_the_room_empties():
    c = ready_box()
    c.apply(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="sad", confidence=0.9))
    c.apply(PrivacyChanged(enabled=True))
    assert c.mood_light(time.time()).color == (0.0, 0.0, 0.0)
    c.apply(PrivacyChanged(enabled=False))
    assert c.mood_light(time.time()).color != (0.0, 0.0, 0.0)
    c.apply(PresenceChanged(people=0, previous=1))
    assert c.mood_light(time.time()).color == (0.0, 0.0, 0.0)


def test_manual_mood_shows_at_full_brightness_until_it_expires():
    c = ready_box()
    now = time.time()
    c.apply(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="sad", confidence=0.4))
    c.apply(ManualMood(mood="angry", until=now + 60))
    assert c.mood_light(now).color == (1.0, 0.0, 0.0)
    assert c.mood_light(now + 61).pattern == "room:sad"
