"""PanelService on gpiozero MockFactory pins with a real bus: gestures and their effects."""

from __future__ import annotations

import asyncio
import time

import pytest
from panel_kit import eventually, start_rig

from appliance.core.bus import (
    ButtonGesture,
    ErrorRaised,
    ManualMood,
    PrivacyChanged,
    SetupProgress,
)
from appliance.core.settings import PRIVACY, Settings
from appliance.schema import open_store

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def rig():
    r = await start_rig()
    yield r
    await r.close()


@pytest.mark.parametrize(("button", "seconds", "gesture"), [
    ("play", 0.1, "play_press"),
    ("play", 0.75, "play_hold"),
    ("next", 0.1, "next_press"),
    ("next", 0.45, "next_hold"),
    ("mood", 0.1, "mood_press"),
    ("mood", 0.45, "mood_hold"),
])
async def test_every_gesture_on_the_pins_publishes_exactly_its_event(rig, button, seconds,
                                                                    gesture):
    await rig.press(button, seconds=seconds)
    await asyncio.sleep(0.1)
    assert rig.gestures() == [gesture]


async def test_button_pins_are_pulled_up_and_pressed_low(rig):
    pin = rig.pin(17)
    assert pin.state == 1 and not rig.svc.buttons.is_pressed("play")
    await rig.down("play")
    assert pin.state == 0 and rig.svc.buttons.is_pressed("play")
    await rig.up("play")


async def test_pull_down_buttons_press_high():
    r = await start_rig(buttons_pull_up=False)
    try:
        await r.press("next", seconds=0.1)
        assert r.pin(27).state == 0
        assert r.gestures() == ["next_press"]
    finally:
        await r.close()


async def test_bouncing_contact_on_the_pin_fires_once(rig):
    pin = rig.pin(27)
    for _ in range(5):  # edges 2 ms apart: contact bounce
        pin.drive_low()
        await asyncio.sleep(0.002)
        pin.drive_high()
        await asyncio.sleep(0.002)
    pin.drive_low()
    await asyncio.sleep(0.1)
    for _ in range(5):
        pin.drive_high()
        await asyncio.sleep(0.002)
        pin.drive_low()
        await asyncio.sleep(0.002)
    pin.drive_high()
    await asyncio.sleep(0.15)
    assert rig.gestures() == ["next_press"]


async def test_stuck_play_button_fires_one_hold_and_nothing_more(rig):
    await rig.down("play")
    await asyncio.sleep(1.5)
    assert rig.gestures() == ["play_hold"]
    await rig.up("play")
    await asyncio.sleep(0.1)
    assert rig.gestures() == ["play_hold"]


async def test_mood_press_cycles_manual_mood_and_back_to_auto(rig):
    before = time.time()
    for _ in range(6):
        await rig.press("mood", seconds=0.05)
        await asyncio.sleep(0.05)
    manual = rig.events(ManualMood)
    assert [m.mood for m in manual] == ["happy", "neutral", "sad", "angry", "surprised", None]
    assert manual[0].until == pytest.approx(before + 60, abs=5)
    assert rig.gestures() == ["mood_press"] * 6


async def test_mood_press_continues_from_a_mood_chosen_on_the_page(rig):
    rig.bus.publish(ManualMood(mood="sad", until=time.time() + 600))
    await asyncio.sleep(0.3)
    await rig.press("mood", seconds=0.05)
    assert [m.mood for m in rig.events(ManualMood)] == ["sad", "angry"]


async def test_mood_hold_toggles_privacy_from_the_bus_state(rig):
    rig.bus.publish(PrivacyChanged(enabled=True))  # e.g. from the privacy page
    await asyncio.sleep(0.3)
    await rig.press("mood", seconds=0.45)
    await rig.press("mood", seconds=0.45)
    assert [p.enabled for p in rig.events(PrivacyChanged)] == [True, False, True]
    assert rig.gestures() == ["mood_hold", "mood_hold"]


async def test_mood_hold_stores_the_privacy_setting(tmp_path):
    store = open_store(tmp_path / "t.db")
    r = await start_rig(store=store)
    try:
        await r.press("mood", seconds=0.45)
        await eventually(lambda: Settings(store).get_sync(PRIVACY), what="privacy=1")
    finally:
        await r.close()
    r2 = await start_rig(store=store)  # privacy survives a restart of the panel
    try:
        assert r2.svc.conditions.privacy is True
        assert r2.svc.leds.read()["mood"]["pattern"] == "privacy"
    finally:
        await r2.close()
        store.close()


async def test_next_while_mood_held_is_listener_next_and_no_privacy_toggle(rig):
    await rig.down("mood")
    await asyncio.sleep(0.05)
    await rig.press("next", seconds=0.05)
    await asyncio.sleep(0.6)  # Mood now held past its hold time
    await rig.up("mood")
    await asyncio.sleep(0.1)
    assert rig.gestures() == ["listener_next"]
    assert rig.events(PrivacyChanged) == []
    assert rig.events(ManualMood) == []


async def test_two_button_reset_needs_both_buttons(rig):
    await rig.down("play")
    await asyncio.sleep(2.3)
    await rig.up("play")
    assert rig.gestures() == ["play_hold"]
    assert rig.resets == 0


async def test_factory_reset_countdown_arm_confirm_runs_the_reset(rig):
    await rig.down("play", "next")
    await asyncio.sleep(0.3)
    status = rig.svc.leds.read()["status"]
    assert status["pattern"] == "reset_countdown"
    first = status["spec"]["on"]
    await asyncio.sleep(1.2)
    later = rig.svc.leds.read()["status"]["spec"]["on"]
    assert later < first  # the countdown blinks faster
    await eventually(lambda: "factory_reset_armed" in rig.gestures(), what="armed")
    assert rig.svc.leds.read()["status"]["pattern"] == "reset_armed"
    await rig.up("play", "next")
    await asyncio.sleep(0.1)
    await rig.down("play")
    await asyncio.sleep(0.05)
    await rig.down("next")
    await eventually(lambda: rig.resets == 1, what="the reset ran")
    await rig.up("play", "next")
    await asyncio.sleep(0.1)
    assert rig.gestures() == ["factory_reset_armed", "factory_reset_confirmed"]
    assert [s.step for s in rig.events(SetupProgress)] == ["unclaimed"]


async def test_factory_reset_cancelled_when_not_confirmed(rig):
    await rig.down("play", "next")
    await eventually(lambda: "factory_reset_armed" in rig.gestures(), what="armed")
    await rig.up("play", "next")
    await eventually(lambda: "factory_reset_cancelled" in rig.gestures(), what="cancelled")
    assert rig.resets == 0
    await eventually(lambda: rig.svc.leds.read()["status"]["pattern"] != "reset_armed")


async def test_failed_factory_reset_raises_a_visible_error():
    async def broken() -> None:
        raise OSError("disk is read-only")

    r = await start_rig(on_factory_reset=broken)
    try:
        await r.down("play", "next")
        await eventually(lambda: "factory_reset_armed" in r.gestures(), what="armed")
        await r.up("play", "next")
        await r.press("play", "next", seconds=0.05)
        err = await eventually(lambda: r.events(ErrorRaised), what="error")
        assert err[0].key == "panel.factory_reset"
        assert "read-only" in err[0].message and err[0].hint
        assert r.events(SetupProgress) == []
    finally:
        await r.close()


async def test_rapid_presses_are_rate_limited(rig):
    for _ in range(20):
        await rig.press("next", seconds=0.03)
    assert 0 < len(rig.gestures()) <= rig.svc.timings.rate_limit + 1
    assert all(isinstance(e, ButtonGesture) for e in rig.events(ButtonGesture))


async def test_run_stops_when_cancelled_even_while_events_pour_in():
    from appliance.core.bus import MoodReading

    for _ in range(5):
        r = await start_rig()
        try:
            async def flood(bus=r.bus) -> None:
                while True:
                    bus.publish(MoodReading(faces=1, valence=0.0, arousal=0.0,
                                              mood="sad", confidence=0.5))
                    await asyncio.sleep(0)

            flooder = asyncio.create_task(flood())
            await asyncio.sleep(0.25)
            r.task.cancel()
            done, _ = await asyncio.wait({r.task}, timeout=1.0)
            flooder.cancel()
            assert done, "run() ignored its cancellation"
        finally:
            await r.close()
