"""Sign-in clients set from the owner's page: shape checks, the live test against the
identity stand-in's real refusal shapes, sealed storage, and the config winning."""

from __future__ import annotations

import aiohttp
import pytest

from appliance.core.config import IdentityConfig, from_dict
from appliance.core.crypto import Sealer
from appliance.core.secrets_store import verify_sealed
from appliance.identity import provider_settings as ps
from appliance.identity.providers import PROVIDERS, make_provider
from appliance.schema import open_store
from appliance.standins.identity import IdentitySim

GOOGLE_ID = "123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-abcdefghijklmnopqrstuvwxyz12"
MS_ID = "1a2b3c4d-1234-5678-9abc-1234567890ab"
GH_ID = "Ov23liAbCdEfGhIjKlMn"


@pytest.fixture
async def sim():
    s = IdentitySim(interval=0.05, clients={GOOGLE_ID, MS_ID, GH_ID, "Ov23liZzZzZzZzZzZzZz",
                                            "999999999999-wrongtypewrongtype.apps."
                                            "googleusercontent.com"})
    s.client_secrets[GOOGLE_ID] = GOOGLE_SECRET
    await s.start()
    yield s
    await s.stop()


def provider(sim: IdentitySim, name: str, client_id: str, secret: str = "",
             tenant: str = "common"):
    return make_provider(PROVIDERS[name], client_id=client_id, client_secret=secret,
                         tenant=tenant, base_url=sim.provider_url(name))


async def check(sim, name, client_id, secret="", tenant="common"):
    async with aiohttp.ClientSession() as http:
        return await ps.check_client(http, provider(sim, name, client_id, secret, tenant))


async def refused(sim, *args, **kw) -> str:
    with pytest.raises(ps.ClientRefused) as info:
        await check(sim, *args, **kw)
    return str(info.value)


async def test_good_clients_pass_the_test(sim):
    assert "accepted" in await check(sim, "google", GOOGLE_ID, GOOGLE_SECRET)
    assert "accepted" in await check(sim, "microsoft", MS_ID)
    assert "accepted" in await check(sim, "github", GH_ID)
    # The test asked for a device code and polled once: nothing is left waiting for a person.
    paths = [p for _, p, _ in sim.requests]
    assert paths.count("/google/device/code") == 1 and paths.count("/google/token") == 1


async def test_each_google_refusal_has_its_own_line(sim):
    assert "does not know this Client ID" in await refused(
        sim, "google", "111111111111-unknownunknown.apps.googleusercontent.com", GOOGLE_SECRET)
    wrong_type = "999999999999-wrongtypewrongtype.apps.googleusercontent.com"
    sim.misconfigured[wrong_type] = "wrong_type"
    assert "TVs and Limited Input devices" in await refused(sim, "google", wrong_type, "x" * 20)
    assert "Client secret" in await refused(sim, "google", GOOGLE_ID, "GOCSPX-not-the-one")


async def test_each_microsoft_refusal_has_its_own_line(sim):
    assert "does not know this Application (client) ID" in await refused(
        sim, "microsoft", "00000000-0000-0000-0000-000000000000")
    assert "does not know this tenant" in await refused(sim, "microsoft", MS_ID,
                                                        tenant="not_a_tenant")
    sim.misconfigured[MS_ID] = "public_flows_off"
    assert "Allow public client flows" in await refused(sim, "microsoft", MS_ID)


async def test_each_github_refusal_has_its_own_line(sim):
    assert "does not know this Client ID" in await refused(sim, "github", "Ov23liUnknownUnknown")
    sim.misconfigured["Ov23liZzZzZzZzZzZzZz"] = "device_flow_disabled"
    assert "Enable Device Flow" in await refused(sim, "github", "Ov23liZzZzZzZzZzZzZz")


async def test_unreachable_provider_says_so():
    p = make_provider(PROVIDERS["github"], client_id=GH_ID, base_url="http://127.0.0.1:9")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ps.ClientRefused, match="could not be reached"):
            await ps.check_client(http, p)


def test_shapes_are_checked_before_asking_anyone():
    ok = ps.validate(ps.ClientValues("google", f" {GOOGLE_ID} ", f" {GOOGLE_SECRET} "))
    assert (ok.client_id, ok.client_secret) == (GOOGLE_ID, GOOGLE_SECRET)
    assert ps.validate(ps.ClientValues("microsoft", MS_ID)).tenant == "common"
    assert ps.validate(ps.ClientValues("github", GH_ID, "ignored")).client_secret == ""
    for values, code in ((ps.ClientValues("google", "nope", GOOGLE_SECRET), "bad_client_id"),
                         (ps.ClientValues("google", GOOGLE_ID, ""), "bad_client_secret"),
                         (ps.ClientValues("microsoft", MS_ID, tenant="a b"), "bad_tenant"),
                         (ps.ClientValues("github", "<script>", ""), "bad_client_id"),
                         (ps.ClientValues("myspace", "x"), "unknown_provider")):
        with pytest.raises(ps.ClientRefused) as info:
            ps.validate(values)
        assert info.value.code == code


def test_stored_sealed_and_the_config_file_wins(tmp_path):
    store = open_store(tmp_path / "mooddj.db")
    sealer = Sealer(b"k" * 32)
    try:
        store.write_sync(lambda db: ps.save_client(
            db, sealer, ps.ClientValues("google", GOOGLE_ID, GOOGLE_SECRET)))
        store.write_sync(lambda db: ps.save_client(db, sealer, ps.ClientValues("github", GH_ID)))
        raw = store.read_sync(lambda db: list(db.query("SELECT * FROM identity_clients")))
        assert all(GOOGLE_SECRET not in str(r) and GOOGLE_ID not in str(r) for r in raw)
        assert store.read_sync(lambda db: verify_sealed(db, sealer, store.sealed)) == []
        stored = store.read_sync(lambda db: ps.stored_clients(db, sealer))
        config = from_dict(IdentityConfig, {"github": {"client_id": "Iv1.fromtheconfigfile"}})
        eff = ps.effective_providers(config, stored)
        assert (eff["google"].client_id, eff["google"].client_secret) == (GOOGLE_ID,
                                                                          GOOGLE_SECRET)
        assert eff["google"].configured and not eff["microsoft"].configured
        assert eff["github"].client_id == "Iv1.fromtheconfigfile"
        assert [ps.source_of(config, stored, n) for n in ("google", "microsoft", "github")] == [
            "page", "", "config"]
        assert store.write_sync(lambda db: ps.remove_client(db, "google"))
        assert "google" not in store.read_sync(lambda db: ps.stored_clients(db, sealer))
    finally:
        store.close()
