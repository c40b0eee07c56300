"""The player's policy on a simulated timeline: events and times in, commands out."""

from __future__ import annotations

import itertools

import pytest
from policy_script import EPISODE_NOW, MOODS, PHONE, SPEAKER, S, Script, World, playing

from appliance.core.bus import ManualMood, PrivacyChanged
from appliance.music.policy import (
    Failed,
    Feedback,
    Pause,
    Phase,
    Play,
    PlayerModel,
    Poll,
    Polled,
    Prepare,
    Queue,
    Record,
    SetVolume,
    ShowOffline,
    Skip,
    Trouble,
    decide,
    view,
)

pytestmark = pytest.mark.timeout(30)


def test_people_and_a_stable_mood_start_with_silence_then_a_fade_in():
    s = Script().at(0.0).reading("happy")
    assert s.sent(Prepare) == []  # a mood alone starts nothing: presence comes from vision
    s.presence(2)
    names = [type(c).__name__ for _, c in s.log]
    assert names == ["FindListener", "Prepare", "SetVolume", "Play", "Record"]
    assert s.sent(SetVolume)[0][1].percent == 0
    s.at(3.0)  # the fade-in: steps on the timeline, not one long command
    steps = s.world.volumes[1:]
    assert [v for _, v in steps] == sorted(v for _, v in steps) and steps[-1] == (3.0, 40)
    assert len(steps) >= 5 and steps[0][0] > 0.0
    assert s.model.music_mood == "happy" and s.world.volume == 40
    assert view(s.model) == ("playing", "")


def test_the_first_stable_reading_of_a_new_mood_queues_at_once():
    s = playing("happy").at(30.0)
    s.reading("sad", stable=False).at(38.0)  # vision: the new label is inside its dwell
    assert s.sent(Queue, since=30.0) == []
    s.reading("sad")  # vision says stable: the player adds no wait of its own
    (t, q), = s.sent(Queue, since=30.0)
    assert t == 38.0 and q.mood == "sad"
    assert s.model.music_mood == "happy"  # the song is not cut
    s.at(205.0)
    assert s.model.music_mood == "sad" and s.world.current is not None
    assert s.world.current.id == s.model.track.id  # type: ignore[union-attr]
    assert len(s.sent(Play)) == 1 and s.sent(Skip) == []


def test_a_blip_that_never_becomes_stable_changes_nothing():
    s = playing("happy").at(10.0)
    for i in range(20):
        s.at(10.0 + i * 0.2).reading("sad", stable=False)
    s.reading("happy").at(30.0)
    assert s.sent(Queue) == [] and s.model.heading == "happy"


def test_a_track_ending_continues_with_a_track_queued_before_its_end():
    s = playing("neutral").at(601.0)
    queues = [t for t, c in s.sent(Queue)]
    assert len(queues) == 3  # one per 200 s track, queued 15 s before it ends
    assert all((t % 200.0) >= 185.0 - 1e-6 for t in queues)
    assert len(s.sent(Play)) == 1  # the boundaries did the rest
    recorded = [c.track.id for _, c in s.sent(Record)]
    assert len(recorded) == 4 and len(set(recorded)) == 4


def test_the_list_running_out_plays_the_next_pick():
    w = World()
    s = playing("happy", w).at(100.0)
    w.queue.clear()
    s.model = s.model.__class__(**{**s.model.__dict__, "queued": None})  # a queue Spotify lost
    w.picks["happy"] = 10
    s.at(186.0)
    w.queue.clear()  # the queued track never reached the speaker
    s.at(215.0)
    assert len(s.sent(Play)) == 2 and s.model.phase is Phase.PLAYING
    assert w.playing


def test_playing_polls_at_most_six_times_a_minute():
    s = playing("happy").at(3600.0)
    calls = [t for t, c in s.log if isinstance(c, Poll | Queue | Play | Prepare | SetVolume)]
    assert len(calls) / 60.0 <= 6.0
    polls = s.polls_between(0, 3600)
    assert min(b - a for a, b in itertools.pairwise(polls)) >= 1.0


def test_an_empty_room_fades_out_pauses_and_people_back_resume():
    s = playing("happy").at(10.0).presence(0)
    s.at(66.9)
    assert s.sent(Pause) == []
    s.at(67.0)  # 60 s after the room emptied, minus the 3 s fade
    assert s.model.phase is Phase.FADING
    s.at(70.0)
    fade = [v for t, v in s.world.volumes if 67.0 < t <= 70.0]
    assert fade[:-1] == sorted(fade[:-1], reverse=True) and fade[-2:] == [0, 40]
    (t, _), = s.sent(Pause)
    assert t == 70.0  # the pause lands on the timeout
    assert s.model.phase is Phase.PAUSED and s.model.paused_by == "empty"
    assert s.world.volume == 40  # left at its usual volume for the Spotify app
    s.at(120.0).presence(1)
    assert [type(c).__name__ for _, c in s.log[-2:]] == ["SetVolume", "Resume"]
    s.at(123.0)
    assert s.world.volume == 40 and len(s.sent(SetVolume, since=120.1)) >= 5  # faded in
    assert s.model.phase is Phase.PLAYING and len(s.sent(Play)) == 1


def test_the_speaker_vanishing_waits_then_starts_again_when_it_is_back():
    w = World()
    s = playing("happy", w).at(50.0)
    w.vanish()
    s.at(66.0)  # the next poll: nothing active; playing the next track finds no speaker
    assert view(s.model)[0] == "waiting" and "not visible" in s.model.problem
    assert s.model.phase is Phase.IDLE
    s.at(300.0)
    tries = s.sent(Prepare, since=66.0)
    assert 3 <= len(tries) <= 10  # backing off, not hammering
    w.speaker_there = True
    s.at(400.0)
    assert s.model.phase is Phase.PLAYING and view(s.model) == ("playing", "")


def test_someone_taking_over_from_the_spotify_app_makes_the_box_back_off():
    w = World()
    s = playing("happy", w).at(40.0)
    w.other, w.other_device = "someone's track", None
    s.at(60.0)
    assert s.model.phase is Phase.AWAY
    state, detail = view(s.model)
    assert state == "paused" and "Spotify app" in detail
    s.reading("sad").at(100.0).presence(0).at(400.0)  # no queue into their session, no fade
    assert s.sent(Queue, since=41.0) == [] and s.sent(Pause) == []
    assert s.sent(SetVolume, since=41.0) == []
    polls = s.polls_between(61.0, 400.0)
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(polls))
    w.other, w.playing = "", False  # they stopped: the box waits for Play
    s.presence(2).at(500.0)
    assert s.model.phase is Phase.PAUSED and s.sent(Prepare, since=41.0) == []
    s.button("play_press")
    assert s.model.phase is Phase.PLAYING and s.model.music_mood == "sad"


def test_playback_moved_to_a_phone_is_someone_else_s():
    w = World()
    s = playing("happy", w).at(40.0)
    w.other, w.other_device = s.model.track.id, PHONE  # type: ignore[union-attr]
    s.at(60.0)
    assert s.model.phase is Phase.AWAY


def test_a_podcast_on_the_speaker_is_left_alone_and_polled_slowly():
    w = World()
    s = playing("happy", w).at(40.0)
    w.other = EPISODE_NOW  # item null, currently_playing_type "episode"
    s.at(3600.0)
    assert s.model.phase is Phase.AWAY and "podcast" in view(s.model)[1]
    polls = s.polls_between(41.0, 3600.0)
    assert len(polls) <= 3600 / 5
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(polls))
    assert s.sent(Queue, since=41.0) == []  # nothing of ours goes into the podcast session


def test_restriction_violated_on_play_restores_the_volume_shows_why_and_play_works():
    w = World(refuse_play=True)
    s = Script(w).at(0.0).presence(2).reading("happy")
    assert s.model.phase is Phase.IDLE  # not left "starting"
    assert w.volume == 40  # not left at 0
    state, detail = view(s.model)
    assert state == "idle" and "Restriction violated" in detail
    s.at(0.5)
    assert len(s.sent(Play)) == 1  # no retry storm
    w.refuse_play = False
    s.button("play_press")  # a person presses Play: it works at once
    assert s.model.phase is Phase.PLAYING and view(s.model) == ("playing", "")


def test_an_account_without_premium_is_an_error_retried_each_minute_until_fixed():
    w = World(premium=False)
    s = Script(w).at(0.0).presence(1).reading("neutral").at(600.0)
    assert view(s.model)[0] == "error" and "Premium" in view(s.model)[1]
    assert w.volume == 40
    assert 8 <= len(s.sent(Play)) <= 12
    s.button("listener_next")  # choosing another listener tries at once
    assert s.model.listener == "u2" and len(s.sent(Play)) >= 10


def test_a_user_not_on_the_dashboard_list_is_blocked_with_what_to_do():
    w = World()
    s = Script(w).at(0.0).presence(1).reading("neutral")
    s.model, _ = decide(s.model, Failed(Prepare("neutral", None), Trouble.BLOCKED,
                                        "Add this Spotify account under User Management in "
                                        "the app's dashboard (at most 5)."), 1.0)
    assert view(s.model) == ("error", "Add this Spotify account under User Management in "
                                      "the app's dashboard (at most 5).")
    assert s.model.retry_at >= 1.0 + 0.9 * 60


def test_network_loss_keeps_the_music_shows_it_once_and_catches_up():
    w = World()
    s = playing("happy", w).at(20.0)
    w.offline = True
    s.reading("sad").at(60.0)
    assert s.model.phase is Phase.PLAYING and s.model.music_mood == "happy"
    assert len(s.sent(ShowOffline)) == 1 and s.sent(ShowOffline)[0][1].shown
    failed = [t for t, c in s.log if isinstance(c, Queue | Poll)]
    assert len(failed) <= 8
    w.offline = False
    s.at(150.0)
    assert s.sent(ShowOffline)[-1][1] == ShowOffline(False)
    assert s.model.heading == "sad" and len(s.sent(Play)) == 1


def test_manual_mood_changes_now_holds_then_the_room_wins():
    s = playing("happy").at(10.0)
    s.feed(ManualMood(mood="angry", until=100.0))
    assert [type(c).__name__ for _, c in s.log[-3:]] == ["Queue", "Skip", "Record"]
    assert s.model.music_mood == "angry"
    s.reading("sad").at(99.0)
    assert s.model.heading == "angry"
    s.at(100.0)
    assert s.model.heading == "sad" and s.model.manual is None


def test_privacy_keeps_the_music_and_freezes_the_mood():
    s = playing("happy").at(10.0)
    s.feed(PrivacyChanged(enabled=True)).presence(0)
    s.reading("sad").at(300.0)
    assert s.model.phase is Phase.PLAYING and s.sent(Pause) == []
    assert s.model.heading == "happy"


def test_next_press_skips_once_and_counts_an_early_skip():
    s = playing("happy").at(5.0)
    skipped = s.model.track
    s.button("next_press")
    assert [type(c).__name__ for _, c in s.log[-4:]] == ["Feedback", "Queue", "Skip", "Record"]
    assert s.sent(Feedback)[0][1] == Feedback(skipped.id, "happy", "skip")  # type: ignore[union-attr]
    assert s.model.track != skipped and len(s.sent(Skip)) == 1


def test_play_press_pauses_and_resumes():
    s = playing("happy").at(5.0).button("play_press")
    assert s.model.phase is Phase.PAUSED and s.model.paused_by == "user"
    s.at(100.0)
    assert len(s.polls_between(6.0, 100.0)) <= 4  # paused: a look every 30 s
    s.button("play_press")
    assert s.model.phase is Phase.PLAYING and len(s.sent(Play)) == 1


def test_every_phase_is_an_enum_and_the_model_is_frozen():
    m = PlayerModel.initial(S)
    with pytest.raises(AttributeError):
        m.phase = Phase.PLAYING  # type: ignore[misc]
    assert {p.value for p in Phase} >= {"idle", "starting", "playing", "fading", "paused"}
    assert all(m2 in MOODS for m2 in ("happy", "sad"))


def test_a_track_spotify_refused_is_not_picked_again():
    w = World(refuse_play=True)
    s = Script(w).at(0.0).presence(2).reading("happy")
    refused = s.sent(Play)[0][1].track
    w.refuse_play = False
    s.at(5.0)
    assert refused.id in s.sent(Prepare)[-1][1].avoid
    assert s.model.phase is Phase.PLAYING and s.model.track != refused


@pytest.mark.parametrize(("kind", "said"), [("episode", "a podcast"), ("ad", "an ad"),
                                            ("local", "a local file")])
def test_anything_but_a_track_on_the_speaker_is_someone_else_s(kind, said):
    from appliance.music.spotify_models import Playback

    s = playing("happy").at(10.0)
    s.model, out = decide(s.model, Polled(Playback(True, None, 1000, SPEAKER, kind=kind)), 10.0)
    assert out == [] and s.model.phase is Phase.AWAY
    assert f"playing {said} on Living Room" in view(s.model)[1]


def test_our_music_resumed_from_the_app_while_away_is_followed_again():
    w = World()
    s = playing("happy", w).at(40.0)
    ours = s.model.track
    w.other = EPISODE_NOW
    s.at(60.0)
    assert s.model.phase is Phase.AWAY
    w.other = ""  # the podcast is over and our track plays on from the app
    s.at(100.0)
    assert s.model.phase is Phase.PLAYING and s.model.track == ours
    assert view(s.model) == ("playing", "")


# -- fades are steps on the timeline: what happens during one -----------------------------


def test_people_back_during_the_fade_out_fade_the_music_up_again():
    s = playing("happy").at(10.0).presence(0).at(68.0)  # a second into the fade-out
    low = s.world.volume
    assert s.model.phase is Phase.FADING and 0 < low < 40
    s.presence(1).at(75.0)
    assert s.sent(Pause) == [] and s.model.phase is Phase.PLAYING
    up = [v for t, v in s.world.volumes if t >= 68.0]
    assert up[0] >= low - 5 and up[-1] == 40 and up == sorted(up)  # from where it was


def test_play_during_the_fade_out_pauses_at_once_and_restores_the_volume():
    s = playing("happy").at(10.0).presence(0).at(68.0)
    s.button("play_press")
    (t, pause), = s.sent(Pause)
    assert t == 68.0 and pause.why == "user"
    assert s.model.phase is Phase.PAUSED and s.world.volume == 40
    s.at(75.0)
    assert [v for t, v in s.world.volumes if t > 68.0] == []  # the fade did not go on


def test_play_during_the_fade_in_pauses_at_once():
    s = playing("happy").at(1.0)
    assert s.model.fade is not None  # still fading in
    s.button("play_press")
    assert [t for t, _ in s.sent(Pause)] == [1.0] and s.model.phase is Phase.PAUSED
    s.at(10.0)
    assert s.model.fade is None and s.world.volume == 40  # turned back up while paused


def test_a_failed_fade_step_brings_the_volume_back_with_the_retry():
    w = World()
    s = playing("happy", w).at(1.0)
    w.offline = True
    s.at(1.5)
    assert s.model.fade is None and s.model.retry_at > 1.5
    w.offline = False
    s.at(30.0)
    assert w.volume == 40 and not s.model.silenced and s.model.phase is Phase.PLAYING


def test_a_fixed_volume_speaker_gets_no_fades():
    w = World(fixed_volume=True)
    s = playing("happy", w).at(10.0).presence(0).at(80.0)
    assert s.model.fixed_volume and s.model.phase is Phase.PAUSED
    assert len(s.sent(SetVolume)) == 1  # the one that learned it; no steps after
    s.presence(1).at(200.0)
    assert len(s.sent(SetVolume)) == 1 and s.model.phase is Phase.PLAYING


def test_the_playing_poll_follows_player_poll_seconds():
    from appliance.core.config import PlayerConfig
    from appliance.music.player import settings_from

    gaps = {}
    for seconds in (15.0, 40.0):
        s = Script(World(seconds=600.0), settings=settings_from(PlayerConfig(poll_seconds=seconds)))
        s.at(0.0).presence(2).reading("happy").at(500.0)
        polls = s.polls_between(10.0, 500.0)
        gaps[seconds] = min(b - a for a, b in itertools.pairwise(polls))
    assert gaps == {15.0: 15.0, 40.0: 40.0}
