"""The music page and its API on the real web app (middlewares, sessions, CSRF)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
from music_player_fakes import FakeSpotify, make_tracks, seed
from yarl import URL

from appliance.core.bus import Bus, ListenerChanged, ManualMood, MoodReading
from appliance.core.config import Config, from_dict
from appliance.core.settings import ACTIVE_LISTENER, Settings, stored
from appliance.identity.sessions import COOKIE_NAME, SessionStore
from appliance.music.errors import PlaylistUnavailable
from appliance.music.history import MoodHistoryService
from appliance.music.moods import MOOD_TARGETS
from appliance.music.player import PlayerService, settings_from
from appliance.music.selector import MOOD_PLAYLISTS, Selector
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.routes.music import add_routes
from appliance.web.service import WebService

TRACKS = make_tracks(10)
PID = "37i9dQZF1DXdPec7aLTmlC"


def stored_text(store, key) -> str | None:
    """The text stored for `key` (None: unset), as the table holds it."""
    return store.read_sync(lambda db: stored(db, [key])).get(key.name)


class _Speakers:
    async def resolve(self, user_id: str):  # pragma: no cover - the player does not run here
        raise AssertionError

    async def chosen(self) -> dict:
        return {"id": "", "name": "", "volume": 40}


@pytest.fixture
async def page(tmp_path: Path):
    config: Config = from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": 8080, "mdns": False}})
    store = open_store(config.paths.database_path)
    bus = Bus(asyncio.get_running_loop())
    await seed(store, TRACKS, users=("mmp_a", "mmp_b"))
    api = FakeSpotify([t for t, _ in TRACKS])
    selector = Selector(api, store, None, config.player)
    player = PlayerService(api=api, speakers=_Speakers(), selector=selector, store=store,
                           bus=bus, settings=settings_from(config.player))
    history = MoodHistoryService(store, bus, config.player.mood_history_days)
    deps = WebDeps(config=config, bus=bus, store=store, player=player, history=history,
                   route_setups=[add_routes])
    web_svc = WebService(deps, port=0)
    await web_svc.start()
    token, _ = await SessionStore(store, config.web).create(user_id="mmp_a", paired=True)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    http.cookie_jar.update_cookies({COOKIE_NAME: token}, response_url=URL(web_svc.base_url))
    async with http.get(web_svc.base_url + "/api/csrf") as r:
        csrf = (await r.json())["data"]["csrfToken"]
    sub = bus.subscribe(name="test")
    yield web_svc.base_url, http, csrf, store, sub, (player, history)
    await http.close()
    await web_svc.stop()
    store.close()


def _json(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, "Accept": "application/json"}


async def test_mood_targets_read_change_and_refuse_bad_values(page) -> None:
    base, http, csrf, store, _sub, _player = page
    async with http.get(base + "/api/mood-targets") as r:
        data = (await r.json())["data"]
    assert data["targets"]["happy"] == data["defaults"]["happy"]
    new = {"sad": {"valence": 0.1, "energy": 0.25, "tempo": 72}}
    async with http.post(base + "/api/mood-targets", json=new, headers=_json(csrf)) as r:
        assert r.status == 200
        assert (await r.json())["data"]["targets"]["sad"]["tempo"] == 72
    assert json.loads(stored_text(store, MOOD_TARGETS) or "{}")["sad"]["energy"] == 0.25
    bad = {"sad": {"valence": 7, "energy": 0.25, "tempo": 72}}
    async with http.post(base + "/api/mood-targets", json=bad, headers=_json(csrf)) as r:
        assert r.status == 400
        assert "valence" in (await r.json())["error"]["message"]
    async with http.post(base + "/api/mood-targets", json=new) as r:  # no CSRF token
        assert r.status == 403
    # the plain form on the page posts dotted field names
    form = {"csrf_token": csrf, **{f"happy.{k}": str(v) for k, v in
                                   {"valence": 0.9, "energy": 0.8, "tempo": 130}.items()}}
    async with http.post(base + "/api/mood-targets", data=form, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/music?done=targets"
    assert json.loads(stored_text(store, MOOD_TARGETS) or "{}")["happy"]["tempo"] == 130


async def test_page_mood_publishes_manual_mood_with_its_hold_time(page) -> None:
    base, http, csrf, _store, sub, _player = page
    async with http.post(base + "/api/mood", json={"mood": "angry", "minutes": 10},
                         headers=_json(csrf)) as r:
        assert r.status == 200
        answered = (await r.json())["data"]["until"]
    ev = sub.get_nowait()
    while ev is not None and not isinstance(ev, ManualMood):
        ev = sub.get_nowait()
    assert isinstance(ev, ManualMood) and ev.mood == "angry"
    assert ev.until == answered
    assert 595 < ev.until - time.time() <= 600
    async with http.post(base + "/api/mood", json={"mood": "bored"}, headers=_json(csrf)) as r:
        assert r.status == 400
    async with http.post(base + "/api/mood", json={"mood": "auto"}, headers=_json(csrf)) as r:
        assert r.status == 200 and (await r.json())["data"]["mood"] is None
    ev = sub.get_nowait()
    while ev is not None and not isinstance(ev, ManualMood):
        ev = sub.get_nowait()
    assert isinstance(ev, ManualMood) and ev.mood is None and ev.until == 0.0


async def test_listener_choice_and_mood_playlists(page) -> None:
    base, http, csrf, store, sub, (player, _history) = page
    async with http.post(base + "/api/listener", json={"user_id": "mmp_b"},
                         headers=_json(csrf)) as r:
        assert r.status == 200
    assert Settings(store).get_sync(ACTIVE_LISTENER) == "mmp_b"
    assert player.model.listener == "mmp_b"
    events = []
    while (ev := sub.get_nowait()) is not None:
        events.append(ev)
    assert any(isinstance(e, ListenerChanged) and e.user_id == "mmp_b" for e in events)
    async with http.post(base + "/api/listener", json={"user_id": "mmp_nobody"},
                         headers=_json(csrf)) as r:
        assert r.status == 400
    link = f"https://open.spotify.com/playlist/{PID}?si=1"
    async with http.post(base + "/api/mood-playlists", json={"sad": link, "happy": ""},
                         headers=_json(csrf)) as r:
        assert r.status == 200
    assert json.loads(stored_text(store, MOOD_PLAYLISTS) or "{}") == {"sad": [PID]}
    async with http.post(base + "/api/mood-playlists", json={"sad": "not a link"},
                         headers=_json(csrf)) as r:
        assert r.status == 400


async def test_history_api_and_the_music_page_escape_names(page) -> None:
    base, http, _csrf, store, _sub, (_player, history) = page
    await store.write(lambda db: db.execute(
        "UPDATE users SET display_name = '<script>x</script>' WHERE id = 'mmp_b'"))
    for _ in range(3):  # counted by the history service, not written yet: the page asks it
        history.take(MoodReading(faces=1, valence=0.5, arousal=0.1, mood="happy",
                                       confidence=0.9))
    async with http.get(base + "/api/history?days=7") as r:
        summary = (await r.json())["data"]
    assert summary["samples"] == 3 and summary["dominant"] == "happy"
    async with http.get(base + "/music") as r:
        assert r.status == 200
        html = await r.text()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    for part in ('action="/api/mood-targets"', 'action="/api/listener"', 'action="/api/mood"',
                 'action="/api/mood-playlists"', "<meter"):
        assert part in html
    async with http.get(base + "/music?error=bad_playlist") as r:
        assert "not a Spotify playlist link" in await r.text()


async def test_signed_out_browsers_get_no_music_api(page) -> None:
    base, _http, _csrf, _store, _sub, _player = page
    async with aiohttp.ClientSession() as anon, anon.get(base + "/api/mood-targets") as r:
        assert r.status in (401, 403)


# -- security review 2026-12 (F-7, I-6): wrong JSON types are 400s, never 500s --------------

@pytest.mark.parametrize("targets", ["x", [1, 2], None, 3])
async def test_mood_targets_that_are_not_an_object_are_a_400(page, targets) -> None:
    base, http, csrf, store, _sub, _player = page
    async with http.post(base + "/api/mood-targets", json={"targets": targets},
                         headers=_json(csrf)) as r:
        assert r.status == 400, await r.text()
        assert (await r.json())["error"]["code"] == "bad_targets"
    assert stored_text(store, MOOD_TARGETS) in (None, "")


@pytest.mark.parametrize("days", ["nan", "NaN", "inf", "-inf"])
async def test_history_refuses_days_that_are_not_a_number(page, days) -> None:
    base, http, _csrf, _store, _sub, _player = page
    async with http.get(base + f"/api/history?days={days}") as r:
        text = await r.text()
        assert r.status == 400, text
        assert json.loads(text)["error"]["code"] == "bad_days"  # strict JSON, no NaN


async def test_the_music_page_names_playlists_spotify_refused(page) -> None:
    base, http, _csrf, store, _sub, (player, _history) = page
    api = player.selector.api
    refused = "37i9dQZF1DXcBWIGoYBM5M"

    async def playlists(user_id: str) -> list[dict]:
        return [{"id": refused, "name": "Today's <Top> Hits", "tracks": 50}]

    async def playlist_tracks(user_id: str, playlist_id: str) -> list:
        raise PlaylistUnavailable(playlist_id=playlist_id, status=403)
    api.playlists, api.playlist_tracks = playlists, playlist_tracks
    await Settings(store).set(ACTIVE_LISTENER, "mmp_a")
    await player.selector.pool("mmp_a", force=True)
    async with http.get(base + "/music") as r:
        html = await r.text()
    assert 'id="skipped-playlists"' in html and "Today&#39;s &lt;Top&gt; Hits" in html
    assert PlaylistUnavailable.default_message.split(":")[0] in html
