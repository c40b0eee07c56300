"""Secrets at rest: AES-256-GCM sealing bound to the record it belongs to.

A sealed value is `v1.<key_version>.<base64url(nonce || ciphertext+tag)>`.
The associated data names the record (user id, platform, field) and the key
version, so a value copied into another row or column fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = "v1"


@dataclass(frozen=True)
class SealedColumn:
    """A database column holding sealed values; the associated data comes from the row.

    `field` passed to `seal`/`open` must be the column name, `user_id` and `platform`
    the row's values in `user_id_column` and `platform_column` (or `platform` fixed).
    """

    table: str
    column: str
    user_id_column: str = "user_id"
    platform_column: str = "platform"
    platform: str = ""  # fixed platform when the table has no platform column

    def binding(self, row: Mapping[str, Any]) -> dict[str, str]:
        """The `user_id`/`platform`/`field` keyword arguments for this row's value."""
        platform = self.platform or str(row[self.platform_column])
        return {"user_id": str(row[self.user_id_column]), "platform": platform,
                "field": self.column}


def sealed_key_version(sealed: str) -> str | None:
    """The fingerprint of the key a sealed value was sealed with, or None if not sealed."""
    parts = sealed.split(".", 2) if isinstance(sealed, str) else []
    return parts[1] if len(parts) == 3 and parts[0] == FORMAT else None


class KeyFileError(Exception):
    """The key file is missing, unreadable or not a key; the message names the file."""


class SealError(Exception):
    """A sealed value does not open: tampered, moved to another record, or another key."""


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key (safe to print and to store)."""
    return hashlib.sha256(b"mooddj-key-id" + key).hexdigest()[:16]


def read_key(path: Path) -> bytes:
    """The 32-byte key at `path`, or a KeyFileError naming the file and the fix."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} is missing; restore it from a backup "
                        f"(mooddj restore) or re-link accounts after `mooddj factory-reset`"
                        ) from None
    except PermissionError:
        raise KeyFileError(f"key file {path} is not readable by this user; "
                        f"it must be owned by the mooddj user with mode 0600") from None
    if len(data) != KEY_BYTES:
        raise KeyFileError(f"key file {path} is {len(data)} bytes, not {KEY_BYTES}: "
                        f"it is damaged; restore it from a backup") from None
    return data


def write_key(path: Path, key: bytes) -> None:
    """Write `key` to `path` atomically with mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a leftover .tmp keeps its old mode through O_TRUNC
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def create_key(path: Path) -> bytes:
    """Create a fresh random key file (refuses to overwrite one)."""
    if path.exists():
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it")
    key = os.urandom(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_key(path, key)
    return key


class Sealer:
    """Seals and opens short secrets (tokens) with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self.rekey(key)

    def rekey(self, key: bytes) -> None:
        """Switch to another key in place (after rotate-key or factory reset in the box)."""
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a sealing key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self.version = key_fingerprint(key)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> Sealer:
        """Load the key at `path`; with `create`, make one if it does not exist."""
        if create and not path.exists():
            return cls(create_key(path))
        return cls(read_key(path))

    def _aad(self, user_id: str, platform: str, field: str, version: str) -> bytes:
        return "\x1f".join(("mooddj", user_id, platform, field, version)).encode()

    def seal(self, value: str, *, user_id: str, platform: str, field: str) -> str:
        """Encrypt `value` for exactly this record and field."""
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, value.encode(), self._aad(user_id, platform, field,
                                                                self.version))
        body = base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")
        return f"{FORMAT}.{self.version}.{body}"

    def open(self, sealed: str, *, user_id: str, platform: str, field: str) -> str:
        """Decrypt a value sealed for this record and field, or raise SealError."""
        try:
            fmt, version, body = sealed.split(".", 2)
        except ValueError:
            raise SealError(f"{field} of {platform}/{user_id} is not a sealed value") from None
        if fmt != FORMAT:
            raise SealError(f"{field} of {platform}/{user_id} has unknown format {fmt!r}")
        if version != self.version:
            raise SealError(f"{field} of {platform}/{user_id} was sealed with another key "
                            f"({version}, this key is {self.version}); restore the matching "
                            f"secret.key from a backup (mooddj restore) or re-link the account")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise SealError(f"{field} of {platform}/{user_id} is damaged (not base64)") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SealError(f"{field} of {platform}/{user_id} is damaged (too short)")
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                      self._aad(user_id, platform, field, version)).decode()
        except InvalidTag:
            raise SealError(f"{field} of {platform}/{user_id} failed authentication: "
                            f"tampered or copied from another record") from None
