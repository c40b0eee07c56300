"""Household accounts on a real SQLite store: keyed on subject, linking, conflicts, removal."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from appliance.core.config import IdentityConfig, from_dict
from appliance.core.settings import ACTIVE_LISTENER, Settings
from appliance.core.store import Store
from appliance.identity import accounts
from appliance.identity.accounts import (
    IdentityConflict,
    LastIdentity,
    LastOwner,
    NotAllowed,
    ProviderAlreadyLinked,
    UserNotFound,
)
from appliance.identity.device_flow import DeviceFlows
from appliance.identity.models import VerifiedIdentity
from appliance.identity.providers import build_providers
from appliance.music import connections
from appliance.schema import open_store
from appliance.standins.identity import IdentitySim

ALICE_G = VerifiedIdentity("google", "109876543210987654321", "alice@example.com", "Alice")
ALICE_GH = VerifiedIdentity("github", "583231", "alice@users.example", "alice")
BOB_MS = VerifiedIdentity("microsoft", "AAAAbobsub", "bob@example.com", "Bob")


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "mooddj.db")
    yield s
    s.close()


def w(store: Store, fn):
    return store.write_sync(fn)


def r(store: Store, fn):
    return store.read_sync(fn)


def count(store: Store, table: str) -> int:
    return r(store, lambda db: db[table].count)


def test_new_user_ids_are_mmp_uuid4():
    uid = accounts.new_user_id()
    assert re.fullmatch(r"mmp_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        uid)
    assert uid != accounts.new_user_id()


def test_first_sign_in_creates_the_owner_and_signing_in_again_finds_it(store):
    assert not r(store, accounts.owner_exists)
    first = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    assert first.created and not first.linked and first.user_id.startswith("mmp_")
    assert r(store, accounts.owner_exists)
    again = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="member"))
    assert again.user_id == first.user_id and not again.created
    assert count(store, "users") == 1


def test_same_subject_with_a_new_email_is_the_same_account(store):
    first = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    moved = VerifiedIdentity("google", ALICE_G.subject, "alice@new.example", "Alice B")
    again = w(store, lambda db: accounts.sign_in(db, moved, link_to=None, role_if_new="member"))
    assert again.user_id == first.user_id and count(store, "users") == 1
    assert r(store, lambda db: accounts.profile(db, first.user_id))["email"] == "alice@new.example"


def test_same_email_with_another_subject_is_never_merged(store):
    first = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    twin = VerifiedIdentity("google", "999", ALICE_G.email, "Not Alice")
    other = w(store, lambda db: accounts.sign_in(db, twin, link_to=None, role_if_new="member"))
    assert other.created and other.user_id != first.user_id
    assert r(store, lambda db: accounts.get_user(db, other.user_id))["role"] == "member"


def test_linking_a_second_provider_and_signing_in_with_either(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    linked = w(store, lambda db: accounts.sign_in(db, ALICE_GH, link_to=alice.user_id))
    assert linked.linked and linked.user_id == alice.user_id
    via_github = w(store, lambda db: accounts.sign_in(db, ALICE_GH, link_to=None))
    assert via_github.user_id == alice.user_id and not via_github.created
    providers = [p["provider"] for p in r(store, lambda db: accounts.auth_providers(
        db, alice.user_id))]
    assert providers == ["google", "github"]


def test_one_identity_never_belongs_to_two_accounts(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    bob = w(store, lambda db: accounts.sign_in(db, BOB_MS, link_to=None))
    with pytest.raises(IdentityConflict, match="already linked to another"):
        w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=bob.user_id))
    rows = r(store, lambda db: list(db["identities"].rows_where("provider = 'google'")))
    assert [row["user_id"] for row in rows] == [alice.user_id]


def test_linking_the_same_identity_to_its_own_account_is_harmless(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    again = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=alice.user_id))
    assert again.user_id == alice.user_id and not again.linked


def test_second_identity_of_a_linked_provider_is_refused(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    other_google = VerifiedIdentity("google", "222", "alice.work@example.com", "Alice")
    with pytest.raises(ProviderAlreadyLinked):
        w(store, lambda db: accounts.sign_in(db, other_google, link_to=alice.user_id))
    assert count(store, "identities") == 1


def test_linking_to_a_removed_account_is_refused(store):
    with pytest.raises(UserNotFound):
        w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to="mmp_gone"))
    assert count(store, "identities") == 0


def test_unlink_refuses_the_last_identity(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    w(store, lambda db: accounts.sign_in(db, ALICE_GH, link_to=alice.user_id))
    w(store, lambda db: accounts.unlink_identity(db, alice.user_id, "google"))
    with pytest.raises(LastIdentity, match="only way to sign in"):
        w(store, lambda db: accounts.unlink_identity(db, alice.user_id, "github"))
    assert [i["provider"] for i in r(store, lambda db: accounts.identities_of(
        db, alice.user_id))] == ["github"]
    # the unlinked Google identity is free again: it now makes a new account
    fresh = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None))
    assert fresh.created and fresh.user_id != alice.user_id


def _seed_rows(db, user_id: str) -> None:
    now = time.time()
    db["sessions"].insert({"id_hash": f"h-{user_id}", "user_id": user_id, "csrf": "c",
                           "paired": 1, "created_at": now, "last_seen": now,
                           "expires_at": now + 60, "revoked": 0, "user_agent": "t"})
    db["connections"].insert({"user_id": user_id, "platform": "spotify",
                              "platform_user_id": "sp-1", "display_name": "x",
                              "access_token": "sealed-a", "refresh_token": "sealed-r",
                              "scopes": "s", "expires_at": now + 3600, "linked_at": now,
                              "state": "linked", "updated_at": now})
    db["feedback"].insert({"user_id": user_id, "track_id": "t", "mood": "happy", "kind": "like",
                           "at": now})
    db["settings"].upsert({"key": "active_listener", "value": user_id, "updated_at": now},
                          pk="key")


def test_remove_user_deletes_everything_of_the_member(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    bob = w(store, lambda db: accounts.sign_in(db, BOB_MS, link_to=None))
    w(store, lambda db: _seed_rows(db, bob.user_id))
    w(store, lambda db: _seed_rows(db, alice.user_id))
    with pytest.raises(NotAllowed):
        w(store, lambda db: accounts.remove_user(db, alice.user_id, by=bob.user_id))
    w(store, lambda db: accounts.remove_user(db, bob.user_id, by=alice.user_id,
                                             forget=[connections.forget_member]))
    for table in ("users", "identities", "sessions", "connections", "feedback"):
        assert count(store, table) == 1, table
    assert Settings(store).get_sync(ACTIVE_LISTENER) == alice.user_id


def test_member_removes_themselves_and_last_owner_stays(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    bob = w(store, lambda db: accounts.sign_in(db, BOB_MS, link_to=None))
    w(store, lambda db: _seed_rows(db, bob.user_id))
    w(store, lambda db: accounts.remove_user(db, bob.user_id, by=bob.user_id,
                                             forget=[connections.forget_member]))
    assert r(store, lambda db: accounts.get_user(db, bob.user_id)) is None
    assert Settings(store).get_sync(ACTIVE_LISTENER) == ""
    with pytest.raises(LastOwner):
        w(store, lambda db: accounts.remove_user(db, alice.user_id, by=alice.user_id))
    with pytest.raises(UserNotFound):
        w(store, lambda db: accounts.remove_user(db, bob.user_id))


def test_roles_keep_one_owner(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    bob = w(store, lambda db: accounts.sign_in(db, BOB_MS, link_to=None))
    with pytest.raises(LastOwner):
        w(store, lambda db: accounts.set_role(db, alice.user_id, "member"))
    with pytest.raises(NotAllowed):
        w(store, lambda db: accounts.set_role(db, bob.user_id, "owner", by=bob.user_id))
    w(store, lambda db: accounts.set_role(db, bob.user_id, "owner", by=alice.user_id))
    w(store, lambda db: accounts.set_role(db, alice.user_id, "member"))
    users = r(store, accounts.list_users)
    assert [(u["id"], u["role"]) for u in users] == [(bob.user_id, "owner"),
                                                     (alice.user_id, "member")]
    assert users[0]["providers"] == ["microsoft"] and users[0]["email"] == "bob@example.com"


def test_profile_has_the_earlier_backend_shape_and_no_tokens(store):
    alice = w(store, lambda db: accounts.sign_in(db, ALICE_G, link_to=None, role_if_new="owner"))
    w(store, lambda db: _seed_rows(db, alice.user_id))
    prof = r(store, lambda db: accounts.profile(db, alice.user_id,
                                                connections.platforms_of(db, alice.user_id)))
    assert set(prof) == {"id", "displayName", "email", "role", "createdAt", "authProviders",
                         "platforms"}
    assert prof["displayName"] == "Alice" and prof["role"] == "owner"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prof["createdAt"])
    assert prof["authProviders"] == [{"provider": "google", "email": "alice@example.com",
                                      "linkedAt": prof["createdAt"]}]
    (platform,) = prof["platforms"]
    assert set(platform) == {"platform", "platformUserId", "linkedAt", "state", "expiresAt"}
    assert platform["platform"] == "spotify" and platform["state"] == "linked"
    assert "sealed" not in repr(prof)
    assert w(store, lambda db: connections.delete(db, alice.user_id, "spotify"))
    assert r(store, lambda db: connections.platforms_of(db, alice.user_id)) == []
    assert not w(store, lambda db: connections.delete(db, alice.user_id, "spotify"))


def test_display_name_falls_back_to_email_and_rename_trims(store):
    nameless = VerifiedIdentity("github", "42", "sam@example.com", "")
    res = w(store, lambda db: accounts.sign_in(db, nameless, link_to=None))
    assert r(store, lambda db: accounts.get_user(db, res.user_id))["display_name"] == "sam"
    w(store, lambda db: accounts.rename_user(db, res.user_id, "  <b>Sam</b>\n  S.  "))
    assert r(store, lambda db: accounts.get_user(db, res.user_id))["display_name"] == \
        "<b>Sam</b> S."


async def test_same_google_subject_through_the_stand_in_never_makes_two_accounts(tmp_path):
    """End to end: two device-flow sign-ins, same subject, different emails."""
    sim = IdentitySim(interval=0.05, expires_in=10)
    await sim.start()
    store = open_store(tmp_path / "e2e.db")
    flows = DeviceFlows(build_providers(from_dict(IdentityConfig, sim.identity_config())),
                        min_interval=0.01)

    async def sign_in(provider: str, link_to: str | None = None, **who):
        view = await flows.start(provider, "bind")
        sim.approve(view.user_code, **who)
        while flows.status(view.flow_id, "bind").state == "pending":
            await asyncio.sleep(0.01)
        ident = flows.claim(view.flow_id, "bind")
        return await store.write(lambda db: accounts.sign_in(
            db, ident, link_to=link_to, role_if_new="owner"), durable=True)

    try:
        one = await sign_in("google", subject="1111", email="a@example.com")
        two = await sign_in("google", subject="1111", email="a.changed@example.com")
        assert one.user_id == two.user_id and one.created and not two.created
        linked = await sign_in("github", link_to=one.user_id, email="a@gh.example")
        assert linked.linked and linked.user_id == one.user_id
        assert await store.read(lambda db: db["users"].count) == 1
        with pytest.raises(IdentityConflict):
            other = await sign_in("microsoft", email="m@example.com")
            await sign_in("github", link_to=other.user_id, email="a@gh.example")
    finally:
        await flows.close()
        store.close()
        await sim.stop()
