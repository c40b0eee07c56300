"""One result of a `mooddj doctor` check; every package's checks return a list of them.

In core so that a package's checks need nothing above it (the doctor itself,
in `appliance.maintenance.doctor`, runs them all).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One result: `status` is "pass", "warn" or "fail"; `hint` is the one-line fix."""

    name: str
    status: Status
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON form: {"name", "status", "message", "hint"}."""
        return asdict(self)


def ok(name: str, message: str) -> Check:
    """A passing check."""
    return Check(name, "pass", message)


def warn(name: str, message: str, hint: str) -> Check:
    """A check that needs attention but does not stop the box."""
    return Check(name, "warn", message, hint)


def bad(name: str, message: str, hint: str) -> Check:
    """A failing check."""
    return Check(name, "fail", message, hint)
