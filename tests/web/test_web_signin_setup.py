"""The owner's Sign-in setup page on a real box: paste, test against the stand-in's real
refusals, keep sealed, sign in with it at once, survive a restart, config file wins."""

from __future__ import annotations

import asyncio

import pytest
from web_box import Box, Browser

from appliance.core.bus import Bus
from appliance.core.config import Config, from_dict
from appliance.core.crypto import Sealer
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.providers import build_providers
from appliance.schema import open_store
from appliance.web.kit.deps import WebDeps
from appliance.web.service import WebService

GH_ID = "Ov23liHouseholdApp01"
MS_ID = "1a2b3c4d-1234-5678-9abc-1234567890ab"


def config_for(tmp_path, sim) -> Config:
    ident = sim.identity_config()
    # GitHub and Microsoft: pointed at the stand-in but without a client id (a default box).
    ident["github"] = {"base_url": sim.provider_url("github"),
                       "api_url": sim.provider_url("github-api")}
    ident["microsoft"] = {"base_url": sim.provider_url("microsoft")}
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp_path), "runtime_dir": str(tmp_path / "run")},
        "web": {"host": "127.0.0.1", "port": 8080, "mdns": False, "max_body_bytes": 4096},
        "identity": ident})


async def start(config, store, bus, sim, sealer):
    providers = build_providers(config.identity)
    flows = DeviceFlows(providers, min_interval=0.01, slow_down_step=0.05)
    svc = WebService(WebDeps(config=config, bus=bus, store=store, sealer=sealer,
                             providers=providers, flows=flows), port=0)
    await svc.start()
    return Box(svc.base_url, svc.port, bus, store, sim, svc, config), flows


@pytest.fixture
async def setup_box(tmp_path, idsim):
    idsim.clients = {GH_ID, MS_ID, "Ov23liNoDeviceFlow01", "sim-google.apps.example"}
    idsim.misconfigured["Ov23liNoDeviceFlow01"] = "device_flow_disabled"
    config = config_for(tmp_path, idsim)
    store = open_store(config.paths.database_path)
    sealer = Sealer(b"s" * 32)
    bus = Bus(asyncio.get_running_loop())
    box, flows = await start(config, store, bus, idsim, sealer)
    clients: list[Browser] = []
    yield box, clients, (config, store, bus, sealer)
    for c in clients:
        await c.close()
    await box.service.stop()
    await flows.close()
    store.close()


async def owner_of(box, clients) -> Browser:
    b = Browser(box)
    clients.append(b)
    await b.pair_with_button()
    r = await b.post("/api/profiles", json={"name": "Ana"})
    assert r.status == 201
    await b.refresh_csrf()
    return b


async def test_owner_sets_up_github_and_signs_in_with_it_at_once(setup_box):
    box, clients, (_, store, _, _) = setup_box
    owner = await owner_of(box, clients)
    listed = {p["name"]: p for p in (await (await owner.get("/api/sign-in-providers")).json())[
        "data"]}
    assert listed["github"]["configured"] is False and listed["google"]["source"] == "config"
    # Refusals, each with its own line, and nothing kept.
    for cid, words in (("Ov23liUnknownClient1", "does not know this Client ID"),
                       ("Ov23liNoDeviceFlow01", "Enable Device Flow"),
                       ("not-a-client-id", "not a GitHub Client ID")):
        r = await owner.send("PUT", "/api/sign-in-providers/github", json={"client_id": cid})
        assert r.status == 400 and words in (await r.json())["error"]["message"], cid
    r = await owner.post("/auth/github/login")
    assert r.status == 409  # still not configured
    r = await owner.send("PUT", "/api/sign-in-providers/github", json={"client_id": GH_ID})
    assert r.status == 200, await r.text()
    assert "accepted" in (await r.json())["data"]["message"]
    rows = store.read_sync(lambda db: list(db.query("SELECT * FROM identity_clients")))
    assert len(rows) == 1 and GH_ID not in str(rows[0])
    # Signing in with GitHub works now, with the page's client id.
    phone = Browser(box)
    clients.append(phone)
    await phone.pair_with_button()
    page = await (await phone.get("/signin", html=True)).text()
    assert "Continue with GitHub" in page
    linked = await owner.sign_in("github", email="ana@example.com", name="Ana")
    assert linked["linked"] is True
    asked = [form.get("client_id") for _, path, form in box.sim.requests
             if path == "/github/login/device/code"]
    assert asked[-1] == GH_ID


async def test_the_page_client_survives_a_restart_and_can_be_removed(setup_box):
    box, clients, (config, store, bus, sealer) = setup_box
    owner = await owner_of(box, clients)
    r = await owner.send("PUT", "/api/sign-in-providers/microsoft",
                         json={"client_id": MS_ID, "tenant": "bogus tenant"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_tenant"
    r = await owner.send("PUT", "/api/sign-in-providers/microsoft", json={"client_id": MS_ID})
    assert r.status == 200, await r.text()
    again, flows = await start(config, store, bus, box.sim, sealer)
    try:
        other = Browser(again)
        clients.append(other)
        await other.pair_with_button()
        r = await other.post("/auth/microsoft/login")
        assert r.status == 200, await r.text()
        r = await owner.delete("/api/sign-in-providers/microsoft")
        assert (await r.json())["data"]["removed"] is True
        r = await owner.post("/auth/microsoft/login")
        assert r.status == 409
    finally:
        await again.service.stop()
        await flows.close()


async def test_the_config_file_wins_and_only_the_owner_may_change_it(setup_box):
    box, clients, _ = setup_box
    owner = await owner_of(box, clients)
    r = await owner.send("PUT", "/api/sign-in-providers/google", json={
        "client_id": "123456789012-abcdefghijkl.apps.googleusercontent.com",
        "client_secret": "GOCSPX-abcdefghijklmnop"})
    assert r.status == 409 and (await r.json())["error"]["code"] == "set_in_config"
    member = Browser(box)
    clients.append(member)
    await member.pair_with_button()
    assert (await member.post("/api/profiles", json={"name": "Ben"})).status == 201
    await member.refresh_csrf()
    r = await member.send("PUT", "/api/sign-in-providers/github", json={"client_id": GH_ID})
    assert r.status == 403
    assert (await member.get("/settings/sign-in", html=True)).status == 403


async def test_the_page_walks_through_each_console_without_javascript(setup_box):
    box, clients, _ = setup_box
    owner = await owner_of(box, clients)
    page = await (await owner.get("/settings/sign-in", html=True)).text()
    for words in ("Allow public client flows", "Set in <code>/etc/mooddj/config.toml",
                  "Enable Device Flow", "Application (client) ID", "from the config file"):
        assert words in page, words
    r = await owner.http.post(box.base + "/settings/sign-in/github",
                              data={"csrf_token": owner.csrf, "client_id": "Ov23liNoDeviceFlow01"},
                              headers={"Accept": "text/html"})
    text = await r.text()
    assert r.status == 400 and "Enable Device Flow" in text and "Ov23liNoDeviceFlow01" in text
    r = await owner.http.post(box.base + "/settings/sign-in/github",
                              data={"csrf_token": owner.csrf, "client_id": GH_ID},
                              headers={"Accept": "text/html"})
    assert r.status == 200 and "accepted the client" in await r.text()
