"""The corpus is what it claims: sourced, counted, and covering the listed behaviours."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.contracts.corpus import files

SOURCES = Path(__file__).with_name("SOURCES.md")
KINDS = {"captured", "quoted", "doc"}
PROVIDERS = {"spotify-webapi", "spotify-accounts", "google", "microsoft", "github", "reccobeats"}


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in SOURCES.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].endswith(".json"):
            rows[cells[0]] = cells
    return rows


def test_every_file_has_a_sources_row_with_its_kind_count_and_source() -> None:
    rows = _rows()
    corpus = files()
    assert set(rows) == set(corpus)
    for name, d in corpus.items():
        _, provider, kind, count, source, licence = rows[name]
        assert (provider, kind, int(count)) == (d["provider"], d["kind"], len(d["cases"])), name
        assert kind in KINDS and provider in PROVIDERS, name
        assert source == d["source"] and licence == d["licence"], name
        assert re.search(r"https://|^[\w.-]+/[\w.-]+:", source), f"{name}: no address"


def test_at_least_40_real_bodies_and_every_provider() -> None:
    corpus = files()
    by_provider = Counter(d["provider"] for d in corpus.values() for _ in d["cases"])
    assert sum(by_provider.values()) >= 40
    assert set(by_provider) == PROVIDERS
    total = re.search(r"Total: (\d+) bodies", SOURCES.read_text())
    assert total and int(total.group(1)) == sum(by_provider.values())


def test_cases_are_replayable_replies() -> None:
    for name, d in files().items():
        assert d["request"]["method"] in {"GET", "PUT", "POST"}, name
        names = [c["name"] for c in d["cases"]]
        assert len(names) == len(set(names)), name
        for c in d["cases"]:
            assert 200 <= c["status"] < 600, name
            assert not ("json" in c and "text" in c), name
            assert c["status"] == 204 or "json" in c or "text" in c or not c["content_type"]


def test_the_listed_behaviours_are_all_recorded() -> None:
    corpus = files()
    wanted = {
        "spotify-devices-volume-null.json": {"null-volume-null-id"},
        "spotify-player-track.json": {"track"}, "spotify-player-episode.json": {"episode"},
        "spotify-player-episode-no-types.json": {"episode-item-null"},
        "spotify-player-ad.json": {"ad"}, "spotify-player-local-file.json": {"local"},
        "spotify-player-nothing.json": {"204"},
        "spotify-rate-limited.json": {"429-json", "429-empty"},
        "spotify-accounts-token.json": {"refresh-rotated", "refresh-same"},
        "spotify-devmode-playlist-forbidden.json": {"forbidden"},
        "spotify-devmode-search-limit.json": {"invalid-limit"},
        "spotify-not-registered.json": {"not-registered"},
        "spotify-player-errors-seen.json": {"restriction-violated"},
        "spotify-player-command-text-200.json": {"text-200"},
        "spotify-my-playlists-nulls.json": {"page"}, "spotify-empty-error.json": {"403-empty"},
        "spotify-playlist-items-renamed.json": {"page"},
        "google-token.json": {"ok", "authorization_pending", "slow_down", "expired_token",
                              "access_denied", "invalid_client", "invalid_grant"},
        "google-token-seen.json": {"authorization_pending", "invalid-client-type",
                                   "invalid-client-secret"},
        "google-device-code-seen.json": {"unknown-client", "wrong-type"},
        "microsoft-token-seen.json": {"authorization_pending"},
        "github-token-seen.json": {"authorization_pending", "slow_down"},
        "microsoft-token.json": {"authorization_pending", "expired_token",
                                 "authorization_declined"},
        "github-token.json": {"authorization_pending", "slow_down", "expired_token",
                              "access_denied", "incorrect_client_credentials"},
    }
    for name, cases in wanted.items():
        assert cases <= {c["name"] for c in corpus[name]["cases"]}, name
    reasons = {c["name"] for c in corpus["spotify-player-error-reasons.json"]["cases"]}
    assert len(reasons) == 18 and {"NO_ACTIVE_DEVICE", "PREMIUM_REQUIRED", "UNKNOWN"} <= reasons
