"""Profiles without an outside account: your name (first one: the owner), pick, PIN.

A paired browser that is signed out says who it is on /signin: on an unclaimed
box by typing a name (it becomes the owner), later by picking its profile
(with the PIN if the profile has one) or adding itself as a member. The owner
adds members by name on /members. Wrong PINs are limited per profile and per
client; Argon2id runs in a worker thread, at most two at a time.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aiohttp import web

from appliance.identity import accounts, pins, profiles
from appliance.identity.ratelimit import SlidingLimiter
from appliance.web.kit.bodies import read_body
from appliance.web.kit.guards import current_session, current_user, require_paired, require_user
from appliance.web.kit.keys import DEPS, REQ_NEW_TOKEN, SESSIONS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.users import account_error

FORM_ERRORS = {
    "name_taken": "Someone in the household already has that name: pick it below, or add a "
                  "letter to tell you apart.",
    "bad_name": "Type a name: it is how the household sees you on the box.",
    "bad_pin": "A PIN is 4 to 8 digits (or leave it empty).",
    "wrong_pin": "That PIN is not right. Try again.",
    "rate_limited": "Too many wrong PINs: wait a few minutes.",
    "use_sign_in": "This profile signs in with its linked account: use the button below.",
    "member_not_found": "That profile is gone. Reload the page.",
}


class PinLimits:
    """Wrong PINs: 5 per profile and 5 per client in 5 minutes, then a doubling lock."""

    def __init__(self) -> None:
        self.per_profile = SlidingLimiter(5, 300.0)
        self.per_client = SlidingLimiter(5, 300.0)

    def retry_after(self, user_id: str, client: str) -> float:
        return max(self.per_profile.retry_after(user_id), self.per_client.retry_after(client))

    def failed(self, user_id: str, client: str) -> None:
        self.per_profile.failure(user_id)
        self.per_client.failure(client)


PIN_LIMITS = web.AppKey("profile_pin_limits", PinLimits)
_KDF_SLOTS = web.AppKey("profile_kdf_slots", asyncio.Semaphore)


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def _kdf(request: web.Request, fn: Any, *args: Any) -> Any:
    async with request.app[_KDF_SLOTS]:
        return await asyncio.to_thread(fn, *args)


async def _pin_hash(request: web.Request, pin: Any) -> str:
    """The hash of `pin`, '' for no PIN; 400 for a malformed one."""
    if pin is None or (isinstance(pin, str) and not pin.strip()):
        return ""
    try:
        return await _kdf(request, pins.hash_pin, pins.check_shape(pin))
    except pins.PinError as err:
        raise ApiError(400, "bad_pin", f"{err}, or leave it empty.") from None


async def _write(request: web.Request, fn: Any) -> Any:
    try:
        return await request.app[DEPS].store.write(fn, durable=True)
    except accounts.AccountError as err:
        raise account_error(err) from None


async def _become(request: web.Request, user_id: str) -> None:
    """Swap this browser's session for a signed-in one (a new token: no fixation)."""
    sess = current_session(request)
    token, _ = await request.app[SESSIONS].create(
        user_id=user_id, paired=True, user_agent=request.headers.get("User-Agent", ""),
        replaces=sess.key if sess.stored else "")
    request[REQ_NEW_TOKEN] = token


async def list_for_picker(request: web.Request) -> list[dict[str, Any]]:
    """The household's profiles as the picker shows them (no PIN hashes)."""
    return list(await request.app[DEPS].store.read(profiles.list_profiles))


async def create(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """Make a profile from `body` {name, pin?}; signs this browser in unless the owner adds one.

    Signed out (paired): the new profile is this browser's, the owner's on an unclaimed
    box. Signed in: only the owner may add, and stays signed in as themself.
    """
    user = current_user(request)
    if user is None:
        require_paired(request)
    elif not user.is_owner:
        raise ApiError(403, "owner_only", "Only the owner adds people; sign out to add "
                       "yourself from your own phone.")
    pin_hash = await _pin_hash(request, body.get("pin"))
    name = body.get("name")
    made = await _write(request, lambda db: profiles.create_profile(
        db, name, pin_hash=pin_hash, role="member" if user else None))
    if user is None:
        await _become(request, made.user_id)
    return {"id": made.user_id, "displayName": made.display_name, "role": made.role,
            "signedIn": user is None}


async def pick(request: web.Request, user_id: str, pin: Any) -> dict[str, Any]:
    """Sign this paired browser in as `user_id`, checking its PIN when it has one."""
    require_paired(request)
    try:
        entry = await request.app[DEPS].store.read(
            lambda db: profiles.profile_for_pick(db, user_id))
    except accounts.AccountError as err:
        raise account_error(err) from None
    if entry["access"] == "signin":
        raise ApiError(409, "use_sign_in", "This profile signs in with "
                       f"{', '.join(entry['providers'])}; use that button on /signin.")
    if entry["access"] == "pin":
        limits: PinLimits = request.app[PIN_LIMITS]
        client = _client(request)
        retry = limits.retry_after(user_id, client)
        if retry:
            secs = math.ceil(retry)
            raise ApiError(429, "rate_limited", f"Too many wrong PINs; wait {secs} s.",
                           headers={"Retry-After": str(secs)})
        ok = isinstance(pin, str) and await _kdf(request, pins.verify_pin, pin,
                                                 entry["pinHash"])
        if not ok:
            limits.failed(user_id, client)
            raise ApiError(403, "wrong_pin", "That PIN is not right; try again.")
        limits.per_profile.success(user_id)
    await _become(request, user_id)
    return {"id": user_id, "displayName": entry["displayName"], "role": entry["role"]}


# -- API --------------------------------------------------------------------

async def api_list(request: web.Request) -> web.Response:
    """GET /api/profiles: the picker's list (paired browsers)."""
    require_paired(request)
    return json_data(await list_for_picker(request))


async def api_create(request: web.Request) -> web.Response:
    """POST /api/profiles {name, pin?}."""
    return json_data(await create(request, await read_body(request)), status=201)


async def api_pick(request: web.Request) -> web.Response:
    """POST /api/profiles/{user_id}/sign-in {pin?}."""
    body = await read_body(request)
    return json_data(await pick(request, request.match_info["user_id"], body.get("pin")))


async def set_pin(request: web.Request, pin: Any) -> bool:
    """Set (or with an empty value remove) the signed-in user's PIN; True if one is set."""
    user = require_user(request)
    pin_hash = await _pin_hash(request, pin)
    await _write(request, lambda db: profiles.set_pin_hash(db, user.user_id, pin_hash))
    return bool(pin_hash)


async def api_put_pin(request: web.Request) -> web.Response:
    """PUT /user/pin {pin}: set or change the PIN."""
    body = await read_body(request)
    if not isinstance(body.get("pin"), str) or not body["pin"].strip():
        raise ApiError(400, "bad_pin", "Send {\"pin\": \"1234\"} (4 to 8 digits).")
    return json_data({"hasPin": await set_pin(request, body["pin"])})


async def api_delete_pin(request: web.Request) -> web.Response:
    """DELETE /user/pin: the profile needs no PIN any more."""
    return json_data({"hasPin": await set_pin(request, "")})


async def clear_pin_of(request: web.Request, user_id: str) -> None:
    """The owner removes a member's forgotten PIN (the member sets a new one after)."""
    user = current_user(request)
    if user is None or not user.is_owner:
        raise ApiError(403, "owner_only", "Only the owner resets someone's PIN.")
    await _write(request, lambda db: profiles.set_pin_hash(db, user_id, ""))


async def rename(request: web.Request, name: Any) -> str:
    """The signed-in user's new name (unique in the household)."""
    user = require_user(request)

    def w(db: Any) -> str:
        display = profiles.clean_name(name)
        if profiles.name_taken(db, display, except_id=user.user_id):
            raise profiles.NameTaken(f"someone in the household is already called {display!r}")
        accounts.rename_user(db, user.user_id, display)
        return display

    return str(await _write(request, w))


async def api_clear_pin(request: web.Request) -> web.Response:
    """DELETE /api/members/{user_id}/pin (owner)."""
    await clear_pin_of(request, request.match_info["user_id"])
    return json_data({"id": request.match_info["user_id"], "hasPin": False})


async def api_rename(request: web.Request) -> web.Response:
    """PUT /user/name {name}."""
    body = await read_body(request)
    return json_data({"displayName": await rename(request, body.get("name"))})


# -- forms ------------------------------------------------------------------

def _back(request: web.Request, path: str, err: ApiError) -> web.HTTPSeeOther:
    if wants_json(request):
        raise err
    code = err.code if err.code in FORM_ERRORS else "bad_name"
    return web.HTTPSeeOther(f"{path}?error={code}")


async def form_new(request: web.Request) -> web.StreamResponse:
    """Form on /signin: "my name is ..." (the owner on a new box)."""
    body = await read_body(request)
    try:
        made = await create(request, body)
    except ApiError as err:
        raise _back(request, "/signin", err) from None
    raise web.HTTPSeeOther("/spotify" if made["role"] == "owner" else "/")


async def form_pick(request: web.Request) -> web.StreamResponse:
    """Form on /signin: pick a profile (with its PIN)."""
    body = await read_body(request)
    try:
        await pick(request, request.match_info["user_id"], body.get("pin"))
    except ApiError as err:
        raise _back(request, "/signin", err) from None
    raise web.HTTPSeeOther("/")


async def form_add_member(request: web.Request) -> web.StreamResponse:
    """Form on /members: the owner adds someone by name."""
    try:
        await create(request, await read_body(request))
    except ApiError as err:
        raise _back(request, "/members", err) from None
    raise web.HTTPSeeOther("/members")


async def form_pin(request: web.Request) -> web.StreamResponse:
    """Form on /profile: set, change or remove the PIN."""
    body = await read_body(request)
    try:
        await set_pin(request, "" if body.get("remove") else body.get("pin", ""))
    except ApiError as err:
        raise _back(request, "/profile", err) from None
    raise web.HTTPSeeOther("/profile")


async def form_clear_pin(request: web.Request) -> web.StreamResponse:
    """Form on /members: the owner resets a member's PIN."""
    try:
        await clear_pin_of(request, request.match_info["user_id"])
    except ApiError as err:
        raise _back(request, "/members", err) from None
    raise web.HTTPSeeOther("/members")


async def form_rename(request: web.Request) -> web.StreamResponse:
    """Form on /profile: change your name."""
    try:
        await rename(request, (await read_body(request)).get("name"))
    except ApiError as err:
        raise _back(request, "/profile", err) from None
    raise web.HTTPSeeOther("/profile")


def add_routes(app: web.Application) -> None:
    """Register the profile routes."""
    app[PIN_LIMITS] = PinLimits()
    app[_KDF_SLOTS] = asyncio.Semaphore(2)
    r = app.router
    r.add_get("/api/profiles", api_list)
    r.add_post("/api/profiles", api_create)
    r.add_post("/api/profiles/{user_id}/sign-in", api_pick)
    r.add_put("/user/pin", api_put_pin)
    r.add_delete("/user/pin", api_delete_pin)
    r.add_post("/profiles/new", form_new)
    r.add_post("/profiles/{user_id}/pick", form_pick)
    r.add_post("/members/add", form_add_member)
    r.add_post("/profile/pin", form_pin)
    r.add_put("/user/name", api_rename)
    r.add_post("/profile/name", form_rename)
    r.add_delete("/api/members/{user_id}/pin", api_clear_pin)
    r.add_post("/members/{user_id}/pin/remove", form_clear_pin)
