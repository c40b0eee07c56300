"""Account look-ups for the pages, through `appliance.identity.accounts`, off the event loop."""

from __future__ import annotations

from aiohttp import web

from appliance.identity import accounts
from appliance.web.kit.keys import DEPS
from appliance.web.kit.responses import ApiError


async def owner_exists_async(request: web.Request) -> bool:
    """True once the box has been claimed (an owner account exists)."""
    return bool(await request.app[DEPS].store.read(accounts.owner_exists))


def account_error(err: accounts.AccountError) -> ApiError:
    """The JSON error for a refused account change."""
    if isinstance(err, accounts.LastIdentity):
        return ApiError(409, "last_identity", str(err))
    if isinstance(err, accounts.LastOwner):
        return ApiError(409, "last_owner", str(err))
    if isinstance(err, accounts.NotAllowed):
        return ApiError(403, "owner_only", str(err))
    if isinstance(err, accounts.UserNotFound):
        return ApiError(404, "member_not_found", str(err))
    if isinstance(err, accounts.IdentityConflict):
        return ApiError(409, "identity_in_use", str(err))
    if isinstance(err, accounts.ProviderAlreadyLinked):
        return ApiError(409, "provider_already_linked", str(err))
    return ApiError(getattr(err, "status", 409), getattr(err, "code", "account_refused"), str(err))
