"""The player service against an honest in-process Spotify double, in simulated time.

The rig (tests/music/player_rig.py) drives the real `PlayerService` (policy,
executor, bus subscriptions, selector, SpeakerManager) the way its run loop
does, but on a `SimClock`. No real sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from music_player_fakes import make_tracks
from player_rig import Rig, fake_rig

from appliance.core.bus import (
    ButtonGesture,
    ErrorCleared,
    ErrorRaised,
    ListenerChanged,
    ManualMood,
    MoodReading,
    PairingWindow,
    PlayerState,
    PresenceChanged,
    PrivacyChanged,
)
from appliance.core.settings import ACTIVE_LISTENER, Settings
from appliance.music.errors import Restricted, SpotifyUnavailable

pytestmark = pytest.mark.timeout(60)

TRACKS = make_tracks(40, duration_ms=2500)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with fake_rig(tmp_path, TRACKS, users=("mmp_a", "mmp_b")) as r:
        yield r


async def _start_playing(rig: Rig, mood: str = "happy") -> None:
    await rig.publish(PresenceChanged(people=2, previous=0))
    await rig.reading(mood)
    await rig.until(lambda: rig.player.model.phase.value == "playing")


async def test_people_and_a_stable_mood_start_music_with_a_fade_in(rig: Rig) -> None:
    await rig.reading("happy")  # a mood alone starts nothing: presence comes from vision
    assert "play" not in rig.api.names()
    await _start_playing(rig)
    await rig.until(lambda: rig.api.volume == 40)
    names = rig.api.names()
    assert names.count("play") == 1
    vols = [c.args["percent"] for c in rig.api.calls if c.name == "set_volume"]
    assert vols[0] == 0 and vols[-1] == 40 and vols == sorted(vols)
    assert rig.player.model.music_mood == "happy"
    states = [e for e in rig.events if isinstance(e, PlayerState)]
    assert states[-1].state == "playing" and states[-1].mood == "happy"
    assert states[-1].speaker == "Living Room" and states[-1].track_id


async def test_sustained_mood_change_queues_and_switches_at_the_track_boundary(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    first = rig.player.model.track
    assert first is not None
    play_at = next(c.at for c in rig.api.calls if c.name == "play")
    await rig.reading("sad")
    await rig.until(lambda: "queue" in rig.api.names())
    queued_at = next(c.at for c in rig.api.calls if c.name == "queue")
    assert queued_at - play_at < first.duration_ms / 1000  # queued while the song still plays
    assert rig.player.model.music_mood == "happy"  # not switched mid-song
    await rig.until(lambda: rig.player.model.music_mood == "sad")
    assert rig.clock() - play_at >= first.duration_ms / 1000 - 0.05
    names = rig.api.names()
    assert names.count("play") == 1 and "next" not in names  # nothing cut the song
    queued_uri = next(c.args["uri"] for c in rig.api.calls if c.name == "queue")
    assert rig.api.current is not None and rig.api.current.uri == queued_uri


async def test_the_player_queues_on_the_first_stable_reading_with_no_wait_of_its_own(rig):
    await _start_playing(rig, "happy")
    await rig.wait(0.3)
    await rig.reading("sad", stable=False)  # vision: still inside its dwell
    await rig.wait(0.1)
    assert "queue" not in rig.api.names()
    at = rig.clock()
    await rig.reading("sad")
    queued = [c for c in rig.api.calls if c.name == "queue"]
    assert len(queued) == 1 and queued[0].at == at  # the same instant: no second dwell


async def test_a_short_mood_blip_inside_the_dwell_time_changes_nothing(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    await rig.reading("sad", stable=False)  # a blip never outlasts vision's dwell
    await rig.wait(0.2)
    await rig.reading("happy")
    await rig.wait(0.6)
    queued = [c for c in rig.api.calls if c.name == "queue"]
    assert all(rig.api.by_uri[c.args["uri"]] for c in queued)
    assert rig.player.model.music_mood == "happy"
    assert rig.player.model.queued is None or rig.player.model.queued.mood == "happy"


async def test_button_presses_are_never_lost_among_mood_readings(rig: Rig) -> None:
    await _start_playing(rig)
    for i in range(1000):  # 200 s of 5 Hz telemetry arrive while the player is busy
        rig.bus.publish(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="happy",
                                    confidence=0.9, stable=True, t=float(i)))
    rig.bus.publish(ButtonGesture(gesture="next_hold"))
    for _ in range(300):
        rig.bus.publish(MoodReading(faces=1, valence=0.0, arousal=0.0, mood="sad",
                                    confidence=0.9, stable=True))
    assert len(rig.player._readings) == 1 and len(rig.player._commands) == 1
    await rig.settle()
    assert rig.store.read_sync(lambda db: db["feedback"].count) == 1  # the like went through
    assert rig.player.model.room_mood == "sad"  # and only the latest reading was decided on
    assert rig.bus.dropped == 0


async def test_empty_room_fades_out_and_pauses_then_people_return_and_it_resumes(rig) -> None:
    await _start_playing(rig)
    await rig.until(lambda: rig.api.volume == 40)
    n_before = len(rig.api.calls)
    await rig.publish(PresenceChanged(people=0, previous=2))
    await rig.until(lambda: rig.player.model.phase.value == "paused")
    after = rig.api.calls[n_before:]
    names = [c.name for c in after]
    pause_i = names.index("pause")
    fade = [c.args["percent"] for c in after[:pause_i] if c.name == "set_volume"]
    assert len(fade) >= 2 and fade[-1] == 0 and fade == sorted(fade, reverse=True)
    assert rig.player.model.paused_by == "empty"
    assert rig.api.paused_pos is not None
    await rig.publish(PresenceChanged(people=1, previous=0))
    await rig.until(lambda: rig.player.model.phase.value == "playing")
    assert "resume" in rig.api.names()[n_before:]
    assert rig.api.paused_pos is None
    assert rig.api.names().count("play") == 1  # resumed, not restarted


async def test_manual_mood_holds_until_its_time_then_the_room_wins(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    await rig.publish(ManualMood(mood="angry", until=rig.clock() + 1.5))
    await rig.until(lambda: rig.player.model.music_mood == "angry")
    for _ in range(4):
        await rig.reading("sad")
        await rig.wait(0.2)
    assert rig.player.model.heading == "angry"  # the room's sad mood waits
    await rig.until(lambda: rig.player.model.heading == "sad", timeout=4.0)
    assert rig.player.model.manual is None


async def test_privacy_keeps_the_music_and_freezes_the_mood(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    await rig.publish(PrivacyChanged(enabled=True))
    await rig.wait(0.05)
    await rig.publish(PresenceChanged(people=0, previous=2))
    for _ in range(5):
        await rig.reading("sad")
        await rig.wait(0.2)
    assert rig.player.model.phase.value == "playing"
    assert "pause" not in rig.api.names()
    assert rig.player.model.heading == "happy"


async def test_network_loss_keeps_state_shows_error_and_resumes(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.api.fail_with = SpotifyUnavailable()
    await rig.reading("sad")
    await rig.until(lambda: any(isinstance(e, ErrorRaised) for e in rig.events))
    await rig.wait(0.6)
    assert rig.player.model.phase.value == "playing" and rig.player.model.music_mood == "happy"
    assert rig.player.model.retry_at > 0
    failed = [c for c in rig.api.calls if c.name.endswith("!failed")]
    assert 1 <= len(failed) <= 8  # backed off, not hammering
    rig.api.fail_with = None
    await rig.until(lambda: any(isinstance(e, ErrorCleared) for e in rig.events))
    await rig.until(lambda: rig.player.model.music_mood == "sad", timeout=8.0)
    assert rig.api.names().count("play") == 1


async def test_next_press_skips_exactly_one_track_and_counts_an_early_skip(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    skipped = rig.player.model.track
    assert skipped is not None
    await rig.publish(ButtonGesture(gesture="next_press"))
    await rig.until(lambda: "next" in rig.api.names())
    await rig.wait(0.1)
    assert rig.api.names().count("next") == 1
    assert rig.api.current is not None and rig.api.current.id != skipped.id
    rows = rig.store.read_sync(lambda db: list(db.query("SELECT * FROM feedback")))
    assert [(r["track_id"], r["kind"], r["mood"]) for r in rows] == [(skipped.id, "skip", "happy")]


async def test_next_hold_records_a_like(rig: Rig) -> None:
    await _start_playing(rig, "sad")
    liked = rig.player.model.track
    await rig.publish(ButtonGesture(gesture="next_hold"))
    await rig.until(lambda: rig.store.read_sync(
        lambda db: db["feedback"].count) == 1)
    row = rig.store.read_sync(lambda db: next(iter(db.query("SELECT * FROM feedback"))))
    assert liked is not None and row["track_id"] == liked.id and row["kind"] == "like"


async def test_play_press_toggles_even_while_a_browser_asks_to_pair(rig: Rig) -> None:
    await _start_playing(rig)
    await rig.publish(PairingWindow(open=True, until=rig.clock() + 30))
    await rig.publish(ButtonGesture(gesture="play_press"))
    await rig.until(lambda: rig.player.model.phase.value == "paused")
    assert rig.player.model.paused_by == "user"
    await rig.publish(ButtonGesture(gesture="play_press"))
    await rig.until(lambda: rig.player.model.phase.value == "playing")


async def test_listener_next_cycles_linked_users(rig: Rig) -> None:
    await _start_playing(rig)
    assert rig.player.model.listener == "mmp_a"
    await rig.publish(ButtonGesture(gesture="listener_next"))
    await rig.until(lambda: any(isinstance(e, ListenerChanged) for e in rig.events))
    changed = next(e for e in rig.events if isinstance(e, ListenerChanged))
    assert changed.user_id == "mmp_b" and changed.display_name == "MMP_B"
    assert Settings(rig.store).get_sync(ACTIVE_LISTENER) == "mmp_b"
    await rig.until(lambda: rig.player.model.listener == "mmp_b"
                    and rig.player.model.phase.value == "playing")


async def test_nothing_to_play_waits_and_says_what_to_do(rig: Rig) -> None:
    rig.api.library = []  # an empty library, no mood playlists, and search finds nothing
    await rig.publish(PresenceChanged(people=1, previous=0))
    await rig.reading("sad")
    await rig.until(lambda: any(isinstance(e, PlayerState) and e.state == "waiting"
                                for e in rig.events))
    waiting = next(e for e in rig.events if isinstance(e, PlayerState) and e.state == "waiting")
    assert "No sad tracks" in waiting.detail and "playlists" in waiting.detail
    await rig.wait(0.3)
    assert rig.player.model.phase.value == "idle" and "play" not in rig.api.names()
    assert rig.api.names().count("saved_tracks") == 1  # not retried on every reading


async def test_restriction_violated_on_play_restores_volume_shows_it_and_play_works(rig):
    rig.api.play_error = Restricted(status=403, reason="UNKNOWN")
    await rig.publish(PresenceChanged(people=1, previous=0))
    await rig.reading("happy")
    assert rig.player.model.phase.value == "idle"  # not stuck in "starting"
    assert rig.api.volume == 40  # not left at 0
    shown = [e for e in rig.events if isinstance(e, PlayerState)][-1]
    assert "Restriction violated" in shown.detail and "press Play" in shown.detail
    rig.api.play_error = None
    await rig.publish(ButtonGesture(gesture="play_press"))
    await rig.until(lambda: rig.player.model.phase.value == "playing", timeout=1.0)
    assert rig.api.names().count("play") == 2  # the refused one, then the one Play asked for


async def test_a_podcast_on_the_speaker_is_left_alone_without_fast_polling(rig: Rig) -> None:
    await _start_playing(rig, "happy")
    rig.api.podcast = True  # someone started an episode from the Spotify app
    await rig.until(lambda: rig.player.model.phase.value == "away")
    start = rig.clock()
    n = len(rig.api.calls)
    await rig.reading("sad")
    await rig.wait(120.0)
    after = rig.api.calls[n:]
    polls = [c.at for c in after if c.name == "playback"]
    assert 2 <= len(polls) <= 120 / 5
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(polls))
    assert [c.name for c in after if c.name != "playback"] == []  # no queue, no volume
    state = [e for e in rig.events if isinstance(e, PlayerState)][-1]
    assert state.state == "paused" and "podcast" in state.detail
    assert rig.clock() - start >= 120.0


def test_every_spotify_error_has_its_trouble():
    from appliance.music.errors import (
        NotRegistered,
        PlaybackRefused,
        PremiumRequired,
        RateLimited,
        SpeakerMissing,
        SpotifyError,
    )
    from appliance.music.player import classify
    from appliance.music.policy import Trouble

    assert classify(NotRegistered())[0] is Trouble.BLOCKED
    assert "User Management" in classify(NotRegistered())[1]
    assert classify(PremiumRequired())[0] is Trouble.BLOCKED
    assert classify(PlaybackRefused())[0] is Trouble.REFUSED
    assert classify(RateLimited(12.0))[::2] == (Trouble.RATE_LIMITED, 12.0)
    assert classify(SpeakerMissing())[0] is Trouble.SPEAKER_MISSING
    assert classify(SpotifyUnavailable())[0] is Trouble.OFFLINE
    assert classify(SpotifyError("HTTP 400"))[0] is Trouble.REJECTED
