"""Logging: journald-friendly lines, timestamps elsewhere, and redaction of secrets."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core.logging_setup import (
    MASK,
    RedactingFilter,
    journal_stderr,
    redact,
    setup_logging,
)

SPOTIFY_ACCESS = ("BQDs9Kx-7Jk2hAn0uZ1Qq8Xq3v5pL6wR1tY7uI8oP9aS0dF1gH2jK3lZ4xC5vB6nM7qW8eR9tY0u"
                  "I1oP2aS3dF4gH5jK6lZ7xC8vB9nM0")
SPOTIFY_REFRESH = "AQCx8Jd7-kLm2Nq9Rs4Tu6Vw1Xy3Za5Bc7De9Fg0Hi2Jk4Lm6No8Pq0Rs2Tu4Vw6Xy8Za0Bc2De4Fg6"
JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYzEyMyIsInR5cCI6IkpXVCJ9."
       "eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20iLCJzdWIiOiIxMDc2In0."
       "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk")

LEAKS = [
    # (text, secrets that must not survive)
    (f"GET /api/spotify/callback?code={SPOTIFY_REFRESH[:40]}&state=c2lnbmVkLWZsb3c.AbC HTTP/1.1",
     [SPOTIFY_REFRESH[:40], "c2lnbmVkLWZsb3c.AbC"]),
    (f"Authorization: Bearer {SPOTIFY_ACCESS}", [SPOTIFY_ACCESS]),
    (f"request headers {{'Authorization': 'Bearer {SPOTIFY_ACCESS}', 'Accept': '*/*'}}",
     [SPOTIFY_ACCESS]),
    ("Authorization: Basic Y2xpZW50OnNlY3JldA==", ["Y2xpZW50OnNlY3JldA=="]),
    (f'token endpoint answered {{"access_token": "{SPOTIFY_ACCESS}", "token_type": "Bearer", '
     f'"expires_in": 3600, "refresh_token": "{SPOTIFY_REFRESH}", "scope": "streaming"}}',
     [SPOTIFY_ACCESS, SPOTIFY_REFRESH]),
    ('google: {"access_token": "ya29.a0AfB_byDx1", "id_token": "' + JWT + '"}',
     ["ya29.a0AfB_byDx1", JWT]),
    (f"verifying id token {JWT} for aud 123.apps.googleusercontent.com", [JWT]),
    ("device code response {'device_code': 'AH-1Ng2pQr7sT9uVwXyZ0aBcD', 'user_code': "
     "'GQVQ-JKEC', 'verification_url': 'https://www.google.com/device'}",
     ["AH-1Ng2pQr7sT9uVwXyZ0aBcD", "GQVQ-JKEC"]),
    ("POST /token body=grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
     "&device_code=Ag_EE-xyz123&client_id=abc.apps&client_secret=GOCSPX-1a2B3c4D5e6F7g8H9i0J",
     ["Ag_EE-xyz123", "GOCSPX-1a2B3c4D5e6F7g8H9i0J"]),
    ("client_secret: 'Fh7Qk9Lm2Np4Rs6Tu8Vw'", ["Fh7Qk9Lm2Np4Rs6Tu8Vw"]),
    ("Cookie: mooddj_session=Zk9mV2xQ3sT8uY1wA4bC6dE; theme=dark", ["Zk9mV2xQ3sT8uY1wA4bC6dE"]),
    ("Set-Cookie: mooddj_session=Zk9mV2xQ3sT8uY1wA4bC6dE; HttpOnly; SameSite=Strict",
     ["Zk9mV2xQ3sT8uY1wA4bC6dE"]),
    ("pkce code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
     ["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"]),
    ("github answered access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=user%3Aemail",
     ["gho_16C7e42F292c6912E7710c838347Ae178B4a"]),
    ("retrying with ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", ["ghp_AbCdEfGhIjKlMnOpQrStUvWxYz"]),
    ("refresh with 1//0gHkq3LongRefreshTokenValue_abcDEF123-xyz", ["1//0gHkq3LongRefresh"]),
    ("x-rapidapi-key: 8f2b1c9d0e3a4b5c6d7e8f9a0b1c2d3e", ["8f2b1c9d0e3a4b5c6d7e8f9a0b1c2d3e"]),
    ("stored v1.0123456789abcdef.Qk9mV2xQ3sT8uY1wA4bC6dEfgh for mmp_1", ["Qk9mV2xQ3sT8uY1w"]),
    ("key material 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
     ["9f86d081884c7d659a2feaa0c55ad015"]),
    ("secret blob kV8pZ2rT5wY9bN3mQ6sX1cF4hJ7lD0gA+e/u==", ["kV8pZ2rT5wY9bN3mQ6sX1cF4hJ7lD0gA"]),
    ("paste-back url http://127.0.0.1:8080/callback?state=s1gn3d&code=AQBx-1234567",
     ["s1gn3d", "AQBx-1234567"]),
]

KEPT = [
    "service vision crashed: RuntimeError: camera busy (crash 2 in 60 s)",
    "ServiceState(name='vision', state='running', crashes=0, detail='')",
    "picked track 4uLU6hMCjMI75M1A2tKUQC (valence 0.71) for mood happy",
    "spotify: PUT /v1/me/player/play -> 404 NO_ACTIVE_DEVICE",
    'json error {"error": {"code": "not_found", "message": "no such user"}}',
    "database /tmp/pytest-of-root/pytest-12/test_something_long_name0/state/mooddj.db opened",
    "GET https://api.spotify.com/v1/me/player/devices 200",
    "user mmp_3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c signed in with google",
]


@pytest.mark.parametrize(("text", "secrets"), LEAKS)
def test_redact_masks_realistic_secrets(text: str, secrets: list[str]) -> None:
    out = redact(text)
    for s in secrets:
        assert s not in out, out
    assert MASK in out


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_ordinary_log_lines(text: str) -> None:
    assert redact(text) == text


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_filter_masks_arguments_and_tracebacks(tmp_path: Path, clean_root) -> None:
    log_file = tmp_path / "box.log"
    setup_logging("DEBUG", log_file, journal=False)
    log = logging.getLogger("appliance.test")
    log.info("refreshed, got %s", {"access_token": SPOTIFY_ACCESS})
    try:
        raise ValueError(f"bad response Authorization: Bearer {SPOTIFY_ACCESS}")
    except ValueError:
        log.exception("request failed")
    for h in clean_root.handlers:
        h.flush()
    text = log_file.read_text()
    assert SPOTIFY_ACCESS not in text
    assert "refreshed, got {'access_token': '[REDACTED]'}" in text
    assert "Traceback" in text and "Authorization: [REDACTED]" in text
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO appliance.test: ", text)


def test_journal_lines_have_priority_and_no_timestamp(capsys, clean_root) -> None:
    setup_logging("INFO", journal=True)
    logging.getLogger("appliance.core.supervisor").error("service vision failed")
    logging.getLogger("appliance.x").debug("hidden below INFO")
    err = capsys.readouterr().err
    assert err == "<3>ERROR appliance.core.supervisor: service vision failed\n"


def test_plain_stderr_lines_have_timestamps(capsys, clean_root) -> None:
    setup_logging("INFO", journal=False)
    logging.getLogger("appliance.app").info("starting")
    err = capsys.readouterr().err
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO appliance.app: starting\n", err)


def test_setup_logging_twice_does_not_duplicate_lines(capsys, clean_root) -> None:
    setup_logging("INFO", journal=False)
    setup_logging("INFO", journal=False)
    logging.getLogger("appliance.app").info("once")
    assert capsys.readouterr().err.count("once") == 1


def test_journal_stream_must_match_our_stderr(tmp_path: Path, monkeypatch) -> None:
    fh = (tmp_path / "stderr").open("w")
    monkeypatch.setattr(sys, "stderr", fh)
    st = os.fstat(fh.fileno())
    assert journal_stderr({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not journal_stderr({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
    assert not journal_stderr({})
    fh.close()


def test_filter_survives_a_broken_format_string() -> None:
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s %s", ("only-one",), None)
    assert RedactingFilter().filter(rec)
    assert "only-one" in rec.getMessage()


@pytest.mark.parametrize(("text", "secrets"), LEAKS)
def test_redact_is_idempotent(text: str, secrets: list[str]) -> None:
    once = redact(text)
    assert redact(once) == once
