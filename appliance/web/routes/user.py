"""Profile, linked sign-ins and platforms, and the household (pages and API)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlite_utils import Database

from appliance.core.bus import LinkState
from appliance.core.settings import SettingsTx
from appliance.identity import accounts
from appliance.identity.pairing import format_code
from appliance.identity.profiles import INVITE_FOR
from appliance.music import connections
from appliance.web.kit.bodies import read_body
from appliance.web.kit.guards import (
    CurrentUser,
    current_session,
    current_user,
    require_owner,
    require_user,
)
from appliance.web.kit.keys import DEPS, PAIRING, PROVIDERS, REQ_NEW_TOKEN, SESSIONS, SETTINGS
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import render
from appliance.web.kit.responses import ApiError, json_data
from appliance.web.kit.users import account_error
from appliance.web.routes.pair import paired_browsers

logger = logging.getLogger(__name__)

ERROR_TEXT = {
    "last_identity": "That is your only sign-in: set a PIN or link another one first.",
    "name_taken": "Someone in the household already has that name.",
    "bad_name": "Type a name.",
    "bad_pin": "A PIN is 4 to 8 digits (or leave it empty).",
    "provider_not_linked": "That sign-in is not linked.",
    "platform_not_linked": "That platform is not linked.",
    "owner_only": "Only the owner can remove other members.",
    "last_owner": "The box needs an owner: the last owner cannot leave.",
    "member_not_found": "That member is already gone.",
    "browser_not_found": "That browser is not paired any more.",
}


def _labels(request: web.Request) -> dict[str, str]:
    return {n: p.label for n, p in request.app[PROVIDERS].items()}


def _page_user(request: web.Request) -> CurrentUser:
    user = current_user(request)
    if user is None:
        raise web.HTTPSeeOther("/signin")
    return user


async def _read(request: web.Request, fn: Any) -> Any:
    return await request.app[DEPS].store.read(fn)


async def _write(request: web.Request, fn: Any) -> Any:
    try:
        return await request.app[DEPS].store.write(fn, durable=True)
    except accounts.AccountError as err:
        raise account_error(err) from None


# -- profile ------------------------------------------------------------------

def _profile(db: Database, user_id: str) -> dict[str, Any]:
    """/user/profile: identity's account with music's platforms."""
    return accounts.profile(db, user_id, connections.platforms_of(db, user_id))


def _remove_user(tx: SettingsTx, user_id: str, *, by: str) -> None:
    """Identity removes the member (checks first) and music forgets their rows, in one go."""
    accounts.remove_user(tx.db, user_id, by=by, settings=tx, forget=[connections.forget_member])


async def api_profile(request: web.Request) -> web.Response:
    """GET /user/profile."""
    user = require_user(request)
    try:
        return json_data(await _read(request, lambda db: _profile(db, user.user_id)))
    except accounts.AccountError as err:
        raise account_error(err) from None


async def api_auth_providers(request: web.Request) -> web.Response:
    """GET /user/auth-providers: the sign-ins linked to this account."""
    user = require_user(request)
    return json_data(await _read(request, lambda db: accounts.auth_providers(db, user.user_id)))


async def api_platforms(request: web.Request) -> web.Response:
    """GET /user/platforms: linked music platforms (no tokens)."""
    user = require_user(request)
    return json_data(await _read(request, lambda db: connections.platforms_of(db, user.user_id)))


async def _unlink_platform(request: web.Request, user: CurrentUser, platform: str) -> None:
    gone = await _write(request, lambda db: connections.delete(db, user.user_id, platform))
    if not gone:
        raise ApiError(404, "platform_not_linked", f"{platform} is not linked to your account.")
    request.app[DEPS].bus.publish(LinkState(platform=platform, user_id=user.user_id,
                                            state="unlinked"))
    logger.info("platform %s unlinked by its user", platform)


async def api_delete_platform(request: web.Request) -> web.Response:
    """DELETE /user/platforms/{platform}."""
    user = require_user(request)
    platform = request.match_info["platform"]
    await _unlink_platform(request, user, platform)
    return json_data({"platform": platform, "linked": False})


async def _unlink_identity(request: web.Request, user: CurrentUser, provider: str) -> None:
    def w(db: Database) -> bool:
        if not any(i["provider"] == provider for i in accounts.identities_of(db, user.user_id)):
            return False
        accounts.unlink_identity(db, user.user_id, provider)
        return True

    if not await _write(request, w):
        raise ApiError(404, "provider_not_linked", f"{provider} is not linked to your account.")


async def api_delete_identity(request: web.Request) -> web.Response:
    """DELETE /user/auth-providers/{provider} (refused for the last one)."""
    user = require_user(request)
    provider = request.match_info["provider"]
    await _unlink_identity(request, user, provider)
    return json_data({"provider": provider, "linked": False})


async def profile_page(request: web.Request) -> web.Response:
    """Who I am, my sign-ins and my music platforms."""
    user = _page_user(request)
    try:
        prof = await _read(request, lambda db: _profile(db, user.user_id))
    except accounts.AccountError:
        raise web.HTTPSeeOther("/signin") from None
    providers = request.app[PROVIDERS]
    linked = {i["provider"] for i in prof["authProviders"]}
    can_link = [p.label for n, p in providers.items() if p.configured and n not in linked]
    error = request.query.get("error", "")
    pin_set = await _read(request, lambda db: bool((accounts.get_user(db, user.user_id) or {})
                                                    .get("pin_hash")))
    return render(request, "profile.html", {
        "has_pin": pin_set,
        "profile": prof, "identities": prof["authProviders"], "platforms": prof["platforms"],
        "can_link": can_link, "labels": {n: p.label for n, p in providers.items()},
        "error": ERROR_TEXT.get(error, "That did not work." if error else "")})


async def profile_remove_identity(request: web.Request) -> web.StreamResponse:
    """Form: unlink a sign-in."""
    user = _page_user(request)
    try:
        await _unlink_identity(request, user, request.match_info["provider"])
    except ApiError as err:
        raise web.HTTPSeeOther(f"/profile?error={err.code}") from None
    raise web.HTTPSeeOther("/profile")


async def profile_remove_platform(request: web.Request) -> web.StreamResponse:
    """Form: unlink a music platform."""
    user = _page_user(request)
    try:
        await _unlink_platform(request, user, request.match_info["platform"])
    except ApiError as err:
        raise web.HTTPSeeOther(f"/profile?error={err.code}") from None
    raise web.HTTPSeeOther("/profile")


# -- household ----------------------------------------------------------------

def _member_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "displayName": row.get("display_name") or "",
            "role": row.get("role") or "member", "email": row.get("email") or "",
            "authProviders": row.get("providers") or [], "hasPin": bool(row.get("has_pin")),
            "createdAt": accounts.iso(row.get("created_at"))}


async def _members(request: web.Request) -> list[dict[str, Any]]:
    return [_member_json(r) for r in await _read(request, accounts.list_users)]


async def _remove_member(request: web.Request, user: CurrentUser, target: str) -> bool:
    """Remove `target` (sessions included); True if the user removed themself."""
    try:  # through the settings: a removed listener stops being the listener everywhere
        await request.app[SETTINGS].change(
            lambda tx: _remove_user(tx, target, by=user.user_id),
            durable=True)
    except accounts.AccountError as err:
        raise account_error(err) from None
    await request.app[SESSIONS].revoke_user(target)
    if target != user.user_id:  # a removed member's signed-out browsers must not sign in again
        await request.app[SESSIONS].revoke_signed_out()
    logger.info("household member removed (%s)", "left" if target == user.user_id else "by owner")
    return target == user.user_id


async def _signed_out_session(request: web.Request) -> None:
    token, _ = await request.app[SESSIONS].create(
        paired=True, user_agent=request.headers.get("User-Agent", ""),
        carry=current_session(request))
    request[REQ_NEW_TOKEN] = token


async def api_members(request: web.Request) -> web.Response:
    """GET /api/members."""
    require_user(request)
    return json_data(await _members(request))


async def api_remove_member(request: web.Request) -> web.Response:
    """DELETE /api/members/{user_id}: the owner removes a member, or a member leaves."""
    user = require_user(request)
    if await _remove_member(request, user, request.match_info["user_id"]):
        await _signed_out_session(request)
    return json_data({"removed": request.match_info["user_id"]})


async def members_page(request: web.Request) -> web.Response:
    """The household: members, roles, invite and remove; paired browsers for the owner."""
    user = _page_user(request)
    error = request.query.get("error", "")
    return render(request, "members.html", {
        "members": await _members(request), "invite": None, "labels": _labels(request),
        "error": ERROR_TEXT.get(error, "That did not work." if error else ""),
        **await _browsers_context(request, user)})


async def _browsers_context(request: web.Request, user: CurrentUser) -> dict[str, Any]:
    """What `_paired_browsers.html` needs (owner only)."""
    if not user.is_owner:
        return {}
    return {"paired_browsers": await paired_browsers(request),
            "paired_idle_days": round(request.app[DEPS].config.web.session_idle_hours / 24)}


async def members_invite(request: web.Request) -> web.Response:
    """Form: the owner makes an invite code, shown once on the page."""
    user = require_owner(request)
    members = await _members(request)
    wanted = str((await read_body(request)).get("for") or "")
    for_member = next((m for m in members if m["id"] == wanted and m["id"] != user.user_id),
                      None)
    # A code for someone's profile opens it on their phone; otherwise they say who they are.
    made_by = f"{INVITE_FOR}{for_member['id']}" if for_member else user.user_id
    code, until = await request.app[PAIRING].create_code(made_by)
    return render(request, "members.html", {
        "members": members, "labels": _labels(request),
        "invite": {"code": format_code(code), "until": until,
                   "for": for_member["displayName"] if for_member else ""}, "error": "",
        **await _browsers_context(request, user)})


async def members_remove(request: web.Request) -> web.StreamResponse:
    """Form: remove a member (or leave)."""
    user = _page_user(request)
    try:
        left = await _remove_member(request, user, request.match_info["user_id"])
    except ApiError as err:
        if wants_json(request):
            raise
        raise web.HTTPSeeOther(f"/members?error={err.code}") from None
    if left:
        await _signed_out_session(request)
        raise web.HTTPSeeOther("/signin")
    raise web.HTTPSeeOther("/members")


def add_routes(app: web.Application) -> None:
    """Register profile and household routes."""
    r = app.router
    r.add_get("/user/profile", api_profile)
    r.add_get("/user/auth-providers", api_auth_providers)
    r.add_delete("/user/auth-providers/{provider}", api_delete_identity)
    r.add_get("/user/platforms", api_platforms)
    r.add_delete("/user/platforms/{platform}", api_delete_platform)
    r.add_get("/api/members", api_members)
    r.add_delete("/api/members/{user_id}", api_remove_member)
    r.add_get("/profile", profile_page, name="profile")
    r.add_post("/profile/identities/{provider}/remove", profile_remove_identity)
    r.add_post("/profile/platforms/{platform}/remove", profile_remove_platform)
    r.add_get("/members", members_page, name="members")
    r.add_post("/members/invite", members_invite)
    r.add_post("/members/{user_id}/remove", members_remove)
