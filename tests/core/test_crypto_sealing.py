"""Sealing: round trip, tampering, moved values, other keys, bad key files, key file mode."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from appliance.core.crypto import (
    KEY_BYTES,
    KeyFileError,
    SealedColumn,
    Sealer,
    SealError,
    create_key,
    key_fingerprint,
    read_key,
    sealed_key_version,
)

BIND = {"user_id": "mmp_1", "platform": "spotify", "field": "access_token"}


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(KEY_BYTES))


def test_round_trip_returns_the_value_and_hides_it(sealer: Sealer) -> None:
    sealed = sealer.seal("BQD-secret-token", **BIND)
    assert "BQD-secret-token" not in sealed
    assert sealer.open(sealed, **BIND) == "BQD-secret-token"
    assert sealer.seal("same", **BIND) != sealer.seal("same", **BIND)  # random nonce
    assert sealed_key_version(sealed) == sealer.version


def test_tampered_ciphertext_is_refused(sealer: Sealer) -> None:
    sealed = sealer.seal("token", **BIND)
    fmt, version, body = sealed.split(".", 2)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 0x01
    forged = f"{fmt}.{version}." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(SealError, match="failed authentication"):
        sealer.open(forged, **BIND)
    with pytest.raises(SealError):
        sealer.open(f"{fmt}.{version}.AAAA", **BIND)
    with pytest.raises(SealError, match="not a sealed value"):
        sealer.open("plain-token", **BIND)


@pytest.mark.parametrize("moved", [
    {"user_id": "mmp_2"}, {"platform": "soundcloud"}, {"field": "refresh_token"}])
def test_a_value_moved_to_another_record_is_refused(sealer: Sealer, moved: dict) -> None:
    sealed = sealer.seal("token", **BIND)
    with pytest.raises(SealError):
        sealer.open(sealed, **{**BIND, **moved})


def test_another_key_is_refused_with_a_message_naming_the_fix(sealer: Sealer) -> None:
    sealed = sealer.seal("token", **BIND)
    other = Sealer(os.urandom(KEY_BYTES))
    with pytest.raises(SealError, match=r"another key.*secret\.key.*mooddj restore"):
        other.open(sealed, **BIND)


def test_a_forged_version_label_does_not_help(sealer: Sealer) -> None:
    other = Sealer(os.urandom(KEY_BYTES))
    sealed = other.seal("token", **BIND)
    relabelled = sealed.replace(other.version, sealer.version, 1)
    with pytest.raises(SealError):
        sealer.open(relabelled, **BIND)


def test_missing_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    with pytest.raises(KeyFileError, match=str(path)) as err:
        Sealer.from_file(path)
    assert "missing" in str(err.value) and "mooddj restore" in str(err.value)


def test_short_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"short")
    with pytest.raises(KeyFileError, match=rf"{path}.*5 bytes"):
        read_key(path)


def test_created_key_has_mode_0600_and_is_never_overwritten(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "secret.key"
        key = create_key(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key and len(key) == KEY_BYTES
    with pytest.raises(KeyFileError, match="already exists"):
        create_key(path)
    assert Sealer.from_file(path, create=True).version == key_fingerprint(key)


def test_rekey_switches_the_sealer_in_place(sealer: Sealer) -> None:
    new_key = os.urandom(KEY_BYTES)
    sealed_old = sealer.seal("a", **BIND)
    sealer.rekey(new_key)
    assert sealer.version == key_fingerprint(new_key)
    assert Sealer(new_key).open(sealer.seal("b", **BIND), **BIND) == "b"
    with pytest.raises(SealError):
        sealer.open(sealed_old, **BIND)


def test_sealed_column_binding_comes_from_the_row() -> None:
    col = SealedColumn("connections", "refresh_token")
    assert col.binding({"user_id": "mmp_1", "platform": "spotify"}) == {
        "user_id": "mmp_1", "platform": "spotify", "field": "refresh_token"}
    fixed = SealedColumn("identities", "token", user_id_column="user_id", platform="github")
    assert fixed.binding({"user_id": "u"})["platform"] == "github"


def test_a_leftover_world_readable_tmp_file_does_not_leak_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    leftover = tmp_path / "secret.key.tmp"
    leftover.write_bytes(b"old")
    leftover.chmod(0o644)
    create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
