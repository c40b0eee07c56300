"""Feature providers against the real features stand-in over HTTP."""

from __future__ import annotations

import asyncio

from appliance.core.config import FeaturesConfig
from appliance.music.features import (
    NoProvider,
    ReccoBeatsProvider,
    SoundNetProvider,
    make_provider,
    parse_retry_after,
)
from appliance.standins.catalog import catalog, track_id
from appliance.standins.features import FeaturesSim


async def test_reccobeats_batches_at_most_40_ids_and_maps_by_href() -> None:
    """The stand-in answers 40 ids a call at most (ReccoBeats' cap): larger batches would
    lose tracks without an error."""
    tracks = catalog()
    ids = [t.id for t in tracks[:95]]
    async with FeaturesSim() as sim:
        provider = ReccoBeatsProvider(sim.reccobeats_url)
        try:
            found = await provider.fetch(ids)
        finally:
            await provider.close()
        sizes = [len(r.ids) for r in sim.requests]
    assert sizes == [40, 40, 15]
    assert set(found) == set(ids)
    first = tracks[0]
    assert found[first.id].valence == first.valence
    assert found[first.id].energy == first.energy
    assert found[first.id].tempo == first.tempo
    assert found[first.id].source == "reccobeats"


async def test_reccobeats_leaves_out_unknown_tracks() -> None:
    known = catalog()[0].id
    unknown = track_id(99999)
    async with FeaturesSim(missing={catalog()[1].id}) as sim:
        provider = ReccoBeatsProvider(sim.reccobeats_url)
        try:
            found = await provider.fetch([known, unknown, catalog()[1].id, "not-an-id"])
        finally:
            await provider.close()
    assert list(found) == [known]


async def test_reccobeats_429_backs_off_without_sleeping_then_recovers() -> None:
    ids = [t.id for t in catalog()[:80]]
    async with FeaturesSim() as sim:
        provider = ReccoBeatsProvider(sim.reccobeats_url)
        try:
            sim.inject_429(1, retry_after="0.4")
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            first = await provider.fetch(ids)
            took = loop.time() - t0
            assert first == {}
            assert provider.blocked_for() > 0.2
            assert took < 0.4  # the call returned instead of sleeping out the Retry-After
            blocked = await provider.fetch(ids)  # still inside Retry-After: no request at all
            assert blocked == {}
            assert len(sim.requests) == 1
            await asyncio.sleep(0.45)
            again = await provider.fetch(ids)
        finally:
            await provider.close()
    assert set(again) == set(ids)
    assert [r.status for r in sim.requests] == [429, 200, 200]


async def test_soundnet_normalises_0_100_scales_and_sends_key() -> None:
    t = catalog()[5]
    async with FeaturesSim(rapidapi_key="k-123") as sim:
        good = SoundNetProvider(sim.soundnet_url, "k-123")
        bad = SoundNetProvider(sim.soundnet_url, "wrong")
        try:
            found = await good.fetch([t.id])
            refused = await bad.fetch([t.id])
        finally:
            await good.close()
            await bad.close()
    assert refused == {}
    f = found[t.id]
    assert abs(f.valence - t.valence) <= 0.006
    assert abs(f.energy - t.energy) <= 0.006
    assert 0 <= f.valence <= 1 and 0 <= f.energy <= 1
    assert f.source == "soundnet"


def test_provider_table_by_name() -> None:
    assert isinstance(make_provider(FeaturesConfig(provider="reccobeats")), ReccoBeatsProvider)
    assert isinstance(make_provider(FeaturesConfig(provider="soundnet")), SoundNetProvider)
    assert isinstance(make_provider(FeaturesConfig(provider="none")), NoProvider)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("garbage", default=30.0) == 30.0
