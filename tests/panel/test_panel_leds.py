"""LED patterns asserted through the mock pins' recorded state history (with tolerances)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from panel_kit import durations, eventually, median_time, start_rig

from appliance.core.bus import (
    CameraState,
    ErrorRaised,
    LedState,
    MoodReading,
    PairingWindow,
    ServiceState,
    SetupProgress,
)
from appliance.panel.service import PanelError

pytestmark = pytest.mark.timeout(60)

STATUS_R, STATUS_G, STATUS_B = 5, 6, 13
MOOD_R, MOOD_G, MOOD_B = 12, 16, 20
CAMERA = 26
TOL = 0.12  # seconds: a loaded 2-core machine, not a real-time system


@pytest.fixture
async def rig():
    r = await start_rig()
    r.bus.publish(ServiceState(name="web", state="running"))
    r.bus.publish(SetupProgress(step="done"))
    await eventually(lambda: r.svc.leds.read()["status"]["pattern"] == "ready", what="ready")
    yield r
    await r.close()


async def test_ready_is_steady_dim_green(rig):
    for n in (STATUS_R, STATUS_G, STATUS_B):
        rig.pin(n).clear_states()
    await asyncio.sleep(0.5)
    assert rig.pin(STATUS_G).state == pytest.approx(0.35)
    assert rig.pin(STATUS_R).state == 0 and rig.pin(STATUS_B).state == 0
    assert len(rig.pin(STATUS_G).states) == 1  # no change at all: steady


async def test_pairing_pattern_blinks_blue_at_its_period(rig):
    rig.bus.publish(PairingWindow(open=True, until=time.time() + 60))
    await eventually(lambda: rig.svc.leds.read()["status"]["pattern"] == "pairing")
    blue = rig.pin(STATUS_B)
    blue.clear_states()
    await asyncio.sleep(2.3)
    states = [s for s, _d in durations(blue)]
    assert set(states) == {0.0, 1.0}
    assert all(a != b for a, b in itertools.pairwise(states))  # alternates
    assert median_time(blue, lambda s: s == 1.0) == pytest.approx(0.5, abs=TOL)
    assert median_time(blue, lambda s: s == 0.0) == pytest.approx(0.5, abs=TOL)
    assert rig.pin(STATUS_R).state == 0
    for _state, seconds in durations(blue)[1:-1]:  # every full step, not just the median
        assert seconds == pytest.approx(0.5, abs=2 * TOL)

    rig.bus.publish(PairingWindow(open=False))
    await eventually(lambda: rig.svc.leds.read()["status"]["pattern"] == "ready")


async def test_error_pattern_differs_from_ready_and_pairing_wins_over_it(rig):
    rig.bus.publish(ErrorRaised(key="network", source="network", message="no route"))
    await eventually(lambda: rig.svc.leds.read()["status"]["pattern"] == "error_network")
    red = rig.pin(STATUS_R)
    red.clear_states()
    await asyncio.sleep(2.3)
    assert median_time(red, lambda s: s == 1.0) == pytest.approx(0.2, abs=TOL)
    assert median_time(red, lambda s: s == 0.0) == pytest.approx(0.8, abs=TOL)
    assert rig.pin(STATUS_G).state == 0  # no green at all, unlike ready

    rig.bus.publish(PairingWindow(open=True, until=time.time() + 60))
    await eventually(lambda: rig.svc.leds.read()["status"]["pattern"] == "pairing")


async def test_mood_led_shows_colour_by_confidence_and_goes_dark_in_privacy(rig):
    rig.bus.publish(MoodReading(faces=1, valence=0.6, arousal=0.4, mood="happy",
                                confidence=0.5))
    await eventually(lambda: rig.pin(MOOD_R).state == pytest.approx(0.5), what="mood on")
    assert rig.pin(MOOD_G).state == pytest.approx(0.35)
    assert rig.pin(MOOD_B).state == 0
    await rig.press("mood", seconds=0.45)  # Mood hold: privacy on
    await eventually(lambda: rig.svc.conditions.privacy)
    assert [rig.pin(n).state for n in (MOOD_R, MOOD_G, MOOD_B)] == [0, 0, 0]
    assert rig.svc.leds.read()["mood"]["pattern"] == "privacy"


async def test_camera_led_follows_the_cameras_real_state(rig):
    cam = rig.pin(CAMERA)
    assert cam.state == 0
    cam.clear_states()
    rig.bus.publish(CameraState(capturing=True, fps=5.0))
    await eventually(lambda: cam.state == 1, what="camera LED on")
    await asyncio.sleep(0.3)
    rig.bus.publish(CameraState(capturing=False, error="camera stopped delivering frames"))
    await eventually(lambda: cam.state == 0, what="camera LED off")
    assert len(cam.states) == 3
    cam.assert_states([False, True, False])  # on once, off once: no flicker
    assert cam.states[2].timestamp == pytest.approx(0.3, abs=TOL)
    assert rig.svc.leds.read()["status"]["pattern"] == "error_camera"


async def test_camera_that_fails_to_start_never_lights_the_camera_led():
    r = await start_rig()
    try:
        cam = r.pin(CAMERA)
        cam.clear_states()
        r.bus.publish(CameraState(capturing=False, error="no camera found"))
        await eventually(lambda: r.svc.leds.read()["status"]["pattern"] == "error_camera")
        await asyncio.sleep(0.3)
        assert [s.state for s in cam.states] == [False]
        assert r.svc.leds.read()["camera"] == {"on": False}
    finally:
        await r.close()


async def test_active_low_leds_are_inverted_on_the_pins():
    r = await start_rig(leds_active_high=False)
    try:
        r.bus.publish(CameraState(capturing=True))
        await eventually(lambda: r.pin(CAMERA).state == 0, what="active-low camera LED on")
        assert r.svc.leds.read()["camera"] == {"on": True}
        assert r.pin(MOOD_R).state == 1  # mood LED dark: pins high
    finally:
        await r.close()


async def test_led_state_events_are_published_on_change_and_throttled(rig):
    rig.events()
    for i in range(40):
        rig.bus.publish(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="sad",
                                    confidence=0.2 + i * 0.02))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.6)
    moods = [e for e in rig.events(LedState) if e.led == "mood"]
    assert 1 <= len(moods) <= 6
    assert moods[-1].color == pytest.approx((0.0, 0.3 * 0.98, 0.98), abs=0.01)
    assert moods[-1].pattern == "room:sad"


async def test_pins_used_twice_refuse_to_start():
    with pytest.raises(PanelError, match="BCM 17 is used twice"):
        await start_rig(camera_led=17)


async def test_the_global_pin_factory_is_never_touched():
    from gpiozero import Device

    before = Device.pin_factory
    r = await start_rig()
    try:
        assert Device.pin_factory is before
    finally:
        await r.close()
