"""Entering a pairing code on the buttons (MockFactory pins, the real PanelService and bus)."""

from __future__ import annotations

import time

import pytest
from panel_kit import eventually, start_rig

from appliance.core.bus import (
    ManualMood,
    PairingChecked,
    PairingEntered,
    PairingWindow,
    PrivacyChanged,
)

pytestmark = pytest.mark.timeout(60)

HOLD = 0.75  # > FAST pair_hold_seconds (0.6)


@pytest.fixture
async def rig():
    r = await start_rig(pair_entry_seconds=1.0)
    yield r
    await r.close()


async def _open_window(rig, *, hold: bool = True) -> None:
    rig.bus.publish(PairingWindow(open=True, until=time.time() + 30, hold=hold, length=4))
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pairing",
                     what="the pairing pattern")


async def test_after_a_play_hold_the_presses_are_a_code_and_do_nothing_else(rig):
    await _open_window(rig)
    await rig.press("play", seconds=HOLD)
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pair_entry",
                     what="steady blue: taking a code")
    for name, seconds in (("next", 0.08), ("mood", 0.45), ("play", 0.08), ("next", 0.45)):
        await rig.press(name, seconds=seconds)  # holds of Next and Mood count the same
    code = await eventually(lambda: rig.events(PairingEntered), what="the code")
    assert code[0].presses == ("next", "mood", "play", "next")
    assert rig.gestures() == ["play_hold", "pair_next", "pair_mood", "pair_play", "pair_next"]
    assert not rig.events(ManualMood) and not rig.events(PrivacyChanged)
    assert not rig.svc.entry.active  # one code per hold
    await rig.press("next", seconds=0.08)
    assert rig.gestures()[-1] == "next_press"  # back to skipping songs


async def test_without_a_waiting_browser_the_buttons_are_the_music_s(rig):
    await rig.press("play", seconds=HOLD)
    for name in ("next", "mood", "play", "next"):
        await rig.press(name, seconds=0.08)
    await eventually(lambda: len(rig.gestures()) == 5)
    assert rig.gestures() == ["play_hold", "next_press", "mood_press", "play_press",
                              "next_press"]
    assert not rig.events(PairingEntered)
    assert rig.events(ManualMood)


async def test_once_claimed_presses_without_the_hold_stay_music(rig):
    await _open_window(rig, hold=True)  # a stranger's request waits on a claimed box
    for name in ("next", "mood", "play", "next"):
        await rig.press(name, seconds=0.08)
    await eventually(lambda: len(rig.gestures()) == 4)
    assert rig.gestures() == ["next_press", "mood_press", "play_press", "next_press"]
    assert not rig.events(PairingEntered)


async def test_an_unclaimed_box_takes_the_code_without_a_hold(rig):
    await _open_window(rig, hold=False)
    for name in ("mood", "mood", "next", "play"):
        await rig.press(name, seconds=0.08)
    code = await eventually(lambda: rig.events(PairingEntered), what="the code")
    assert code[0].presses == ("mood", "mood", "next", "play")
    assert not rig.events(ManualMood)


async def test_an_entry_left_alone_ends_and_a_half_code_is_never_sent(rig):
    await _open_window(rig)
    await rig.press("play", seconds=HOLD)
    await rig.press("next", seconds=0.08)
    await rig.press("mood", seconds=0.08)
    await eventually(lambda: not rig.svc.entry.active, timeout=3.0,
                     what="the entry to end after pair_entry_seconds")
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pairing")
    await rig.press("next", seconds=0.08)
    assert rig.gestures()[-1] == "next_press"
    assert not rig.events(PairingEntered)


async def test_the_light_says_whether_the_code_was_right(rig):
    await _open_window(rig)
    rig.bus.publish(PairingChecked(approved=False))
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pair_refused")
    rig.bus.publish(PairingChecked(approved=True))
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pair_approved")
    await eventually(lambda: rig.svc.snapshot()["status_pattern"] == "pairing", timeout=4.0,
                     what="back to the waiting blink after the flash")
