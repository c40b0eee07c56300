"""Shared set-up of the Spotify tests: the stand-in, a real SQLite store and the services."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from appliance.core.bus import Bus, Event
from appliance.core.config import Config, from_dict
from appliance.core.crypto import Sealer
from appliance.core.store import Store
from appliance.music.spotify import SpotifyServices, create_services
from appliance.schema import open_store
from appliance.simmode.spotify_link import ensure_user, link_via_sim
from appliance.standins.spotify_server import SpotifySim


@dataclass
class SpotifyEnv:
    sim: SpotifySim
    store: Store
    sealer: Sealer
    bus: Bus
    config: Config
    svc: SpotifyServices
    events: list[Event]

    async def link(self, user_id: str, account: str = "alice") -> None:
        await link_via_sim(self.sim, self.svc.linking, user_id, account=account)

    def published(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def make_config(sim: SpotifySim, tmp: Path, **spotify: object) -> Config:
    return from_dict(Config, {
        "paths": {"state_dir": str(tmp)},
        "web": {"port": 8080},
        "spotify": {"accounts_url": sim.accounts_url, "api_url": sim.api_url,
                    "client_id": sim.client_id, "timeout": 3.0, **spotify},
    })


@contextlib.asynccontextmanager
async def spotify_env(tmp: Path, *, users: tuple[str, ...] = ("u_alice", "u_bob"),
                      **spotify: object) -> AsyncIterator[SpotifyEnv]:
    """A running stand-in, a file-backed store with users, and the Spotify services."""
    import asyncio

    sim = SpotifySim()
    await sim.start()
    store = open_store(tmp / "mooddj.db")
    bus = Bus(asyncio.get_running_loop())
    events: list[Event] = []
    original = bus.publish

    def record(ev: Event) -> None:
        events.append(ev)
        original(ev)
    bus.publish = record  # type: ignore[method-assign]
    sealer = Sealer.from_file(tmp / "secret.key", create=True)
    config = make_config(sim, tmp, **spotify)
    svc = create_services(config, store, sealer, bus)
    svc.api.transfer_settle = 0.0
    for i, uid in enumerate(users):
        await ensure_user(store, uid, uid.removeprefix("u_").title(),
                          "owner" if i == 0 else "member")
    env = SpotifyEnv(sim, store, sealer, bus, config, svc, events)
    try:
        yield env
    finally:
        await svc.close()
        await sim.stop()
        store.close()
