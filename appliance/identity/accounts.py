"""Household accounts: users `mmp_<uuid>` and the sign-in identities linked to them.

Plain functions on a sqlite_utils `db`, run by callers through
`store.write(fn)` / `store.read(fn)` so each call is one transaction.
Identities are keyed on (provider, subject), never on email: one identity
belongs to at most one account, and an account keeps at least one identity.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from appliance.core.settings import ACTIVE_LISTENER, SettingsTx
from appliance.identity.models import (  # re-exported: callers import them from here
    AccountError,
    IdentityConflict,
    LastIdentity,
    LastOwner,
    NotAllowed,
    ProviderAlreadyLinked,
    UserNotFound,
    VerifiedIdentity,
)

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("owner", "member")
PROVIDER_LABELS = {"google": "Google", "microsoft": "Microsoft", "github": "GitHub"}


@dataclass(frozen=True)
class SignInResult:
    """Which account a sign-in landed in, and whether it was created or linked."""

    user_id: str
    created: bool
    linked: bool


def new_user_id() -> str:
    """A fresh internal user id, `mmp_<uuid4>`."""
    return f"mmp_{uuid.uuid4()}"


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (`2026-01-31T12:00:00Z`), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)


def _one(db: Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None


def owner_exists(db: Database) -> bool:
    """True once the box has an owner (it has been claimed)."""
    return _one(db, "SELECT 1 AS x FROM users WHERE role = 'owner' LIMIT 1", []) is not None


def members(db: Database) -> list[dict[str, Any]]:
    """Every account's id, display_name and role, oldest first (no e-mail addresses)."""
    return list(db.query("SELECT id, display_name, role FROM users ORDER BY created_at"))


def get_user(db: Database, user_id: str) -> dict[str, Any] | None:
    """The users row (id, display_name, role, created_at, pin_hash), or None."""
    return _one(db, "SELECT * FROM users WHERE id = ?", [user_id])


def list_users(db: Database) -> list[dict[str, Any]]:
    """Every account, owners first, then by age; each row adds `email` and `providers`."""
    users = list(db.query("SELECT id, display_name, role, created_at, pin_hash != '' AS "
                          "has_pin FROM users ORDER BY role = 'owner' DESC, created_at, id"))
    for u in users:
        ids = identities_of(db, u["id"])
        u["email"] = _primary_email(ids)
        u["providers"] = [i["provider"] for i in ids]
    return users


def identities_of(db: Database, user_id: str) -> list[dict[str, Any]]:
    """The identities rows linked to `user_id`, oldest first."""
    return list(db.query("SELECT * FROM identities WHERE user_id = ? ORDER BY linked_at, provider",
                         [user_id]))


def find_identity(db: Database, provider: str, subject: str) -> dict[str, Any] | None:
    """The identities row for (provider, subject), or None."""
    return _one(db, "SELECT * FROM identities WHERE provider = ? AND subject = ?",
                [provider, subject])


def _primary_email(identities: list[dict[str, Any]]) -> str:
    return next((i["email"] for i in identities if i.get("email")), "")


def _default_name(db: Database, identity: VerifiedIdentity) -> str:
    name = " ".join((identity.display_name or identity.email.split("@")[0]).split())[:40]
    name = name or "Household member"
    taken = {(r["display_name"] or "").casefold() for r in
             db.query("SELECT display_name FROM users")}
    n, candidate = 2, name
    while candidate.casefold() in taken:  # the profile picker shows names: keep them apart
        candidate, n = f"{name} {n}", n + 1
    return candidate


def sign_in(db: Database, identity: VerifiedIdentity, *, link_to: str | None,
            role_if_new: str = "member") -> SignInResult:
    """The account of `identity`: found by (provider, subject), linked to `link_to`, or new."""
    if not identity.provider or not identity.subject:
        raise AccountError("the sign-in did not name a provider and subject; try again")
    now = time.time()
    row = find_identity(db, identity.provider, identity.subject)
    if row is not None:
        if link_to is not None and row["user_id"] != link_to:
            raise IdentityConflict(
                f"this {_label(identity.provider)} account is already linked to another "
                f"household member; sign in with it instead, or ask the owner to remove it")
        db.table("identities").update((identity.provider, identity.subject), {
            "email": identity.email or row["email"],
            "display_name": identity.display_name or row["display_name"]})
        return SignInResult(row["user_id"], created=False, linked=False)
    if link_to is not None:
        if get_user(db, link_to) is None:
            raise UserNotFound("your account no longer exists; sign in again")
        if _one(db, "SELECT 1 AS x FROM identities WHERE user_id = ? AND provider = ?",
                [link_to, identity.provider]):
            raise ProviderAlreadyLinked(
                f"your account already has a {_label(identity.provider)} sign-in; "
                f"remove it first to link a different one")
        _insert_identity(db, link_to, identity, now)
        logger.info("linked a %s identity to %s", identity.provider, link_to)
        return SignInResult(link_to, created=False, linked=True)
    if role_if_new not in ROLES:
        raise AccountError(f"unknown role {role_if_new!r}")
    user_id = new_user_id()
    db.table("users").insert({"id": user_id, "display_name": _default_name(db, identity),
                        "role": role_if_new, "created_at": now})
    _insert_identity(db, user_id, identity, now)
    logger.info("created %s %s from a %s sign-in", role_if_new, user_id, identity.provider)
    return SignInResult(user_id, created=True, linked=False)


def _insert_identity(db: Database, user_id: str, identity: VerifiedIdentity, now: float) -> None:
    db.table("identities").insert({
        "provider": identity.provider, "subject": identity.subject, "user_id": user_id,
        "email": identity.email, "display_name": identity.display_name, "linked_at": now})


def unlink_identity(db: Database, user_id: str, provider: str) -> None:
    """Remove `user_id`'s `provider` sign-in; LastIdentity if it is the only one left."""
    ids = identities_of(db, user_id)
    if not any(i["provider"] == provider for i in ids):
        raise AccountError(f"your account has no {_label(provider)} sign-in to remove")
    user = get_user(db, user_id) or {}
    if all(i["provider"] == provider for i in ids) and not user.get("pin_hash"):
        # Without it (and without a PIN) any paired browser could pick the profile.
        raise LastIdentity(f"{_label(provider)} is your only way to sign in; set a PIN or "
                           f"link another provider first, then remove this one")
    db.execute("DELETE FROM identities WHERE user_id = ? AND provider = ?", [user_id, provider])
    logger.info("unlinked the %s identity of %s", provider, user_id)


def _owners(db: Database) -> list[str]:
    return [r["id"] for r in db.query("SELECT id FROM users WHERE role = 'owner'")]


def remove_user(db: Database, user_id: str, *, by: str | None = None,
                settings: SettingsTx | None = None,
                forget: Sequence[Callable[[Database, str], None]] = ()) -> None:
    """Delete an account and everything of it; owners remove anyone, members only themselves.

    `forget`: other packages' "delete this member's rows" (their tables refer to the
    account), run once the removal is allowed and before the account's own rows go.

    `by` is the acting user (None: the box itself, e.g. the CLI). The last
    owner is never removed (LastOwner). `settings`: the transaction's settings when
    run through `Settings.change` (so the listener's removal is announced).
    """
    user = get_user(db, user_id)
    if user is None:
        raise UserNotFound("that household member does not exist (already removed?)")
    if by is not None and by != user_id:
        actor = get_user(db, by)
        if actor is None or actor["role"] != "owner":
            raise NotAllowed("only the owner can remove other household members")
    if user["role"] == "owner" and _owners(db) == [user_id]:
        raise LastOwner("the box needs an owner: make someone else owner first, "
                        "or factory-reset the box")
    for forget_rows in forget:
        forget_rows(db, user_id)
    for table in ("sessions", "identities"):
        if db[table].exists():
            db.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id])  # noqa: S608
    (settings or SettingsTx(db)).delete(ACTIVE_LISTENER, holding=user_id)
    db.execute("DELETE FROM users WHERE id = ?", [user_id])
    logger.info("removed household member %s", user_id)


def set_role(db: Database, user_id: str, role: str, *, by: str | None = None) -> None:
    """Make `user_id` an owner or a member; only owners may, and one owner always remains."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; use owner or member")
    user = get_user(db, user_id)
    if user is None:
        raise UserNotFound("that household member does not exist (already removed?)")
    if by is not None:
        actor = get_user(db, by)
        if actor is None or actor["role"] != "owner":
            raise NotAllowed("only the owner can change roles")
    if user["role"] == "owner" and role != "owner" and _owners(db) == [user_id]:
        raise LastOwner("the box needs an owner: make someone else owner first")
    db.table("users").update(user_id, {"role": role})


def rename_user(db: Database, user_id: str, display_name: str) -> None:
    """Change the name the page shows for `user_id` (trimmed, at most 80 characters)."""
    name = " ".join(display_name.split())[:80]
    if not name:
        raise AccountError("a name cannot be empty")
    if get_user(db, user_id) is None:
        raise UserNotFound("that household member does not exist (already removed?)")
    db.table("users").update(user_id, {"display_name": name})


def auth_providers(db: Database, user_id: str) -> list[dict[str, Any]]:
    """`[{provider, email, linkedAt}]` of `user_id` (the /user/auth-providers shape)."""
    return [{"provider": i["provider"], "email": i["email"] or "",
             "linkedAt": iso(i["linked_at"])} for i in identities_of(db, user_id)]


def profile(db: Database, user_id: str, platforms: Sequence[dict[str, Any]] = ()
            ) -> dict[str, Any]:
    """The /user/profile shape (camelCase keys); `platforms` come from the music package."""
    user = get_user(db, user_id)
    if user is None:
        raise UserNotFound("your account no longer exists; sign in again")
    ids = identities_of(db, user_id)
    return {
        "id": user["id"],
        "displayName": user["display_name"],
        "email": _primary_email(ids),
        "role": user["role"],
        "createdAt": iso(user["created_at"]),
        "authProviders": auth_providers(db, user_id),
        "platforms": list(platforms),
    }
