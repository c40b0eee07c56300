"""ReccoBeats' recorded reply through the features provider."""

from __future__ import annotations

import aiohttp

from appliance.music.features import ReccoBeatsProvider
from appliance.standins.catalog import catalog
from appliance.standins.features import MAX_IDS, FeaturesSim
from tests.contracts.corpus import Replay, case


async def test_features_are_matched_by_the_spotify_id_in_href() -> None:
    replay = await Replay().start()
    provider = ReccoBeatsProvider(f"{replay.url}/v1/")
    try:
        replay.serve(case("reccobeats-audio-features"))
        found = await provider.fetch(["1FyXbzOlq3dkxaB6iRsETv", "0000000000000000000000"])
        assert list(found) == ["1FyXbzOlq3dkxaB6iRsETv"]
        f = found["1FyXbzOlq3dkxaB6iRsETv"]
        assert (f.valence, f.energy, f.tempo) == (0.193, 0.966, 132.035)
        assert "ids=1FyXbzOlq3dkxaB6iRsETv,0000000000000000000000" in replay.seen[0].path_qs
    finally:
        await provider.close()
        await replay.stop()


async def test_the_stand_in_answers_at_most_40_ids_a_call() -> None:
    """ReccoBeats returns up to 40 tracks a request (SOURCES.md); a reply to more is not
    recorded, so the stand-in neither refuses nor answers beyond the cap."""
    ids = [t.id for t in catalog()[:45]]
    async with FeaturesSim() as sim, aiohttp.ClientSession() as http, http.get(
            f"{sim.reccobeats_url}audio-features", params={"ids": ",".join(ids)}) as resp:
        assert resp.status == 200
        body = await resp.json()
    answered = [item["href"].rsplit("/", 1)[1] for item in body["content"]]
    assert answered == ids[:MAX_IDS] == ids[:40]

