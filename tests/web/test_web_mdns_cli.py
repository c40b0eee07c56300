"""mDNS records (built, never sent) and `mooddj pair` codes accepted by the running box."""

from __future__ import annotations

import asyncio
import socket

from appliance.cli.main import main as cli_main
from appliance.core.bus import Bus
from appliance.core.config import WebConfig
from appliance.web.mdns import MdnsService, advertised_addresses, build_service_info


def test_service_info_points_at_hostname_local():
    info = build_service_info("mooddj", 8080, ["192.168.1.20", "fd00::20"])
    assert info.type == "_http._tcp.local."
    assert info.name == "MoodDJ (mooddj)._http._tcp.local."
    assert info.server == "mooddj.local."
    assert info.port == 8080
    assert sorted(info.parsed_addresses()) == ["192.168.1.20", "fd00::20"]
    assert info.properties[b"path"] == b"/"
    a_records = info.dns_addresses()
    assert {r.name for r in a_records} == {"mooddj.local."}
    assert socket.inet_aton("192.168.1.20") in {r.address for r in a_records}


def test_advertised_addresses_skip_loopback_and_link_local():
    got = advertised_addresses(["127.0.0.1", "::1", "fe80::1", "10.0.0.5", "bogus"])
    assert got == ["10.0.0.5"]


async def test_mdns_without_a_lan_address_warns_and_does_not_crash():
    svc = MdnsService(WebConfig(), Bus(asyncio.get_running_loop()), 8080,
                      addresses=lambda: [])
    await svc.start()
    assert "no LAN address" in svc.detail
    assert svc.snapshot()["advertising"] is False
    await svc.stop()


async def test_mooddj_pair_prints_a_code_the_box_accepts(box, browser, tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nstate_dir = "{tmp_path}"\n')
    code = await asyncio.to_thread(lambda: (cli_main(["--config", str(cfg), "pair"]),
                                            capsys.readouterr().out))
    assert code[0] == 0
    line = next(x for x in code[1].splitlines() if x.startswith("Pairing code: "))
    printed = line.removeprefix("Pairing code: ")
    assert len(printed) == 9 and printed[4] == "-"
    b = browser()
    await b.refresh_csrf()
    r = await b.post("/pair/code", json={"code": printed})
    assert r.status == 200, await r.text()
    assert (await b.get("/api/status")).status == 200


async def test_factories_build_from_a_box_context(box):
    from appliance.app.context import BoxContext
    from appliance.app.services import mdns as mdns_service_factory
    from appliance.app.services import web as web_service_factory
    from appliance.core.errors import ErrorBoard
    from appliance.core.settings import Settings

    ctx = BoxContext(config=box.config, bus=box.bus, store=box.store, sealer=None,
                     errors=ErrorBoard(box.bus), settings=Settings(box.store, box.bus))
    ctx.parts.routes.append(lambda app: None)
    web_svc = web_service_factory(ctx)
    assert web_svc.name == "web" and len(web_svc.deps.route_setups) == 1
    assert ctx.parts.web is web_svc and ctx.parts.providers is web_svc.deps.providers
    assert mdns_service_factory(ctx) is None  # web.mdns = false in the test config
    ctx.config = type(box.config)(web=type(box.config.web)(mdns=True))
    web_svc.port = 8123
    assert mdns_service_factory(ctx).port() == 8123
