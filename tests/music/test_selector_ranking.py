"""The selector: ranking by distance, recent exclusion, feedback, fallbacks, caching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from music_player_fakes import FakeSpotify, make_tracks, seed

from appliance.core.config import PlayerConfig
from appliance.core.settings import Settings, text_key
from appliance.core.store import Store
from appliance.music import features_cache
from appliance.music.features import ReccoBeatsProvider
from appliance.music.moods import DEFAULT_TARGETS, MoodTarget
from appliance.music.selector import (
    Selector,
    parse_mood_playlists,
    parse_playlist_id,
    rank_scores,
)
from appliance.music.spotify_models import Track
from appliance.schema import open_store
from appliance.standins.catalog import catalog
from appliance.standins.features import FeaturesSim

TRACKS = make_tracks(40)
USER = "mmp_a"


@pytest.fixture
async def store(tmp_path: Path):
    s = open_store(tmp_path / "m.db")
    await seed(s, TRACKS)
    yield s
    s.close()


def _nearest(target: MoodTarget, exclude: set[str] = frozenset()) -> str:
    best = min(((t, f) for t, f in TRACKS if t.id not in exclude), key=lambda tf: (
        (tf[1][0] - target.valence) ** 2 + (tf[1][1] - target.energy) ** 2
        + 0.5 * ((tf[1][2] - target.tempo) / 100) ** 2))
    return best[0].id


async def test_pick_returns_the_track_nearest_the_mood_target(store: Store) -> None:
    sel = Selector(FakeSpotify([t for t, _ in TRACKS]), store, None, PlayerConfig())
    for mood in ("happy", "sad", "angry"):
        target = DEFAULT_TARGETS[mood]
        [track] = await sel.pick(USER, mood, target)
        assert track.id == _nearest(target)


async def test_recently_played_tracks_are_excluded(store: Store) -> None:
    sel = Selector(FakeSpotify([t for t, _ in TRACKS]), store, None, PlayerConfig())
    target = DEFAULT_TARGETS["happy"]
    [first] = await sel.pick(USER, "happy", target)
    await sel.played(USER, first.id, "happy", started_at=sel._clock())
    [second] = await sel.pick(USER, "happy", target)
    assert second.id != first.id
    assert second.id == _nearest(target, {first.id})


async def test_a_skip_moves_a_track_down_and_a_like_moves_it_up(store: Store) -> None:
    sel = Selector(FakeSpotify([t for t, _ in TRACKS]), store, None, PlayerConfig())
    target = DEFAULT_TARGETS["sad"]
    [best] = await sel.pick(USER, "sad", target)
    await sel.feedback(USER, best.id, "sad", "skip")
    [after_skip] = await sel.pick(USER, "sad", target)
    assert after_skip.id != best.id
    # the skip only counts for that mood
    [happy_pick] = await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"])
    assert happy_pick.id == _nearest(DEFAULT_TARGETS["happy"])
    # a like on a farther track brings it to the top
    ranked = await sel.pick(USER, "sad", target, count=4)
    liked = ranked[2]
    await sel.feedback(USER, liked.id, "sad", "like")
    [after_like] = await sel.pick(USER, "sad", target)
    assert after_like.id == liked.id
    # feedback is persisted: a fresh selector sees it
    fresh = Selector(FakeSpotify([t for t, _ in TRACKS]), store, None, PlayerConfig())
    [again] = await fresh.pick(USER, "sad", target)
    assert again.id == liked.id


async def test_candidates_are_cached_per_listener_and_refreshed_periodically(store) -> None:
    now = [1000.0]
    api = FakeSpotify([t for t, _ in TRACKS])
    sel = Selector(api, store, None, PlayerConfig(), refresh_seconds=600, clock=lambda: now[0])
    for _ in range(5):
        await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"])
    assert api.names().count("saved_tracks") == 1
    now[0] += 601
    await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"])
    assert api.names().count("saved_tracks") == 2


async def test_without_features_the_mood_playlist_then_a_search_fill_in(tmp_path) -> None:
    store = open_store(tmp_path / "m.db")
    try:
        bare = [Track(f"P{i:021d}", f"spotify:track:P{i:021d}", f"List {i}", "X", 1000)
                for i in range(3)]
        api = FakeSpotify(bare)
        api.library = []  # nothing saved, no features anywhere

        async def playlist_tracks(user_id: str, playlist_id: str) -> list[Track]:
            return bare if playlist_id == "37i9dQZF1DXdPec7aLTmlC" else []
        api.playlist_tracks = playlist_tracks  # type: ignore[method-assign]
        found = [Track("S" + "0" * 21, "spotify:track:S" + "0" * 21, "Found", "Y", 1000)]

        async def search_tracks(user_id: str, query: str) -> list[Track]:
            api.searched = query  # type: ignore[attr-defined]
            return found
        api.search_tracks = search_tracks  # type: ignore[method-assign]
        await Settings(store).set(text_key("mood_playlists"), json.dumps(
            {"happy": "https://open.spotify.com/playlist/37i9dQZF1DXdPec7aLTmlC?si=x"}))
        sel = Selector(api, store, None, PlayerConfig())
        picks = await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"], count=2)
        assert [t.id for t in picks] == [bare[0].id, bare[1].id]
        [sad] = await sel.pick(USER, "sad", DEFAULT_TARGETS["sad"])
        assert sad.id == found[0].id and "sad" in api.searched  # type: ignore[attr-defined]
    finally:
        store.close()


async def test_missing_features_are_fetched_from_reccobeats_and_cached(tmp_path) -> None:
    store = open_store(tmp_path / "m.db")
    cat = catalog()[:90]
    lib = [Track(t.id, t.uri, t.name, t.artists, t.duration_ms) for t in cat]
    try:
        async with FeaturesSim() as sim:
            provider = ReccoBeatsProvider(sim.reccobeats_url)
            try:
                sel = Selector(FakeSpotify(lib), store, provider, PlayerConfig())
                [pick] = await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"])
            finally:
                await provider.close()
            assert [len(r.ids) for r in sim.requests] == [40, 40, 10]
        m = store.read_sync(features_cache.load_matrix)
        assert len(m) == 90
        row = store.read_sync(lambda db: db["track_features"].get(cat[0].id))
        assert row["source"] == "reccobeats" and row["name"] == cat[0].name
        t = DEFAULT_TARGETS["happy"]
        best = min(cat, key=lambda c: (c.valence - t.valence) ** 2 + (c.energy - t.energy) ** 2
                   + 0.5 * ((c.tempo - t.tempo) / 100) ** 2)
        assert pick.id == best.id
    finally:
        store.close()


def test_vectorised_ranking_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    values = np.column_stack([rng.random(10_000), rng.random(10_000),
                              60 + 120 * rng.random(10_000)]).astype(np.float32)
    target = np.array([0.8, 0.7, 125.0], dtype=np.float32)
    bias = np.zeros(10_000, dtype=np.float32)
    bias[5] = 0.25
    excluded = np.zeros(10_000, dtype=bool)
    excluded[7] = True
    scores = rank_scores(values.copy(), target, bias, excluded)
    for i in (0, 5, 99, 9_999):
        v, e, tempo = (float(x) for x in values[i])
        expect = np.sqrt((v - 0.8) ** 2 + (e - 0.7) ** 2 + 0.5 * ((tempo - 125) / 100) ** 2)
        assert scores[i] == pytest.approx(expect + bias[i], rel=1e-5)
    assert np.isinf(scores[7])


def test_playlist_ids_from_ids_uris_and_links() -> None:
    pid = "37i9dQZF1DXdPec7aLTmlC"
    assert parse_playlist_id(pid) == pid
    assert parse_playlist_id(f"spotify:playlist:{pid}") == pid
    assert parse_playlist_id(f"https://open.spotify.com/playlist/{pid}?si=abc") == pid
    assert parse_playlist_id("nonsense") == ""
    assert parse_mood_playlists(json.dumps({"sad": [pid, "bad"]})) == {"sad": [pid]}
    assert parse_mood_playlists("{not json") == {}


async def test_features_beyond_the_first_batch_come_in_the_background_and_misses_rest(
        tmp_path, monkeypatch) -> None:
    from appliance.music import selector as selector_mod
    from appliance.standins.catalog import track_id

    monkeypatch.setattr(selector_mod, "INLINE_FEATURES", 40)
    store = open_store(tmp_path / "m.db")
    cat = catalog()[:60]
    lib = [Track(t.id, t.uri, t.name, t.artists, t.duration_ms) for t in cat]
    lib += [Track(track_id(5000 + i), f"spotify:track:{track_id(5000 + i)}", "?", "?", 1000)
            for i in range(3)]  # tracks ReccoBeats does not know
    try:
        async with FeaturesSim() as sim:
            provider = ReccoBeatsProvider(sim.reccobeats_url)
            sel = Selector(FakeSpotify(lib), store, provider, PlayerConfig())
            try:
                await sel.pick(USER, "happy", DEFAULT_TARGETS["happy"])
                assert [len(r.ids) for r in sim.requests][:1] == [40]
                assert sel._topup is not None
                await sel._topup
                pool = await sel.pool(USER)
                assert len(pool.matrix) == 60  # all known tracks now ranked
                asked = len(sim.requests)
                await sel.pick(USER, "sad", DEFAULT_TARGETS["sad"])
                if sel._topup is not None:
                    await sel._topup
                assert len(sim.requests) == asked  # the unknown ones are not asked again
            finally:
                await sel.close()
    finally:
        store.close()


async def test_a_corrupt_cache_row_is_skipped_and_picking_goes_on(store: Store) -> None:
    target = DEFAULT_TARGETS["happy"]
    best = _nearest(target)
    store.write_sync(lambda db: db.execute(
        "UPDATE track_features SET energy = 'loud', valence = NULL WHERE track_id = ?", [best]))
    sel = Selector(FakeSpotify([t for t, _ in TRACKS]), store, None, PlayerConfig())
    [pick] = await sel.pick(USER, "happy", target)
    assert pick.id == _nearest(target, {best})
