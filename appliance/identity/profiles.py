"""Household profiles that need no outside account: a name, an optional PIN, a role.

A profile is an account (`users` row, `mmp_<uuid>`) made from a name alone.
How a paired browser may pick it (`access`):

- "open": no PIN and no outside sign-in: any paired browser may pick it;
- "pin": it has a PIN: the PIN is needed (an outside sign-in also works);
- "signin": no PIN but an outside sign-in: sign in with that provider.

Plain functions on a sqlite_utils `db` (run through `store.write` / `store.read`);
PIN hashes are made by the caller beforehand (`pins.hash_pin`, off the loop).
"""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from appliance.identity.accounts import identities_of, iso, new_user_id, owner_exists
from appliance.identity.models import AccountError, UserNotFound

logger = logging.getLogger(__name__)

Access = Literal["open", "pin", "signin"]
MAX_NAME = 40
INVITE_FOR = "for:"  # an invite code's created_by when it opens one profile on its browser


class NameTaken(AccountError):
    """Another profile of the household has this name."""

    status, code = 409, "name_taken"


class BadName(AccountError):
    """The name is empty or not printable."""

    status, code = 400, "bad_name"


@dataclass(frozen=True)
class NewProfile:
    """The profile `create_profile` made."""

    user_id: str
    role: str
    display_name: str


def clean_name(name: object) -> str:
    """`name` trimmed, inner spaces collapsed, at most 40 characters; BadName if empty."""
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in text):
        raise BadName("a name holds letters, digits and spaces, nothing invisible")
    text = text[:MAX_NAME].strip()
    if not text:
        raise BadName("type a name: it is how the household sees you on the box")
    return text


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def name_taken(db: Database, name: str, *, except_id: str = "") -> bool:
    """True if another profile is called `name` (compared without case)."""
    wanted = _fold(name)
    return any(_fold(r["display_name"] or "") == wanted and r["id"] != except_id
               for r in db.query("SELECT id, display_name FROM users"))


def create_profile(db: Database, name: object, *, pin_hash: str = "",
                   role: str | None = None, user_id: str = "") -> NewProfile:
    """A new profile; without `role`: the owner if the box has none yet, else a member.

    `user_id`: a chosen id (households the simulator sets up); default a new `mmp_<uuid>`.
    """
    display = clean_name(name)
    if name_taken(db, display):
        raise NameTaken(f"someone in the household is already called {display!r}; "
                        f"pick that profile, or add a letter to tell you apart")
    if role is None:
        role = "member" if owner_exists(db) else "owner"
    if role not in ("owner", "member"):
        raise AccountError(f"unknown role {role!r}")
    user_id = user_id or new_user_id()
    db.table("users").insert({"id": user_id, "display_name": display, "role": role,
                        "created_at": time.time(), "pin_hash": pin_hash})
    logger.info("created %s profile %s", role, user_id)
    return NewProfile(user_id, role, display)


def pin_hash_of(db: Database, user_id: str) -> str:
    """The stored PIN hash of `user_id` ('' without a PIN); UserNotFound if gone."""
    rows = list(db.query("SELECT pin_hash FROM users WHERE id = ?", [user_id]))
    if not rows:
        raise UserNotFound("that profile does not exist (any more)")
    return rows[0]["pin_hash"] or ""


def set_pin_hash(db: Database, user_id: str, pin_hash: str) -> None:
    """Store (or with '' remove) `user_id`'s PIN hash."""
    if not list(db.query("SELECT 1 AS x FROM users WHERE id = ?", [user_id])):
        raise UserNotFound("that profile does not exist (any more)")
    db.execute("UPDATE users SET pin_hash = ? WHERE id = ?", [pin_hash, user_id])


def access_of(pin_hash: str, providers: list[str]) -> Access:
    """How a paired browser may pick a profile with this PIN hash and these sign-ins."""
    if pin_hash:
        return "pin"
    return "signin" if providers else "open"


def list_profiles(db: Database) -> list[dict[str, Any]]:
    """Every profile for the picker: id, displayName, role, access, providers, createdAt."""
    out = []
    for u in db.query("SELECT id, display_name, role, created_at, pin_hash FROM users "
                      "ORDER BY role = 'owner' DESC, created_at, id"):
        providers = [i["provider"] for i in identities_of(db, u["id"])]
        out.append({"id": u["id"], "displayName": u["display_name"] or "",
                    "role": u["role"], "access": access_of(u["pin_hash"] or "", providers),
                    "providers": providers, "createdAt": iso(u["created_at"])})
    return out


def profile_for_pick(db: Database, user_id: str) -> dict[str, Any]:
    """One profile's picker entry plus its PIN hash (`pinHash`), or UserNotFound."""
    for p in list_profiles(db):
        if p["id"] == user_id:
            return {**p, "pinHash": pin_hash_of(db, user_id)}
    raise UserNotFound("that profile does not exist (any more); reload the page")
