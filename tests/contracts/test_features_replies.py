"""ReccoBeats' recorded reply through the features provider."""

from __future__ import annotations

from appliance.music.features import ReccoBeatsProvider
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
