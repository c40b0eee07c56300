"""Small value types shared by the identity modules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifiedIdentity:
    """A sign-in identity whose subject the provider vouched for (ID token or API)."""

    provider: str  # google | microsoft | github
    subject: str  # the provider's stable subject: accounts are keyed on it, never on email
    email: str = ""
    display_name: str = ""


class IdentityError(Exception):
    """Base of identity errors; `str(err)` is a one-line message for people."""
