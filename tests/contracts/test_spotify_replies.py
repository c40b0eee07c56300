"""Every recorded Spotify Web API reply, replayed over real HTTP through the client."""

from __future__ import annotations

import pytest

from appliance.music.errors import (
    DeviceNotControllable,
    NoActiveDevice,
    NotRegistered,
    PlaybackRefused,
    PlaylistUnavailable,
    PremiumRequired,
    RateLimited,
    Restricted,
    SpeakerMissing,
    SpotifyError,
    SpotifyUnavailable,
)
from appliance.music.spotify_models import Device, Playback, track_of_item
from tests.contracts.corpus import body, case, load
from tests.contracts.kit import replayed_api

DEV = "21dac6b0e0a1f181870fdc9749b2656466557687"

# -- parsers ---------------------------------------------------------------------------------


def test_devices_with_null_id_and_null_volume_parse_and_are_not_controllable() -> None:
    kitchen, office = (Device.from_json(d) for d in
                       body("spotify-devices-volume-null")["devices"])
    assert kitchen.volume_percent is None and kitchen.controllable
    assert office.id == "" and office.is_restricted and not office.controllable
    phone = Device.from_json(body("spotify-devices-phones")["devices"][0])
    assert phone.volume_percent == 100 and not phone.supports_volume
    desktop = Device.from_json(body("spotify-devices")["devices"][0])
    assert desktop.supports_volume and desktop.controllable


@pytest.mark.parametrize(("name", "kind", "track_id"), [
    ("spotify-player-track", "track", "1FyXbzOlq3dkxaB6iRsETv"),
    ("spotify-player-episode", "episode", None),
    ("spotify-player-episode-no-types", "episode", None),
    ("spotify-player-ad", "ad", None),
    ("spotify-player-local-file", "local", None),
])
def test_playback_states_say_what_is_on_the_speaker(name: str, kind: str,
                                                   track_id: str | None) -> None:
    pb = Playback.from_json(body(name))
    assert pb.kind == kind
    assert (pb.track.id if pb.track else None) == track_id
    assert pb.is_playing
    assert pb.foreign == (kind != "track")  # something the box did not queue is playing


def test_nothing_active_is_its_own_state() -> None:
    pb = Playback.from_json(None)
    assert pb.kind == "nothing" and not pb.is_playing and not pb.foreign


def test_playlist_entries_in_both_shapes_keep_only_playable_tracks() -> None:
    new = [track_of_item(i) for i in body("spotify-playlist-items-renamed")["items"]]
    old = [track_of_item(i) for i in body("spotify-playlist-items-old")["items"]
           if isinstance(i, dict)]
    assert [t.id if t else None for t in new] == ["1FyXbzOlq3dkxaB6iRsETv", None, None, None]
    assert [t.id if t else None for t in old] == ["1FyXbzOlq3dkxaB6iRsETv", None]


# -- reads over HTTP ---------------------------------------------------------------------------


async def test_playback_204_and_episode_without_types_over_http() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-player-nothing"))
        assert (await api.playback("u")).kind == "nothing"
        replay.serve(case("spotify-player-episode-no-types"))
        pb = await api.playback("u")
        assert pb.kind == "episode" and pb.device is not None and pb.device.id == ""
        assert "additional_types=episode" in replay.seen[-1].path_qs


async def test_my_playlists_skip_null_entries_and_read_both_count_fields() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-my-playlists-nulls"))
        lists = await api.playlists("u")
        assert [(p["id"], p["tracks"], p["owner"]) for p in lists] == [
            ("4WkWJ0EjHEFASDevhM8oPw", 1, "1112264649"),
            ("37i9dQZF1EuyeQlxxtnSue", 0, "spotify")]
        replay.serve(case("spotify-my-playlists"))
        assert [p["tracks"] for p in await api.playlists("u")] == [1]


async def test_playlist_items_use_the_items_path_and_the_renamed_entries() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-playlist-items-renamed"))
        tracks = await api.playlist_tracks("u", "4WkWJ0EjHEFASDevhM8oPw")
        assert [t.id for t in tracks] == ["1FyXbzOlq3dkxaB6iRsETv"]
        assert replay.seen[0].path_qs.startswith("/v1/playlists/4WkWJ0EjHEFASDevhM8oPw/items")


async def test_a_forbidden_playlist_is_named_with_why() -> None:
    async with replayed_api() as (api, replay, _):
        for name, c in (("spotify-devmode-playlist-forbidden", None),
                        ("spotify-empty-error", "403-empty")):
            replay.serve(case(name, c))
            with pytest.raises(PlaylistUnavailable) as got:
                await api.playlist_tracks("u", "37i9dQZF1DXcBWIGoYBM5M")
            assert got.value.playlist_id == "37i9dQZF1DXcBWIGoYBM5M"
            assert "own" in got.value.message  # Development Mode reads only own playlists


async def test_search_never_asks_more_than_10_and_pages_for_more() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-search-page"))
        found = await api.search_tracks("u", "happy", limit=20)
        limits = [q.path_qs for q in replay.seen]
        assert len(limits) == 2 and all("limit=10" in q for q in limits)
        assert "offset=10" in limits[1]
        assert [t.id for t in found] == ["1FyXbzOlq3dkxaB6iRsETv"]  # same track once


async def test_search_limit_refusal_is_not_mistaken_for_an_outage() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-devmode-search-limit"))
        with pytest.raises(SpotifyError) as got:
            await api.search_tracks("u", "happy")
        assert got.value.status == 400 and not isinstance(got.value, SpotifyUnavailable)


# -- errors over HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["not-registered", "may-not-be-registered", "not-approved"])
async def test_not_registered_plain_text_403_says_add_the_account(which: str) -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-not-registered", which))
        with pytest.raises(NotRegistered) as got:
            await api.me("u")
        assert "User Management" in got.value.message and "5" in got.value.message
        assert "try again" not in got.value.message


async def test_restriction_violated_on_play_is_a_refusal_not_a_no_op() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-player-errors-seen", "restriction-violated"))
        with pytest.raises(PlaybackRefused) as got:
            await api.play("u", device_id=DEV, uris=["spotify:track:1FyXbzOlq3dkxaB6iRsETv"])
        assert "refused to play" in got.value.message  # not "already in that state"
        assert len(replay.seen) == 1  # a play is never repeated
        with pytest.raises(Restricted) as paused:  # pausing a paused player stays harmless
            await api.pause("u", device_id=DEV)
        assert not isinstance(paused.value, PlaybackRefused)
        with pytest.raises(Restricted) as resumed:  # so does resuming what plays
            await api.resume("u", device_id=DEV)
        assert not isinstance(resumed.value, PlaybackRefused)


async def test_a_player_command_answered_200_with_text_counts_as_done() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-player-command-text-200"))
        await api.play("u", device_id=DEV, uris=["spotify:track:1FyXbzOlq3dkxaB6iRsETv"])
        await api.queue("u", "spotify:track:1FyXbzOlq3dkxaB6iRsETv", device_id=DEV)
        await api.set_volume("u", 30, device_id=DEV)
        assert len(replay.seen) == 3


@pytest.mark.parametrize(("which", "wait"), [("429-json", 7.0), ("429-empty", 1.0)])
async def test_429_waits_what_retry_after_says_with_or_without_a_body(which: str,
                                                                     wait: float) -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-rate-limited", which))
        with pytest.raises(RateLimited) as got:
            await api.playback("u")
        assert got.value.retry_after == wait
        assert 0 < api.blocked_for("u") <= wait
        with pytest.raises(RateLimited):  # refused locally: no second request
            await api.playback("u")
        assert len(replay.seen) == 1


@pytest.mark.parametrize("which", ["expired", "invalid", "none"])
async def test_401_refreshes_once_then_reports(which: str) -> None:
    async with replayed_api() as (api, replay, tokens):
        replay.serve(case("spotify-token-errors", which))
        with pytest.raises(SpotifyError) as got:
            await api.devices("u")
        assert tokens.refreshes == 1 and got.value.status == 401 and len(replay.seen) == 2


async def test_empty_error_bodies() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-empty-error", "502-empty"))
        with pytest.raises(SpotifyUnavailable):
            await api.devices("u")
        assert len(replay.seen) == 3  # a GET is retried twice
        replay.serve(case("spotify-empty-error", "403-empty"))
        with pytest.raises(SpotifyError) as got:
            await api.devices("u")
        assert got.value.status == 403


EXPECTED = {
    "NO_ACTIVE_DEVICE": NoActiveDevice, "PREMIUM_REQUIRED": PremiumRequired,
    "DEVICE_NOT_CONTROLLABLE": DeviceNotControllable,
    "VOLUME_CONTROL_DISALLOW": DeviceNotControllable,
    "REMOTE_CONTROL_DISALLOW": DeviceNotControllable,
    "ALREADY_PAUSED": Restricted, "NOT_PAUSED": Restricted, "ALREADY_PLAYING": Restricted,
    "RATE_LIMITED": RateLimited,
}


@pytest.mark.parametrize("reason", [c["name"] for c in
                                    load("spotify-player-error-reasons")["cases"]])
async def test_every_player_error_reason_maps_to_what_a_person_can_do(reason: str) -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-player-error-reasons", reason))
        with pytest.raises(SpotifyError) as got:
            await api.next("u", device_id=DEV)
        err = got.value
        assert isinstance(err, EXPECTED.get(reason, SpotifyError)), type(err)
        assert err.reason == reason
        assert "re-link" not in err.message  # a player refusal is never a link problem
        assert not isinstance(err, SpeakerMissing | SpotifyUnavailable)


async def test_device_not_found_on_a_named_device_is_a_missing_speaker() -> None:
    async with replayed_api() as (api, replay, _):
        replay.serve(case("spotify-player-errors-seen", "device-not-found"))
        with pytest.raises(SpeakerMissing):
            await api.set_volume("u", 30, device_id=DEV)
