"""Profiles without an outside account on a real SQLite store: names, PINs, access, roles."""

from __future__ import annotations

import pytest

from appliance.identity import accounts, pins, profiles
from appliance.identity.models import VerifiedIdentity
from appliance.schema import open_store


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "mooddj.db")
    yield s
    s.close()


def test_pin_is_an_argon2id_hash_that_verifies_only_the_right_pin():
    stored = pins.hash_pin(" 4821 ")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "4821" not in stored
    assert pins.verify_pin("4821", stored)
    assert not pins.verify_pin("4822", stored)
    assert not pins.verify_pin("4821", "")
    assert pins.hash_pin("4821") != stored  # salted
    for bad in ("123", "123456789", "12a4", "١٢٣٤", ""):
        with pytest.raises(pins.PinError):
            pins.hash_pin(bad)


def test_first_profile_is_the_owner_then_members_and_names_stay_apart(store):
    owner = store.write_sync(lambda db: profiles.create_profile(db, "  Ana   Lu "))
    assert (owner.role, owner.display_name) == ("owner", "Ana Lu")
    assert owner.user_id.startswith("mmp_")
    ben = store.write_sync(lambda db: profiles.create_profile(db, "Ben"))
    assert ben.role == "member"
    with pytest.raises(profiles.NameTaken):
        store.write_sync(lambda db: profiles.create_profile(db, "ANA LU"))
    for bad in ("   ", "\u200b", "a\x00b", None):
        with pytest.raises(profiles.BadName):
            store.write_sync(lambda db, bad=bad: profiles.create_profile(db, bad))
    prof = store.read_sync(lambda db: accounts.profile(db, ben.user_id))
    assert (prof["displayName"], prof["role"], prof["authProviders"], prof["email"]) == (
        "Ben", "member", [], "")


def test_access_follows_pin_and_linked_sign_ins(store):
    pin = pins.hash_pin("2468")
    ana = store.write_sync(lambda db: profiles.create_profile(db, "Ana", pin_hash=pin))
    ben = store.write_sync(lambda db: profiles.create_profile(db, "Ben"))
    listed = store.read_sync(profiles.list_profiles)
    assert [(p["displayName"], p["role"], p["access"]) for p in listed] == [
        ("Ana", "owner", "pin"), ("Ben", "member", "open")]
    assert all("pin" not in key.lower() or key == "access" for p in listed for key in p)
    store.write_sync(lambda db: accounts.sign_in(
        db, VerifiedIdentity("google", "1001", "ben@example.com", "Ben"), link_to=ben.user_id))
    assert store.read_sync(profiles.list_profiles)[1]["access"] == "signin"
    assert store.read_sync(lambda db: profiles.pin_hash_of(db, ana.user_id)) == pin
    # Without a PIN, Google is Ben's only lock: it cannot go; with a PIN it can.
    with pytest.raises(accounts.LastIdentity):
        store.write_sync(lambda db: accounts.unlink_identity(db, ben.user_id, "google"))
    store.write_sync(lambda db: profiles.set_pin_hash(db, ben.user_id, pin))
    store.write_sync(lambda db: accounts.unlink_identity(db, ben.user_id, "google"))
    assert store.read_sync(profiles.list_profiles)[1]["access"] == "pin"
    assert "pin_hash" not in store.read_sync(accounts.list_users)[0]


def test_outside_sign_in_as_a_new_member_gets_a_distinct_name(store):
    store.write_sync(lambda db: profiles.create_profile(db, "Alex Example"))
    result = store.write_sync(lambda db: accounts.sign_in(
        db, VerifiedIdentity("github", "42", "", "Alex Example"), link_to=None))
    user = store.read_sync(lambda db: accounts.get_user(db, result.user_id))
    assert (user["display_name"], user["role"]) == ("Alex Example 2", "member")
