"""Profile PINs: checked for shape, stored only as Argon2id hashes (PHC strings).

Argon2id comes from `cryptography` (>= 44). The cost is OWASP's minimum for
Argon2id (19 MiB, 2 passes, 1 lane): a PIN has little entropy, so what protects
it is the memory-hard hash plus the box's rate limit on wrong PINs. Hashing
takes a noticeable fraction of a second on a Pi: call these off the event loop.
"""

from __future__ import annotations

import os
import re

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

MEMORY_KIB = 19456
ITERATIONS = 2
LANES = 1
SALT_BYTES = 16
HASH_BYTES = 32
PIN_RE = re.compile(r"^[0-9]{4,8}$")
PHC_PREFIX = "$argon2id$"


class PinError(ValueError):
    """The PIN is not 4 to 8 digits."""


def check_shape(pin: str) -> str:
    """`pin` without surrounding spaces if it is 4 to 8 digits (ASCII), else PinError."""
    pin = pin.strip() if isinstance(pin, str) else ""
    if not PIN_RE.match(pin):
        raise PinError("a PIN is 4 to 8 digits")
    return pin


def hash_pin(pin: str) -> str:
    """The PHC string of a new salted Argon2id hash of `pin`."""
    kdf = Argon2id(salt=os.urandom(SALT_BYTES), length=HASH_BYTES, iterations=ITERATIONS,
                   lanes=LANES, memory_cost=MEMORY_KIB)
    return kdf.derive_phc_encoded(check_shape(pin).encode())


def verify_pin(pin: str, stored: str) -> bool:
    """True if `pin` matches `stored` (constant time inside the library)."""
    if not stored.startswith(PHC_PREFIX) or not isinstance(pin, str):
        return False
    try:
        Argon2id.verify_phc_encoded(pin.strip().encode(), stored)
    except (InvalidKey, ValueError):
        return False
    return True
