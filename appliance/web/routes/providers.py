"""The owner's Sign-in setup page: Google, Microsoft and GitHub clients, tested at once.

Like the Spotify Client ID, the owner pastes what the provider's console shows;
the box tests it with a device-code request and one poll, and keeps it (sealed)
only if the provider accepts it. A provider set in the config file shows its
values as "from the config file" and cannot be changed here (the config wins).
Saving updates the running sign-in at once.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from appliance.identity import provider_settings as ps
from appliance.identity.providers import PROVIDERS, Provider, make_provider
from appliance.web.kit.bodies import read_body
from appliance.web.kit.guards import require_owner
from appliance.web.kit.keys import DEPS, FLOWS
from appliance.web.kit.keys import PROVIDERS as PROVIDERS_KEY
from appliance.web.kit.middleware import wants_json
from appliance.web.kit.render import add_nav, render
from appliance.web.kit.responses import ApiError, json_data

logger = logging.getLogger(__name__)
PAGE = "/settings/sign-in"


def _sealer(request: web.Request) -> Any:
    sealer = request.app[DEPS].sealer
    if sealer is None:
        raise ApiError(503, "no_key", "The box has no key to keep secrets with; restart it.")
    return sealer


def _install(app: web.Application, provider: Provider) -> None:
    """Make `provider` the one new sign-ins use (the page and the flows share it)."""
    app[PROVIDERS_KEY][provider.name] = provider
    app[FLOWS].providers[provider.name] = provider


async def load_stored(app: web.Application) -> None:
    """At start: the page's clients for providers the config file leaves empty."""
    deps = app[DEPS]
    sealer = deps.sealer
    if sealer is None:
        return
    stored = await deps.store.read(lambda db: ps.stored_clients(db, sealer))
    effective = ps.effective_providers(deps.config.identity, stored)
    for name in stored:
        if ps.source_of(deps.config.identity, stored, name) == "page":
            _install(app, effective[name])
    if stored:
        logger.info("sign-in clients from the setup page: %s", ", ".join(sorted(stored)))


async def _stored(request: web.Request) -> dict[str, ps.ClientValues]:
    sealer = request.app[DEPS].sealer
    if sealer is None:
        return {}
    return await request.app[DEPS].store.read(lambda db: ps.stored_clients(db, sealer))


async def _state(request: web.Request) -> list[dict[str, Any]]:
    cfg = request.app[DEPS].config.identity
    stored = await _stored(request)
    out = []
    for name, provider in request.app[PROVIDERS_KEY].items():
        values = stored.get(name)
        out.append({"name": name, "label": provider.label, "configured": provider.configured,
                    "source": ps.source_of(cfg, stored, name),
                    "clientId": provider.client_id if provider.configured else "",
                    "tenant": (values.tenant if values else provider.tenant) or "common",
                    "needsSecret": PROVIDERS[name].needs_client_secret,
                    "hasSecret": bool(provider.client_secret)})
    return out


async def save(request: web.Request, name: str, body: dict[str, Any]) -> str:
    """Check, test and keep the owner's values for `name`; the provider's verdict."""
    require_owner(request)
    if name not in PROVIDERS:
        raise ApiError(404, "unknown_provider", "There is no such sign-in provider.")
    cfg = request.app[DEPS].config.identity
    if getattr(cfg, name).client_id:
        raise ApiError(409, "set_in_config", f"{PROVIDERS[name].label} is set in the config "
                       f"file ([identity.{name}]), which wins; change it there.")
    values = ps.ClientValues(name, str(body.get("client_id") or ""),
                             str(body.get("client_secret") or ""), str(body.get("tenant") or ""))
    current = request.app[PROVIDERS_KEY][name]
    if not values.client_secret.strip() and current.client_secret and \
            values.client_id.strip() == current.client_id:
        values = ps.ClientValues(name, values.client_id, current.client_secret, values.tenant)
    try:
        values = ps.validate(values)
        pc = getattr(cfg, name)
        candidate = make_provider(PROVIDERS[name], client_id=values.client_id,
                                     client_secret=values.client_secret,
                                     tenant=values.tenant if name == "microsoft" else "",
                                     base_url=pc.base_url, api_url=pc.api_url)
        async with aiohttp.ClientSession() as http:
            verdict = await ps.check_client(http, candidate)
    except ps.ClientRefused as err:
        logger.info("%s client refused by the test: %s", PROVIDERS[name].label, err.code)
        raise ApiError(400, err.code, f"{err}.") from None
    sealer = _sealer(request)
    await request.app[DEPS].store.write(lambda db: ps.save_client(db, sealer, values),
                                        durable=True)
    _install(request.app, candidate)
    logger.info("%s sign-in set up from the page", PROVIDERS[name].label)
    return verdict


async def remove(request: web.Request, name: str) -> bool:
    """Forget the page's client for `name` (sign-in with it stops; the config's stays)."""
    require_owner(request)
    if name not in PROVIDERS:
        raise ApiError(404, "unknown_provider", "There is no such sign-in provider.")
    gone = await request.app[DEPS].store.write(lambda db: ps.remove_client(db, name),
                                               durable=True)
    cfg = request.app[DEPS].config.identity
    if gone and not getattr(cfg, name).client_id:
        pc = getattr(cfg, name)
        _install(request.app, make_provider(PROVIDERS[name], base_url=pc.base_url,
                                               api_url=pc.api_url))
    return bool(gone)


# -- pages and API ---------------------------------------------------------------

async def page(request: web.Request, *, message: str = "", error: str = "",
               failed: str = "", typed: dict[str, Any] | None = None,
               status: int = 200) -> web.Response:
    """GET /settings/sign-in."""
    require_owner(request)
    return render(request, "providers.html", {
        "providers": await _state(request), "message": message, "error": error,
        "failed": failed, "typed": typed or {}}, status=status)


async def page_get(request: web.Request) -> web.Response:
    return await page(request)


async def form_save(request: web.Request) -> web.StreamResponse:
    """Form: save and test one provider."""
    name = request.match_info["provider"]
    body = await read_body(request)
    try:
        verdict = await save(request, name, body)
    except ApiError as err:
        if wants_json(request) or err.status in (401, 403):
            raise
        typed = {k: str(body.get(k) or "") for k in ("client_id", "tenant")}
        return await page(request, error=err.message, failed=name, typed=typed,
                          status=err.status)
    return await page(request, message=verdict)


async def form_remove(request: web.Request) -> web.StreamResponse:
    """Form: forget one provider's page values."""
    await remove(request, request.match_info["provider"])
    raise web.HTTPSeeOther(PAGE)


async def api_list(request: web.Request) -> web.Response:
    """GET /api/sign-in-providers (owner)."""
    require_owner(request)
    return json_data(await _state(request))


async def api_save(request: web.Request) -> web.Response:
    """PUT /api/sign-in-providers/{provider} {client_id, client_secret?, tenant?}."""
    verdict = await save(request, request.match_info["provider"], await read_body(request))
    return json_data({"provider": request.match_info["provider"], "configured": True,
                      "message": verdict})


async def api_remove(request: web.Request) -> web.Response:
    """DELETE /api/sign-in-providers/{provider}."""
    gone = await remove(request, request.match_info["provider"])
    return json_data({"provider": request.match_info["provider"], "removed": gone})


def add_routes(app: web.Application) -> None:
    """Register the Sign-in setup page (owner only) and its API."""
    r = app.router
    r.add_get(PAGE, page_get, name="signin_setup")
    r.add_post(PAGE + "/{provider}", form_save)
    r.add_post(PAGE + "/{provider}/remove", form_remove)
    r.add_get("/api/sign-in-providers", api_list)
    r.add_put("/api/sign-in-providers/{provider}", api_save)
    r.add_delete("/api/sign-in-providers/{provider}", api_remove)
    add_nav(app, PAGE, "Sign-in", order=25, owner_only=True)
